"""Tenancy: organizations and their OAuth connections to remote systems."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (ForeignKey, LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """One OAuth link between an organization and a remote system."""

    __tablename__ = "connection"
    __table_args__ = (UniqueConstraint("provider", "remote_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    remote_org_id: Mapped[str] = mapped_column(String(64))
    # The remote organization's own name (Salesforce Organization.Name, HubSpot's hub domain), read at
    # install; None when the CRM would not say.
    remote_org_name: Mapped[str | None] = mapped_column(String(255))
    # The remote organization's default time zone (an IANA id), the fallback for its users' times.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    instance_url: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[str] = mapped_column(String(512), default="")
    # healthy | syncing | paused_quota | needs_reauth | failing | disconnected
    status: Mapped[str] = mapped_column(String(32), default="healthy")
    status_reason: Mapped[str | None] = mapped_column(Text)
    paused_until: Mapped[datetime | None]
    token_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    token_expires_at: Mapped[datetime | None]
    api_usage_used: Mapped[int | None]
    api_usage_limit: Mapped[int | None]
    # SHA-256 of the secret in the per-connection webhook path (Salesforce outbound messages); the
    # secret itself is shown to the admin once and never stored.
    webhook_secret_hash: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    installed_by: Mapped[str | None] = mapped_column(String(255))
    last_synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
