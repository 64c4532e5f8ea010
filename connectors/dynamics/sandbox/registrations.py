"""What the environment checks before it keeps a webhook registration: a serviceendpoint or one of its steps.

Sources (learn.microsoft.com/power-apps/developer/data-platform/): reference/entities/serviceendpoint.md (name,
contract, connectionmode and userclaim are SystemRequired), register-web-hook.md (a webhook needs a name, an
endpoint URL and one of the WebhookKey, HttpHeader or HttpQueryString authentications with its keys;
"Registered WebHooks support only port 80 for HTTP and port 443 for HTTPS"),
reference/entities/sdkmessageprocessingstep.md (name, stage, mode, rank, supporteddeployment, sdkmessageid and
eventhandler are SystemRequired; filteringattributes is a comma-separated list of attributes),
event-framework.md (asynchronous steps run only in the PostOperation stage).

Where the docs are silent the stricter reading is taken and marked: a step's message filter must be of the
step's own message, its filtering attributes must be column logical names of the filter's table, and a
webhook URL on a loopback host (a receiver on this machine, the only kind tests can run) may use any port.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .api import VALIDATION, ApiError
from .webhooks import auth_settings

ENDPOINT_REQUIRED = ("name", "contract", "connectionmode", "userclaim")
STEP_REQUIRED = ("name", "stage", "mode", "rank", "supporteddeployment", "sdkmessageid", "eventhandler")
WEBHOOK, KEYED_AUTH = 8, (4, 5, 6)
POST_OPERATION, ASYNCHRONOUS = 40, 1
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _invalid(message: str) -> ApiError:
    # The docs give no code for these refusals; the validation code the batch doc's example carries is used.
    return ApiError(400, VALIDATION, f"A validation error occurred.  {message}")


def _required(logical: str, row: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if row.get(name) in (None, ""):
            raise _invalid(f"The '{name}' attribute of the '{logical}' entity is required (SystemRequired).")


def check(box, logical: str, row: dict[str, Any]) -> None:
    """Refuse a serviceendpoint or sdkmessageprocessingstep as the row would be stored; other tables pass."""
    if logical == "serviceendpoint":
        _endpoint(row)
    elif logical == "sdkmessageprocessingstep":
        _step(box, row)


def _endpoint(row: dict[str, Any]) -> None:
    _required("serviceendpoint", row, ENDPOINT_REQUIRED)
    if row["contract"] != WEBHOOK:
        return
    url = row.get("url") or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(f"The webhook URL '{url[:200]}' is not an absolute http or https URL.")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.hostname not in LOOPBACK and port not in (None, {"http": 80, "https": 443}[parts.scheme]):
        raise _invalid("Registered webhooks support only port 80 for HTTP and port 443 for HTTPS.")
    if row.get("authtype") not in KEYED_AUTH:
        raise _invalid("A webhook's authtype must be 4 (Webhook Key), 5 (Http Header) or 6 (Http Query String).")
    if not row.get("authvalue"):
        raise _invalid("A webhook needs the keys that identify its requests as legitimate (authvalue).")
    if row["authtype"] in (5, 6):
        try:
            auth_settings(row["authvalue"])
        except ValueError as exc:
            raise _invalid(str(exc)) from None


def _step(box, row: dict[str, Any]) -> None:
    _required("sdkmessageprocessingstep", row, STEP_REQUIRED)
    if row["mode"] == ASYNCHRONOUS and row["stage"] != POST_OPERATION:
        raise _invalid("An asynchronous step must be registered in the PostOperation stage (40).")
    filter_ref = row.get("sdkmessagefilterid")
    table = None
    if filter_ref:
        found = box.store.get("sdkmessagefilter", filter_ref["id"]) or {}
        if (found.get("sdkmessageid") or {}).get("id") != row["sdkmessageid"]["id"]:
            raise _invalid("The step's sdkmessagefilterid is a filter of another message than its sdkmessageid.")
        table = box.tables.get(found.get("primaryobjecttypecode") or "")
    names = [n.strip() for n in (row.get("filteringattributes") or "").split(",")]
    if names == [""]:
        return
    if table is None:
        raise _invalid("filteringattributes needs a step with a message filter naming its table.")
    unknown = [n for n in names if n not in table.columns]
    if unknown:
        raise _invalid(f"filteringattributes names {', '.join(repr(n) for n in unknown[:5])}, which are not columns "
                       f"of '{table.logical}': use the columns' logical names, separated by commas.")
