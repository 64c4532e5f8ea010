"""Forecasting's tables: snapshots of what was forecast and the forecast calls (quotas: ``records.Quota``).

Forecast call rows are only ever added: each submission is a new version of its (period, owner,
kind), so the history of a call is the list of its versions.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class ForecastSnapshot(Base):
    """One forecast of one scope (the organization, a team or a rep) for one period, as of a date."""

    __tablename__ = "forecast_snapshot"
    __table_args__ = (Index("ix_forecast_snapshot_lookup", "organization_id", "period", "scope",
                            "scope_key", "scenario"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(16))  # 2017-10 | 2017-Q4
    as_of: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(8))  # org | team | rep
    # "org" for the organization, the team name, or the rep's remote user id.
    scope_key: Mapped[str] = mapped_column(String(128))
    scope_name: Mapped[str | None] = mapped_column(String(255))
    # base, or a what-if such as "what-if win_rate=1.1 slip_days=30 new_pipeline=50000".
    scenario: Mapped[str] = mapped_column(String(128), default="base")
    expected: Mapped[float] = mapped_column(Float)
    p10: Mapped[float] = mapped_column(Float)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    # manual (a command or a panel) or scheduled (the weekly snapshot the scheduler saves).
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForecastCall(Base):
    """One version of a number for a period: a rep's own (kind rep) or a manager's team call (kind manager)."""

    __tablename__ = "forecast_call"
    __table_args__ = (UniqueConstraint("organization_id", "period", "owner_remote_id", "kind", "version",
                                       name="uq_forecast_call_version"),
                      Index("ix_forecast_call_period", "organization_id", "period"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(16))
    # The rep whose number it is, the manager whose team it covers, or "org" for the whole organization.
    owner_remote_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # rep | manager
    commit: Mapped[float] = mapped_column(Float)
    best_case: Mapped[float] = mapped_column(Float)
    # Required for a manager's call: why it differs from the roll-up.
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
