"""RQ job functions of the sync layer. They take ids, never ORM objects.

A sync reads top to bottom: ``_locked_run`` holds the connection's lock, ``_run`` opens the client,
pulls, marks the connection synced, refreshes the planner's statistics after a bulk load and queues
the scoring. The scheduler's tick stays here, just past 300 lines, because queued ticks name it by
this path.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from rq import Queue, get_current_job
from sqlalchemy import select

from connectors import registry
from connectors.base import Client, Provider
from connectors.errors import QuotaExceeded, ReauthorizationRequired, Retriable
from sync import planner_statistics
from sync import runtime as runtime_module
from sync.connections import mark, open_client
from sync.engine import SyncEngine
from sync.field_mapping import run_mapping
from sync.job_chain import SCORE, SYNC, SYNC_RECORDS, TICK, WEEKLY_FORECAST_SNAPSHOTS
from sync.locks import KeptLock
from sync.store import Activity, CampaignMember, Connection, OpportunityStageChange, SyncRun, utcnow

log = logging.getLogger(__name__)

# Statuses in which no scheduled sync runs.
NOT_SYNCING = {"needs_reauth", "disconnected", "paused"}
BUSY_RETRY_SECONDS = 10
# How long a targeted sync (a webhook's) waits for the connection's running sync before it is queued
# again: most take a second, and with several workers a re-queued job would wait BUSY_RETRY_SECONDS.
TARGETED_WAIT_SECONDS = 5
# How often the tick asks whether an organization's weekly forecast snapshot is due.
FORECAST_CHECK_SECONDS = 6 * 3600


def sync_lock(redis, connection_id: int, ttl: int) -> KeptLock:
    """The per-connection lock that keeps syncs of one connection one at a time, renewed while held."""
    return KeptLock(redis, f"pipewise:sync-lock:{connection_id}", ttl)


def sync_connection(connection_id: int, kind: str = "incremental", then_score: bool = True) -> dict:
    """Pull a connection's streams, then chain scoring of what changed."""
    rt = runtime_module.current()
    return _locked_run(rt, connection_id, kind=kind, then_score=then_score)


def sync_records(connection_id: int, remote_ids: dict[str, list[str]], then_score: bool = True,
                 retry: tuple[str, tuple] | None = None) -> dict:
    """Targeted pull of just these records (stream name → remote ids), e.g. from a webhook.

    ``retry`` (dotted job path, args) is what to queue again when another sync holds the lock;
    by default this same call.
    """
    rt = runtime_module.current()
    return _locked_run(rt, connection_id, kind="targeted", remote_ids=remote_ids, then_score=then_score,
                       retry=retry)


def _locked_run(rt, connection_id: int, *, kind: str, then_score: bool,
                remote_ids: dict[str, list[str]] | None = None, retry: tuple[str, tuple] | None = None) -> dict:
    ttl = rt.config.SYNC_LOCK_TTL_SECONDS
    lock = sync_lock(rt.redis, connection_id, ttl)
    if not lock.acquire(TARGETED_WAIT_SECONDS if kind == "targeted" else 0):
        # Not lost: the same work runs again once the holder is done (or its lock expired), with the
        # time this job was given (RQ's default of 180 s would cut a long full sync short).
        job = get_current_job()
        timeout = (job.timeout if job is not None else None) or 3600
        if retry is not None:
            rt.queues[SYNC.queue].enqueue_in(timedelta(seconds=BUSY_RETRY_SECONDS), retry[0], *retry[1],
                                             job_timeout=timeout)
        else:
            _locked_run_entry(kind).enqueue_in(rt.queues, timedelta(seconds=BUSY_RETRY_SECONDS), connection_id,
                                               *([remote_ids] if kind == "targeted" else [kind]),
                                               then_score=then_score, job_timeout=timeout)
        return {"status": "busy", "retry_in": BUSY_RETRY_SECONDS}
    try:
        # The lock is renewed by its own thread; between pages the run checks that it still holds it.
        return _run(rt, connection_id, kind=kind, remote_ids=remote_ids, then_score=then_score,
                    heartbeat=lock.check)
    finally:
        lock.release()


def run_targeted(rt, connection_id: int, remote_ids: dict[str, list[str]], heartbeat) -> dict:
    """A targeted sync for a caller that already holds the connection's sync lock; it chains nothing."""
    return _run(rt, connection_id, kind="targeted", remote_ids=remote_ids, then_score=False, heartbeat=heartbeat)


def _locked_run_entry(kind: str):
    return SYNC_RECORDS if kind == "targeted" else SYNC


@dataclass
class _Opened:
    """A connection ready to pull: its client, and the provider and mapping as the admin's field mapping has them."""

    organization_id: int
    client: Client
    provider: type[Provider]
    to_common: Callable


