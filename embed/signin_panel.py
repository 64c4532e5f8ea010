"""The panel of a CRM that frames it with unsigned record parameters: the viewer signs in with the CRM's identity
provider (OpenID Connect), silently after the first time, and the record must belong to their organization.

``GET /embed/<key>/panel?<the CRM's parameters>`` is the web resource's URL. It keeps the sign-in's state, nonce
and PKCE verifier server-side (Redis, single use: the frame has no cookies) and sends the frame to the identity
provider with prompt=none. The answer comes back to ``/embed/<key>/panel/signed-in``: a code opens the panel;
"sign-in needed" shows a button that opens the interactive sign-in in a popup (identity providers refuse to be
framed), after which the frame signs in silently again. The CRM-specific steps are the package's ``panel.py``
hooks (see connectors.panels).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from typing import Any

from flask import Response, current_app, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from connectors import registry
from connectors.base import FramedRecord, PanelRefused, PanelViewer
from embed.app_runtime import runtime
from embed.manager import open_team_panel
from embed.tokens import PanelClaims, issue_panel_token
from embed.views import _embed_headers, _panel, bp
from scoring.scope import viewer_role
from sync.store import Connection

log = logging.getLogger(__name__)
STATE_KEY = "pipewise:embed:signin-state:{}"
STATE_SECONDS = 600
MAX_PARAMETER = 200


def _hooks(key: str):
    return registry.get(key).provider.panel_module()


def _keys(key: str):
    """The provider's signing-key cache, one per app (keys are fetched once, not per request)."""
    caches = current_app.extensions.setdefault("pipewise.signin_panel_keys", {})
    if key not in caches:
        caches[key] = _hooks(key).signing_keys(runtime().config)
    return caches[key]


def _ancestors(key: str) -> list[str]:
    origin = _hooks(key).frame_origin(runtime().config)
    return [origin] if origin else []


def _page(key: str, template: str, status: int = 200, ancestors: list[str] | None = None, **context) -> Response:
    response = make_response(render_template(template, **context), status)
    return _embed_headers(response, _ancestors(key) if ancestors is None else ancestors)


def _refused(key: str, refusal: PanelRefused, ancestors: list[str] | None = None) -> Response:
    log.warning("%s.panel.refused reason=%s", key, refusal.reason)
    return _page(key, "embed/message.html", refusal.status, ancestors, title=refusal.title, message=refusal.message)


def _redirect_uri(key: str) -> str:
    return runtime().config.PUBLIC_URL.rstrip("/") + url_for(f"embed.{key}_signin_panel_callback")


def _begin(key: str, context: FramedRecord, args: dict[str, str], mode: str) -> str:
    """A fresh state (kept server-side with its nonce and PKCE verifier); the identity provider's URL for it."""
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    kept = {"provider": key, "mode": mode, "args": args, "nonce": nonce, "verifier": verifier,
            "context": [context.object_type, context.remote_id, context.org_name]}
    runtime().redis.set(STATE_KEY.format(state), json.dumps(kept), ex=STATE_SECONDS)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return _hooks(key).authorize_url(runtime().config, _redirect_uri(key), state, nonce, challenge,
                                     silent=mode == "frame")


def _take_state(state: str) -> dict[str, Any] | None:
    """The kept sign-in for a state, removed so it is used once."""
    if not state or len(state) > 128:
        return None
    raw = runtime().redis.getdel(STATE_KEY.format(state))
    return json.loads(raw) if raw else None


def start(key: str):
    """The web resource's URL: check the parameters' shape, then sign the viewer in silently."""
    hooks = _hooks(key)
    # Only what a form passes is kept (and replayed to sign in again): the query is anyone's to write.
    args = {k: v[:MAX_PARAMETER] for k, v in request.args.items() if k in hooks.PARAMETERS}
    try:
        context = hooks.read_context(args)
    except PanelRefused as refusal:
        return _refused(key, refusal)
    log.info("%s.panel.sign-in-started object=%s", key, context.object_type)
    return _embed_headers(redirect(_begin(key, context, args, "frame")), _ancestors(key))


