"""Keep ``activity_month_count`` and ``activity_day_count`` (live activities per owner, kind and month or
day) equal to the activity rows.

The counts change by deltas: the sync engine's hooks read the contribution of the activities a page
(or a run's deletes) is about to change, and again after the change, and add the difference in the
same transaction. A run too large to list its changed ids recounts its connection.
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from sync.sql_time import as_date, day_start, month_start
from sync.store import Activity, Connection
from sync.store.db import add_to
from sync.store.rollups import ActivityDayCount, ActivityMonthCount

CHUNK = 500
COLUMNS = ("connection_id", "owner_key", "kind_key", "starts_on", "organization_id", "activities")


GRAINS = ((ActivityMonthCount, month_start), (ActivityDayCount, day_start))


def _grouped(where, starts):
    """Live, timed activities matching ``where`` counted per connection, owner, kind and month or day."""
    owner, kind, start = func.coalesce(Activity.owner_remote_id, ""), func.coalesce(Activity.kind, ""), \
        starts(Activity.occurred_at)
    return (select(Activity.connection_id, owner, kind, start, Activity.organization_id, func.count())
            .where(where, Activity.deleted_at.is_(None), Activity.occurred_at.is_not(None))
            .group_by(Activity.connection_id, owner, kind, start, Activity.organization_id))


def contribution(session: Session, connection_id: int, remote_ids: list[str]) -> dict[type, Counter]:
    """What these activities count for now, per table and (owner, kind, month or day)."""
    counts: dict[type, Counter] = {table: Counter() for table, _ in GRAINS}
    for start in range(0, len(remote_ids), CHUNK):
        chunk = remote_ids[start:start + CHUNK]
        where = (Activity.connection_id == connection_id) & Activity.remote_id.in_(chunk)
        for table, starts in GRAINS:
            for _, owner, kind, starts_on, _, n in session.execute(_grouped(where, starts)):
                counts[table][(owner, kind, as_date(starts_on))] += n
    return counts


def apply(session: Session, connection_id: int, before: dict[type, Counter] | None,
          after: dict[type, Counter]) -> None:
    """Add the difference of two contributions to the counts; a count that reaches 0 is removed."""
    organization_id = None
    for table, _ in GRAINS:
        old, new = (before or {}).get(table, Counter()), after[table]
        delta = {key: new.get(key, 0) - old.get(key, 0) for key in set(old) | set(new)}
        rows = [{"connection_id": connection_id, "owner_key": owner, "kind_key": kind, "starts_on": starts_on,
                 "activities": n} for (owner, kind, starts_on), n in sorted(delta.items()) if n]
        if not rows:
            continue
        if organization_id is None:
            organization_id = session.scalar(select(Connection.organization_id).where(Connection.id == connection_id))
        for row in rows:
            row["organization_id"] = organization_id
        add_to(session, table, rows, ("connection_id", "owner_key", "kind_key", "starts_on"), ("activities",))
        session.execute(delete(table).where(table.connection_id == connection_id, table.activities <= 0))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Recount every month and day of one connection."""
    for table, starts in GRAINS:
        session.execute(delete(table).where(table.connection_id == connection_id))
        session.execute(insert(table).from_select(COLUMNS, _grouped(Activity.connection_id == connection_id, starts)))
