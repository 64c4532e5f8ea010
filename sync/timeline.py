"""One connection's way from install to first scores: sync, training, scoring, writeback, ready.

The sync step is read from the run log; the later steps are told by the jobs that do them and kept in
Redis beside the queues. An install (or a reconnect) starts a new timeline, so a previous run never
shows as this one's.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors import registry
from sync.store import Connection, ModelVersion, Score, SyncRun, utcnow

STEPS = ("sync", "training", "scoring", "writeback", "ready")
TITLES = {"sync": "Sync", "training": "Training the models", "scoring": "Scoring open leads and deals",
          "writeback": "Writing scores back to the CRM", "ready": "First scores ready"}
# What the page's heading says while each step is the current one.
HEADINGS = {"sync": "Syncing {name}", "training": "Training {name}'s models", "scoring": "Scoring {name}'s records",
            "writeback": "Writing scores back to {name}", "ready": "{name} is ready"}
FINISHED = ("done", "failed", "skipped")
KEEP_SECONDS = 30 * 86400


def _key(connection_id: int) -> str:
    return f"pipewise:timeline:{connection_id}"


def begin(redis, connection_id: int) -> None:
    """Start a new timeline for a connection being installed or reconnected."""
    redis.set(_key(connection_id), json.dumps({"started_at": utcnow().isoformat(), "steps": {}}), ex=KEEP_SECONDS)


def mark(redis, connection_id: int, step: str, add: dict[str, int] | None = None, **values: Any) -> None:
    """Record a step's state and counts (``add`` adds to counters); nothing when no timeline runs."""
    raw = redis.get(_key(connection_id))
    if raw is None:
        return
    data = json.loads(raw)
    entry = data["steps"].setdefault(step, {})
    now = utcnow().isoformat()
    if values.get("state") == "running":
        entry.setdefault("started_at", now)
    if values.get("state") in FINISHED:
        entry["finished_at"] = now
    entry.update(values)
    for name, n in (add or {}).items():
        entry[name] = entry.get(name, 0) + n
    redis.set(_key(connection_id), json.dumps(data), ex=KEEP_SECONDS)


def reporter(redis, connection_id: int) -> Callable[..., None]:
    """The scoring layer's progress callback for this connection's timeline."""

    def report(event: str, target: str, count: int = 0) -> None:
        if event == "training":
            mark(redis, connection_id, "training", state="running", current=target)
        elif event == "trained":
            mark(redis, connection_id, "training", add={"done": 1})
        elif event == "scoring":
            mark(redis, connection_id, "scoring", add={"total": count}, state="running", current=target)
        elif event == "scored":
            mark(redis, connection_id, "scoring", add={"done": count})

    return report


def _seconds(start: str | datetime | None, end: str | datetime | None = None) -> float | None:
    if start is None:
        return None
    start = datetime.fromisoformat(start) if isinstance(start, str) else start
    end = datetime.fromisoformat(end) if isinstance(end, str) else (end or utcnow())
    return max(0.0, (end - start).total_seconds())


def _estimate(done: int, total: int | None, elapsed: float | None) -> int | None:
    """Seconds left at the rate so far; None until there is a rate to go by."""
    if not total or not done or elapsed is None or done >= total:
        return None
    return round(elapsed * (total - done) / done)


def _percent(done: int, total: int | None) -> int | None:
    return None if not total else min(100, round(100 * done / total))


