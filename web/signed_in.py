"""The signed-in console user: who the session says they are, what the synced store says of them now, and
the guards that let only signed-in users, or only admins, through.

A session ends when it outlives its lifetime or when the CRM (as last synced) deactivates the user or
changes their role; a manager who opens the console is sent to their team panel. The sign-in itself is
``web.auth``.
"""
from __future__ import annotations

import logging
import time
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from embed.tokens import mint_manager_token
from sync.store import Connection, User
from web.extensions import runtime
from web.sessions import revoke_user

log = logging.getLogger(__name__)


def current_user() -> dict[str, Any] | None:
    """The signed-in user, or None; a session past its lifetime, or whose CRM user changed, is ended."""
    if "current_user" in g:
        return g.current_user
    user = session.get("user")
    if user and time.time() - user.get("signed_in_at", 0) > runtime().config.SESSION_LIFETIME_SECONDS:
        session.clear()
        user = None
    if user and _changed_in_crm(user):
        log.warning("auth.session-ended user=%s:%s reason=crm-user-changed", user["provider"], user["user_id"])
        revoke_user(runtime().redis, user)
        session.clear()
        user = None
    g.current_user = user
    return user


def store_user(db, user: dict[str, Any]):
    """The synced CRM user row of a signed-in user (by id, else by e-mail), or None."""
    connection_id = db.scalar(select(Connection.id).where(
        Connection.provider == user["provider"], Connection.remote_org_id == user["remote_org_id"]))
    if connection_id is None:
        return None
    row = db.scalar(select(User).where(User.connection_id == connection_id, User.remote_id == user["user_id"]))
    if row is None and user.get("email"):
        row = db.scalars(select(User).where(User.connection_id == connection_id,
                                            func.lower(User.email) == user["email"].lower())
                         .order_by(User.deleted_at.is_not(None), User.id)).first()
    return row


def store_role(user: dict[str, Any]) -> str | None:
    """What the synced store says of the user now: their role, "inactive", or None when unknown."""
    with runtime().sessions() as db:
        row = store_user(db, user)
    if row is None:
        return None
    return "inactive" if (not row.is_active or row.deleted_at is not None) else (row.role or "rep")


def _changed_in_crm(user: dict[str, Any]) -> bool:
    """Whether the CRM (as last synced) deactivated the user or changed their role since sign-in."""
    now = store_role(user)
    if now is None:
        return False
    if now == "inactive":
        return True
    if user.get("store_role") is None:
        # First synced after sign-in (an admin's first install): this is the role to hold from now on.
        session["user"] = {**user, "store_role": now}
        return False
    return now != user["store_role"]


def actor() -> str:
    """How the signed-in user is named in the audit trail (an id, not personal data)."""
    user = current_user()
    return f"{user['provider']}:{user['user_id']}" if user else "anonymous"


def set_organization(organization_id: int) -> None:
    """Attach a signed-in admin who had no organization yet to the one their first install created."""
    user = dict(session["user"])
    if user.get("organization_id") not in (None, organization_id):
        raise ValueError("A session's organization is never switched.")
    user["organization_id"] = organization_id
    session["user"] = user
    g.pop("current_user", None)


def signed_in_required(view):
    """Send signed-out visitors to the sign-in page, then back."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def admin_refusal():
    """None for a signed-in admin; else the answer to give (sign-in redirect or the 403 page)."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if user["role"] != "admin":
        team_panel = team_panel_redirect(user)
        if team_panel is not None and request.method == "GET":
            return team_panel
        log.warning("auth.forbidden user=%s:%s role=%s path=%s", user["provider"], user["user_id"],
                    user["role"], request.path)
        return render_template("auth/forbidden.html", user=user), 403
    return None


def team_panel_redirect(user: dict[str, Any]):
    """A manager who opens the console goes to their team panel (None for anyone else, or before a sync)."""
    if user["role"] != "manager":
        return None
    with runtime().sessions() as db:
        row = store_user(db, user)
        if row is None or row.deleted_at is not None or not row.is_active:
            return None
        organization_id = db.scalar(select(Connection.organization_id).where(Connection.id == row.connection_id))
    token = mint_manager_token(current_app.secret_key, organization_id, row.connection_id, row.remote_id, "manager")
    log.info("auth.manager-to-team-panel user=%s:%s path=%s", user["provider"], user["user_id"], request.path)
    return redirect(url_for("embed.manager_home", pt=token))


def admin_required(view):
    """Signed-in CRM admins only: others get a 403 page saying why."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        return admin_refusal() or view(*args, **kwargs)
    return wrapped


def admins_only(blueprint: Blueprint) -> Blueprint:
    """Guard every route of an admin blueprint: signed-in admins only, and nothing cached."""

    @blueprint.before_request
    def _admins_only():
        refusal = admin_refusal()
        if refusal is not None:
            return refusal
        g.organization_id = current_user().get("organization_id")
        return None

    @blueprint.after_request
    def _no_store(response):
        # Admin pages show secrets and personal data: never keep them in a cache.
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint
