"""The admin console: connections, writeback, webhooks, models, audit trail and erasure.

Every route here is for the signed-in CRM admin of one organization; the blueprint refuses
anyone else before a view runs, and every query is scoped to the admin's organization.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g
from sqlalchemy.orm import Session

from sync.store import Connection
from sync.store import audit_log as audit
from web.signed_in import actor, admins_only

bp = Blueprint("admin", __name__, url_prefix="/admin")
admins_only(bp)



def organization_id() -> int | None:
    """The signed-in admin's organization (None before the first install)."""
    return g.get("organization_id")


def connection_or_404(db: Session, connection_id: int) -> Connection:
    """A connection of the admin's own organization; anything else does not exist for them."""
    connection = db.get(Connection, connection_id)
    if connection is None or connection.organization_id != organization_id():
        abort(404)
    return connection


def record(db: Session, action: str, target: str | None = None, details: dict[str, Any] | None = None):
    """Append an audit entry for the signed-in admin, in the caller's transaction."""
    return audit.record(db, actor=actor(), action=action, organization_id=organization_id(),
                        target=target, details=details)


from web.admin import audit_views, connections, erasure, jobs, models, webhook_test, webhooks, writeback  # noqa: E402,F401
