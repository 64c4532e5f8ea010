"""Quotas per owner and period: read from the CRM where it keeps them, else set by an admin."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.models import Base, utcnow


class Quota(Base):
    """One person's quota for one period (`2017-Q4` or `2017-10`)."""

    __tablename__ = "quota"
    __table_args__ = (UniqueConstraint("organization_id", "owner_remote_id", "period",
                                       name="uq_quota_owner_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    owner_remote_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Float)
    # crm: synced (Salesforce ForecastingQuota); admin: set in Pipewise. A sync never overwrites
    # an admin's figure with nothing, but a CRM figure does replace an admin one.
    source: Mapped[str] = mapped_column(String(8), default="admin")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
