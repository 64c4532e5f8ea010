"""`make demo` tells the terminal each connection's way to first scores as it goes."""
from __future__ import annotations

from typing import Callable, TextIO

from connectors import registry
from sync import timeline
from sync.store import Connection


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return " · under a minute left" if seconds < 60 else f" · about {round(seconds / 60)} min left"


def _counted(step: dict, what: str) -> str:
    done, total = step.get("done") or 0, step.get("total")
    if not total:
        return f"{done:,} {what}"
    return f"{min(done, total):,} of {total:,} {what} ({step['percent']}%){_left(step.get('eta_seconds'))}"


def describe(step: dict) -> str:
    """One line for a timeline step, as the progress page words it."""
    state, name = step["state"], step["name"]
    if step.get("note") and state in ("failed", "skipped"):
        return step["note"]
    if state in ("waiting", "queued"):
        return state
    if name == "sync" and state == "running" and not step.get("total"):
        return (f"{step['done']:,} records read; {step['objects_done']} of {step['objects']} objects done "
                f"({step['percent']}%){_left(step.get('eta_seconds'))}")
    if name == "sync":
        return (_counted(step, "records read") if state == "running"
                else f"{step['done']:,} records read, {step['changed']:,} stored or updated in {step['seconds']} s"
                if state == "done" else f"the sync {step.get('status')}")
    if name == "training":
        return (f"training the {step.get('current')} model" if state == "running"
                else f"{step.get('done') or 0} models trained" if step.get("done") else "models already trained")
    if name == "scoring":
        return _counted(step, "records scored")
    if name == "writeback":
        return "writing scores to the CRM" if state == "running" else f"{step.get('done') or 0:,} values written back"
    record = step.get("record") or {}
    return f"{step.get('scored', 0):,} leads and deals scored; open one: {record.get('url')}"


def narrator(runtime, connections: dict[str, int], out: TextIO) -> Callable[[], None]:
    """A function that prints each step line that changed since it was last called."""
    printed: dict[tuple[str, str], str] = {}

    def tick() -> None:
        with runtime.sessions() as db:
            for key, connection_id in connections.items():
                connection = db.get(Connection, connection_id)
                provider = registry.get(connection.provider).provider
                steps = timeline.read(db, runtime.redis, connection, lambda s: provider.record_url(
                    connection.instance_url or "", connection.remote_org_id, s.object_type, s.remote_id))
                for step in steps["steps"]:
                    line = describe(step)
                    if step["state"] == "waiting" or printed.get((key, step["name"])) == line:
                        continue
                    printed[(key, step["name"])] = line
                    print(f"{provider.name:<12} {step['title']:<32} {line}", file=out, flush=True)

    return tick
