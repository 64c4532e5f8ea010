"""The audit trail: an append-only, hash-chained log of admin actions, installs and erasures.

Each entry's hash is SHA-256 over the canonical JSON of its fields and the previous entry's
hash, so an edited, removed or reordered entry breaks the chain from that point on. Details
never carry personal data: ids, counts and keyed hashes only.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from sync.store.base import Base, utcnow

GENESIS = "0" * 64
# Any 64-bit number will do: it only names the PostgreSQL advisory lock that orders appends.
_PG_LOCK_KEY = 7_340_221_903


class AuditEntry(Base):
    """One recorded action; rows are only ever inserted."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # No foreign key: deleting an organization must not rewrite (and so break) its entries.
    organization_id: Mapped[int | None] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))      # "salesforce:005…" or "system"
    action: Mapped[str] = mapped_column(String(64))      # connection.disconnect, erasure.erase, …
    target: Mapped[str | None] = mapped_column(String(255))  # "connection:3"
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Unique, so two concurrent appends can never fork the chain.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


def ensure_table(engine: Engine) -> None:
    """Create the audit table when the migrations have not (idempotent)."""
    Base.metadata.create_all(engine, tables=[AuditEntry.__table__])


def entry_hash(entry_id: int, organization_id: int | None, at: datetime, actor: str, action: str,
               target: str | None, details: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of an entry's fields and the previous hash."""
    body = {"id": entry_id, "organization_id": organization_id, "at": at.isoformat(timespec="microseconds"),
            "actor": actor, "action": action, "target": target, "details": details, "prev_hash": prev_hash}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(session: Session, *, actor: str, action: str, organization_id: int | None = None,
           target: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it is kept only if the caller commits)."""
    _serialize_appends(session)
    last = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry_id, prev_hash = (last.id + 1, last.hash) if last else (1, GENESIS)
    # Round-trip through JSON so what is hashed is exactly what the database gives back.
    details = json.loads(json.dumps(details or {}, default=str))
    at = utcnow()
    entry = AuditEntry(id=entry_id, organization_id=organization_id, at=at, actor=actor, action=action,
                       target=target, details=details, prev_hash=prev_hash,
                       hash=entry_hash(entry_id, organization_id, at, actor, action, target, details, prev_hash))
    session.add(entry)
    session.flush()
    return entry


def _serialize_appends(session: Session) -> None:
    """Take the database's write lock first, so the last hash read is still the last one."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # A write that changes nothing still makes SQLite take its write lock for the transaction.
        session.execute(text("UPDATE audit_entry SET id = id WHERE 0"))


def verify(session: Session, batch: int = 1000) -> tuple[bool, int | None]:
    """Walk the chain in order: (True, None) when intact, else (False, id of the first bad entry)."""
    prev_hash, after = GENESIS, 0
    while True:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.id > after)
                                  .order_by(AuditEntry.id).limit(batch)).all()
        if not entries:
            return True, None
        for entry in entries:
            expected = entry_hash(entry.id, entry.organization_id, entry.at, entry.actor, entry.action,
                                  entry.target, entry.details or {}, entry.prev_hash)
            if entry.prev_hash != prev_hash or entry.hash != expected:
                return False, entry.id
            prev_hash, after = entry.hash, entry.id
        session.expunge_all()


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(_mapper, _connection, _entry) -> None:
    """Refuse ORM updates and deletes of audit entries: the trail only grows."""
    raise PermissionError("Audit entries cannot be changed or deleted; record a new entry instead.")
