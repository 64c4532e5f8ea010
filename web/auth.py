"""Sign-in with the CRM identity: the routes that start, complete and end a console session.

Sign-in is the CRM's OAuth web-server flow with the narrowest scope that reads the identity;
the grant is revoked as soon as the identity is read. Every registered provider plugs in through
its declaration: ``signin_scope`` and ``sign_in`` (token → remote org, user, role). The signed-in user
and the role checks are ``web.signed_in``.
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.urls import iri_to_uri

from connectors import registry
from connectors.base import SignIn, SignInError
from connectors.errors import ConnectorError
from sync.connections import oauth_app
from sync.runtime.config import Config
from sync.store import Connection
from web.extensions import runtime
from web.sessions import rotate
from web.signed_in import current_user, signed_in_required, store_role, team_panel_redirect

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def resolve_identity(config: Config, provider: str, token: dict[str, Any]) -> SignIn:
    """Who a sign-in token belongs to (remote org, user, role), read by the provider's own ``sign_in``."""
    return registry.get(provider).provider.sign_in(oauth_app(config, provider), token, config,
                                                   kept_refresh_tokens=lambda org: _connection_refresh_tokens(
                                                       provider, org))


def _connection_refresh_tokens(provider: str, remote_org_id: str) -> set[str]:
    """The refresh tokens stored on this CRM account's connections (a sign-in never gives those back)."""
    rt = runtime()
    with rt.sessions() as db:
        ciphertexts = db.scalars(select(Connection.token_ciphertext).where(
            Connection.provider == provider, Connection.remote_org_id == remote_org_id)).all()
    found = set()
    for ciphertext in ciphertexts:
        try:
            found.add(rt.cipher.decrypt_json(ciphertext).get("refresh_token"))
        except Exception:  # noqa: BLE001 - an unreadable token is no reason to keep the sign-in's
            continue
    return found


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site, never another host: checked after normalising as a browser would."""
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    # Browsers drop tabs and newlines and read a backslash as a slash; judge what they would follow.
    normalised = value.replace("\\", "/")
    parts = urlsplit(normalised)
    if parts.scheme or parts.netloc or not normalised.startswith("/") or normalised.startswith("//"):
        return None
    # Non-ASCII paths travel percent-encoded: a header holds ASCII only.
    return iri_to_uri(value) if value == normalised else None


# -- routes ---------------------------------------------------------------------------------------

@bp.get("/login")
def login():
    """Choose the CRM to sign in with."""
    nxt = _safe_next(request.args.get("next"))
    if nxt:
        session["next"] = nxt
    return render_template("auth/login.html", providers=registry.keys())


@bp.get("/login/<provider>")
def start(provider: str):
    """Send the visitor to the CRM's consent page with a state bound to their session."""
    if provider not in registry.keys():
        abort(404)
    app = oauth_app(runtime().config, provider)
    client = app.session(_callback_url(provider))
    client.scope = registry.get(provider).provider.signin_scopes(runtime().config)
    state = secrets.token_urlsafe(24)
    session["signin_state"] = {"provider": provider, "state": state}
    return redirect(client.create_authorization_url(app.authorize_url, state=state)[0])


@bp.get("/<provider>/callback")
def callback(provider: str):
    """Check state first, trade the code, read who it is, then start the session."""
    expected = session.pop("signin_state", None)
    if not expected or expected["provider"] != provider or request.args.get("state") != expected["state"]:
        log.warning("auth.invalid-state provider=%s", provider)
        return _message("This sign-in link is stale or was not started here.",
                        "Start again from the Pipewise sign-in page."), 400
    if request.args.get("error"):
        return _message("The CRM did not sign you in.",
                        "Start again and choose Allow on the CRM's page."), 400
    config = runtime().config
    app = oauth_app(config, provider)
    try:
        token = app.exchange_code(request.args.get("code", ""), _callback_url(provider))
    except ConnectorError as exc:
        return _message("Sign-in did not complete.", str(exc)), 400
    try:
        who = resolve_identity(config, provider, token)
    except (SignInError, OSError, KeyError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, SignInError) else "The CRM's identity answer could not be read."
        return _message("Sign-in did not complete.", f"{detail} Try signing in again."), 400
    finally:
        revoke_grant(app, token)
    with runtime().sessions() as db:
        connection = db.execute(select(Connection.organization_id, Connection.status).where(
            Connection.provider == provider, Connection.remote_org_id == who.remote_org_id)).first()
    organization_id = connection.organization_id if connection else None
    # An admin of a disconnected CRM may still come in (to reconnect it or delete its data); no one else.
    if who.role != "admin" and (connection is None or connection.status == "disconnected"):
        return _message("Pipewise is not connected to your CRM yet.",
                        "Ask your CRM admin to sign in to Pipewise and connect it; then sign in again."), 403
    nxt = _safe_next(session.get("next"))
    session.clear()  # a fresh session on sign-in, under a new id: nothing from before carries over
    rotate(session)
    session.permanent = True
    user = {**asdict(who), "organization_id": organization_id, "signed_in_at": time.time()}
    session["user"] = {**user, "store_role": store_role(user)}
    log.info("auth.signed-in user=%s:%s role=%s", provider, who.user_id, who.role)
    if nxt:
        return redirect(nxt)
    if who.role == "admin":
        return redirect(url_for("admin.connections"))
    return team_panel_redirect(session["user"]) or redirect(url_for("auth.whoami"))


def revoke_grant(app, token: dict[str, Any]) -> None:
    """Give a grant back to the CRM (sign-in's, or an install Pipewise refused); best effort."""
    revoke_path = app.provider.revoke_path
    value = token.get("refresh_token") or token.get("access_token")
    if not revoke_path or not value:
        return
    try:
        app.session().revoke_token(app.base_url.rstrip("/") + revoke_path, token=value, timeout=30)
    except Exception as exc:  # best effort; the grant is useless to anyone without the client secret
        log.warning("auth.revoke-failed provider=%s error=%s", app.provider.key, type(exc).__name__)


@bp.get("/me")
@signed_in_required
def whoami():
    """Who is signed in, and what they may do here."""
    return render_template("auth/me.html", user=current_user())


@bp.get("/logout")
def logout_page():
    """Confirm signing out (signing out is a POST, so no link can do it behind your back)."""
    return render_template("auth/logout.html", user=current_user())


@bp.post("/logout")
def logout():
    """End the session: it is deleted on the server, so a copy of the cookie opens nothing."""
    session.clear()
    g.pop("current_user", None)
    return redirect(url_for("auth.login"))


def _message(title: str, message: str):
    return render_template("auth/message.html", title=title, message=message)


def _callback_url(provider: str) -> str:
    return public_url(url_for("auth.callback", provider=provider))


def public_url(path: str) -> str:
    """An absolute URL on Pipewise's public address (PIPEWISE_PUBLIC_URL), never the Host header."""
    return runtime().config.PUBLIC_URL.rstrip("/") + path


def init_app(app: Flask) -> None:
    """Register the blueprint and give templates the signed-in user."""
    app.register_blueprint(bp)

    @app.context_processor
    def _user():
        return {"current_user": current_user()}
