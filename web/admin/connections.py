"""Connections: health at a glance, what each one holds, and the admin's actions on it."""
from __future__ import annotations

import logging
from datetime import datetime

from flask import flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from connectors import registry
from sync.connections import mark, open_client
from sync.job_chain import ERASURE_PURGE, SYNC
from sync.preflight import latest_report, run_preflight, sync_notes
from sync.store import SYNCED_MODELS, Connection, Organization, SyncRun, erasure, utcnow
from web.admin import bp, connection_or_404, jobs, organization_id, record
from web.extensions import runtime
from web.local_time import local_time
from web.sessions import revoke_organization
from web.signed_in import actor
from web.timeline_view import connection_timeline

log = logging.getLogger(__name__)

# status → (label, what it means, what to do). The sync's own reason is shown alongside.
STATUS_HELP = {
    "healthy": ("Healthy", "Syncing on schedule.", None),
    "syncing": ("Syncing", "A sync is running now.", None),
    "paused_quota": ("Paused for quota", "The CRM's daily API limit was reached.",
                     "Nothing to do: Pipewise resumes by itself when the quota returns. "
                     "To sync sooner, raise the API limit in the CRM."),
    "needs_reauth": ("Needs re-authorization", "The CRM no longer accepts Pipewise's authorization.",
                     "Choose Re-authorize and allow Pipewise again in the CRM."),
    "failing": ("Failing", "The last sync failed.",
                "Pipewise tries again at the next scheduled sync. If the errors below persist, "
                "check the CRM's status and the connected app's permissions."),
    "paused": ("Paused by an admin", "No sync runs until an admin resumes it.", "Choose Resume to sync again."),
    "disconnected": ("Disconnected", "Pipewise's access was removed; nothing syncs.",
                     "Re-authorize to connect again, or delete the data Pipewise kept."),
}
# Statuses in which "sync now" makes no sense.
NO_SYNC = {"paused", "disconnected", "needs_reauth"}
# Statuses in which Pipewise holds no usable grant to check with.
NO_CHECK = {"disconnected", "needs_reauth"}


def describe_status(connection: Connection) -> dict:
    """Label, plain-words reason and the fix for a connection's status."""
    label, meaning, fix = STATUS_HELP.get(connection.status, (connection.status, "", None))
    if connection.status == "paused_quota" and connection.paused_until:
        fix = (f"Nothing to do: Pipewise resumes by itself after "
               f"{local_time(connection.paused_until)}. To sync sooner, raise the API limit in the CRM.")
    return {"key": connection.status, "label": label, "meaning": meaning,
            "reason": connection.status_reason, "fix": fix}


