"""`make demo` and `make smoke`: the whole path on the embedded defaults.

demo:  start everything, connect the sandbox org, sync, score, write back, print the URLs, keep running.
smoke: the same headless, then print one JSON line of figures and exit.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from sqlalchemy import func, select

from demo import measure
from demo.stack import Stack

BASELINE: dict[str, int] = {}
from sync.models import SYNCED_MODELS, Connection, SyncRun

# Sandbox object → the store's common object it lands in.
SANDBOX_OBJECTS = {
    "User": "user", "Account": "account", "Contact": "contact", "Lead": "lead", "Opportunity": "opportunity",
    "OpportunityHistory": "opportunity_stage_change", "Campaign": "campaign", "CampaignMember": "campaign_member",
}


def connect(stack: Stack) -> tuple[int, bool]:
    """Install the connection once; later runs reuse it and sync incrementally."""
    rt = stack.runtime
    with rt.sessions() as db:
        existing = db.scalar(select(Connection).where(Connection.provider == "salesforce",
                                                      Connection.remote_org_id == stack.sandbox.org_id))
    if existing is not None and existing.status not in ("needs_reauth", "disconnected"):
        stack.wire_salesforce(existing.id)
        rt.queues["sync"].enqueue("sync.jobs.sync_connection", existing.id, "incremental")
        return existing.id, False
    return stack.install_salesforce(), True


def connect_and_count(stack: Stack) -> tuple[int, bool]:
    """Connect, remembering the writeback counters from before this run."""
    with stack.runtime.sessions() as db:
        existing = db.scalar(select(Connection.id).where(Connection.provider == "salesforce"))
    BASELINE.update(measure.writeback_counters(stack, existing) if existing else {"written": 0, "calls": 0})
    return connect(stack)


def synced_counts(stack: Stack, connection_id: int) -> dict[str, int]:
    """Live records stored per common object."""
    with stack.runtime.sessions() as db:
        return {name: db.scalar(select(func.count()).select_from(model).where(
                    model.connection_id == connection_id, model.deleted_at.is_(None)))
                for name, model in SYNCED_MODELS.items()}


def sandbox_counts(stack: Stack) -> dict[str, int]:
    """Live records in the sandbox per common object (Task and Event both become activities)."""
    info = stack.sandbox.info()
    counts = {common: 0 for common in set(SANDBOX_OBJECTS.values()) | {"activity"}}
    for name, n in info["counts"].items():
        counts[SANDBOX_OBJECTS.get(name, "activity" if name in ("Task", "Event") else name.lower())] += n
    return counts


def figures(stack: Stack, connection_id: int, started: float) -> dict:
    """The smoke line's figures from the store's run log."""
    with stack.runtime.sessions() as db:
        runs = db.scalars(select(SyncRun).where(SyncRun.connection_id == connection_id,
                                                SyncRun.started_at >= _utc(started))).all()
    sync_runs = [r for r in runs if r.kind != "targeted"]
    return {
        "synced": synced_counts(stack, connection_id),
        "sandbox": sandbox_counts(stack),
        "api_calls": sum(r.api_calls for r in sync_runs),
        "seconds": round(sum(r.seconds or 0 for r in sync_runs), 2),
        "records_seen": sum(r.seen for r in sync_runs),
    }


def _utc(epoch: float):
    from datetime import datetime, timezone
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--smoke", action="store_true", help="run headless, print figures as JSON, exit")
    args = parser.parse_args(argv)
    stack = Stack().start()
    try:
        started = time.time() - 1
        connection_id, installed = connect_and_count(stack)
        if not args.smoke:
            print(f"Pipewise console:   {stack.web_url}/", flush=True)
            print(f"First sync:         {stack.web_url}/connections/{connection_id}/progress", flush=True)
        stack.wait_idle()
        result = figures(stack, connection_id, started)
        result["installed"] = installed
        written = measure.writeback_counters(stack, connection_id)
        result.update(scored=measure.scored(stack, connection_id),
                      written_back=written["written"] - BASELINE["written"],
                      writeback_calls=written["calls"] - BASELINE["calls"],
                      panel=measure.panel_check(stack, connection_id))
        if args.smoke:
            result["change_to_score_seconds"] = measure.change_to_score(stack, connection_id)
        if result["synced"] != {k: result["sandbox"].get(k, 0) for k in result["synced"]}:
            result["mismatch"] = True
        if args.smoke:
            print(json.dumps(result), flush=True)
            return 1 if result.get("mismatch") else 0
        print(f"Sandbox CRM:        {stack.sandbox.base_url}/  (org {stack.sandbox.org_id})", flush=True)
        print("Synced: " + ", ".join(f"{k} {v}" for k, v in result["synced"].items()), flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