def _run(rt, connection_id: int, *, kind: str, remote_ids, then_score: bool, heartbeat) -> dict:
    """One sync of a connection, under its lock: open it, pull, mark it synced, refresh the planner's statistics
    after a bulk load, chain its scoring; a failed pull is recorded on the connection before the job ends."""
    opened = _open(rt, connection_id)
    if not isinstance(opened, _Opened):
        return opened  # why it does not sync now (gone, paused)
    try:
        run = _pull(rt, connection_id, opened, kind, remote_ids, heartbeat)
    except Exception as exc:
        outcome = _record_failure(rt, connection_id, exc, opened.client)
        if outcome is None:
            raise
        return outcome
    _mark_synced(rt, connection_id, run, opened.client)
    _refresh_planner_statistics(rt, run)
    if then_score:
        _queue_scoring(rt, connection_id, run, kind)
    return {"status": run.status, "run_id": run.id, "seen": run.seen, "changed": run.changed,
            "deleted": run.deleted, "api_calls": run.api_calls}


def _open(rt, connection_id: int) -> _Opened | dict:
    """Open the connection's client and mark it syncing; or the job's answer when it must not sync now."""
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.status == "disconnected":
            return {"status": "gone"}
        if connection.status == "paused":  # an admin paused it; resuming enqueues a sync
            return {"status": "paused by an admin"}
        if connection.status == "paused_quota" and connection.paused_until and connection.paused_until > utcnow():
            return {"status": "paused", "until": connection.paused_until.isoformat()}
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
        overrides = run_mapping(session, connection)
        mark(session, connection, "syncing", None)
        session.commit()
        package = registry.get(connection.provider)
        provider, to_common = package.provider, package.mapping.to_common
        if overrides is not None:  # the admin's field mapping: extra remote fields, overridden common fields
            provider, to_common = overrides.provider(provider), overrides.to_common(to_common)
        return _Opened(connection.organization_id, client, provider, to_common)


def _pull(rt, connection_id: int, opened: _Opened, kind: str, remote_ids, heartbeat) -> SyncRun:
    """Run the engine: the records named (targeted), or every stream from its checkpoint or from scratch (full)."""
    engine = SyncEngine(rt.sessions, opened.client, opened.provider, opened.to_common,
                        lookback=timedelta(seconds=rt.config.SYNC_LOOKBACK_SECONDS), heartbeat=heartbeat)
    if kind == "targeted":
        return engine.run_targeted(connection_id, opened.organization_id, remote_ids)
    return engine.run(connection_id, opened.organization_id, kind=kind)


def _mark_synced(rt, connection_id: int, run: SyncRun, client) -> None:
    """Record the run's API usage and time on the connection, healthy again unless an admin changed it meanwhile."""
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        _record_usage(connection, client)
        # An admin may have paused or disconnected it while this run worked: that decision stands.
        if connection.status == "syncing":
            mark(session, connection, "healthy", None)
        connection.last_synced_at = run.finished_at
        session.commit()


def _refresh_planner_statistics(rt, run: SyncRun) -> None:
    """After a bulk load, before the scoring that follows reads it (see ``sync.planner_statistics``)."""
    if planner_statistics.is_bulk(run.changed, run.deleted):
        with rt.sessions() as session:
            planner_statistics.refresh(session)


def _queue_scoring(rt, connection_id: int, run: SyncRun, kind: str) -> None:
    """Queue the scoring of the leads and deals the run may have moved (all of them after a full run)."""
    if not (run.changed or run.deleted or kind == "full"):
        return
    with rt.sessions() as session:
        targets = affected_records(session, connection_id, run, kind)
    if targets is None or any(targets.values()):
        SCORE.enqueue(rt.queues, connection_id, targets)


def _record_failure(rt, connection_id: int, exc: Exception, client) -> dict | None:
    """Say on the connection why its run failed; the job's answer, or None when the error is raised on."""
    if isinstance(exc, QuotaExceeded):
        _after_failure(rt, connection_id, "paused_quota",
                       f"{exc} Pipewise pauses this connection and resumes by itself when the quota returns; "
                       "nothing is lost.", client, paused_until=exc.resume_at, run_status="paused")
        return {"status": "paused"}
    if isinstance(exc, ReauthorizationRequired):
        _after_failure(rt, connection_id, "needs_reauth", str(exc), client)
        return {"status": "needs_reauth"}
    if isinstance(exc, Retriable):
        _after_failure(rt, connection_id, "failing",
                       f"{exc} Pipewise retried and will try again at the next scheduled sync.", client)
    else:
        _after_failure(rt, connection_id, "failing", f"The last sync failed: {exc}", client)
    return None


