"""The trace of a webhook event from intake to the CRM field, kept as stage times on its stored row.

Every stage is written for a whole batch of events in one statement: the events a job handles
share their sync, scoring and writeback, so they share those times too.
"""
from __future__ import annotations

import statistics
from datetime import datetime

from sqlalchemy import select, update

from sync.store import WebhookEvent, utcnow

# The stages in the order an event passes them (received_at and enqueued_at are set at intake).
STAGES = ("received_at", "verified_at", "enqueued_at", "sync_started_at", "sync_finished_at",
          "scoring_started_at", "scoring_finished_at", "writeback_sent_at", "writeback_acked_at")
# What the interval that ends at each stage is called (the first stage starts the trace).
INTERVALS = {"verified_at": "verify", "enqueued_at": "store_and_enqueue", "sync_started_at": "queue_wait",
             "sync_finished_at": "sync", "scoring_started_at": "before_scoring", "scoring_finished_at": "scoring",
             "writeback_sent_at": "before_writeback", "writeback_acked_at": "writeback"}


def stamp(session, event_ids: list[int], *stages: str, at: datetime | None = None) -> datetime:
    """Set these stages' time on the events (one statement); return the time written."""
    at = at or utcnow()
    if event_ids and stages:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(event_ids))
                        .values({stage: at for stage in stages}))
    return at


def clear(session, event_ids: list[int], stage: str, since: datetime) -> None:
    """Unset a stage this job stamped (from ``since`` on) that turned out not to happen."""
    column = getattr(WebhookEvent, stage)
    session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(event_ids), column >= since)
                    .values({stage: None}))


def stage_times(event: WebhookEvent) -> list[tuple[str, float | None]]:
    """Each interval of one event's trace in seconds (None where the stage was not reached)."""
    out: list[tuple[str, float | None]] = []
    previous = event.received_at
    for stage in STAGES[1:]:
        at = getattr(event, stage)
        out.append((INTERVALS[stage], round((at - previous).total_seconds(), 3)
                    if at is not None and previous is not None else None))
        previous = at if at is not None else previous
    return out


def breakdown(session, connection_id: int, since: datetime) -> dict[str, dict[str, float | int | None]]:
    """p50/p95 in seconds of each interval (and the total) over the connection's events received since then."""
    events = session.scalars(select(WebhookEvent).where(
        WebhookEvent.connection_id == connection_id, WebhookEvent.echo.is_(False),
        WebhookEvent.received_at >= since)).all()
    samples: dict[str, list[float]] = {name: [] for name in INTERVALS.values()}
    totals = []
    for event in events:
        for name, seconds in stage_times(event):
            if seconds is not None:
                samples[name].append(seconds)
        end = event.writeback_acked_at or event.scoring_finished_at or event.sync_finished_at
        if end is not None:
            totals.append((end - event.received_at).total_seconds())
    out = {name: percentiles(values) for name, values in samples.items()}
    out["received_to_last_stage"] = percentiles(totals)
    return out


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50 and p95 (nearest rank) of the values, and how many there were."""
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 3), "n": len(ordered)}
