"""The official hubspot-api-client set up for one API host, its raw answers, and the call the helper modules make."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hubspot import HubSpot
from urllib3.util.retry import Retry

# call(api name, fn(api, timeout)) → the JSON answer: the client's retrying, refreshing call, as the
# modules that read or write one part of HubSpot for the client take it.
Call = Callable[[str, Callable[[Any, float], Any]], Any]


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


def sdk(access_token: str | None, api_url: str, verify: str | bool, api_key: str | None = None) -> HubSpot:
    """The official client pointed at ``api_url``, verifying TLS with ``verify`` (a CA file or bool).

    ``api_key`` is the developer account's key, for the app-level APIs (webhook subscriptions).
    """
    options: dict[str, Any] = {"host": api_url.rstrip("/"), "verify_ssl": verify is not False,
                               # Retry only connections that never reached HubSpot; the rest is ours.
                               "retry": Retry(total=2, connect=2, read=0, status=0, redirect=0, other=0)}
    if isinstance(verify, str):
        options["ssl_ca_cert"] = verify
    return HubSpot(access_token=access_token, api_key=api_key, **options)
