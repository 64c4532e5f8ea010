"""The writeback log: what Pipewise wrote to the CRM, what it skipped, and what the CRM refused."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from connectors import registry
from sync.job_chain import WRITEBACK
from sync.store import SYNCED_MODELS, WritebackLedger
from sync.writeback import plan
from web.admin import bp, connection_or_404, record
from web.extensions import runtime

LIMIT = 100


def _records(db, connection_id: int, status: str, provider) -> list[dict]:
    """Ledger rows grouped per record (the ledger has one row per field), newest first."""
    L = WritebackLedger
    query = (select(L.object_type, L.remote_id, func.max(L.error), func.max(L.attempts),
                    func.max(L.updated_at), func.max(L.written_at))
             .where(L.connection_id == connection_id, L.status == status)
             .group_by(L.object_type, L.remote_id).order_by(func.max(L.updated_at).desc()).limit(LIMIT))
    rows = [{"object_type": o, "remote_id": r, "error": e, "attempts": a, "updated_at": u, "written_at": w}
            for o, r, e, a, u, w in db.execute(query)]
    if status == "written":
        fields = {f.key: f.remote_name for f in provider.writable_fields}
        values = {}
        for row in db.execute(select(L.remote_id, L.field, L.value).where(
                L.connection_id == connection_id, L.remote_id.in_([r["remote_id"] for r in rows]),
                L.field.in_([fields.get("score", ""), fields.get("band", "")]))):
            values.setdefault(row.remote_id, {})[row.field] = row.value
        for row in rows:
            got = values.get(row["remote_id"], {})
            row["score"], row["band"] = got.get(fields.get("score")), got.get(fields.get("band"))
    _names(db, connection_id, rows)
    return rows


def _names(db, connection_id: int, rows: list[dict]) -> None:
    """Add each record's display name from the store (leads by person, deals by name)."""
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row["object_type"], []).append(row["remote_id"])
    names: dict[tuple[str, str], str] = {}
    for object_type, ids in by_type.items():
        model = SYNCED_MODELS.get(object_type)
        if model is None:
            continue
        for item in db.scalars(select(model).where(model.connection_id == connection_id,
                                                   model.remote_id.in_(ids))):
            name = getattr(item, "name", None) or " ".join(
                p for p in (getattr(item, "first_name", None), getattr(item, "last_name", None)) if p)
            names[(object_type, item.remote_id)] = name
    for row in rows:
        row["name"] = names.get((row["object_type"], row["remote_id"])) or row["remote_id"]


@bp.get("/connections/<int:connection_id>/writeback")
def writeback_log(connection_id: int):
    """Written, unchanged and rejected records, with the CRM's reason for each rejection."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        provider = registry.get(connection.provider).provider
        rejected = _records(db, connection_id, "rejected", provider)
        written = _records(db, connection_id, "written", provider)
        todo, unchanged = plan(db, connection_id, provider)
        totals = dict(db.execute(
            select(WritebackLedger.status, func.count(func.distinct(WritebackLedger.remote_id)))
            .where(WritebackLedger.connection_id == connection_id).group_by(WritebackLedger.status)).all())
    pending = sum(len(v) for v in todo.values())
    return render_template("admin/writeback.html", connection=connection, rejected=rejected, written=written,
                           unchanged=unchanged, pending=pending, totals=totals, limit=LIMIT)


@bp.post("/connections/<int:connection_id>/writeback/retry")
def writeback_retry(connection_id: int):
    """Write one rejected record again now."""
    object_type, remote_id = request.form.get("object_type", ""), request.form.get("remote_id", "")
    rt = runtime()
    with rt.sessions() as db:
        connection_or_404(db, connection_id)
        exists = db.scalar(select(func.count()).select_from(WritebackLedger).where(
            WritebackLedger.connection_id == connection_id, WritebackLedger.object_type == object_type,
            WritebackLedger.remote_id == remote_id, WritebackLedger.status == "rejected"))
        if not exists:
            abort(404)
        record(db, "writeback.retry", f"connection:{connection_id}",
               {"object_type": object_type, "remote_id": remote_id})
        db.commit()
    # One record: ten minutes, not the full writeback's timeout.
    WRITEBACK.enqueue(rt.queues, connection_id, {object_type: [remote_id]}, job_timeout=600)
    flash(f"The write of {object_type} {remote_id} was queued again.", "info")
    return redirect(url_for("admin.writeback_log", connection_id=connection_id))
