"""Queue jobs of the scoring layer (enqueued by dotted path, e.g. after a sync or from the admin console)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.forecast_snapshots import due_organizations, save_period, save_weekly
from scoring.quotas import import_crm_quotas
from scoring.registry import train
from scoring.score import score_connection, score_target
from sync import runtime, timeline
from sync.models import Activity, Connection, Lead, Opportunity, utcnow


def crm_now(session: Session, connection_id: int) -> datetime:
    """The CRM's own clock, estimated from the newest record seen and when it was seen.

    In a live org this is within the sync lag of the current time; for a sandbox or an org whose
    clock differs it keeps ages and recencies in the CRM's terms rather than ours.
    """
    newest = None
    for model in (Opportunity, Lead, Activity):
        row = session.execute(select(model.remote_modified_at, model.synced_at)
                              .where(model.connection_id == connection_id, model.remote_modified_at.is_not(None))
                              .order_by(model.remote_modified_at.desc()).limit(1)).first()
        if row is not None and (newest is None or row[0] > newest[0]):
            newest = row
    if newest is None:
        return utcnow()
    modified, seen = newest
    return modified + max(timedelta(0), utcnow() - seen)


def score_connection_job(connection_id: int, remote_ids: dict[str, list[str]] | None = None,
                         then_write_back: bool = True) -> dict:
    """Score a connection's open records (or only the given remote ids), then write back what changed."""
    rt = runtime.current()
    # A full scoring is the install's (or a full sync's): its steps show on the connection's timeline.
    report = timeline.reporter(rt.redis, connection_id) if remote_ids is None else None
    try:
        with rt.sessions() as session:
            connection = session.get(Connection, connection_id)
            if connection is not None:
                # The CRM's quotas reach the team panel with every sync that changed something.
                import_crm_quotas(session, connection.organization_id)
                session.commit()
            result = score_connection(session, connection_id, now=crm_now(session, connection_id),
                                      remote_ids=remote_ids, report=report)
    except Exception as exc:
        if report is not None:
            timeline.mark(rt.redis, connection_id, "scoring", state="failed", note=f"Scoring failed: {exc}")
        raise
    if report is not None:
        timeline.mark(rt.redis, connection_id, "training", state="done")
        timeline.mark(rt.redis, connection_id, "scoring", state="done")
        timeline.mark(rt.redis, connection_id, "writeback", state="queued" if then_write_back else "skipped")
    changed = {k: v for k, v in result["changed"].items() if v}
    if then_write_back and (changed or remote_ids is None):
        # After a full scoring the ledger decides what differs; after a targeted one, only these.
        rt.queues["writeback"].enqueue("sync.writeback.writeback_job", connection_id,
                                       None if remote_ids is None else changed, job_timeout=1800)
    return result


def _progress(step: str, done: int, total: int) -> None:
    """Tell the console's progress page where a job is (nothing when run outside a worker)."""
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"step": step, "done": done, "total": total}
        job.save_meta()


def retrain_job(organization_id: int, target: str) -> dict:
    """Train a new version of an organization's model now; when it becomes active, rescore that target."""
    with runtime.current().sessions() as session:
        connections = session.scalars(select(Connection).where(
            Connection.organization_id == organization_id)).all()
        now = max((crm_now(session, c.id) for c in connections), default=utcnow())
        total = 1 + len(connections)
        _progress("Training and testing the new model on recent outcomes", 0, total)
        version = train(session, organization_id, target, now)
        session.commit()
        rescored = 0
        if version.is_active:
            for done, connection in enumerate(connections, start=1):
                _progress(f"Scoring with {version.version} ({done} of {len(connections)} connections)", done, total)
                rescored += len(score_target(session, connection, target, now)[0])
                session.commit()
        _progress("Done", total, total)
        return {"version": version.version, "kind": version.kind, "active": version.is_active,
                "metrics": (version.card or {}).get("metrics"), "rescored": rescored}


def weekly_forecast_snapshots_job() -> dict[int, int]:
    """Save the weekly forecast snapshots of every organization that is due (the scheduler enqueues this)."""
    saved = {}
    with runtime.current().sessions() as session:
        for organization_id in due_organizations(session):
            saved[organization_id] = save_weekly(session, organization_id)
            session.commit()  # one organization at a time: a failure later loses nothing saved
    return saved


def forecast_snapshot_job(organization_id: int, period: str, as_of: str) -> int:
    """Save one period's forecast now (the team panel asks when a large organization has none yet)."""
    with runtime.current().sessions() as session:
        saved = save_period(session, organization_id, period, date.fromisoformat(as_of), source="panel")
        session.commit()
    return saved
