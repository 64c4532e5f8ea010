"""HubSpot's Account Information API: the portal's details (time zone, currency, UI domain).

``GET /account-info/v3/details`` answers PortalInformationResponse (portalId, accountType, timeZone,
companyCurrency, additionalCurrencies, dataHostingLocation, uiDomain, utcOffset, utcOffsetMilliseconds)
and needs only the ``oauth`` scope (HubSpot's "Account information API" guide; API description
PublicApiSpecs/Account/Account Info/Rollouts/144923/v3/accountInfo.json in HubSpot's public API spec
collection). hubspot-api-client has no model for it, so it is read with plain HTTP.

The portal's zone is what a HubSpot user sees who set no zone of their own (users without
``hs_standard_time_zone`` on the CRM's users object, or every user when the app lacks
``crm.objects.users.read``; see owners.py).
"""
from __future__ import annotations

from typing import Any

import requests

from connectors.client_protocol import OrgProfile
from connectors.errors import Retriable, error_for_status
from connectors.hubspot.tokens import introspect
from connectors.oauth import OAuthApp

DETAILS_PATH = "/account-info/v3/details"


def account_details(api_url: str, access_token: str, verify: str | bool, timeout: float) -> dict[str, Any]:
    """The portal's PortalInformationResponse; a connector error when HubSpot does not give it."""
    try:
        answer = requests.get(api_url.rstrip("/") + DETAILS_PATH, timeout=timeout, verify=verify,
                              headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
    except requests.RequestException as exc:
        raise Retriable(f"HubSpot could not be reached ({type(exc).__name__}); Pipewise will try again.") from exc
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not answer.ok or not isinstance(body, dict):
        message = (body or {}).get("message") if isinstance(body, dict) else None
        raise error_for_status(answer.status_code, f"HubSpot did not give the account details "
                               f"(HTTP {answer.status_code}: {message or 'no message'}).")
    return body


def portal_profile(token: dict[str, Any], oauth: OAuthApp | None, api_url: str, verify: str | bool,
                   timeout: float) -> OrgProfile:
    """The portal's name as HubSpot's token information gives it (hub_domain) and its time zone."""
    access_token = str(token.get("access_token") or "")
    details = account_details(api_url, access_token, verify, timeout)
    # The token answer names no domain; introspection does (only its hub_domain is read here).
    domain = token.get("hub_domain") or (introspect(oauth, access_token).get("hub_domain") if oauth else None)
    return OrgProfile(name=str(domain).strip() or None if domain else None, time_zone=details.get("timeZone") or None)
