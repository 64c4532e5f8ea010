"""API keys of the JSON API: one organization each, shown once, stored only as a salted hash.

A key reads ``pw_<id>_<secret>``: the id finds the row, the secret is checked against its hash in
constant time. The secret is 192 random bits, so a salted SHA-256 is enough (a slow password
hash guards guessable secrets, which these are not) and keeps every API call cheap.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sync.store import ApiKey, Base, utcnow
from sync.store.api_keys import PREFIX

# last_used_at is written at most this often per key, so reads do not turn into writes.
TOUCH_EVERY = timedelta(minutes=1)


def ensure_table(engine: Engine) -> None:
    """Create the api_key table when the migrations have not (idempotent)."""
    Base.metadata.create_all(engine, tables=[ApiKey.__table__])


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def create(session: Session, organization_id: int, name: str, created_by: str | None = None) -> tuple[ApiKey, str]:
    """A new key and its full token; the token exists only in this return value."""
    name = name.strip()
    if not name:
        raise ValueError("Give the key a name that says who uses it, e.g. \"BI dashboard\".")
    secret = secrets.token_hex(24)
    salt = secrets.token_hex(16)
    key = ApiKey(organization_id=organization_id, name=name[:128], salt=salt, secret_hash=_digest(salt, secret),
                 created_by=created_by)
    session.add(key)
    session.flush()
    return key, f"{PREFIX}_{key.id}_{secret}"


def parse(token: str) -> tuple[int, str] | None:
    """(id, secret) of a well-formed token, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    # isascii: isdigit alone accepts "²", which int() refuses.
    if prefix != PREFIX or not (key_id.isascii() and key_id.isdigit()) or not secret or len(key_id) > 18:
        return None
    return int(key_id), secret


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The live key a token belongs to, or None; notes when it was last used."""
    parsed = parse(token.strip())
    if parsed is None:
        return None
    key = session.get(ApiKey, parsed[0])
    # Hash even when there is no such key, so timing tells nothing about which ids exist.
    expected = key.secret_hash if key is not None else "0" * 64
    given = _digest(key.salt if key is not None else "00", parsed[1])
    if not hmac.compare_digest(expected.encode(), given.encode()) or key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        key.last_used_at = now
        session.commit()
    return key


def keys_of(session: Session, organization_id: int) -> list[ApiKey]:
    """The organization's keys, newest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id)
                                .order_by(ApiKey.id.desc())))


def revoke(session: Session, organization_id: int, key_id: int, revoked_by: str | None = None) -> ApiKey | None:
    """Revoke one of the organization's keys (idempotent); None when it is not theirs."""
    key = session.get(ApiKey, key_id)
    if key is None or key.organization_id != organization_id:
        return None
    if key.revoked_at is None:
        key.revoked_at, key.revoked_by = utcnow(), revoked_by
    return key