def lag_text(last: datetime | None, now: datetime | None = None) -> str:
    """How long ago the last sync finished, in words."""
    if last is None:
        return "never synced"
    seconds = int(((now or utcnow()) - last).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def record_counts(db, connection_id: int) -> dict[str, int]:
    """Live records stored per common object."""
    return {name: db.scalar(select(func.count()).select_from(model).where(
                model.connection_id == connection_id, model.deleted_at.is_(None))) or 0
            for name, model in SYNCED_MODELS.items()}


@bp.get("/")
def index():
    """The console starts at the connections."""
    return redirect(url_for("admin.connections"))


@bp.get("/connections")
def connections():
    """Every connection of the organization, with its health."""
    with runtime().sessions() as db:
        rows = db.scalars(select(Connection).where(Connection.organization_id == organization_id())
                          .order_by(Connection.id)).all()
        organization = db.get(Organization, organization_id()) if organization_id() else None
        notes = {c.id: sync_notes(db, c.id) for c in rows}
    reports = {c.id: latest_report(runtime().redis, c.id) for c in rows}
    return render_template("admin/connections.html", rows=[(c, describe_status(c)) for c in rows],
                           organization=organization, providers=sorted(registry.PACKAGES), lag_text=lag_text,
                           notes=notes, reports=reports, no_check=NO_CHECK)


@bp.get("/connections/<int:connection_id>")
def connection(connection_id: int):
    """One connection: status and fix, lag, records, API usage, errors and recent runs."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        runs = db.scalars(select(SyncRun).where(SyncRun.connection_id == connection_id)
                          .order_by(SyncRun.id.desc()).limit(10)).all()
        counts = record_counts(db, connection_id)
        notes = sync_notes(db, connection_id)
        steps = connection_timeline(db, connection)
    errors = [{"run": run, **error} for run in runs for error in (run.errors or [])][:20]
    usage = None
    if connection.api_usage_limit:
        used = connection.api_usage_used or 0
        usage = {"used": used, "limit": connection.api_usage_limit,
                 "percent": round(100 * used / connection.api_usage_limit, 1)}
    return render_template("admin/connection.html", connection=connection, status=describe_status(connection),
                           runs=runs, counts=counts, errors=errors, usage=usage, notes=notes, steps=steps,
                           report=latest_report(runtime().redis, connection_id),
                           lag=lag_text(connection.last_synced_at), can_sync=connection.status not in NO_SYNC,
                           can_check=connection.status not in NO_CHECK)


def _cannot(connection: Connection, what: str):
    """Back to the connection, saying why its status rules the action out and what to do."""
    status = describe_status(connection)
    flash(f"This connection is {status['label'].lower()}, so it cannot {what}. {status['fix'] or ''}", "error")
    return redirect(url_for("admin.connection", connection_id=connection.id))


@bp.post("/connections/<int:connection_id>/check")
def check(connection_id: int):
    """Run the preflight against the live CRM now and show what it found."""
    rt = runtime()
    with rt.sessions() as db:
        connection = connection_or_404(db, connection_id)
        if connection.status in NO_CHECK:
            return _cannot(connection, "be checked")
    report = run_preflight(rt, connection_id)
    with rt.sessions() as db:
        record(db, "connection.check", f"connection:{connection_id}",
               {"errors": len(report.errors), "warnings": len(report.warnings)})
        db.commit()
    flash(f"Check finished: {report.summary()}", "error" if report.errors else "info")
    return redirect(url_for("admin.connection", connection_id=connection_id) + "#check")


@bp.post("/connections/<int:connection_id>/sync")
def sync_now(connection_id: int):
    """Enqueue an incremental sync, or a full resync."""
    kind = "full" if request.form.get("kind") == "full" else "incremental"
    rt = runtime()
    with rt.sessions() as db:
        connection = connection_or_404(db, connection_id)
        if connection.status in NO_SYNC:
            return _cannot(connection, "sync")
        record(db, f"connection.sync_{kind}", f"connection:{connection_id}")
        db.commit()
    SYNC.enqueue(rt.queues, connection_id, kind)
    flash("A full resync was queued: every record is read again." if kind == "full"
          else "A sync was queued; it starts as soon as a worker is free.", "info")
    return redirect(url_for("admin.connection", connection_id=connection_id))


@bp.post("/connections/<int:connection_id>/pause")
def pause(connection_id: int):
    """Stop syncing this connection until an admin resumes it."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        if connection.status != "disconnected":
            mark(db, connection, "paused", f"Paused by an admin on {local_time(utcnow())}.")
            record(db, "connection.pause", f"connection:{connection_id}")
            db.commit()
            flash("Syncing is paused. Nothing is pulled or written back until you resume.", "info")
    return redirect(url_for("admin.connection", connection_id=connection_id))


@bp.post("/connections/<int:connection_id>/resume")
def resume(connection_id: int):
    """Resume a paused connection and sync what changed meanwhile."""
    rt = runtime()
    with rt.sessions() as db:
        connection = connection_or_404(db, connection_id)
        if connection.status != "paused":
            return redirect(url_for("admin.connection", connection_id=connection_id))
        mark(db, connection, "healthy", None)
        record(db, "connection.resume", f"connection:{connection_id}")
        db.commit()
    SYNC.enqueue(rt.queues, connection_id, "incremental")
    flash("Syncing resumed; a sync of what changed meanwhile was queued.", "info")
    return redirect(url_for("admin.connection", connection_id=connection_id))


@bp.post("/connections/<int:connection_id>/reauthorize")
def reauthorize(connection_id: int):
    """Restart the OAuth install flow for this connection's CRM."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        record(db, "connection.reauthorize", f"connection:{connection_id}")
        db.commit()
    return redirect(url_for("install.start", provider=connection.provider))


@bp.get("/connections/<int:connection_id>/disconnect")
def disconnect_confirm(connection_id: int):
    """Step one of two: say what disconnecting does before doing it."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
    return render_template("admin/confirm.html", connection=connection, title="Disconnect this CRM?",
                           points=["Pipewise revokes its access token in the CRM.",
                                   "Syncs, webhooks and writebacks stop at once.",
                                   "The data Pipewise kept stays until you delete it in the next step."],
                           action=url_for("admin.disconnect", connection_id=connection_id),
                           button="Disconnect", cancel=url_for("admin.connection", connection_id=connection_id))


@bp.post("/connections/<int:connection_id>/disconnect")
def disconnect(connection_id: int):
    """Revoke the tokens, forget them, and mark the connection disconnected."""
    rt = runtime()
    with rt.sessions() as db:
        connection = connection_or_404(db, connection_id)
        revoked = _revoke(rt, connection)
        connection.token_ciphertext = rt.cipher.encrypt_json({})
        mark(db, connection, "disconnected",
             "Disconnected by an admin; Pipewise's access was revoked in the CRM." if revoked else
             "Disconnected by an admin. The CRM did not confirm the revocation: remove Pipewise from the "
             "CRM's connected apps to be sure.")
        record(db, "connection.disconnect", f"connection:{connection_id}", {"revoked": revoked})
        db.commit()
    # Everyone else signed in to this organization is signed out now, not when their session expires.
    ended = revoke_organization(rt.redis, organization_id(), keep=session)
    log.info("admin.disconnected connection=%s sessions-ended=%d", connection_id, ended)
    return redirect(url_for("admin.purge_confirm", connection_id=connection_id))


def _revoke(rt, connection: Connection) -> bool:
    """Revoke the connection's grant at the CRM; False when that could not be confirmed."""
    try:
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
    except Exception as exc:  # tokens unreadable: nothing to revoke with
        log.warning("admin.revoke-skipped connection=%s error=%s", connection.id, type(exc).__name__)
        return False
    revoke = getattr(client, "revoke", None)
    return bool(revoke and revoke())


@bp.get("/connections/<int:connection_id>/purge")
def purge_confirm(connection_id: int):
    """Step two: show what deleting the connection's data removes."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        counts = erasure.connection_data_counts(db, connection_id)
    if connection.status != "disconnected":
        flash("Disconnect the connection before deleting its data.", "error")
        return redirect(url_for("admin.connection", connection_id=connection_id))
    return render_template("admin/purge.html", connection=connection, counts=counts,
                           total=sum(counts.values()))


@bp.post("/connections/<int:connection_id>/purge")
def purge(connection_id: int):
    """Queue the deletion of every row of a disconnected connection; the admin follows it on its page."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        if connection.status != "disconnected":
            flash("Disconnect the connection before deleting its data.", "error")
            return redirect(url_for("admin.connection", connection_id=connection_id))
    job = jobs.start(ERASURE_PURGE, connection_id, actor(),
                     title="Deleting the data Pipewise kept for a connection", job_id=f"purge-{connection_id}")
    return redirect(url_for("admin.job", job_id=job.id if job else f"purge-{connection_id}"))
