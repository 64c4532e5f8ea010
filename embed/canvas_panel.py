"""The panels a CRM posts a signed request into (providers whose ``panel`` is "canvas").

``/embed/<key>/canvas`` is the record's panel and ``/embed/<key>/manager`` the team panel; each is its
own app at the CRM, signing with its own secret, and the provider's ``panel.verify`` checks which.
A CRM that lets each user approve the app opens the URL with a GET until the user has: then
``/embed/<key>/canvas/approve`` sends them to the CRM's consent page and ``/approved`` takes its answer.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

from flask import current_app, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from connectors import registry
from connectors.base import PANEL_APPS, InvalidPanelRequest, PanelContext
from connectors.oauth import OAuthApp
from embed.app_runtime import runtime
from embed.manager import open_team_panel
from embed.tokens import PanelClaims, issue_panel_token
from embed.views import (_embed_headers, _notice, _panel, _refusal, bp, frame_ancestors, live_connection,
                         panel_request, verify_panel)
from scoring.scope import viewer_role
from sync.connections import oauth_app

log = logging.getLogger(__name__)
STATE_SALT = "pipewise.embed.canvas-approval"
STATE_MAX_AGE = 600


def canvas(provider: str, app: str):
    """Verify the signed request of this panel's app at the CRM, then open the panel for its org."""
    if request.method == "GET":
        return _canvas_get(provider, app)
    try:
        context = verify_panel(provider, app)
    except InvalidPanelRequest as exc:
        log.warning("embed.%s.invalid-signature reason=%s", "canvas" if app == "rep" else "manager", exc.reason)
        return _not_verified(provider)
    with runtime().sessions() as session:
        connection = live_connection(session, provider, context.remote_org_id)
        if connection is None:
            log.warning("embed.canvas.unknown-organization org=%s", context.remote_org_id)
            return _not_installed(provider, context)
        if app == "team":
            # Opened on a user's page, the panel starts on that user (when the viewer may see them).
            subject = context.record[1] if context.record and context.record[0] == "user" else None
            return open_team_panel(session, connection, context.remote_user_id, subject)
        return _rep_panel(session, provider, connection, context)


def _rep_panel(session, provider: str, connection, context: PanelContext):
    """The panel of the record in the verified context, or a notice off a record Pipewise scores."""
    object_type, remote_id = context.record or (None, "")
    if object_type not in registry.provider(provider).writable_objects:
        return _notice("Open a lead or an opportunity",
                       "Pipewise scores leads and opportunities. Open one to see its score.",
                       frame_ancestors(connection))
    user = context.remote_user_id
    claims = PanelClaims(organization_id=connection.organization_id, connection_id=connection.id,
                         user_remote_id=user, role=viewer_role(session, connection.organization_id, user or None),
                         object_type=object_type, remote_id=remote_id)
    log.info("embed.canvas.opened connection=%s object=%s", connection.id, object_type)
    return _panel(session, connection, claims, issue_panel_token(current_app.secret_key, claims))


def _not_verified(provider: str):
    name = registry.provider(provider).name
    return _refusal("Pipewise could not verify this request",
                    f"The request did not come from {name} with a valid signature, or it was replayed after its "
                    f"{name} session ended. Reload the {name} page to try again.", [])


def _not_installed(provider: str, context: PanelContext):
    """Refuse an org Pipewise is not installed for; the verified request's instance may frame the message."""
    name = registry.provider(provider).name
    return _refusal("Pipewise is not installed for this organization",
                    f"Ask your {name} admin to install Pipewise (connect this {name} organization in the "
                    "Pipewise console), then reload this page.",
                    registry.provider(provider).frame_ancestors(context.instance_url))


def _canvas_get(provider: str, app: str):
    """A panel URL opened with GET: the CRM asks a self-authorized app to get the user's approval."""
    name = registry.provider(provider).name
    if registry.provider(provider).panel_module().approval_required(panel_request()):
        log.info("embed.canvas.approval-required app=%s", app)
        return _approval_page(provider, app)
    return _refusal(f"Open Pipewise from {name}",
                    f"This page is the Pipewise panel that {name} shows on its record pages.", [])


