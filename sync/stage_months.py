"""Keep ``stage_entry_month`` (regular stage entries per stage, month, next stage, next month and whole
days in the stage) and ``stage_entry_owner_month`` (the same per owner, without the days) equal to the
stage facts.

A regular entry is one whose window conditions no window can change inside a whole month: it enters
its stage (``is_entry``), its deal was created by then and, if closed, closed no earlier than that day.
The rest are few and the readers take them from the facts (``IRREGULAR`` has a partial index). The rows
change by differences: ``sync.rollups`` reads what a chunk of deals' facts contribute before it replaces
them and after, and adds the difference in the same transaction. Days in a stage are summed as whole
microseconds, so the differences stay exact.
"""
from __future__ import annotations

from sqlalchemy import and_, case, delete, func, insert, select
from sqlalchemy.orm import Session

from sync.sql_time import as_date, days_between, month_start, stay_microseconds, whole_days
from sync.store import Connection
from sync.store.db import add_to
from sync.store.rollups import NO_CLOSE_DATE, OpportunityStageFact, StageEntryMonth, StageEntryOwnerMonth, irregular

NO_NEXT = -1  # the day bucket of a stay still going on
# Per table, the key columns after connection_id (the rest: organization_id, entries, stay_us).
KEYS = {StageEntryMonth: ("stage", "changed_month", "next_stage_key", "next_month", "day_bucket"),
        StageEntryOwnerMonth: ("owner_key", "stage", "changed_month", "next_stage_key", "next_month")}
DATES = {"changed_month", "next_month"}


def columns(table) -> tuple[str, ...]:
    """The table's columns in the order ``_keyed`` selects them."""
    return ("connection_id", *KEYS[table], "organization_id", "entries", "stay_us")


def stay_days(fact=OpportunityStageFact):
    """Days from an entry to the next, as the stage views measure them."""
    return days_between(fact.changed_at, fact.next_at)


def _keyed(table, where):
    """The regular facts matching ``where`` counted per the table's key."""
    fact = OpportunityStageFact
    expressions = {"owner_key": func.coalesce(fact.owner_remote_id, ""), "stage": fact.stage,
                   "changed_month": month_start(fact.changed_at), "next_stage_key": func.coalesce(fact.next_stage, ""),
                   "next_month": func.coalesce(month_start(fact.next_at), NO_CLOSE_DATE),
                   "day_bucket": case((fact.next_at.is_(None), NO_NEXT), else_=whole_days(stay_days()))}
    key = (fact.connection_id, *(expressions[name] for name in KEYS[table]))
    return (select(*key, fact.organization_id, func.count(),
                   func.coalesce(func.sum(stay_microseconds(fact.changed_at, fact.next_at)), 0))
            .where(where, ~irregular()).group_by(*key, fact.organization_id))


def _plain(name: str, value):
    return as_date(value) if name in DATES else value


def contribution(session: Session, connection_id: int, deal_ids: list[str]) -> dict:
    """What these deals' facts count for now: per table, key → (entries, µs)."""
    fact = OpportunityStageFact
    where = and_(fact.connection_id == connection_id, fact.opportunity_remote_id.in_(deal_ids))
    out: dict = {}
    for table, names in KEYS.items():
        out[table] = {tuple(_plain(n, v) for n, v in zip(names, row[1:1 + len(names)])): (int(row[-2]), int(row[-1]))
                      for row in session.execute(_keyed(table, where))}
    return out


def apply(session: Session, connection_id: int, before: dict, after: dict) -> None:
    """Add the difference of two contributions; a row whose entries reach 0 is removed."""
    organization_id = None
    for table, names in KEYS.items():
        old_rows, new_rows = before.get(table, {}), after.get(table, {})
        rows = []
        for key in sorted(set(old_rows) | set(new_rows)):
            old, new = old_rows.get(key, (0, 0)), new_rows.get(key, (0, 0))
            if old != new:
                rows.append({"connection_id": connection_id, **dict(zip(names, key)),
                             "entries": new[0] - old[0], "stay_us": new[1] - old[1]})
        if not rows:
            continue
        if organization_id is None:
            organization_id = session.scalar(select(Connection.organization_id)
                                             .where(Connection.id == connection_id))
        for row in rows:
            row["organization_id"] = organization_id
        add_to(session, table, rows, ("connection_id", *names), ("entries", "stay_us"))
        session.execute(delete(table).where(table.connection_id == connection_id, table.entries <= 0))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Count every regular entry of one connection again."""
    for table in KEYS:
        session.execute(delete(table).where(table.connection_id == connection_id))
        session.execute(insert(table).from_select(
            columns(table), _keyed(table, OpportunityStageFact.connection_id == connection_id)))
