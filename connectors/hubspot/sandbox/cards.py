"""The app card on record pages: the card's fetch, signed as HubSpot signs it, and its answer rendered.

On HubSpot's developer platform a card is the app's own React code; it asks its backend through
`hubspot.fetch()`, which HubSpot proxies with X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp
and with userId, portalId, userEmail and appId added to the URL ("Fetching data" for UI extensions).
The sandbox stands in for that code: it fetches the configured URL with the record's id and object type
id (what the shipped card sends) and renders the answer as HubSpot's card detail payload
(IntegratorCardPayloadResponse in PublicApiSpecs/CRM/Public App Crm Cards/.../publicAppCrmCards.json).
An answer that is not that payload is shown as the error it would be, never rendered loosely.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests

from .schema import OBJECT_TYPES
from .settings import HubSpotSandboxSettings
from .signing import signed_headers

CARD_OBJECT_TYPES = ("contacts", "companies", "deals")
TIMEOUT_SECONDS = 15.0  # hubspot.fetch's default timeout
TOKEN_TYPES = ("BOOLEAN", "CURRENCY", "DATE", "DATETIME", "EMAIL", "LINK", "NUMERIC", "STRING", "STATUS")
HTTP_METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


class CardFormatError(ValueError):
    """The card's answer is not HubSpot's card detail payload."""


def card_url(settings: HubSpotSandboxSettings, kind: str, record: dict[str, Any], viewer: dict[str, Any],
             portal_id: int) -> str:
    """The fetch URL: the card's own parameters, then the ones hubspot.fetch adds."""
    params = {"associatedObjectId": record["id"], "associatedObjectType": OBJECT_TYPES[kind][0],
              "userId": viewer["user_id"], "portalId": portal_id, "userEmail": viewer["email"],
              "appId": settings.app_id}
    base = settings.card_fetch_url or ""
    return base + ("&" if "?" in base else "?") + urlencode(params)


def fetch_card(settings: HubSpotSandboxSettings, kind: str, record: dict[str, Any], viewer: dict[str, Any],
               portal_id: int) -> dict[str, Any]:
    """{url, status, sections, actions, label, error}: the rendered card, or the sentence shown instead."""
    url = card_url(settings, kind, record, viewer, portal_id)
    headers = {"Accept": "application/json", "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
               **signed_headers(settings.client_secret, "GET", url, "", legacy=None)}
    session = requests.Session()
    session.trust_env = False  # the sandbox chooses what to trust, not REQUESTS_CA_BUNDLE
    session.verify = settings.card_ca_bundle or True
    failed = {"url": url, "sections": [], "actions": [], "label": None}
    try:
        answer = session.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return {**failed, "status": None, "error": f"The card's data could not be fetched ({type(exc).__name__})."}
    finally:
        session.close()
    if answer.status_code != 200:
        return {**failed, "status": answer.status_code,
                "error": f"The card's data URL answered HTTP {answer.status_code}."}
    try:
        body = answer.json()
        rendered = render(body)
    except ValueError as exc:
        return {**failed, "status": 200, "error": f"The card's answer is not HubSpot's card format: {exc}"}
    return {"url": url, "status": 200, "error": None, **rendered}


def _need(value: Any, kind: type | tuple, what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise CardFormatError(f"{what} is missing or of the wrong type.")
    return value


def _action(raw: Any, where: str) -> dict[str, Any]:
    """An IFRAME or ACTION_HOOK action with the fields its body requires (IFrameActionBody, ActionHookActionBody)."""
    action = _need(raw, dict, where)
    _need(action.get("url"), str, f"{where}.url")
    _need(action.get("propertyNamesIncluded"), list, f"{where}.propertyNamesIncluded")
    if action.get("type") == "IFRAME":
        _need(action.get("width"), int, f"{where}.width")
        _need(action.get("height"), int, f"{where}.height")
    elif action.get("type") == "ACTION_HOOK":
        if action.get("httpMethod") not in HTTP_METHODS:
            raise CardFormatError(f"{where}.httpMethod must be one of {', '.join(HTTP_METHODS)}.")
    else:
        raise CardFormatError(f"{where}.type must be IFRAME or ACTION_HOOK.")
    return action


def render(body: Any) -> dict[str, Any]:
    """The sections and actions of a card payload, checked against its required fields; CardFormatError if not."""
    body = _need(body, dict, "The answer")
    if body.get("responseVersion") not in ("v1", "v3"):
        raise CardFormatError("responseVersion must be v1 or v3.")
    _need(body.get("totalCount"), int, "totalCount")
    sections = []
    for i, raw in enumerate(_need(body.get("sections"), list, "sections")):
        section = _need(raw, dict, f"sections[{i}]")
        _need(section.get("id"), str, f"sections[{i}].id")
        tokens = []
        for j, token in enumerate(_need(section.get("tokens"), list, f"sections[{i}].tokens")):
            token = _need(token, dict, f"sections[{i}].tokens[{j}]")
            value = _need(token.get("value"), str, f"sections[{i}].tokens[{j}].value")
            if token.get("dataType", "STRING") not in TOKEN_TYPES:
                raise CardFormatError(f"sections[{i}].tokens[{j}].dataType must be one of {', '.join(TOKEN_TYPES)}.")
            tokens.append({"label": str(token.get("label") or token.get("name") or ""), "value": _shown(token, value)})
        actions = [_action(a, f"sections[{i}].actions[{k}]")
                   for k, a in enumerate(_need(section.get("actions"), list, f"sections[{i}].actions"))]
        sections.append({"title": _need(section.get("title"), str, f"sections[{i}].title"),
                         "link": section.get("linkUrl"), "tokens": tokens, "actions": actions})
    top = body.get("topLevelActions")
    actions = []
    if top is not None:
        top = _need(top, dict, "topLevelActions")
        if top.get("primary") is not None:
            actions.append(_action(top["primary"], "topLevelActions.primary"))
        actions += [_action(a, f"topLevelActions.secondary[{k}]")
                    for k, a in enumerate(_need(top.get("secondary"), list, "topLevelActions.secondary"))]
    return {"sections": sections, "actions": actions, "label": body.get("cardLabel")}


def _shown(token: dict[str, Any], value: str) -> str:
    if token.get("dataType") == "BOOLEAN":
        return {"true": "Yes", "false": "No"}.get(value.lower(), value)
    return value
