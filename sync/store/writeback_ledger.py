"""The writeback ledger: what Pipewise last wrote to each field of each remote record."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (ForeignKey, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class WritebackLedger(Base):
    """What Pipewise last wrote (or tried to write) to one field of one remote record."""

    __tablename__ = "writeback_ledger"
    __table_args__ = (UniqueConstraint("connection_id", "object_type", "remote_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))
    remote_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | written | rejected | refused (for good)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    written_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
