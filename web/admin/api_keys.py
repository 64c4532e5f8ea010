"""Admin screens for API keys: create one (its secret is shown exactly once) and revoke it."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from sync.store import audit_log as audit
from web import api_keys
from web.extensions import runtime
from web.signed_in import actor, admins_only

log = logging.getLogger(__name__)
bp = Blueprint("api_keys_admin", __name__, url_prefix="/admin/api-keys")
admins_only(bp)



def _page(new_token: str | None = None, error: str | None = None, status: int = 200):
    keys = []
    if g.organization_id is not None:
        with runtime().sessions() as db:
            keys = api_keys.keys_of(db, g.organization_id)
    return render_template("mapping/api_keys.html", keys=keys, new_token=new_token, error=error,
                           has_organization=g.organization_id is not None), status


@bp.get("")
def index():
    """The organization's keys, revoked ones included."""
    return _page()


@bp.post("")
def create():
    """Create a key and show its secret on this one answer only."""
    if g.organization_id is None:
        return _page(error="Connect a CRM first: API keys belong to an organization, which the first "
                           "connection creates.", status=400)
    with runtime().sessions() as db:
        try:
            key, token = api_keys.create(db, g.organization_id, request.form.get("name", ""), actor())
        except ValueError as exc:
            return _page(error=str(exc), status=400)
        audit.record(db, actor=actor(), action="api_key.create", organization_id=g.organization_id,
                     target=f"api_key:{key.id}", details={"name": key.name})
        db.commit()
        log.info("api-key.created organization=%s key=%s", g.organization_id, key.id)
    return _page(new_token=token)


@bp.get("/<int:key_id>/revoke")
def revoke_confirm(key_id: int):
    """Say what revoking breaks before doing it."""
    key = None
    if g.organization_id is not None:
        with runtime().sessions() as db:
            key = next((k for k in api_keys.keys_of(db, g.organization_id) if k.id == key_id and not k.revoked_at),
                       None)
    if key is None:
        abort(404)
    return render_template("admin/confirm.html", connection=None, title=f"Revoke the key “{key.name}”?",
                           points=[f"Every program that calls the API with the key ending {key.hint} is refused "
                                   "from the moment you revoke it.",
                                   "A revoked key cannot be restored: create a new key and give it to that "
                                   "program instead."],
                           action=url_for("api_keys_admin.revoke", key_id=key_id), button="Revoke the key",
                           cancel=url_for("api_keys_admin.index"))


@bp.post("/<int:key_id>/revoke")
def revoke(key_id: int):
    """Revoke a key of the organization: calls with it are refused from now on."""
    with runtime().sessions() as db:
        key = api_keys.revoke(db, g.organization_id, key_id, actor()) if g.organization_id else None
        if key is None:
            abort(404)
        audit.record(db, actor=actor(), action="api_key.revoke", organization_id=g.organization_id,
                     target=f"api_key:{key_id}", details={"name": key.name})
        db.commit()
        name = key.name
    log.info("api-key.revoked organization=%s key=%s", g.organization_id, key_id)
    flash(f"The key “{name}” is revoked; calls with it are refused from now on.", "info")
    return redirect(url_for("api_keys_admin.index"))
