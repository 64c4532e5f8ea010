"""Sync state: cursors per stream, the backfill's seen ids, the run log and the webhook inbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class SyncCursor(Base):
    """How far one stream of one connection has been pulled: a (modified_at, id) checkpoint, or the
    remote's opaque change token for a stream read through its change log."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    # Last committed checkpoint, inside the current run or the last completed one.
    position_modified_at: Mapped[datetime | None]
    position_remote_id: Mapped[str | None] = mapped_column(String(64))
    # The token the next change read starts from (a Dataverse delta link), stored only together with
    # or after the records it covers; None: list the stream whole on the next run.
    change_token: Mapped[str | None] = mapped_column(Text)
    # Lower bound of the run in progress (None when no run is in progress for this stream).
    run_started_from: Mapped[datetime | None]
    run_id: Mapped[int | None]
    completed_at: Mapped[datetime | None]
    # A backfill under way (``Client.read_backfill``): when its first attempt started (the cursor's
    # position once it completes) and the remote's opaque point to resume it from after a crash.
    # Kept apart from change_token, which means "changes since" to a delta stream.
    backfill_started_at: Mapped[datetime | None]
    backfill_token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BackfillSeen(Base):
    """Remote ids a backfill under way has stored, kept across a crash so the deletes found at its end
    (stored records it never listed) count the pages read before the crash as seen."""

    __tablename__ = "sync_backfill_seen"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class SyncRun(Base):
    """The run log: one row per sync of a connection."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="incremental")  # incremental | full | targeted
    # running | completed | failed | paused
    status: Mapped[str] = mapped_column(String(32), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    seen: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float)
    # Per stream: {"account": {"seen": n, "changed": n, "deleted": n, "done": bool}}
    streams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Records changed by this run, per common object: {"lead": ["00Q..."]} (for rescoring).
    changed_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class WebhookEvent(Base):
    """Inbox of inbound CRM events, unique on the provider's event id."""

    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("connection_id", "event_id"),
                      Index("ix_webhook_event_outbox", "processed_at", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(64))
    remote_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The outbox's work: stream name → remote ids to re-read ({} when nothing needs reading).
    targets: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was last handed to the queue; the sweeper queues it again when that was long ago.
    enqueued_at: Mapped[datetime | None]
    # Set by the job that handled the event (or at intake for an echo); error when it failed.
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The CRM's notification of Pipewise's own write: kept for dedupe, never counted as an event.
    echo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The trace from intake to the CRM field (received_at and enqueued_at above are its first stages):
    # each stage's time is written once per batch of events, never per row.
    verified_at: Mapped[datetime | None]
    sync_started_at: Mapped[datetime | None]
    sync_finished_at: Mapped[datetime | None]
    scoring_started_at: Mapped[datetime | None]
    scoring_finished_at: Mapped[datetime | None]
    writeback_sent_at: Mapped[datetime | None]
    writeback_acked_at: Mapped[datetime | None]