def affected_records(session, connection_id: int, run: SyncRun, kind: str) -> dict[str, list[str]] | None:
    """The leads and deals whose score may have moved after a run; None means all of them.

    A changed activity moves the score of the lead or deal it is about; a stage change, its deal;
    a campaign response, its lead.
    """
    changed = run.changed_ids or {}
    if kind == "full" or any(v == "all" for v in changed.values()):
        return None
    return affected_by(session, connection_id, changed)


def affected_by(session, connection_id: int, changed: dict[str, list[str]]) -> dict[str, list[str]]:
    """The leads and deals whose score these changed records (stream name → remote ids) may move."""
    leads = set(changed.get("lead", []))
    deals = set(changed.get("opportunity", []))
    if changed.get("activity"):
        for who, what in session.execute(select(Activity.who_remote_id, Activity.what_remote_id).where(
                Activity.connection_id == connection_id, Activity.remote_id.in_(changed["activity"]))):
            leads.add(who)
            deals.add(what)
    if changed.get("opportunity_stage_change"):
        deals |= set(session.scalars(select(OpportunityStageChange.opportunity_remote_id).where(
            OpportunityStageChange.connection_id == connection_id,
            OpportunityStageChange.remote_id.in_(changed["opportunity_stage_change"]))))
    if changed.get("campaign_member"):
        leads |= set(session.scalars(select(CampaignMember.lead_remote_id).where(
            CampaignMember.connection_id == connection_id,
            CampaignMember.remote_id.in_(changed["campaign_member"]))))
    # Ids that are not leads or deals (a Who that is a contact, a What that is an account) are
    # dropped by scoring, which only scores what exists.
    return {"lead": sorted(i for i in leads if i), "opportunity": sorted(i for i in deals if i)}


def _record_usage(connection: Connection, client) -> None:
    usage = client.usage
    if usage.used is not None:
        connection.api_usage_used = usage.used
        connection.api_usage_limit = usage.limit


def _after_failure(rt, connection_id: int, status: str, reason: str, client, *, paused_until=None,
                   run_status: str | None = None) -> None:
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        _record_usage(connection, client)
        if connection.status in ("syncing", "healthy", "failing", "paused_quota"):
            mark(session, connection, status, reason, paused_until=paused_until)
        if run_status:
            run = session.scalar(select(SyncRun).where(SyncRun.connection_id == connection_id)
                                 .order_by(SyncRun.id.desc()).limit(1))
            if run is not None:
                run.status = run_status
        session.commit()
    log.warning("sync.%s connection=%s reason=%s", status, connection_id, reason)


def enqueue_due_syncs(rt) -> list[int]:
    """Enqueue an incremental sync for every connection that is due (the scheduler's tick)."""
    interval = timedelta(seconds=rt.config.SYNC_INTERVAL_SECONDS)
    now = utcnow()
    due = []
    with rt.sessions() as session:
        for connection in session.scalars(select(Connection)):
            if connection.status in NOT_SYNCING:
                continue
            if connection.status == "paused_quota" and connection.paused_until and connection.paused_until > now:
                continue
            if connection.last_synced_at and now - connection.last_synced_at < interval:
                continue
            due.append(connection.id)
    for connection_id in due:
        SYNC.enqueue(rt.queues, connection_id)
    return due


def schedule_tick(queue: Queue, every_seconds: int) -> None:
    """Keep one self-rescheduling tick job alive across all workers."""
    if queue.connection.set("pipewise:tick-scheduled", "1", nx=True, ex=every_seconds * 2):
        queue.enqueue_in(timedelta(seconds=every_seconds), TICK.path, every_seconds, job_timeout=TICK.timeout)


def enqueue_forecast_snapshots(redis, queue: Queue) -> bool:
    """At most every few hours, ask the scoring layer to save the weekly forecast snapshots that are due."""
    if redis.set("pipewise:forecast-snapshots-checked", "1", nx=True, ex=FORECAST_CHECK_SECONDS):
        queue.enqueue(WEEKLY_FORECAST_SNAPSHOTS.path, job_timeout=WEEKLY_FORECAST_SNAPSHOTS.timeout)
        return True
    return False


def tick(every_seconds: int) -> list[int]:
    """Enqueue due syncs and the weekly forecast snapshots, queue again the webhook events left
    unprocessed, then schedule the next tick."""
    from sync import webhook_outbox

    rt = runtime_module.current()
    rt.redis.delete("pipewise:tick-scheduled")
    try:
        try:
            webhook_outbox.sweep(rt)
        except Exception:  # noqa: BLE001 - the due syncs must still be queued
            log.exception("webhook.sweep-failed")
        due = enqueue_due_syncs(rt)
        enqueue_forecast_snapshots(rt.redis, rt.queues[WEEKLY_FORECAST_SNAPSHOTS.queue])
        return due
    finally:
        schedule_tick(rt.queues[TICK.queue], every_seconds)
