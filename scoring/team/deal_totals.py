"""Deal counts and sums over a window of close dates, per owner: whole months from the rollup the sync
keeps (``sync.deal_months``), the days of a month the window cuts short from the deals themselves.

What the period figures, velocity and benchmarks add up, without reading every deal of a whole
organization per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import first_whole_month, whole_months
from scoring.scope import owner_filter
from sync.deal_months import cycle_days
from sync.store import Opportunity
from sync.store.rollups import OpportunityMonthRollup


@dataclass
class Totals:
    """Closed deals of a window: how many, how many won, and the won deals' amounts and cycles summed."""

    closed: int = 0
    won: int = 0
    won_amount: float = 0.0
    won_amounts: int = 0
    won_cycle_days: float = 0.0
    won_cycles: int = 0

    def add(self, closed, won, won_amount, won_amounts, won_cycle_days, won_cycles) -> None:
        self.closed += int(closed or 0)
        self.won += int(won or 0)
        self.won_amount += float(won_amount or 0)
        self.won_amounts += int(won_amounts or 0)
        self.won_cycle_days += float(won_cycle_days or 0)
        self.won_cycles += int(won_cycles or 0)

    @property
    def avg_won(self) -> float | None:
        return self.won_amount / self.won_amounts if self.won_amounts else None

    @property
    def avg_cycle_days(self) -> float | None:
        return self.won_cycle_days / self.won_cycles if self.won_cycles else None


def closed_totals(session: Session, organization_id: int, owners, start: date, end: date) -> dict[str | None, Totals]:
    """Per owner (None: no owner) with a deal closed in [start, end): their Totals."""
    out: dict[str | None, Totals] = {}
    first, past = whole_months(start, end)
    if first < past:
        rollup = OpportunityMonthRollup
        won = rollup.is_won.is_(True)
        rows = session.execute(
            select(rollup.owner_key, func.sum(rollup.deals), func.sum(case((won, rollup.deals), else_=0)),
                   func.sum(case((won, rollup.amount_sum), else_=0.0)), func.sum(case((won, rollup.amounts), else_=0)),
                   func.sum(case((won, rollup.cycle_days_sum), else_=0.0)),
                   func.sum(case((won, rollup.cycles), else_=0)))
            .where(rollup.organization_id == organization_id, owner_filter(rollup.owner_key, owners),
                   rollup.is_closed.is_(True), rollup.close_month >= first, rollup.close_month < past)
            .group_by(rollup.owner_key))
        for owner, *values in rows:
            out.setdefault(owner or None, Totals()).add(*values)
    # The cut-short months at either end, from the deals (the close-date index reads only those days).
    edges = [(start, min(first, end))] if first < past else [(start, end)]
    if first < past:
        edges.append((past, end))
    for low, high in edges:
        if low >= high:
            continue
        for owner, *values in session.execute(_closed_deals(organization_id, owners, low, high)):
            out.setdefault(owner, Totals()).add(*values)
    return out


def _closed_deals(organization_id: int, owners, start: date, end: date):
    deal = Opportunity
    won = deal.is_won.is_(True)
    cycle = cycle_days()
    return (select(deal.owner_remote_id, func.count(), func.sum(case((won, 1), else_=0)),
                   func.sum(case((won, deal.amount))), func.count(case((won, deal.amount))),
                   func.sum(case((won, cycle))), func.count(case((won, cycle))))
            .where(deal.organization_id == organization_id, deal.deleted_at.is_(None),
                   owner_filter(deal.owner_remote_id, owners), deal.is_closed.is_(True),
                   deal.close_date >= start, deal.close_date < end)
            .group_by(deal.owner_remote_id))


def open_by_stage(session: Session, organization_id: int, owners) -> list[tuple[int, str | None, int, float]]:
    """Open deals per connection and stage: (connection, stage, deals, amount)."""
    rollup = OpportunityMonthRollup
    return [(connection_id, stage or None, int(deals), float(amount)) for connection_id, stage, deals, amount in
            session.execute(select(rollup.connection_id, rollup.stage_key, func.sum(rollup.deals),
                                   func.sum(rollup.amount_sum))
                            .where(rollup.organization_id == organization_id, owner_filter(rollup.owner_key, owners),
                                   rollup.is_closed.is_(False))
                            .group_by(rollup.connection_id, rollup.stage_key))]


def open_and_closed_since(session: Session, organization_id: int, owners, period_start: date, period_end: date):
    """Per owner with an open deal or one closed since ``period_start``: open deals and amount in all, and
    those closing in [period_start, period_end) (month-aligned), as (owner, deals, amount, in-period deals,
    in-period amount)."""
    rollup = OpportunityMonthRollup
    is_open = rollup.is_closed.is_(False)
    in_period = and_(is_open, rollup.close_month >= period_start, rollup.close_month < period_end)
    query = (select(rollup.owner_key, func.sum(case((is_open, rollup.deals), else_=0)),
                    func.sum(case((is_open, rollup.amount_sum), else_=0.0)),
                    func.sum(case((in_period, rollup.deals), else_=0)),
                    func.sum(case((in_period, rollup.amount_sum), else_=0.0)))
             .where(rollup.organization_id == organization_id, owner_filter(rollup.owner_key, owners),
                    is_open | (rollup.close_month >= period_start))
             .group_by(rollup.owner_key))
    return [(owner or None, int(d), float(a), int(pd), float(pa)) for owner, d, a, pd, pa in session.execute(query)]


def closed_stages_since(session: Session, organization_id: int, owners, since: date) -> set[tuple[str, bool]]:
    """The (stage, won) pairs of deals closed on or after ``since``."""
    rollup, deal = OpportunityMonthRollup, Opportunity
    first = first_whole_month(since)
    pairs = set(session.execute(select(rollup.stage_key, rollup.is_won).distinct().where(
        rollup.organization_id == organization_id, owner_filter(rollup.owner_key, owners),
        rollup.is_closed.is_(True), rollup.close_month >= first)).all())
    if first > since:
        pairs |= set(session.execute(select(deal.stage, deal.is_won).distinct().where(
            deal.organization_id == organization_id, deal.deleted_at.is_(None),
            owner_filter(deal.owner_remote_id, owners), deal.is_closed.is_(True),
            deal.close_date >= since, deal.close_date < first)).all())
    return pairs
