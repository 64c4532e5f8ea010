"""The forecast call's submissions: a rep's commit and best case, a manager's call for the team.

Rows are only ever added: each submission is a new version of its (period, owner, kind), so the
history of a call is the list of its versions.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.models import Base, utcnow


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
