"""The CRM card: the record page fetches the app's data URL, signed, as HubSpot does, and renders its JSON."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests

from .settings import HubSpotSandboxSettings
from .signing import signed_headers

CARD_OBJECT_TYPES = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}
DEFAULT_CARD_PROPERTIES = {"contacts": ["email", "firstname", "lastname", "lifecyclestage"],
                           "companies": ["name", "domain"], "deals": ["dealname", "dealstage", "amount"]}
TIMEOUT_SECONDS = 5.0


def card_url(settings: HubSpotSandboxSettings, kind: str, record: dict[str, Any], viewer: dict[str, Any],
             portal_id: int) -> str:
    """The data fetch URL with HubSpot's query parameters and the requested properties."""
    params = {"userId": viewer["user_id"], "userEmail": viewer["email"], "associatedObjectId": record["id"],
              "associatedObjectType": CARD_OBJECT_TYPES[kind], "portalId": portal_id}
    wanted = (settings.card_properties or DEFAULT_CARD_PROPERTIES).get(kind, [])
    params.update({name: record["props"].get(name) or "" for name in wanted})
    base = settings.card_fetch_url or ""
    return base + ("&" if "?" in base else "?") + urlencode(params)


def fetch_card(settings: HubSpotSandboxSettings, kind: str, record: dict[str, Any], viewer: dict[str, Any],
               portal_id: int) -> dict[str, Any]:
    """{url, status, results, error}: the card's answer, or the sentence HubSpot would show instead."""
    url = card_url(settings, kind, record, viewer, portal_id)
    headers = {"Accept": "application/json", "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
               **signed_headers(settings.client_secret, "GET", url, "", legacy="v2")}
    session = requests.Session()
    session.trust_env = False  # the sandbox chooses what to trust, not REQUESTS_CA_BUNDLE
    session.verify = settings.card_ca_bundle or True
    try:
        answer = session.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return {"url": url, "status": None, "results": [], "error": f"The card's data URL could not be reached "
                f"({exc.__class__.__name__})."}
    finally:
        session.close()
    if answer.status_code != 200:
        return {"url": url, "status": answer.status_code, "results": [],
                "error": f"The card's data URL answered HTTP {answer.status_code}."}
    try:
        body = answer.json()
    except ValueError:
        return {"url": url, "status": 200, "results": [], "error": "The card's data URL answered no JSON."}
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return {"url": url, "status": 200, "results": [], "error": "The card's JSON holds no results list."}
    actions = [a for a in [body.get("primaryAction"), *(body.get("secondaryActions") or [])] if isinstance(a, dict)]
    return {"url": url, "status": 200, "results": [_result(r) for r in results if isinstance(r, dict)],
            "actions": actions, "error": None}


def _result(result: dict[str, Any]) -> dict[str, Any]:
    """One card result: title, link, label/value properties and actions."""
    properties = [p for p in result.get("properties") or [] if isinstance(p, dict)]
    actions = [a for a in result.get("actions") or [] if isinstance(a, dict)]
    return {"title": str(result.get("title", "")), "link": result.get("link"),
            "properties": [{"label": str(p.get("label", "")), "value": _display(p)} for p in properties],
            "actions": actions}


def _display(prop: dict[str, Any]) -> str:
    value = prop.get("value")
    if prop.get("dataType") == "CURRENCY" and value not in (None, ""):
        try:
            return f"{prop.get('currencyCode', 'USD')} {float(value):,.2f}"
        except (TypeError, ValueError):
            pass
    if prop.get("dataType") == "STATUS":
        return str(value)
    return "" if value is None else str(value)
