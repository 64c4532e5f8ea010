"""The worker's side of erasure: compacting the store after a person's erasure, and purging a disconnected
connection's data, each telling the admin's progress page which step runs.

They are jobs because a large store takes a while and no request should wait; what they delete and how the
file is compacted is ``sync.store.erasure``.
"""
from __future__ import annotations

from rq import get_current_job

from sync import runtime as runtime_module
from sync.jobs import sync_lock
from sync.store import Connection
from sync.store import audit_log as audit
from sync.store.erasure import COMPACT_STEPS, compact, connection_models, purge_connection


def _reporter(total: int):
    """A function that tells the admin's progress page (the job's meta) which step runs now."""
    job = get_current_job()

    def progress(index: int, name: str, summary: str | None = None) -> None:
        if job is not None:
            job.meta["progress"] = {"done": index, "total": total, "step": name}
            if summary:
                job.meta["summary"] = summary  # what the admin reads once the job is done
            job.save_meta()
    return progress


def compact_job() -> None:
    """The worker's compaction after an erasure (a large file takes a while; no request waits)."""
    rt = runtime_module.current()
    progress = _reporter(len(COMPACT_STEPS))
    compact(rt.engine, progress)
    progress(len(COMPACT_STEPS), "Done")


def purge_job(connection_id: int, actor: str) -> dict[str, int]:
    """Delete a disconnected connection's rows table by table, record it, then compact the store.

    It waits for a running sync of the connection to finish (the sync lock), so no page lands
    after the deletion.
    """
    rt = runtime_module.current()
    models = connection_models()
    progress = _reporter(len(models) + len(COMPACT_STEPS))
    lock = sync_lock(rt.redis, connection_id, rt.config.SYNC_LOCK_TTL_SECONDS)
    progress(0, "Waiting for a running sync of this connection to finish")
    if not lock.acquire(max(60, rt.config.SYNC_LOCK_TTL_SECONDS * 2)):
        raise RuntimeError("A sync of this connection kept running; delete the data again in a few minutes.")
    try:
        with rt.sessions() as session:
            connection = session.get(Connection, connection_id)
            if connection is None or connection.status != "disconnected":
                raise RuntimeError("Only a disconnected connection's data can be deleted; disconnect it first.")
            counts = purge_connection(session, connection_id, progress)
            audit.record(session, actor=actor, action="connection.purge", organization_id=connection.organization_id,
                         target=f"connection:{connection_id}", details={"deleted": counts})
            session.commit()
    finally:
        lock.release()
    rt.redis.delete(f"pipewise:writeback:{connection_id}")
    compact(rt.engine, lambda index, name: progress(len(models) + index, name))
    progress(len(models) + len(COMPACT_STEPS), "Done",
             f"Deleted {sum(counts.values())} rows that Pipewise kept for this connection.")
    return counts
