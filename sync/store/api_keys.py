"""API keys of the JSON API, stored only as a salted hash."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (ForeignKey, String)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base, utcnow

# What every key starts with: ``pw_<id>_<secret>``.
PREFIX = "pw"


class ApiKey(Base):
    """One API key of an organization."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    salt: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(255))

    @property
    def hint(self) -> str:
        """How the key is named on screens: its public part, never its secret."""
        return f"{PREFIX}_{self.id}_…"