def _sync_step(run: SyncRun | None) -> dict[str, Any]:
    if run is None:
        return {"state": "waiting"}
    state = {"running": "running", "completed": "done"}.get(run.status, "failed")
    streams, done_total, seen_total = [], 0, 0
    for name, s in (run.streams or {}).items():
        seen, total = int(s.get("seen") or 0), s.get("total")
        if total is not None:
            # A remote's total is an estimate taken when the stream began; reading more never shows past it.
            total = max(int(total), seen) if s.get("done") else int(total)
            done_total, seen_total = done_total + total, seen_total + min(seen, total)
        streams.append({"name": name, "seen": seen, "total": total, "percent": _percent(seen, total),
                        "changed": int(s.get("changed") or 0), "done": bool(s.get("done")),
                        "skipped": bool(s.get("skipped")), "note": s.get("note")})
    elapsed = _seconds(run.started_at, run.finished_at)
    finished = sum(1 for s in streams if s["done"])
    if all(s["total"] is not None or s["skipped"] for s in streams):
        total, percent, eta = done_total, _percent(seen_total, done_total), _estimate(seen_total, done_total, elapsed)
    else:  # a remote tells an object's total when its reading starts: until all have, go by objects done
        total, percent, eta = None, _percent(finished, len(streams)), _estimate(finished, len(streams), elapsed)
    return {"state": state, "started_at": run.started_at.isoformat(), "seconds": run.seconds, "run_id": run.id,
            "done": run.seen, "total": total or None, "changed": run.changed, "status": run.status,
            "objects_done": finished, "objects": len(streams), "percent": 100 if state == "done" else percent,
            "eta_seconds": eta if state == "running" else None, "streams": streams}


def _counted(step: dict[str, Any]) -> dict[str, Any]:
    done, total = int(step.get("done") or 0), step.get("total")
    elapsed = _seconds(step.get("started_at"), step.get("finished_at"))
    step.update(percent=100 if step.get("state") == "done" else _percent(done, total),
                eta_seconds=_estimate(done, total, elapsed) if step.get("state") == "running" else None)
    return step


def read(session: Session, redis, connection: Connection, record_url: Callable[[Score], str | None]) -> dict:
    """The connection's timeline: each step's state, counts, percentage and time left, and the current step."""
    raw = redis.get(_key(connection.id))
    data = json.loads(raw) if raw else None
    started = datetime.fromisoformat(data["started_at"]) if data else None
    query = select(SyncRun).where(SyncRun.connection_id == connection.id, SyncRun.kind != "targeted")
    if started is not None:
        query = query.where(SyncRun.started_at >= started)
    steps: dict[str, dict[str, Any]] = {"sync": _sync_step(session.scalar(query.order_by(SyncRun.id.desc()).limit(1)))}
    told = (data or {}).get("steps", {})
    # Scores carry the CRM's clock, not ours: this timeline's scoring step says they are new.
    score_query = select(Score).where(Score.connection_id == connection.id)
    scored = session.scalar(select(func.count()).select_from(score_query.subquery()))
    if data is None:  # installed before timelines were kept: what the store shows is what happened
        trained = session.scalar(select(func.count()).select_from(ModelVersion).where(
            ModelVersion.organization_id == connection.organization_id))
        told = {"training": {"state": "done" if trained else "waiting", "done": trained},
                "scoring": {"state": "done" if scored else "waiting", "done": scored},
                "writeback": {"state": "done" if scored else "waiting"}}
    for name in ("training", "scoring", "writeback"):
        steps[name] = _counted({"state": "waiting", **told.get(name, {})})
    ready = steps["scoring"]["state"] == "done" and steps["writeback"]["state"] in FINISHED and scored > 0
    steps["ready"] = {"state": "done" if ready else "waiting", "scored": scored}
    if ready:
        best = session.scalar(score_query.order_by(Score.score.desc(), Score.remote_id).limit(1))
        steps["ready"].update(record={"object_type": best.object_type, "remote_id": best.remote_id,
                                      "score": best.score, "url": record_url(best)})
    current = next((name for name in STEPS if steps[name]["state"] not in FINISHED), "ready")
    if steps["sync"]["state"] == "failed":
        current = "sync"
    for name in STEPS:
        steps[name]["title"] = TITLES[name]
    name = registry.get(connection.provider).provider.name
    if steps["sync"]["state"] == "failed":
        heading = f"The sync of {name} failed"
    elif steps["sync"]["state"] == "waiting":
        heading = f"Connecting {name}: checking access before the first sync"
    else:
        heading = HEADINGS[current].format(name=name)
    return {"started_at": data["started_at"] if data else None, "current": current, "heading": heading,
            "steps": [{"name": name, **steps[name]} for name in STEPS]}
