"""The writeback as queue jobs: the install's provisioning of Pipewise's fields, and the push run under the
connection's writeback lock, with its step on the timeline and its running totals.

The push itself (``sync.writeback``) works on a session and a client; what a job adds (the runtime, the
lock, Redis) lives here.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from rq import get_current_job

from connectors import registry
from sync import runtime as runtime_module
from sync import timeline
from sync.connections import open_client
from sync.job_chain import WRITEBACK
from sync.locks import KeptLock
from sync.store import Connection
from sync.writeback import WritebackSummary, write

log = logging.getLogger(__name__)

# How long a writeback waits for the connection's running one before it is queued again.
WRITEBACK_WAIT_SECONDS = 10


def provision_job(connection_id: int) -> dict[str, list[str]]:
    """Create the Pipewise-owned fields in the CRM (install step; safe to repeat)."""
    rt = runtime_module.current()
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
        provider = registry.get(connection.provider).provider
    created = {}
    for object_type, remote_name in provider.writable_objects.items():
        created[remote_name] = client.ensure_fields(remote_name, provider.writable_fields)
    log.info("writeback.provisioned connection=%s created=%s", connection_id, created)
    return created


def writeback_lock(redis, connection_id: int, ttl: int) -> KeptLock:
    """The per-connection lock that keeps writebacks of one connection one at a time (every path that
    writes scores to the CRM takes it)."""
    return KeptLock(redis, f"pipewise:writeback-lock:{connection_id}", ttl)


def writeback_job(connection_id: int, remote_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Write changed scores of a connection back to its CRM."""
    rt = runtime_module.current()
    # One writeback of a connection at a time: each plans from the scores stored when it starts, so
    # two racing jobs could otherwise send an older score after a newer one. Serialized, a job that
    # planned before a newer score is followed by that score's own job, which sends it.
    lock = writeback_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
    if not lock.acquire(WRITEBACK_WAIT_SECONDS):
        job = get_current_job()
        WRITEBACK.enqueue_in(rt.queues, timedelta(seconds=WRITEBACK_WAIT_SECONDS), connection_id, remote_ids,
                             job_timeout=(job.timeout if job else None) or WRITEBACK.timeout)
        return {"status": "busy"}
    try:
        return _write_back(rt, connection_id, remote_ids)
    finally:
        lock.release()


def _write_back(rt, connection_id: int, remote_ids: dict[str, list[str]] | None) -> dict[str, Any]:
    """The writeback itself, under the connection's writeback lock."""
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.status in ("disconnected", "needs_reauth", "paused"):
            if remote_ids is None:
                timeline.mark(rt.redis, connection_id, "writeback", state="skipped",
                              note="Not written back: the connection is paused, disconnected or needs reconnecting.")
            return {"status": "skipped"}
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
        provider = registry.get(connection.provider).provider
        full = remote_ids is None  # the full writeback after a full scoring is a step of the timeline
        if full:
            timeline.mark(rt.redis, connection_id, "writeback", state="running")
        try:
            summary = write(session, client, provider, connection_id, remote_ids)
        except Exception as exc:
            if full:
                timeline.mark(rt.redis, connection_id, "writeback", state="failed",
                              note=f"Writing back failed: {exc} The scores are kept and the next run retries.")
            raise
    if full:
        timeline.mark(rt.redis, connection_id, "writeback", state="done", done=summary.written,
                      rejected=summary.rejected)
    count_written(rt.redis, connection_id, summary)
    return summary.as_dict()


def count_written(redis, connection_id: int, summary: WritebackSummary) -> None:
    """Add a writeback's outcome to the connection's running totals (what the smoke run compares)."""
    key = f"pipewise:writeback:{connection_id}"
    with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, "written", summary.written)
        pipe.hincrby(key, "calls", summary.calls)
        pipe.hincrby(key, "rejected", summary.rejected)
        pipe.execute()
    log.info("writeback.done connection=%s %s", connection_id, summary.as_dict())