def _approval_page(provider: str, app: str):
    """A link that opens the CRM's approval in a new window (framed only by the CRM's own domains)."""
    name = registry.provider(provider).name
    html = render_template("embed/message.html", title="Allow Pipewise to show scores here",
                           message=f"Your {name} admin lets each user decide. Allow Pipewise once in the window "
                                   f"that opens; then reload this {name} page and the panel appears.",
                           link=url_for(f"embed.{provider}_canvas_approve", app=app),
                           link_text=f"Allow Pipewise in {name}")
    return _embed_headers(make_response(html), list(registry.provider(provider).panel_module().APPROVAL_FRAMES))


def _app(name: str | None) -> str:
    return name if name in PANEL_APPS else "rep"


def _oauth(provider: str, app: str) -> OAuthApp:
    """The OAuth app of one panel's app at the CRM (the team panel's has its own credentials)."""
    config = runtime().config
    client_id, client_secret = registry.provider(provider).panel_module().app_credentials(config, app)
    return replace(oauth_app(config, provider), client_id=client_id, client_secret=client_secret)


def approve(provider: str):
    """Send the user to the CRM to allow the panel's app (a top-level window: login pages refuse frames)."""
    app = _app(request.args.get("app"))
    state = URLSafeTimedSerializer(current_app.secret_key, salt=STATE_SALT).dumps({"app": app})
    oauth = _oauth(provider, app)
    url, _ = oauth.session(_callback_url(provider)).create_authorization_url(oauth.authorize_url, state=state)
    return redirect(url)


def approved(provider: str):
    """The CRM's answer: the user allowed (or denied) the app; either way, say what happens next."""
    name = registry.provider(provider).name
    try:
        state = URLSafeTimedSerializer(current_app.secret_key, salt=STATE_SALT).loads(
            request.args.get("state", ""), max_age=STATE_MAX_AGE)
    except BadSignature:
        return _message("This approval link is stale", f"Reload the {name} page and choose Allow again.", 400)
    if request.args.get("error"):
        return _message("Pipewise was not allowed", "Pipewise shows nothing until you allow it. Reload the "
                        f"{name} page to be asked again.", 200)
    app = _app(state.get("app"))
    oauth = _oauth(provider, app)
    try:
        # Completing the grant is what records the approval; Pipewise keeps no token of the user's.
        token = oauth.session(_callback_url(provider)).fetch_token(
            oauth.token_url, grant_type="authorization_code", code=request.args.get("code", ""))
        if oauth.provider.revoke_path:
            oauth.session().revoke_token(oauth.base_url.rstrip("/") + oauth.provider.revoke_path,
                                         token=token.get("access_token"), timeout=30)
    except Exception as exc:  # authlib and requests raise several kinds; the user can only retry
        log.warning("embed.canvas.approval-failed app=%s error=%s", app, type(exc).__name__)
        return _message(f"{name} did not confirm the approval", f"Reload the {name} page and choose Allow again. "
                        "If it keeps failing, ask your admin to check the app's callback URL.", 400)
    log.info("embed.canvas.approved app=%s", app)
    return _message("Pipewise is allowed", f"Close this window and reload the {name} page: the panel opens.", 200)


def _message(title: str, message: str, status: int):
    response = make_response(render_template("embed/message.html", title=title, message=message), status)
    return _embed_headers(response, [])


def _callback_url(provider: str) -> str:
    # On Pipewise's public address (PIPEWISE_PUBLIC_URL), never the Host header the request came with.
    return runtime().config.PUBLIC_URL.rstrip("/") + url_for(f"embed.{provider}_canvas_approved")


def _register(provider: str) -> None:
    """The routes of one provider's canvas panels (the URLs its apps are configured with at the CRM)."""
    rules = (("canvas", partial(canvas, provider, "rep"), ["GET", "POST"]),
             ("manager", partial(canvas, provider, "team"), ["GET", "POST"]),
             ("canvas/approve", partial(approve, provider), ["GET"]),
             ("canvas/approved", partial(approved, provider), ["GET"]))
    for path, view, methods in rules:
        bp.add_url_rule(f"/{provider}/{path}", endpoint=f"{provider}_{path.replace('/', '_')}", view_func=view,
                        methods=methods)


for _provider in registry.panel_keys("canvas"):
    _register(_provider)
