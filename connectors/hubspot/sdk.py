"""The official hubspot-api-client set up for one API host, raw answers, and the token look-up."""
from __future__ import annotations

import json
from typing import Any

from hubspot import HubSpot
from urllib3.util.retry import Retry

from connectors.errors import Fatal
from connectors.oauth import OAuthApp


def raw_json(response: Any) -> Any:
    """The parsed body of a raw urllib3 response, its connection handed back to the pool."""
    try:
        data = response.data
    finally:
        response.release_conn()
    return json.loads(data) if data else None


def error_body(exc: Any) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return {"message": str(body)[:500]}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)[:500]}


def sdk(access_token: str | None, api_url: str, verify: str | bool) -> HubSpot:
    """The official client pointed at ``api_url``, verifying TLS with ``verify`` (a CA file or bool)."""
    options: dict[str, Any] = {"host": api_url.rstrip("/"), "verify_ssl": verify is not False,
                               # Retry only connections that never reached HubSpot; the rest is ours.
                               "retry": Retry(total=2, connect=2, read=0, status=0, redirect=0, other=0)}
    if isinstance(verify, str):
        options["ssl_ca_cert"] = verify
    return HubSpot(access_token=access_token, **options)


def complete_token(token: dict[str, Any], oauth: OAuthApp) -> dict[str, Any]:
    """The token with the portal it belongs to (hub_id, hub_domain, user) and the app host.

    HubSpot's token answer names no portal; install calls this before ``provider.identity``.
    """
    api_url = oauth.token_base_url or oauth.base_url
    client = sdk(None, api_url, oauth.verify)
    try:
        info = raw_json(client.oauth.access_tokens_api.get(token["access_token"], _preload_content=False))
    except Exception as exc:  # noqa: BLE001 - every failure here means the same to the admin
        raise Fatal(f"Pipewise could not look up the new HubSpot token ({getattr(exc, 'status', exc)}). "
                    "Start the connection again.") from exc
    completed = dict(token)
    for key in ("hub_id", "hub_domain", "user", "user_id", "app_id", "scopes"):
        if info.get(key) is not None:
            completed[key] = info[key]
    # The record pages (and so the frames around Pipewise's panel) live on the consent host.
    completed["instance_url"] = oauth.base_url.rstrip("/")
    return completed
