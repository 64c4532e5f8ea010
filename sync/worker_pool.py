"""``python -m sync.worker_pool [queue ...]``: run PIPEWISE_WORKER_COUNT worker processes and stop them together.

For a machine without a process manager (one VM, a container). Each worker is a plain
``python -m sync.worker`` in its own session, so a terminal's Ctrl-C reaches this pool alone.
SIGTERM or SIGINT is passed once to every worker: each finishes its current job and exits (RQ's
warm shutdown); a second signal is passed on as well, which makes RQ stop the job at once (it is
then failed and the sweeper or the next sync redoes its work). When a worker exits by itself the
others are stopped and the pool exits with that worker's status: it never restarts one, that is the
job of whatever started the pool. A pool killed with SIGKILL leaves its workers running: their pids
are logged at start. Under a process manager that signals every process of a unit (systemd's
default, Heroku), run ``python -m sync.worker`` as N processes instead: a worker signalled twice
stops its job.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from sync.runtime.config import PROJECT_ROOT, Config

log = logging.getLogger(__name__)


def start_workers(count: int, queues: list[str], env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """Start ``count`` worker processes on these queues (all of Pipewise's when empty)."""
    return [subprocess.Popen([sys.executable, "-m", "sync.worker", *queues], cwd=PROJECT_ROOT,
                             env=env if env is not None else dict(os.environ), start_new_session=True)
            for _ in range(count)]


def run(workers: list[subprocess.Popen], poll_seconds: float = 0.5) -> int:
    """Wait for the workers, passing SIGTERM/SIGINT on to them; return the exit status of the pool."""
    stopping: list[int] = []

    def pass_on(signum, _frame) -> None:
        stopping.append(signum)
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        status = 0
        while any(proc.poll() is None for proc in workers):
            ended = [proc for proc in workers if proc.poll() is not None]
            if ended and not stopping:
                status = ended[0].returncode or 1
                log.warning("worker_pool.worker-exited pid=%s status=%s stopping the others",
                            ended[0].pid, ended[0].returncode)
                pass_on(signal.SIGTERM, None)
            time.sleep(poll_seconds)
        if not stopping:  # every worker ended by itself between two polls
            status = next((p.returncode for p in workers if p.returncode), 0) or 1
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    """Start the configured number of workers and wait for them."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = Config()
    workers = start_workers(config.WORKER_COUNT, list(argv if argv is not None else sys.argv[1:]))
    log.info("worker_pool.started count=%d pids=%s", len(workers), ",".join(str(p.pid) for p in workers))
    return run(workers)


if __name__ == "__main__":
    sys.exit(main())
