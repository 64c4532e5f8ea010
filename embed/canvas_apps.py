"""The two Salesforce Canvas apps (the rep panel and the team panel), how their requests are verified,
and the approval a self-authorized app needs before Salesforce posts its signed request.

Canvas guide, "Signed Request Authentication": when the app's Permitted Users is "All users may
self-authorize" and the user has not approved it (or the approval was revoked or expired), Salesforce
opens the Canvas URL with a GET carrying ``_sfdc_canvas_authvalue=user_approval_required`` instead of
the signed POST; the app must start the OAuth approval. Once the user allowed the app, Salesforce
posts the signed request on the next load of the page.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from connectors import registry
from connectors.oauth import OAuthApp
from embed.canvas import (APPROVAL_REQUIRED, DEFAULT_WINDOW_SECONDS, InvalidSignedRequest, introspect,  # noqa: F401 - APPROVAL_REQUIRED for views
                          verify_signed_request)
from embed import context as canvas_context
from embed.app_runtime import runtime
from embed.views import _embed_headers, bp, canvas_provider

log = logging.getLogger(__name__)
STATE_SALT = "pipewise.embed.canvas-approval"
STATE_MAX_AGE = 600
# The page that asks for approval is reached before Pipewise knows the org: it may be framed by
# Salesforce's own domains (never by anyone), and shows nothing but a link.
SALESFORCE_FRAMES = ["https://*.my.salesforce.com", "https://*.lightning.force.com", "https://*.force.com"]


@dataclass(frozen=True)
class CanvasApp:
    key: str            # rep | team
    client_id: str
    client_secret: str


def canvas_app(key: str) -> CanvasApp:
    """The rep panel's app (the main app) or the team panel's own app, from the configuration."""
    config = runtime().config
    if key == "team":
        return CanvasApp("team", config.SALESFORCE_TEAM_CLIENT_ID, config.SALESFORCE_TEAM_CLIENT_SECRET)
    return CanvasApp("rep", config.SALESFORCE_CLIENT_ID, config.SALESFORCE_CLIENT_SECRET)


def verify(app: CanvasApp, signed_request: str, instance_url_of) -> dict[str, Any]:
    """The verified envelope of a signed request posted by this app, or InvalidSignedRequest.

    ``instance_url_of(envelope)`` gives the instance of the connection the envelope names (None if
    unknown); an older repeat is accepted only when that instance calls the token inside active.
    """
    rt = runtime()
    window = int(getattr(rt.config, "EMBED_CANVAS_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS))

    def session_is_live(envelope: dict[str, Any]) -> bool:
        instance = instance_url_of(envelope)
        return bool(instance) and introspect(instance, app.client_id, app.client_secret, envelope,
                                             canvas_context.user_id(envelope), rt.config.ca_bundle)

    try:
        return verify_signed_request(signed_request, app.client_secret, redis=rt.redis, window_seconds=window,
                                     session_is_live=session_is_live)
    except (RecursionError, OverflowError, ValueError, TypeError):
        # A hostile envelope (nested too deep, numbers out of range) is refused like a bad signature.
        raise InvalidSignedRequest("malformed-envelope") from None


def _oauth(app: CanvasApp) -> OAuthApp:
    config = runtime().config
    return OAuthApp(registry.get(canvas_provider()).provider, config.SALESFORCE_LOGIN_URL, app.client_id,
                    app.client_secret, verify=config.ca_bundle)


def approval_page(app_key: str):
    """The answer to the self-authorize GET: a link that opens Salesforce's approval in a new window."""
    html = render_template("embed/message.html", title="Allow Pipewise to show scores here",
                           message="Your Salesforce admin lets each user decide. Allow Pipewise once in the window "
                                   "that opens; then reload this Salesforce page and the panel appears.",
                           link=url_for("embed.salesforce_canvas_approve", app=app_key),
                           link_text="Allow Pipewise in Salesforce")
    return _embed_headers(make_response(html), SALESFORCE_FRAMES)


@bp.get("/salesforce/canvas/approve")
def salesforce_canvas_approve():
    """Send the user to Salesforce to allow the Canvas app (a top-level window: login pages refuse frames)."""
    app = canvas_app(request.args.get("app", "rep"))
    state = URLSafeTimedSerializer(current_app.secret_key, salt=STATE_SALT).dumps({"app": app.key})
    url, _ = _oauth(app).session(_callback_url()).create_authorization_url(_oauth(app).authorize_url, state=state)
    return redirect(url)


@bp.get("/salesforce/canvas/approved")
def salesforce_canvas_approved():
    """Salesforce's answer: the user allowed (or denied) the app; either way, say what happens next."""
    try:
        state = URLSafeTimedSerializer(current_app.secret_key, salt=STATE_SALT).loads(
            request.args.get("state", ""), max_age=STATE_MAX_AGE)
    except BadSignature:
        return _message("This approval link is stale", "Reload the Salesforce page and choose Allow again.", 400)
    if request.args.get("error"):
        return _message("Pipewise was not allowed", "Pipewise shows nothing until you allow it. Reload the "
                        "Salesforce page to be asked again.", 200)
    app = canvas_app(state.get("app", "rep"))
    oauth = _oauth(app)
    try:
        # Completing the grant is what records the approval; Pipewise keeps no token of the user's.
        token = oauth.session(_callback_url()).fetch_token(oauth.token_url, grant_type="authorization_code",
                                                           code=request.args.get("code", ""))
        oauth.session().revoke_token(oauth.base_url.rstrip("/") + oauth.provider.revoke_path,
                                     token=token.get("access_token"), timeout=30)
    except Exception as exc:  # authlib and requests raise several kinds; the user can only retry
        log.warning("embed.canvas.approval-failed app=%s error=%s", app.key, type(exc).__name__)
        return _message("Salesforce did not confirm the approval", "Reload the Salesforce page and choose "
                        "Allow again. If it keeps failing, ask your admin to check the app's callback URL.", 400)
    log.info("embed.canvas.approved app=%s", app.key)
    return _message("Pipewise is allowed", "Close this window and reload the Salesforce page: the panel opens.", 200)


def _message(title: str, message: str, status: int):
    response = make_response(render_template("embed/message.html", title=title, message=message), status)
    return _embed_headers(response, [])


def _callback_url() -> str:
    # On Pipewise's public address (PIPEWISE_PUBLIC_URL), never the Host header the request came with.
    return runtime().config.PUBLIC_URL.rstrip("/") + url_for("embed.salesforce_canvas_approved")
