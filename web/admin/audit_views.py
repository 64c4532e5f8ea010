"""The audit trail screen: who did what, filterable and exportable, and whether the chain is intact.

Entries are numbered per organization (1 is the organization's first entry), so an admin never
sees gaps left by other organizations' entries. The hash chain itself is global and untouched.
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import Response, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from embed.manager import csv_cell
from sync.local_time import day_start
from sync.store import Connection, User
from sync.store import audit_log as audit
from web.admin import bp, organization_id
from web.extensions import runtime
from web.local_time import viewer_zone
from web.template_filters import connection_name, crm_name

PAGE = 100
EXPORT_LIMIT = 100_000
# What each recorded action means, in the words of the console's buttons.
ACTIONS = {
    "connection.install": "Connected a CRM", "connection.reauthorize": "Started re-authorization",
    "connection.reauthorize_done": "Re-authorized a CRM", "connection.check": "Checked a connection",
    "connection.pause": "Paused a connection", "connection.resume": "Resumed a connection",
    "connection.disconnect": "Disconnected a CRM", "connection.purge": "Deleted a connection's data",
    "connection.sync": "Started a sync",
    "webhook.rotate_secret": "Rotated the webhook secret", "webhook.retry": "Retried failed webhook events",
    "webhook.test": "Sent a test event", "writeback.retry": "Retried failed writebacks",
    "field_mapping.update": "Changed the field mapping", "writeback_fields.update": "Changed the fields written back",
    "model.retrain": "Retrained a model", "model.keep_feature": "Kept a feature the guard left out",
    "model.release_feature": "Let the guard decide on a feature", "erasure.erase": "Erased a person",
    "api_key.create": "Created an API key", "api_key.revoke": "Revoked an API key",
    "forecast.call": "Made the team's forecast call", "forecast.submit": "Submitted a forecast",
}


def action_label(action: str) -> str:
    """The action in words ("Rotated the webhook secret"); unknown ones readable as they are."""
    return ACTIONS.get(action, action.replace(".", ": ").replace("_", " ").capitalize())


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, "")) if request.args.get(name) else None
    except ValueError:
        return None


def _filters() -> dict:
    return {"actor": request.args.get("actor", "")[:255], "action": request.args.get("action", "")[:64],
            "since": _day("since"), "until": _day("until")}


def _query(filters: dict):
    """The organization's entries with their per-organization number, filtered, newest first."""
    numbered = (select(audit.AuditEntry, func.row_number().over(order_by=audit.AuditEntry.id).label("n"))
                .where(audit.AuditEntry.organization_id == organization_id()).subquery())
    entry = aliased(audit.AuditEntry, numbered)
    query = select(entry, numbered.c.n)
    if filters["actor"]:
        query = query.where(numbered.c.actor == filters["actor"])
    if filters["action"]:
        query = query.where(numbered.c.action == filters["action"])
    # The days are the admin's own (their CRM time zone), as the trail shows its times.
    if filters["since"]:
        query = query.where(numbered.c.at >= day_start(filters["since"], viewer_zone()))
    if filters["until"]:
        query = query.where(numbered.c.at < day_start(filters["until"] + timedelta(days=1), viewer_zone()))
    return query.order_by(numbered.c.n.desc()), numbered


def _readable(db, rows, names: dict[str, str]) -> list[dict]:
    """Entries as sentences a person reads: names for ids, words for actions, details as pairs."""
    connections = {f"connection:{c.id}": f"{crm_name(c.provider)} connection ({connection_name(c)})"
                   for c in db.scalars(select(Connection).where(Connection.organization_id == organization_id()))}
    out = []
    for entry, number in rows:
        details = []
        for key, value in sorted((entry.details or {}).items()):
            if isinstance(value, dict):
                value = "; ".join(f"{k.replace('_', ' ')}: {' → '.join(map(str, v)) if isinstance(v, list) else v}"
                                  for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            details.append((key.replace("_", " "), "—" if value is None else str(value)))
        out.append({"n": number, "at": entry.at,
                    "actor": names.get(entry.actor, "Pipewise (automatic)" if entry.actor == "system" else entry.actor),
                    "actor_id": entry.actor, "action": action_label(entry.action), "action_key": entry.action,
                    "target": connections.get(entry.target or "", (entry.target or "").replace(":", " ")),
                    "details": details})
    return out


@bp.get("/audit")
def audit_trail():
    """The organization's entries, newest first, filtered, with the whole chain's verification."""
    filters = _filters()
    before = request.args.get("before", type=int)
    with runtime().sessions() as db:
        query, numbered = _query(filters)
        if before:
            query = query.where(numbered.c.n < before)
        rows = db.execute(query.limit(PAGE)).all()
        org = audit.AuditEntry.organization_id == organization_id()
        actors = db.scalars(select(audit.AuditEntry.actor).where(org).distinct()).all()
        actions = db.scalars(select(audit.AuditEntry.action).where(org).distinct()).all()
        names = _actor_names(db, set(actors))
        entries = _readable(db, rows, names)
        ok, first_bad = audit.verify(db)
    args = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.items() if v}
    return render_template("admin/audit.html", entries=entries, ok=ok, first_bad=first_bad,
                           more=len(rows) == PAGE, filters=args,
                           actors=sorted(((names.get(a, a), a) for a in actors)),
                           actions=sorted((action_label(a), a) for a in actions))


@bp.get("/audit.csv")
def audit_export():
    """The filtered entries as CSV; text that a spreadsheet would run as a formula is neutralised."""
    with runtime().sessions() as db:
        query, _numbered = _query(_filters())
        rows = db.execute(query.limit(EXPORT_LIMIT)).all()
        names = _actor_names(db, {entry.actor for entry, _n in rows})
        entries = _readable(db, rows, names)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "when_utc", "who", "who_id", "action", "action_code", "target", "details"])
    for e in entries:
        writer.writerow([csv_cell(v) for v in (
            e["n"], e["at"].strftime("%Y-%m-%d %H:%M:%S"), e["actor"], e["actor_id"], e["action"], e["action_key"],
            e["target"], "; ".join(f"{k}: {v}" for k, v in e["details"]))])
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="pipewise-audit-trail.csv"'})


def _actor_names(db, actors: set[str]) -> dict[str, str]:
    """CRM users' names for the ids the trail records (names are looked up, never stored there)."""
    ids = {a.split(":", 1)[1] for a in actors if ":" in a}
    if not ids or organization_id() is None:
        return {}
    rows = db.execute(select(Connection.provider, User.remote_id, User.name).join(
        Connection, Connection.id == User.connection_id).where(
        User.organization_id == organization_id(), User.remote_id.in_(ids)))
    return {f"{provider}:{remote_id}": name for provider, remote_id, name in rows if name}
