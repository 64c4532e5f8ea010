"""HubSpot's OAuth API beyond the token exchange: completing a token, introspection and revocation.

HubSpot's current OAuth API (version 2026-03, also served as v3) takes every parameter as a form
field in the body, client credentials included; the v1 endpoints it replaces
(``/oauth/v1/access-tokens/{token}``, ``/oauth/v1/refresh-tokens/{token}``) are deprecated and stop
working on 16 February 2027 (HubSpot's "OAuth v1 migration guide"; the API description is
PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-03/oauth.json in HubSpot's public API spec collection).
"""
from __future__ import annotations

from typing import Any

import requests

from connectors.errors import Fatal
from connectors.oauth import OAuthApp

TOKEN_PATH = "/oauth/2026-03/token"
INTROSPECT_PATH = "/oauth/2026-03/token/introspect"
REVOKE_PATH = "/oauth/2026-03/token/revoke"
TIMEOUT_SECONDS = 30.0
# What the token answer may leave out and introspection tells: the portal, the user, the grant.
IDENTITY_KEYS = ("hub_id", "user_id", "scopes", "hub_domain", "user", "app_id")


def _api_url(oauth: OAuthApp) -> str:
    return (oauth.token_base_url or oauth.base_url).rstrip("/")


def _post(oauth: OAuthApp, path: str, fields: dict[str, str]) -> requests.Response:
    """A form POST with the app's credentials in the body, as the 2026-03 endpoints take them."""
    session = oauth.session(with_scope=False)
    try:
        return session.post(_api_url(oauth) + path, withhold_token=True, timeout=TIMEOUT_SECONDS,
                            data={"client_id": oauth.client_id, "client_secret": oauth.client_secret, **fields})
    finally:
        session.close()


def introspect(oauth: OAuthApp, token: str, hint: str = "access_token") -> dict[str, Any]:
    """What a token stands for (hub_id, user_id, scopes, user, hub_domain, active); Fatal if unreadable."""
    try:
        answer = _post(oauth, INTROSPECT_PATH, {"token": token, "token_type_hint": hint})
        info = answer.json() if answer.ok else None
    except (requests.RequestException, ValueError) as exc:
        raise Fatal(f"Pipewise could not look up the new HubSpot token ({type(exc).__name__}). "
                    "Start the connection again.") from exc
    if not isinstance(info, dict):
        raise Fatal(f"HubSpot did not describe the new token (HTTP {answer.status_code}). "
                    "Start the connection again.")
    if info.get("active") is False:
        raise Fatal("HubSpot says the new token is no longer valid. Start the connection again.")
    return info


def complete_token(token: dict[str, Any], oauth: OAuthApp) -> dict[str, Any]:
    """The token with its portal, user and granted scopes, and the app host its record pages live on.

    HubSpot's token answer carries hub_id, user_id and scopes (AccessTokenResponse); only what it
    leaves out is looked up by introspection. ``scope`` is set to the granted scopes as one string, as
    the connection records them.
    """
    completed = dict(token)
    if any(completed.get(key) in (None, "", []) for key in ("hub_id", "user_id", "scopes")):
        info = introspect(oauth, str(token.get("access_token") or ""))
        for key in IDENTITY_KEYS:
            if completed.get(key) in (None, "", []) and info.get(key) not in (None, ""):
                completed[key] = info[key]
    scopes = completed.get("scopes")
    if isinstance(scopes, list):
        completed["scope"] = " ".join(str(s) for s in scopes)
    # The record pages (and so the frames around Pipewise's panel) live on the consent host.
    completed["instance_url"] = oauth.base_url.rstrip("/")
    return completed


def granted_scopes(token: dict[str, Any]) -> set[str] | None:
    """The scopes a token set was granted, None when it does not say."""
    scopes = token.get("scopes")
    if isinstance(scopes, list):
        return {str(s) for s in scopes}
    scope = token.get("scope")
    return set(str(scope).split()) if isinstance(scope, str) and scope.strip() else None


def revoke_refresh_token(oauth: OAuthApp, refresh_token: str) -> bool:
    """Delete a refresh token at HubSpot (and the access tokens made from it); True when HubSpot agreed."""
    answer = _post(oauth, REVOKE_PATH, {"token": refresh_token, "token_type_hint": "refresh_token"})
    return answer.ok
