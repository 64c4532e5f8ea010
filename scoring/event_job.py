"""One job takes stored webhook events to the CRM field: targeted sync, rescoring, writeback.

It holds the connection's sync lock from the sync to the writeback, so no other sync of the
connection runs meanwhile, and its scoring lock (``scoring.jobs.scoring_lock``) while it rescores,
so a full scoring that read the rows before this sync cannot store its older scores after these.
When another scoring of the connection runs longer than SCORING_WAIT_SECONDS, the rescoring of
these records is handed to a queued scoring job (which writes back what it changes) rather than
holding up the connection's other events.
Each stage's time lands on the events' rows (``sync.webhook_trace``). A crash between stages
leaves the events unprocessed; the sweeper queues them again and the job, seeing that an earlier
attempt got past the sync, rescores every record the events name (the sync then finds nothing
new) and lets the writeback ledger decide what still needs writing.
"""
from __future__ import annotations

import logging
from datetime import timedelta, timezone

from rq import get_current_job

from connectors import registry as connectors
from scoring.jobs import crm_now, scoring_lock
from scoring.records.registry import TARGETS, active_version, needs_training
from scoring.records.score import RETRAIN_AFTER, score_target
from sync import jobs, webhook_outbox, webhook_trace
from sync import runtime as runtime_module
from sync.connections import open_client
from sync.job_chain import PROCESS_EVENTS, SCORE, WRITEBACK
from sync.store import Connection, SyncRun
from sync.writeback import write
from sync.writeback_jobs import WRITEBACK_WAIT_SECONDS, count_written, writeback_lock

log = logging.getLogger(__name__)

# How long a job waits for another sync of the connection before queueing itself again: a
# targeted sync takes well under this; a full one takes minutes, and then waiting would only
# hold up other connections' events.
LOCK_WAIT_SECONDS = 2
# How long the rescoring waits for another scoring of the connection (a targeted one takes about a
# second) before it hands its records to the scoring queue.
SCORING_WAIT_SECONDS = 2
SKIP_WRITEBACK = {"disconnected", "needs_reauth", "paused"}
# How long a queued retraining keeps events from queueing another (it normally ends well before).
TRAINING_QUEUED_SECONDS = 3600


def process_events(connection_id: int, event_ids: list[int]) -> dict:
    """Sync the records the events name, rescore what they move and write the new scores back."""
    rt = runtime_module.current()
    job = get_current_job()
    lock = jobs.sync_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
    if not lock.acquire(LOCK_WAIT_SECONDS):
        # Not lost: the events stay stored and this job runs again after the sync holding the lock.
        PROCESS_EVENTS.enqueue_in(rt.queues, timedelta(seconds=jobs.BUSY_RETRY_SECONDS), connection_id, event_ids)
        return {"status": "busy", "retry_in": jobs.BUSY_RETRY_SECONDS}
    try:
        return _process(rt, connection_id, event_ids, _naive(job.enqueued_at) if job is not None else None,
                        heartbeat=lock.check)
    finally:
        lock.release()


def _naive(at):
    """RQ's times are aware UTC; the store keeps naive UTC."""
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at is not None and at.tzinfo else at


def _process(rt, connection_id: int, event_ids: list[int], queued_at, heartbeat) -> dict:
    with rt.sessions() as session:
        claim = webhook_outbox.claim(session, connection_id, event_ids, queued_at)
    if not claim.ids:
        return {"status": "nothing to do"}
    ids = claim.ids
    if claim.status is None or claim.status in webhook_outbox.NOT_NOW:
        webhook_outbox.finish(rt, ids, webhook_outbox.NOT_NOW.get(claim.status or "disconnected"))
        return {"status": claim.status or "gone"}
    if not claim.targets:
        webhook_outbox.finish(rt, ids, None)
        return {"status": "completed", "events": len(ids)}
    try:
        result = jobs.run_targeted(rt, connection_id, claim.targets, heartbeat)
    except Exception as exc:
        webhook_outbox.failed(rt, ids, f"The sync of these records failed: {exc}")
        raise
    if result.get("status") != "completed":
        webhook_outbox.failed(rt, ids, f"The sync of these records did not complete ({result.get('status')}).")
        return {**result, "events": len(ids)}
    with rt.sessions() as session:
        webhook_trace.stamp(session, ids, "sync_finished_at")
        run = session.get(SyncRun, result["run_id"])
        changed = {k: list(v) for k, v in (run.changed_ids or {}).items() if isinstance(v, list)}
        if claim.resumed:  # an earlier attempt's sync already stored these: rescore them all
            provider = connectors.get(session.get(Connection, connection_id).provider).provider
            for stream, remote_ids in claim.targets.items():
                object_type = provider.stream(stream).object_type
                changed[object_type] = sorted(set(changed.get(object_type, [])) | set(remote_ids))
        targets = jobs.affected_by(session, connection_id, changed)
        session.commit()
    heartbeat()
    try:
        outcome = _rescore_and_write(rt, connection_id, ids, targets)
    except Exception as exc:
        webhook_outbox.failed(rt, ids, f"Rescoring or writing back these records failed: {exc}")
        raise
    webhook_outbox.finish(rt, ids, None)
    log.info("webhook.processed connection=%s events=%d targets=%s %s", connection_id, len(ids), targets, outcome)
    return {**result, **outcome, "events": len(ids)}


