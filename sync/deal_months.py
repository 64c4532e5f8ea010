"""Keep ``opportunity_month_rollup`` (live deals per owner, stage, outcome and close month) equal to the deals.

A page of deals touches a few (owner, close month) groups: the hooks read the groups the deals are
in before the write and after it, and each touched group is deleted and summed again from the store
with one set-based statement per chunk of groups (the owner and close-date index finds its deals).
Recomputing a group rather than adding differences keeps the float sums equal to a rebuild. A run
too large to list its ids, or new exchange rates (every amount converted again), rebuild the
connection or the organization.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from sync.sql_time import as_date, days_between, month_start
from sync.store import Connection, Opportunity
from sync.store.rollups import NO_CLOSE_DATE, OpportunityMonthRollup

CHUNK = 200
COLUMNS = ("connection_id", "owner_key", "stage_key", "is_closed", "is_won", "close_month", "organization_id",
           "deals", "amount_sum", "amounts", "cycle_days_sum", "cycles")


def cycle_days():
    """Days from a deal's creation to its close date (fractional), as the views measure a sales cycle."""
    return days_between(Opportunity.remote_created_at, Opportunity.close_date)


def _grouped(where):
    """Live deals matching ``where`` summed per connection, owner, stage, outcome and close month."""
    deal = Opportunity
    owner, stage = func.coalesce(deal.owner_remote_id, ""), func.coalesce(deal.stage, "")
    month = func.coalesce(month_start(deal.close_date), NO_CLOSE_DATE)
    cycle = cycle_days()
    return (select(deal.connection_id, owner, stage, deal.is_closed, deal.is_won, month, deal.organization_id,
                   func.count(), func.coalesce(func.sum(deal.amount), 0.0), func.count(deal.amount),
                   func.coalesce(func.sum(cycle), 0.0), func.count(cycle))
            .where(where, deal.deleted_at.is_(None))
            .group_by(deal.connection_id, owner, stage, deal.is_closed, deal.is_won, month, deal.organization_id))


def groups_of(session: Session, connection_id: int, remote_ids: list[str]) -> set[tuple[str, date]]:
    """The (owner, close month) groups these deals are in as stored now (deleted ones too)."""
    deal = Opportunity
    found: set[tuple[str, date]] = set()
    for start in range(0, len(remote_ids), 500):
        chunk = remote_ids[start:start + 500]
        found.update((owner, as_date(month)) for owner, month in session.execute(
            select(func.coalesce(deal.owner_remote_id, ""),
                   func.coalesce(month_start(deal.close_date), NO_CLOSE_DATE)).distinct()
            .where(deal.connection_id == connection_id, deal.remote_id.in_(chunk))))
    return found


def next_month(day: date) -> date:
    """The first day of the month after the day's."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _deals_in(owner: str, month: date):
    """The deals of one group, in terms the owner and close-date index answers."""
    deal = Opportunity
    who = deal.owner_remote_id.is_(None) if owner == "" else deal.owner_remote_id == owner
    when = (deal.close_date.is_(None) if month == NO_CLOSE_DATE
            else and_(deal.close_date >= month, deal.close_date < next_month(month)))
    # '' also stands for an empty owner id: the key treats both alike.
    return and_(or_(who, deal.owner_remote_id == "") if owner == "" else who, when)


def refresh(session: Session, connection_id: int, groups: Iterable[tuple[str, date]]) -> None:
    """Sum these groups of one connection again from its live deals."""
    keys = sorted(set(groups))
    if not keys:
        return
    organization_id = session.scalar(select(Connection.organization_id).where(Connection.id == connection_id))
    rollup = OpportunityMonthRollup
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        session.execute(delete(rollup).where(rollup.connection_id == connection_id, or_(*(
            and_(rollup.owner_key == owner, rollup.close_month == month) for owner, month in chunk))))
        session.execute(insert(rollup).from_select(COLUMNS, _grouped(and_(
            Opportunity.organization_id == organization_id, Opportunity.connection_id == connection_id,
            or_(*(_deals_in(owner, month) for owner, month in chunk))))))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Sum every group of one connection again."""
    session.execute(delete(OpportunityMonthRollup).where(OpportunityMonthRollup.connection_id == connection_id))
    session.execute(insert(OpportunityMonthRollup).from_select(
        COLUMNS, _grouped(Opportunity.connection_id == connection_id)))


def rebuild_organization(session: Session, organization_id: int) -> None:
    """Sum every group of an organization again (after its amounts were all converted anew)."""
    for connection_id in session.scalars(select(Connection.id).where(Connection.organization_id == organization_id)):
        rebuild_connection(session, connection_id)
