"""An admin's word that a field the leakage guard excludes is known before the outcome.

Kept per organization and target; the next training keeps the field in and the model card
records whose word it was and when. Removing the override lets the guard decide again.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sync.store import FeatureOverride


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
