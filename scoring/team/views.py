"""What every view of the manager's panel shares: the exportable table, the history window, the scope's
live deals, a ratio that may have no denominator, and a record's link into its CRM.

"History" means deals closed (or stage changes made) in the ``HISTORY_DAYS`` before the as-of day.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.scope import owner_filter
from sync.connections import record_url
from sync.store import Connection, Opportunity

HISTORY_DAYS = 365


@dataclass
class Table:
    """One exportable table of a view: column keys and labels, rows, and a totals row."""

    name: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when the denominator is empty."""
    return float(numerator or 0) / float(denominator) if denominator else None


def live_opportunities(organization_id: int, owners):
    """WHERE clauses: the organization's undeleted opportunities owned inside the scope."""
    return (Opportunity.organization_id == organization_id, Opportunity.deleted_at.is_(None),
            owner_filter(Opportunity.owner_remote_id, owners))


def record_links(session: Session, organization_id: int) -> Callable[[int | None, str, str], str | None]:
    """A table's CRM link column: (connection id, object type, remote id) → the record's page, or None."""
    connections = {c.id: c for c in session.scalars(
        select(Connection).where(Connection.organization_id == organization_id))}

    def link(connection_id: int | None, object_type: str, remote_id: str) -> str | None:
        return record_url(connections.get(connection_id), object_type, remote_id)

    return link
