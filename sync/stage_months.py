"""Keep ``stage_entry_month`` (regular stage entries per stage, month, next stage, next month and whole
days in the stage) equal to the stage facts.

A regular entry is one whose window conditions no window can change inside a whole month: it enters
its stage (``is_entry``), its deal was created by then and, if closed, closed no earlier than that day.
The rest are few and the readers take them from the facts (``IRREGULAR`` has a partial index). The rows
change by differences: ``sync.rollups`` reads what a chunk of deals' facts contribute before it replaces
them and after, and adds the difference in the same transaction. Days in a stage are summed as whole
microseconds, so the differences stay exact.
"""
from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.orm import Session

from sync.models import Connection
from sync.rollup_models import NO_CLOSE_DATE, OpportunityStageFact, StageEntryMonth, irregular
from sync.sql_time import days_between, month_start, stay_microseconds, whole_days

COLUMNS = ("connection_id", "stage", "changed_month", "next_stage_key", "next_month", "day_bucket",
           "organization_id", "entries", "stay_us")
KEY = COLUMNS[:6]
NO_NEXT = -1  # the day bucket of a stay still going on


def stay_days(fact=OpportunityStageFact):
    """Days from an entry to the next, as the stage views measure them."""
    return days_between(fact.changed_at, fact.next_at)


def _keyed(where):
    fact = OpportunityStageFact
    bucket = case((fact.next_at.is_(None), NO_NEXT), else_=whole_days(stay_days()))
    key = (fact.connection_id, fact.stage, month_start(fact.changed_at), func.coalesce(fact.next_stage, ""),
           func.coalesce(month_start(fact.next_at), NO_CLOSE_DATE), bucket)
    return (select(*key, fact.organization_id, func.count(),
                   func.coalesce(func.sum(stay_microseconds(fact.changed_at, fact.next_at)), 0))
            .where(where, ~irregular()).group_by(*key, fact.organization_id))


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def contribution(session: Session, connection_id: int, deal_ids: list[str]) -> Counter:
    """What these deals' facts count for now: (stage, month, next stage, next month, bucket) → [entries, µs]."""
    fact = OpportunityStageFact
    out: dict = {}
    for _, stage, month, next_stage, next_month, bucket, _, entries, stay in session.execute(_keyed(and_(
            fact.connection_id == connection_id, fact.opportunity_remote_id.in_(deal_ids)))):
        out[(stage, _as_date(month), next_stage, _as_date(next_month), int(bucket))] = (int(entries), int(stay))
    return out


def apply(session: Session, connection_id: int, before: dict, after: dict) -> None:
    """Add the difference of two contributions; a row whose entries reach 0 is removed."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, (0, 0)), after.get(key, (0, 0))
        if old != new:
            rows.append(dict(zip(KEY, (connection_id, *key)), entries=new[0] - old[0], stay_us=new[1] - old[1]))
    if not rows:
        return
    organization_id = session.scalar(select(Connection.organization_id).where(Connection.id == connection_id))
    for row in rows:
        row["organization_id"] = organization_id
    table = StageEntryMonth
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(KEY), set_={
        "entries": table.entries + stmt.excluded.entries, "stay_us": table.stay_us + stmt.excluded.stay_us})
    session.connection().execute(stmt, rows)
    session.execute(delete(table).where(table.connection_id == connection_id, table.entries <= 0))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Count every regular entry of one connection again."""
    session.execute(delete(StageEntryMonth).where(StageEntryMonth.connection_id == connection_id))
    session.execute(insert(StageEntryMonth).from_select(
        COLUMNS, _keyed(OpportunityStageFact.connection_id == connection_id)))

