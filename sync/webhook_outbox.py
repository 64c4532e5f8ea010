"""The webhook outbox: events are stored before they are answered, then processed at least once.

Intake stores each event with its work (``targets``: stream → remote ids) and answers the CRM;
only then is the job queued (``scoring.event_job``: targeted sync, rescoring and writeback in one job). When the queue cannot take it (Redis down), the event is still
safe in the store: the sweeper, run on the scheduler's tick, queues every event that was stored
but not processed. The job sets ``processed_at`` and ``error``, so the console shows what failed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select, update

from sync.job_chain import PROCESS_EVENTS
from sync.store import Connection, WebhookEvent, utcnow

log = logging.getLogger(__name__)

# After this many failed attempts an event waits for an admin's Retry on the Webhooks page.
MAX_ATTEMPTS = 5
BATCH = 500
# Connection statuses in which a targeted sync cannot run now; the scheduled syncs catch up later.
NOT_NOW = {"paused": "The connection is paused by an admin; the next sync after resuming includes this change.",
           "needs_reauth": "The connection needs re-authorization; the first sync after it includes this change.",
           "disconnected": "The connection was disconnected; this change was not synced."}


def enqueue(queue, connection_id: int, event_ids: list[int]) -> bool:
    """Queue the processing of stored events; False (and a log line) when the queue is unreachable."""
    if not event_ids:
        return True
    try:
        for start in range(0, len(event_ids), BATCH):
            queue.enqueue(PROCESS_EVENTS.path, connection_id, event_ids[start:start + BATCH],
                          job_timeout=PROCESS_EVENTS.timeout)
    except (RedisError, OSError) as exc:
        # The events are stored: the sweeper queues them once Redis answers again.
        log.warning("webhook.enqueue-failed connection=%s events=%d error=%s", connection_id, len(event_ids),
                    type(exc).__name__)
        return False
    return True


@dataclass
class Claim:
    """The events one job handles now, what they ask to re-read, and whether an earlier attempt got past the sync."""

    ids: list[int]
    targets: dict[str, list[str]]
    resumed: bool
    status: str | None


def claim(session, connection_id: int, event_ids: list[int], queued_at: datetime | None = None) -> Claim:
    """Under the connection's sync lock: this job's unprocessed events and every other one still waiting.

    Taking the waiting ones too coalesces a burst into one sync without any delay; their own jobs
    then find nothing to do. The claimed events count an attempt and note when their sync started.
    """
    mine = WebhookEvent.id.in_(event_ids)
    waiting = and_(WebhookEvent.sync_started_at.is_(None), WebhookEvent.echo.is_(False),
                   WebhookEvent.attempts < MAX_ATTEMPTS)
    events = session.scalars(select(WebhookEvent).where(
        WebhookEvent.connection_id == connection_id, WebhookEvent.processed_at.is_(None), or_(mine, waiting))
        .order_by(WebhookEvent.id).limit(BATCH + len(event_ids))).all()
    status = session.scalar(select(Connection.status).where(Connection.id == connection_id))
    ids = [e.id for e in events]
    targets: dict[str, set[str]] = {}
    for event in events:
        for stream, remote_ids in (event.targets or {}).items():
            targets.setdefault(stream, set()).update(remote_ids)
    resumed = any(e.sync_finished_at is not None for e in events)
    if ids:
        values = {"attempts": WebhookEvent.attempts + 1, "sync_started_at": utcnow()}
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids)).values(values))
        if queued_at is not None:  # when the queue really took this job's events (intake notes it just before)
            session.execute(update(WebhookEvent).where(WebhookEvent.id.in_([i for i in ids if i in set(event_ids)]))
                            .values(enqueued_at=queued_at))
    session.commit()
    return Claim(ids, {k: sorted(v) for k, v in targets.items()}, resumed, status)


def finish(rt, ids: list[int], note: str | None) -> None:
    with rt.sessions() as session:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids))
                        .values(processed_at=utcnow(), error=note))
        session.commit()


def failed(rt, ids: list[int], error: str) -> None:
    """Record the error; the sweeper tries again until MAX_ATTEMPTS, then it waits for an admin."""
    with rt.sessions() as session:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids), WebhookEvent.processed_at.is_(None))
                        .values(error=error[:2000]))
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids), WebhookEvent.processed_at.is_(None),
                                                   WebhookEvent.attempts >= MAX_ATTEMPTS)
                        .values(processed_at=utcnow(),
                                error=f"Gave up after {MAX_ATTEMPTS} attempts. {error}"[:2000]))
        session.commit()
    log.warning("webhook.process-failed events=%d error=%s", len(ids), error[:200])


def sweep(rt) -> int:
    """Queue again every event stored but not processed (and not just queued); return how many."""
    cutoff = utcnow() - timedelta(seconds=rt.config.WEBHOOK_RETRY_SECONDS)
    with rt.sessions() as session:
        rows = session.execute(select(WebhookEvent.id, WebhookEvent.connection_id).where(
            WebhookEvent.processed_at.is_(None), WebhookEvent.attempts < MAX_ATTEMPTS,
            func.coalesce(WebhookEvent.enqueued_at, WebhookEvent.received_at) < cutoff)
            .order_by(WebhookEvent.id).limit(10 * BATCH)).all()
        # Noting when it was queued keeps a batch still waiting in the queue from being queued twice.
        if rows:
            session.execute(update(WebhookEvent).where(WebhookEvent.id.in_([r.id for r in rows]))
                            .values(enqueued_at=utcnow()))
        session.commit()
    by_connection: dict[int, list[int]] = {}
    for event_id, connection_id in rows:
        by_connection.setdefault(connection_id, []).append(event_id)
    for connection_id, ids in by_connection.items():
        enqueue(rt.queues[PROCESS_EVENTS.queue], connection_id, ids)
    if rows:
        log.info("webhook.swept events=%d connections=%d", len(rows), len(by_connection))
    return len(rows)


def retry(session, queue, connection_id: int, event_ids: list[int] | None = None) -> int:
    """An admin's retry of failed events (all of the connection's when no ids): cleared and queued."""
    query = select(WebhookEvent.id).where(WebhookEvent.connection_id == connection_id,
                                          WebhookEvent.error.is_not(None))
    if event_ids is not None:
        query = query.where(WebhookEvent.id.in_(event_ids))
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids))
                        .values(processed_at=None, error=None, attempts=0, enqueued_at=utcnow()))
        session.commit()
        enqueue(queue, connection_id, ids)
    return len(ids)
