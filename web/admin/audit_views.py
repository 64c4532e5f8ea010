"""The audit trail screen: who did what, and whether the chain is intact."""
from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from sync import audit
from sync.models import Connection, User
from web.admin import bp, organization_id
from web.extensions import runtime

PAGE = 100


@bp.get("/audit")
def audit_trail():
    """The organization's entries, newest first, with the whole chain's verification."""
    before = request.args.get("before", type=int)
    with runtime().sessions() as db:
        query = select(audit.AuditEntry).where(audit.AuditEntry.organization_id == organization_id())
        if before:
            query = query.where(audit.AuditEntry.id < before)
        entries = db.scalars(query.order_by(audit.AuditEntry.id.desc()).limit(PAGE)).all()
        names = _actor_names(db, {e.actor for e in entries})
        ok, first_bad = audit.verify(db)
    return render_template("admin/audit.html", entries=entries, names=names, ok=ok, first_bad=first_bad,
                           more=len(entries) == PAGE)


def _actor_names(db, actors: set[str]) -> dict[str, str]:
    """CRM users' names for the ids the trail records (names are looked up, never stored there)."""
    ids = {a.split(":", 1)[1] for a in actors if ":" in a}
    if not ids or organization_id() is None:
        return {}
    rows = db.execute(select(Connection.provider, User.remote_id, User.name).join(
        Connection, Connection.id == User.connection_id).where(
        User.organization_id == organization_id(), User.remote_id.in_(ids)))
    return {f"{provider}:{remote_id}": name for provider, remote_id, name in rows if name}