def signed_in(key: str):
    """The identity provider's answer: a code opens the panel; "sign-in needed" offers the popup."""
    name = registry.get(key).provider.name
    kept = _take_state(request.args.get("state", ""))
    popup = kept is not None and kept["mode"] == "popup"
    ancestors = [] if popup else None
    if kept is None or kept["provider"] != key:
        return _refused(key, PanelRefused("unknown-state", "This sign-in has expired",
                                          f"Reload the {name} form to sign in again."))
    context = FramedRecord(*kept["context"])
    error = request.args.get("error")
    if error and not popup and _hooks(key).needs_interaction(error):
        return _page(key, "embed/signin.html", script="signin.js", title=f"Sign in to see Pipewise in {name}",
                     provider_name=name, identity_provider=_hooks(key).IDENTITY_PROVIDER,
                     authorize_url=_begin(key, context, kept["args"], "popup"),
                     restart_url=url_for(f"embed.{key}_signin_panel", **kept["args"]))
    if error or not request.args.get("code"):
        return _refused(key, PanelRefused(f"idp-{error or 'no-code'}"[:60], "You are not signed in",
                                          f"{name} sign-in did not complete. Reload the form to try again; if it "
                                          "keeps failing, ask your admin to check Pipewise's app registration."),
                        ancestors)
    hooks = _hooks(key)
    try:
        viewer = hooks.sign_in(runtime().config, _keys(key), context, request.args["code"], _redirect_uri(key),
                               kept["verifier"], kept["nonce"])
    except PanelRefused as refusal:
        return _refused(key, refusal, ancestors)
    with runtime().sessions() as session:
        connection = session.scalar(select(Connection).where(Connection.provider == key,
                                                             Connection.remote_org_id == viewer.remote_org_id))
        if connection is None or connection.status == "disconnected":
            installed = connection is not None
            return _refused(key, PanelRefused(
                "disconnected" if installed else "not-installed",
                f"Pipewise is {'disconnected from' if installed else 'not installed for'} your organization",
                f"Ask your {name} admin to {'reconnect' if installed else 'connect'} {name} in the Pipewise "
                "console, then reload this form."), ancestors)
        log.info("%s.panel.signed-in connection=%s object=%s", key, connection.id, context.object_type)
        return _open(key, session, connection, viewer, context, popup)


def _open(key: str, session, connection: Connection, viewer: PanelViewer, context: FramedRecord,
          popup: bool) -> Response:
    """The rep panel of the record, or the team panel on a user; from the popup, the page handing it over."""
    role = viewer_role(session, connection.organization_id, viewer.user_remote_id)
    if context.object_type == "user":
        if popup:
            return _signed_in_popup(key, None)
        return open_team_panel(session, connection, viewer.user_remote_id, context.remote_id)
    claims = PanelClaims(organization_id=connection.organization_id, connection_id=connection.id,
                         user_remote_id=viewer.user_remote_id, role=role, object_type=context.object_type,
                         remote_id=context.remote_id)
    token = issue_panel_token(current_app.secret_key, claims)
    if popup:
        # The frame opens the panel from here: where the browser blocks the identity provider's cookies in
        # frames, a silent sign-in there would only ask again.
        return _signed_in_popup(key, url_for("embed.panel", object_type=claims.object_type,
                                              remote_id=claims.remote_id, pt=token))
    return _panel(session, connection, claims, token)


def _signed_in_popup(key: str, panel_url: str | None) -> Response:
    """The popup's last page: it hands the frame the panel (or asks it to sign in again silently) and closes."""
    return _page(key, "embed/signin.html", ancestors=[], script="signed_in.js", title="You are signed in",
                 provider_name=registry.get(key).provider.name, panel_url=panel_url or "")


def _register(key: str) -> None:
    bp.add_url_rule(f"/{key}/panel", endpoint=f"{key}_signin_panel", view_func=lambda: start(key))
    bp.add_url_rule(f"/{key}/panel/signed-in", endpoint=f"{key}_signin_panel_callback",
                    view_func=lambda: signed_in(key))


for _provider in registry.panel_keys("signin"):
    _register(_provider)
