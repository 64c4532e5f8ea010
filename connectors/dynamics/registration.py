"""Pipewise's webhook in a Dataverse environment: one serviceendpoint and a step per table and message.

Sources (learn.microsoft.com/power-apps/developer/data-platform/): register-web-hook.md (a webhook is a
serviceendpoint with contract 8; HttpHeader authentication sends each <setting name value> of authvalue as a
header; "Registered WebHooks support only port 80 for HTTP and port 443 for HTTPS"; registrations are queried
with serviceendpoints?$filter=contract eq 8), reference/entities/serviceendpoint.md (name, contract,
connectionmode and userclaim are SystemRequired; authvalue is write-only, at most 2,048 characters),
reference/entities/sdkmessageprocessingstep.md (name, stage, mode, rank, supporteddeployment, sdkmessageid and
eventhandler are SystemRequired; filteringattributes is a "comma-separated list of attributes. If at least one
of these attributes is modified, the plug-in should execute"), use-webhooks.md (use asynchronous steps: a
synchronous webhook that fails fails the user's operation), event-framework.md (asynchronous steps run in
the PostOperation stage, 40), and the sdkmessagefilters lookup by primaryobjecttypecode and message that
integrations registering webhooks through the Web API use.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from connectors.base import Stream
from connectors.dynamics import webhooks
from connectors.dynamics.provider import DynamicsProvider

ENDPOINT_NAME = "Pipewise"
MESSAGES = ("Create", "Update", "Delete")
WEBHOOK, HTTP_HEADER, JSON, NORMAL, NO_CLAIM = 8, 5, 2, 1, 1   # contract, authtype, messageformat, connectionmode, userclaim
POST_OPERATION, ASYNCHRONOUS, SERVER_ONLY = 40, 1, 0             # stage, mode, supporteddeployment
# Columns every write changes: watching them would make every update call Pipewise.
UNWATCHED = ("createdon", "modifiedon")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def watched_columns(stream: type[Stream]) -> str:
    """An Update step's filtering attributes: the columns Pipewise reads from the stream's table.

    Pipewise's own columns (pw_score, ...) are never among them, so a writeback of 10,000 scores does not
    come back as 10,000 webhooks that only say what Pipewise just wrote.
    """
    names = (f[1:-6] if f.startswith("_") and f.endswith("_value") else f for f in stream.fields)
    return ",".join(n for n in names if n != stream.primary_key and n not in UNWATCHED)


def watched_tables() -> dict[str, type[Stream]]:
    """Table logical name → the stream that reads it, for every table a webhook re-reads."""
    return {logical: DynamicsProvider.stream(name) for logical, name in webhooks.BY_LOGICAL.items()}


def check_url(url: str, environment_url: str) -> None:
    """ValueError with what to change when Dataverse cannot call ``url`` or would send the secret in clear.

    Dataverse calls only port 443 (https) or 80 (http); Pipewise asks for https, since the header carries
    the secret. A loopback address is refused unless the environment itself runs on this machine.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    local = host in LOOPBACK
    if local and (urlsplit(environment_url).hostname or "") not in LOOPBACK:
        raise ValueError(f"Dynamics 365 cannot reach {parts.scheme}://{parts.netloc}: set PIPEWISE_PUBLIC_URL to "
                         "the https address Pipewise is reached at from the internet, then register the webhook "
                         "again from the Webhooks page.")
    if local:
        return  # an environment on this machine (the sandbox): any port, http allowed
    if parts.scheme != "https":
        raise ValueError(f"Pipewise's public address {parts.scheme}://{parts.netloc} is not https, and the webhook "
                         "header carries its secret: set PIPEWISE_PUBLIC_URL to Pipewise's https address, then "
                         "register the webhook again from the Webhooks page.")
    if parts.port not in (None, 443):
        raise ValueError(f"Dynamics 365 calls webhooks only on port 443 for https, not {parts.port}: serve "
                         "Pipewise on port 443 (PIPEWISE_PUBLIC_URL), then register the webhook again from the "
                         "Webhooks page.")


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _endpoint_body(url: str, secret: str) -> dict[str, Any]:
    authvalue = f"<settings><setting name=\"{webhooks.SECRET_HEADER}\" value={quoteattr(secret)} /></settings>"
    return {"name": ENDPOINT_NAME, "contract": WEBHOOK, "connectionmode": NORMAL, "userclaim": NO_CLAIM, "url": url,
            "authtype": HTTP_HEADER, "authvalue": authvalue, "messageformat": JSON,
            "description": "Pipewise's change intake: registered by Pipewise at install and on each secret rotation."}


