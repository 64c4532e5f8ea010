"""Queue jobs of the scoring layer (declared with their queues and timeouts in ``sync.job_chain``)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.forecast.snapshots import due_organizations, save_forecasts, save_period, weekly_forecasts
from scoring.records.registry import TARGETS, active_version, train
from scoring.records.score import score_connection, score_target
from sync import runtime, timeline
from sync.job_chain import SCORE, WRITEBACK
from sync.locks import KeptLock
from sync.store import Activity, Connection, Lead, Opportunity, utcnow
from sync.store.db import make_engine

# An organization's first models wait for its other connections' first syncs (connected at the same
# time, say), so they learn from every CRM it connected rather than from one half read; a sync that
# never ends is waited for at most FIRST_MODELS_WAIT.
FIRST_MODELS_WAIT = timedelta(minutes=30)
# How soon a full scoring that had to wait (for a first sync, or for the organization's other full
# scoring) looks again: it gives its worker back meanwhile.
SCORING_RETRY_SECONDS = 5
# How soon a scoring that found another scoring of its connection running looks again (a targeted
# one takes about a second, a full one seconds to minutes).
SCORING_BUSY_SECONDS = 10
# How long a retraining's rescoring waits for the connection's running scoring before it queues one.
RESCORING_WAIT_SECONDS = 30
# Statuses of a connection whose first sync may still come (not failed, paused or removed).
SYNCING = ("healthy", "syncing")


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


def scoring_lock(redis, connection_id: int, ttl: int) -> KeptLock:
    """The per-connection lock every path that computes and stores a connection's scores holds.

    Scorings of one connection then run one after another, each reading the rows as they are when
    it starts: one that read older rows can never store its scores after one that read newer rows
    (a full scoring overtaken by a webhook's rescoring), and so the writeback never sends them.
    """
    return KeptLock(redis, f"pipewise:scoring:{connection_id}", ttl)


def score_connection_job(connection_id: int, remote_ids: dict[str, list[str]] | None = None,
                         then_write_back: bool = True, waiting_since: str | None = None) -> dict:
    """Score a connection's open records (or only the given remote ids), then write back what changed.

    A full scoring runs one at a time per organization (several workers would otherwise train its
    first models twice), and the first one waits for the organization's other first syncs. Any
    scoring waits for the connection's running one (``scoring_lock``), queued again meanwhile.
    """
    rt = runtime.current()
    ttl = rt.config.SYNC_LOCK_TTL_SECONDS
    if remote_ids is not None:
        return _score_alone(rt, connection_id, remote_ids, then_write_back, None)
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return _score(rt, connection_id, remote_ids, then_write_back)  # says the connection is gone
        organization_id = connection.organization_id
        since = datetime.fromisoformat(waiting_since) if waiting_since else utcnow()
        backfilling = first_syncs_running(session, connection) if utcnow() - since < FIRST_MODELS_WAIT else []
    # The organization's lock first, then the connection's: no path takes them the other way round.
    lock = KeptLock(rt.redis, f"pipewise:full-scoring:{organization_id}", ttl)
    if backfilling or not lock.acquire():
        SCORE.enqueue_in(rt.queues, timedelta(seconds=SCORING_RETRY_SECONDS), connection_id, None, then_write_back,
                         since.isoformat())
        return {"status": "waiting", "for": backfilling or "the organization's other scoring"}
    try:
        return _score_alone(rt, connection_id, None, then_write_back, since.isoformat())
    finally:
        lock.release()


def _score_alone(rt, connection_id: int, remote_ids: dict[str, list[str]] | None, then_write_back: bool,
                 waiting_since: str | None) -> dict:
    """Score under the connection's scoring lock, or queue this job again when another scoring holds it."""
    lock = scoring_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
    if not lock.acquire():
        SCORE.enqueue_in(rt.queues, timedelta(seconds=SCORING_BUSY_SECONDS), connection_id, remote_ids,
                         then_write_back, waiting_since)
        return {"status": "busy", "retry_in": SCORING_BUSY_SECONDS}
    try:
        return _score(rt, connection_id, remote_ids, then_write_back, lock.check)
    finally:
        lock.release()


def first_syncs_running(session: Session, connection: Connection) -> list[int]:
    """The organization's other connections still on their first sync, while it has no model yet."""
    if all(active_version(session, connection.organization_id, t) is not None for t in TARGETS):
        return []
    return list(session.scalars(select(Connection.id).where(
        Connection.organization_id == connection.organization_id, Connection.id != connection.id,
        Connection.last_synced_at.is_(None), Connection.status.in_(SYNCING))))


def _score(rt, connection_id: int, remote_ids: dict[str, list[str]] | None, then_write_back: bool,
           check=None) -> dict:
    # A full scoring is the install's (or a full sync's): its steps show on the connection's timeline.
    report = timeline.reporter(rt.redis, connection_id) if remote_ids is None else None
    try:
        with rt.sessions() as session:
            result = score_connection(session, connection_id, now=crm_now(session, connection_id),
                                      remote_ids=remote_ids, report=report, check=check)
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
        WRITEBACK.enqueue(rt.queues, connection_id, None if remote_ids is None else changed)
    return result


def _progress(step: str, done: int, total: int) -> None:
    """Tell the console's progress page where a job is (nothing when run outside a worker)."""
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"step": step, "done": done, "total": total}
        job.save_meta()


