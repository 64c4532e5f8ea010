"""An admin's word that a field the leakage guard excludes is known before the outcome.

Kept per organization and target; the next training keeps the field in and the model card
records whose word it was and when. Removing the override lets the guard decide again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from sync.models import Base, utcnow


class FeatureOverride(Base):
    """One field an admin confirmed is known before the outcome, for one target."""

    __tablename__ = "feature_override"
    __table_args__ = (UniqueConstraint("organization_id", "target", "feature", name="uq_feature_override"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(32))
    feature: Mapped[str] = mapped_column(String(128))
    kept_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def kept_features(session: Session, organization_id: int, target: str) -> dict[str, str]:
    """Feature → "who, when" for the target's overrides."""
    rows = session.scalars(select(FeatureOverride).where(FeatureOverride.organization_id == organization_id,
                                                         FeatureOverride.target == target))
    return {row.feature: f"{row.kept_by} on {row.created_at:%Y-%m-%d}" for row in rows}


def keep_feature(session: Session, organization_id: int, target: str, feature: str, kept_by: str) -> None:
    """Record that the feature is known before the outcome (idempotent)."""
    if feature not in kept_features(session, organization_id, target):
        session.add(FeatureOverride(organization_id=organization_id, target=target, feature=feature,
                                    kept_by=kept_by))
        session.flush()


def release_feature(session: Session, organization_id: int, target: str, feature: str) -> None:
    """Let the guard decide about the feature again."""
    session.execute(delete(FeatureOverride).where(FeatureOverride.organization_id == organization_id,
                                                  FeatureOverride.target == target,
                                                  FeatureOverride.feature == feature))