def _endpoint(client: Any, url: str, secret: str) -> str:
    """Create Pipewise's service endpoint, or give the one an earlier registration made the new URL and secret."""
    found = client.get_json(f"serviceendpoints?$select=serviceendpointid,name,url&$filter=contract eq {WEBHOOK} and "
                            f"(name eq '{_quoted(ENDPOINT_NAME)}' or url eq '{_quoted(url)}')").get("value", [])
    found.sort(key=lambda e: (e.get("name") != ENDPOINT_NAME, e["serviceendpointid"]))
    body = _endpoint_body(url, secret)
    if found:
        endpoint_id = found[0]["serviceendpointid"]
        client._call("PATCH", f"serviceendpoints({endpoint_id})", json=body, headers={"If-Match": "*"})
        return endpoint_id
    created = client._call("POST", "serviceendpoints", json=body,
                           headers={"Prefer": "return=representation"}).json()
    return created["serviceendpointid"]


def _filters(client: Any, message_id: str, tables: list[str]) -> dict[str, str]:
    """Table → the sdkmessagefilter of this message on it (tables the message does not exist for are absent)."""
    condition = " or ".join(f"primaryobjecttypecode eq '{t}'" for t in tables)
    rows = client.get_json(f"sdkmessagefilters?$select=sdkmessagefilterid,primaryobjecttypecode"
                           f"&$filter=_sdkmessageid_value eq {message_id} and ({condition})").get("value", [])
    return {r["primaryobjecttypecode"]: r["sdkmessagefilterid"] for r in rows}


def register(client: Any, url: str, secret: str) -> list[str]:
    """The endpoint and one asynchronous post-operation step per table and message; returns their ids.

    Steps an earlier registration made on this endpoint are updated in place; steps on it that Pipewise no
    longer needs (a table it stopped reading) are deleted, so repeating the registration converges.
    """
    check_url(url, client.api_url)
    endpoint_id = _endpoint(client, url, secret)
    tables = watched_tables()
    condition = " or ".join(f"name eq '{m}'" for m in MESSAGES)
    messages = {m["name"]: m["sdkmessageid"] for m in client.get_json(
        f"sdkmessages?$select=sdkmessageid,name&$filter={condition}").get("value", [])}
    existing = {(s.get("_sdkmessageid_value"), s.get("_sdkmessagefilterid_value")): s["sdkmessageprocessingstepid"]
                for s in client.get_json(
                    "sdkmessageprocessingsteps?$select=sdkmessageprocessingstepid,_sdkmessageid_value,"
                    f"_sdkmessagefilterid_value&$filter=_eventhandler_value eq {endpoint_id}").get("value", [])}
    registered = [endpoint_id]
    for message in MESSAGES:
        if message not in messages:
            continue
        message_id = messages[message]
        for logical, filter_id in sorted(_filters(client, message_id, sorted(tables)).items()):
            step: dict[str, Any] = {
                "name": f"Pipewise: {message} of {logical}", "stage": POST_OPERATION, "mode": ASYNCHRONOUS,
                "rank": 1, "supporteddeployment": SERVER_ONLY, "asyncautodelete": True,
                "filteringattributes": watched_columns(tables[logical]) if message == "Update" else None,
                "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
                "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
                "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})"}
            step_id = existing.pop((message_id, filter_id), None)
            if step_id:
                client._call("PATCH", f"sdkmessageprocessingsteps({step_id})", json=step, headers={"If-Match": "*"})
            else:
                step_id = client._call("POST", "sdkmessageprocessingsteps", json=step,
                                       headers={"Prefer": "return=representation"}).json()["sdkmessageprocessingstepid"]
            registered.append(step_id)
    for stale in existing.values():
        client._call("DELETE", f"sdkmessageprocessingsteps({stale})")
    return registered