def retrain_job(organization_id: int, target: str) -> dict:
    """Train a new version of an organization's model now; when it becomes active, rescore that target.

    Each connection is rescored under its scoring lock; one whose other scoring runs longer than
    RESCORING_WAIT_SECONDS gets a full scoring queued instead (it scores with the new version too).
    """
    rt = runtime.current()
    with rt.sessions() as session:
        connections = session.scalars(select(Connection).where(
            Connection.organization_id == organization_id)).all()
        now = max((crm_now(session, c.id) for c in connections), default=utcnow())
        total = 1 + len(connections)
        _progress("Training and testing the new model on recent outcomes", 0, total)
        version = train(session, organization_id, target, now)
        session.commit()
        rescored, queued = 0, []
        if version.is_active:
            for done, connection in enumerate(connections, start=1):
                _progress(f"Scoring with {version.version} ({done} of {len(connections)} connections)", done, total)
                lock = scoring_lock(rt.redis, connection.id, rt.config.SYNC_LOCK_TTL_SECONDS)
                if not lock.acquire(RESCORING_WAIT_SECONDS):
                    SCORE.enqueue(rt.queues, connection.id)
                    queued.append(connection.id)
                    continue
                try:
                    rescored += len(score_target(session, connection, target, now, check=lock.check)[0])
                    session.commit()
                finally:
                    lock.release()
        _progress("Done", total, total)
        return {"version": version.version, "kind": version.kind, "active": version.is_active,
                "metrics": (version.card or {}).get("metrics"), "rescored": rescored, "rescoring_queued": queued}


def weekly_forecast_snapshots_job() -> dict[int, int]:
    """Save the weekly forecast snapshots of every organization that is due (the scheduler enqueues this)."""
    rt = runtime.current()
    # The forecasts read and simulate for a minute on a large organization: on SQLite a worker's
    # transaction is the store's write lock (sync.store.db.make_engine), so they are computed in plain
    # read transactions and only their rows are written under it.
    reads = make_engine(rt.config.DATABASE_URL, busy_timeout=rt.config.SQLITE_BUSY_SECONDS)
    saved = {}
    try:
        with Session(reads) as reader:
            due = due_organizations(reader)
        for organization_id in due:
            with Session(reads) as reader:
                forecasts = weekly_forecasts(reader, organization_id)
            with rt.sessions() as session:
                saved[organization_id] = save_forecasts(session, forecasts)
                session.commit()  # one organization at a time: a failure later loses nothing saved
    finally:
        reads.dispose()
    return saved


def forecast_snapshot_job(organization_id: int, period: str, as_of: str) -> int:
    """Save one period's forecast now (the team panel asks when a large organization has none yet)."""
    rt = runtime.current()
    with rt.sessions() as session:
        saved = save_period(session, organization_id, period, date.fromisoformat(as_of), source="panel")
        session.commit()
    return saved
