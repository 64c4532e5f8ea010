"""CSRF protection: a per-session token, checked on every state-changing request.

The only exemptions are requests that carry their own proof and no session cookie: CRM calls
verified by signature or secret, framed panel forms with their panel token, and the JSON API
authenticated by API keys.
"""
from __future__ import annotations

import hmac
import logging
import secrets

from flask import Flask, render_template, request, session

from connectors import registry

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"

# Every path that skips the check, and why. Keep this list short and explicit. Framed panels get
# no cookies (third-party frames), so their forms carry a panel token and their own CSRF token.
EXEMPT_PATHS = {
    "/embed/manager/quotas": "framed form: panel token plus a CSRF token bound to it (embed.manager)",
    "/embed/manager/forecast-call": "framed form: panel token plus a CSRF token bound to it (embed.manager)",
}
EXEMPT_PREFIXES = {
    "/webhooks/": "CRM webhooks, verified by signature or path secret",
    "/api/v1/": "JSON API, authenticated by API keys, not cookies",
}
# The panels a CRM posts or fetches signed, verified by the provider's panel.verify (embed.canvas_panel, embed.card).
for _key in registry.keys():
    _provider = registry.provider(_key)
    if _provider.panel == "canvas":
        EXEMPT_PATHS[f"/embed/{_key}/canvas"] = f"{_provider.name}'s signed panel request, verified by its HMAC"
        EXEMPT_PATHS[f"/embed/{_key}/manager"] = f"{_provider.name}'s signed team panel request, verified by its HMAC"
    elif _provider.panel == "card":
        EXEMPT_PREFIXES[f"/embed/{_key}/"] = f"{_provider.name} card fetches, verified by their signature"


def is_exempt(path: str) -> bool:
    """Whether a path is on the explicit exemption list."""
    return path in EXEMPT_PATHS or any(path.startswith(prefix) for prefix in EXEMPT_PREFIXES)


def token() -> str:
    """The session's CSRF token, created on first use."""
    value = session.get("_csrf")
    if not value:
        value = session["_csrf"] = secrets.token_urlsafe(32)
    return value


def init_app(app: Flask) -> None:
    """Check the token before every unsafe request and offer ``csrf_token()`` to templates."""
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def _check():
        if request.method not in UNSAFE_METHODS or is_exempt(request.path):
            return None
        expected = session.get("_csrf")
        sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
        if expected and sent and hmac.compare_digest(expected.encode(), sent.encode()):
            return None
        log.warning("csrf.refused path=%s", request.path)
        return render_template("auth/message.html", title="This form has expired", message=(
            "Pipewise did not accept this form because it expired or was not sent from a Pipewise page. "
            "Go back, reload the page and submit it again.")), 400
