"""Stored forecast snapshots, so accuracy can be tracked once the period's actuals arrive."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sync.models import Base, utcnow


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
