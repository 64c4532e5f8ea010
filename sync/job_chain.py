"""The pipeline's jobs, named once: each job's dotted path, queue and timeout, and which job follows which.

A lower layer never imports a higher one (connectors ← sync ← scoring ← embed ← web), yet a sync
queues scoring and scoring queues writeback. So jobs are queued by dotted path, and this module,
in the lowest layer that queues anything, is the one place those paths are written: every layer
may import it, and it imports no job. ``tests/test_job_chain.py`` checks that every path imports
to a callable, that every chain ends, and that no other module queues by a literal path.

The chains a reader follows through the product:

- webhook: intake stores the events and queues ``process_events``, which syncs those records,
  rescores them and writes the new scores back in one job; when another scoring or writeback of
  the connection holds it up, it hands that step to the ``score`` or ``writeback`` queue.
- schedule: the ``tick`` queues each due ``sync``; a sync that changed something queues ``score``,
  which queues ``writeback``.
- install: ``provision`` (then ``register_webhook`` where Pipewise registers it), ``preflight``,
  then the first full ``sync``, and from there as on schedule.
- retrain: an admin's ``retrain`` rescores, queueing ``score`` for a connection whose scoring is busy.

A job that queues itself again (busy, waiting for a lock) is retrying, not a step: ``then`` leaves it out.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Job:
    """One queue job: where it lives, which queue runs it, how long it may take, what may follow it."""

    name: str
    path: str
    queue: str
    # Seconds the worker gives it; None is RQ's default (180 s).
    timeout: int | None
    # The names of the jobs it queues after its own work, or that are queued to run after it.
    then: tuple[str, ...] = ()

    def enqueue(self, queues: Mapping[str, Any], *args, **options):
        """Queue it on its queue with its timeout (``job_timeout=`` in ``options`` overrides it)."""
        options.setdefault("job_timeout", self.timeout)
        return queues[self.queue].enqueue(self.path, *args, **options)

    def enqueue_in(self, queues: Mapping[str, Any], delay: timedelta, *args, **options):
        """Queue it to run after ``delay`` (a retry once the lock's holder is done)."""
        options.setdefault("job_timeout", self.timeout)
        return queues[self.queue].enqueue_in(delay, self.path, *args, **options)


PROCESS_EVENTS = Job("process_events", "scoring.event_job.process_events", "webhooks", 3600,
                     then=("score", "writeback"))
TICK = Job("tick", "sync.jobs.tick", "sync", None, then=("process_events", "sync", "weekly_forecast_snapshots"))
SYNC = Job("sync", "sync.jobs.sync_connection", "sync", 3600, then=("score",))
SYNC_RECORDS = Job("sync_records", "sync.jobs.sync_records", "sync", 3600, then=("score",))
SCORE = Job("score", "scoring.jobs.score_connection_job", "scoring", 1800, then=("writeback",))
WRITEBACK = Job("writeback", "sync.writeback_jobs.writeback_job", "writeback", 1800)
PROVISION = Job("provision", "sync.writeback_jobs.provision_job", "sync", 600, then=("register_webhook", "preflight"))
# sync.webhook_registration holds its lock as long as this timeout: a registration never outlives its lock.
REGISTER_WEBHOOK = Job("register_webhook", "sync.webhook_registration.register_job", "sync", 600)
PREFLIGHT = Job("preflight", "sync.preflight.preflight_job", "sync", 600, then=("sync",))
RETRAIN = Job("retrain", "scoring.jobs.retrain_job", "scoring", 3600, then=("score",))
WEEKLY_FORECAST_SNAPSHOTS = Job("weekly_forecast_snapshots", "scoring.jobs.weekly_forecast_snapshots_job",
                                "scoring", 3600)
FORECAST_SNAPSHOT = Job("forecast_snapshot", "scoring.jobs.forecast_snapshot_job", "scoring", 3600)
ERASURE_COMPACT = Job("erasure_compact", "sync.erasure_jobs.compact_job", "sync", 3600)
ERASURE_PURGE = Job("erasure_purge", "sync.erasure_jobs.purge_job", "sync", 3600)

JOBS: dict[str, Job] = {job.name: job for job in (
    PROCESS_EVENTS, TICK, SYNC, SYNC_RECORDS, SCORE, WRITEBACK, PROVISION, REGISTER_WEBHOOK, PREFLIGHT, RETRAIN,
    WEEKLY_FORECAST_SNAPSHOTS, FORECAST_SNAPSHOT, ERASURE_COMPACT, ERASURE_PURGE)}

# The product's spine, each as the jobs it passes through in order.
CHAINS: dict[str, tuple[str, ...]] = {
    "webhook": ("process_events", "score", "writeback"),
    "schedule": ("tick", "sync", "score", "writeback"),
    "install": ("provision", "preflight", "sync", "score", "writeback"),
    "retrain": ("retrain", "score", "writeback"),
}
