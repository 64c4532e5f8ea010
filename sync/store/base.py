"""What every table of the store shares: the declarative base and the store's clock.

Conventions: every datetime is naive UTC; rows point at each other by remote id within one
connection (``account_remote_id``), because records arrive in any order and a sync never
waits for a parent to exist.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    """The current time as naive UTC, the store's convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

