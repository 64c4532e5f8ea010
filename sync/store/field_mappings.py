"""An admin's field mappings and writeback field choices, per connection."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, ForeignKey, String, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class FieldMapping(Base):
    """An admin's choice of the remote field that feeds one common field of one connection."""

    __tablename__ = "field_mapping"
    __table_args__ = (UniqueConstraint("connection_id", "object_type", "common_field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    common_field: Mapped[str] = mapped_column(String(64))
    remote_field: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(255))


class WritebackFieldSetting(Base):
    """Whether one Pipewise field (score, band, …) is written back for a connection; absent means yes."""

    __tablename__ = "writeback_field_setting"
    __table_args__ = (UniqueConstraint("connection_id", "field_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    field_key: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(255))