def _queue_training(rt, organization_id: int, connection_id: int, target: str, wanted: list[str]) -> None:
    """Queue one scoring job that retrains the target (not one per event while it is due)."""
    if rt.redis.set(f"pipewise:training-queued:{organization_id}:{target}", "1", nx=True, ex=TRAINING_QUEUED_SECONDS):
        SCORE.enqueue(rt.queues, connection_id, {target: wanted})


def _rescore(rt, session, connection_id: int, ids: list[int], targets: dict[str, list[str]],
             check) -> tuple[Connection, dict[str, list[str]], dict[str, list[str]]]:
    """Under the scoring lock: score the affected records; (connection, ids scored, ids left to the scoring queue)."""
    scored: dict[str, list[str]] = {}
    deferred: dict[str, list[str]] = {}
    connection = session.get(Connection, connection_id)
    now = crm_now(session, connection_id)
    started = webhook_trace.stamp(session, ids, "scoring_started_at")
    session.commit()
    for target in TARGETS:
        wanted = targets.get(target) or []
        if not wanted:
            continue
        version = active_version(session, connection.organization_id, target)
        if version is None:  # nothing scores this target yet: the scoring queue's job trains first
            deferred[target] = wanted
            continue
        if needs_training(version, now, RETRAIN_AFTER):
            # The active version keeps scoring now; training (minutes) runs on the scoring queue.
            _queue_training(rt, connection.organization_id, connection_id, target, wanted)
        scored[target] = score_target(session, connection, target, now, wanted, train_when_due=False,
                                      check=check)[0]
        session.commit()
    if scored:
        webhook_trace.stamp(session, ids, "scoring_finished_at")
    else:  # nothing was scored here (no model yet): the trace does not claim a scoring stage
        webhook_trace.clear(session, ids, "scoring_started_at", since=started)
    session.commit()
    return connection, scored, deferred


def _rescore_and_write(rt, connection_id: int, ids: list[int], targets: dict[str, list[str]]) -> dict:
    """Score the affected records with the active models, then write what changed back (one session)."""
    lock = scoring_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
    if not lock.acquire(SCORING_WAIT_SECONDS):
        # Not lost: the scoring queue's job rescores these records once the running scoring is done
        # (it reads the rows this sync stored) and writes back what changed; the events are done.
        wanted = {target: remote_ids for target, remote_ids in targets.items() if remote_ids}
        if wanted:
            SCORE.enqueue(rt.queues, connection_id, wanted)
        return {"scored": {}, "written": 0, "rescoring": "queued"}
    with rt.sessions() as session:
        try:
            connection, scored, deferred = _rescore(rt, session, connection_id, ids, targets, lock.check)
        finally:
            lock.release()  # the scores are committed: the writeback reads them under its own lock
        if deferred:
            SCORE.enqueue(rt.queues, connection_id, deferred)
        if not any(scored.values()) or connection.status in SKIP_WRITEBACK:
            return {"scored": {k: len(v) for k, v in scored.items()}, "written": 0}
        # Every record scored is offered: the ledger writes only what differs from what the CRM holds,
        # so a score stored by an attempt that crashed before its writeback is still written.
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
        provider = connectors.get(connection.provider).provider
        # Every path that writes scores takes the connection's writeback lock: a scheduled writeback that
        # planned from older scores must not send them after these.
        written = writeback_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
        if not written.acquire(WRITEBACK_WAIT_SECONDS):
            WRITEBACK.enqueue(rt.queues, connection_id, scored)
            return {"scored": {k: len(v) for k, v in scored.items()}, "written": 0, "writeback": "queued"}
        try:
            sent = webhook_trace.stamp(session, ids, "writeback_sent_at")
            session.commit()
            summary = write(session, client, provider, connection_id, scored)
        finally:
            written.release()
        if summary.calls:
            webhook_trace.stamp(session, ids, "writeback_acked_at")
        else:  # the CRM already holds these values: nothing was sent
            webhook_trace.clear(session, ids, "writeback_sent_at", since=sent)
        session.commit()
    count_written(rt.redis, connection_id, summary)
    return {"scored": {k: len(v) for k, v in scored.items()}, "written": summary.written}
