"""Scoring's outputs and inputs kept per organization: model versions, scores, their history, and the
fields an admin vouched for."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class ModelVersion(Base):
    """A trained scoring model with its card: metrics, calibration, top factors, window."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(32))  # lead | opportunity
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))  # e.g. logistic_regression, gradient_boosting, rules
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)


class Score(Base):
    """The latest score of one record, with the model version that made it."""

    __tablename__ = "score"
    __table_args__ = (UniqueConstraint("connection_id", "object_type", "remote_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))  # lead | opportunity
    remote_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(1))
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_step: Mapped[str | None] = mapped_column(Text)
    limited_history: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreHistory(Base):
    """Every score computed, for the probability-over-time chart."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_record", "connection_id", "object_type", "remote_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))
    remote_id: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


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
