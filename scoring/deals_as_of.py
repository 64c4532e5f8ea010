"""The deals of an organization as they were known at an as-of moment, for forecasting.

As of DATE means at 00:00 UTC on DATE: a record stamped on DATE is not yet known. Deals created
later are invisible; a deal closed later is open, at the stage, amount and close date its
stage history shows before DATE. The current row's stage, amount and won/closed flags are used
only when the row was last modified before DATE, so nothing that happened later can leak in.

The calendar every view counts in lives here too: periods (a month or a quarter), a day's
midnight and the whole months of a window.
"""
from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sync.deal_months import next_month
from sync.store import Opportunity, OpportunityStageChange, User

PERIOD_PATTERN = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$")


@dataclass(frozen=True)
class Period:
    """A calendar month (`2017-10`) or quarter (`2017-Q4`): [start, end) as dates."""

    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self, months: int | None = None) -> "Period":
        """The period of the same kind that ends where this one starts (or `months` earlier)."""
        step = months if months is not None else (3 if "Q" in self.label else 1)
        return _shift(self, -step)


def parse_period(text: str) -> Period:
    """Parse `2017-10` or `2017-Q4`."""
    match = PERIOD_PATTERN.match(text.strip().upper())
    if not match:
        raise ValueError(f"The period {text!r} is not understood; write a month like 2017-10 "
                         f"or a quarter like 2017-Q4.")
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        return Period(f"{year}-{month:02d}", date(year, month, 1), add_months(date(year, month, 1), 1))
    quarter = int(match.group(3))
    start = date(year, 3 * quarter - 2, 1)
    return Period(f"{year}-Q{quarter}", start, add_months(start, 3))


def month_of(day: date) -> Period:
    """The calendar month containing the day."""
    return parse_period(f"{day.year}-{day.month:02d}")


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def first_whole_month(day: date) -> date:
    """The first day of the first calendar month that starts on or after the day."""
    return day if day.day == 1 else next_month(day)


def whole_months(start: date, end: date) -> tuple[date, date]:
    """The whole calendar months inside [start, end): [first, past) as first days (empty when first >= past)."""
    return first_whole_month(start), end.replace(day=1)


def _shift(period: Period, months: int) -> Period:
    start = add_months(period.start, months)
    if "Q" in period.label:
        return parse_period(f"{start.year}-Q{(start.month - 1) // 3 + 1}")
    return parse_period(f"{start.year}-{start.month:02d}")


def midnight(day: date) -> datetime:
    """A date as the naive-UTC datetime at its start."""
    return datetime(day.year, day.month, day.day)


def as_of_moment(day: date | datetime) -> datetime:
    """The as-of instant of a date: its midnight."""
    if isinstance(day, datetime):
        return day
    return midnight(day)


@dataclass
class DealsAsOf:
    """Column arrays of every deal visible at the as-of moment (day ordinals; closed = -1 if open)."""

    as_of: date
    remote_ids: list[str]
    owners: list[str]
    stages: list[str | None]
    created: np.ndarray
    closed: np.ndarray
    won: np.ndarray
    amount: np.ndarray
    close_date: np.ndarray  # expected close (open) or close (closed) as a day ordinal, -1 unknown
    stage_reached: list[set[str]]

    @property
    def open(self) -> np.ndarray:
        return self.closed < 0


def stage_kinds(session: Session, organization_id: int) -> dict[str, str]:
    """Each stage name → "won", "lost" or "open", by majority over the current rows (CRM setup)."""
    rows = session.execute(
        select(Opportunity.stage, Opportunity.is_closed, Opportunity.is_won, func.count())
        .where(Opportunity.organization_id == organization_id, Opportunity.stage.is_not(None))
        .group_by(Opportunity.stage, Opportunity.is_closed, Opportunity.is_won)).all()
    votes: dict[str, Counter] = {}
    for stage, is_closed, is_won, count in rows:
        kind = "won" if is_won else "lost" if is_closed else "open"
        votes.setdefault(stage, Counter())[kind] += count
    kinds = {stage: counter.most_common(1)[0][0] for stage, counter in votes.items()}
    for stage in ("Closed Won", "Won"):
        kinds.setdefault(stage, "won")
    for stage in ("Closed Lost", "Lost"):
        kinds.setdefault(stage, "lost")
    return kinds


def load_deals(session: Session, organization_id: int, as_of: date) -> DealsAsOf:
    """Reconstruct every deal of the organization as it stood at 00:00 on as_of."""
    moment = as_of_moment(as_of)
    kinds = stage_kinds(session, organization_id)
    opportunities = session.execute(
        select(Opportunity.connection_id, Opportunity.remote_id, Opportunity.owner_remote_id,
               Opportunity.remote_created_at, Opportunity.remote_modified_at, Opportunity.stage,
               Opportunity.amount, Opportunity.close_date, Opportunity.is_closed, Opportunity.is_won)
        .where(Opportunity.organization_id == organization_id,
               Opportunity.remote_created_at < moment,
               or_(Opportunity.deleted_at.is_(None), Opportunity.deleted_at >= moment),
               # A deal whose currency has no rate is left out (the panels say so), never counted in
               # its own currency nor given a typical amount.
               or_(Opportunity.deal_amount.is_(None), Opportunity.amount.is_not(None)))
        .order_by(Opportunity.remote_created_at, Opportunity.remote_id)).all()
    history: dict[tuple[int, str], list] = {}
    for change in session.execute(
            select(OpportunityStageChange.connection_id, OpportunityStageChange.opportunity_remote_id,
                   OpportunityStageChange.stage, OpportunityStageChange.amount,
                   OpportunityStageChange.close_date, OpportunityStageChange.changed_at)
            .where(OpportunityStageChange.organization_id == organization_id,
                   OpportunityStageChange.changed_at < moment,
                   or_(OpportunityStageChange.deleted_at.is_(None),
                       OpportunityStageChange.deleted_at >= moment))
            .order_by(OpportunityStageChange.changed_at, OpportunityStageChange.id)):
        history.setdefault((change.connection_id, change.opportunity_remote_id), []).append(change)

    columns: dict[str, list] = {name: [] for name in (
        "remote_ids", "owners", "stages", "created", "closed", "won", "amount", "close_date",
        "stage_reached")}
    for row in opportunities:
        deal = _deal_as_of(row, history.get((row.connection_id, row.remote_id), []), kinds, moment)
        for name, value in deal.items():
            columns[name].append(value)
    amount = np.array(columns["amount"], dtype=float)
    known = ~np.isnan(amount)
    open_ = np.array(columns["closed"], dtype=int) < 0
    # An open deal's amount not recorded yet is unknown; the typical deal size stands in for it.
    amount[~known & open_] = float(np.median(amount[known])) if known.any() else 0.0
    # A deal that closed, as of the date, without ever having an amount says nothing about revenue
    # (a converted lead's won deal often has none): counting it at the typical size would invent
    # revenue, counting it at zero would teach the timing model wins that book nothing. It is left
    # out of the revenue history; the panels still count it as a deal.
    keep = known | open_
    take = np.flatnonzero(keep)
    pick = (lambda values: [values[i] for i in take]) if not keep.all() else (lambda values: values)
    return DealsAsOf(
        as_of=as_of, remote_ids=pick(columns["remote_ids"]), owners=pick(columns["owners"]),
        stages=pick(columns["stages"]), created=np.array(columns["created"], dtype=int)[keep],
        closed=np.array(columns["closed"], dtype=int)[keep], won=np.array(columns["won"], dtype=bool)[keep],
        amount=amount[keep], close_date=np.array(columns["close_date"], dtype=int)[keep],
        stage_reached=pick(columns["stage_reached"]))


def _deal_as_of(row, changes: list, kinds: dict[str, str], moment: datetime) -> dict:
    """One deal's stage, amount, close and outcome at the moment, from its history before it."""
    stage, amount, close_day, closed_at = None, None, None, None
    reached: set[str] = set()
    for change in changes:
        if change.stage is not None:
            kind = kinds.get(change.stage, "open")
            if kind == "open":
                reached.add(change.stage)
                closed_at = None
            elif stage is None or kinds.get(stage, "open") == "open":
                closed_at = change.changed_at
            stage = change.stage
        amount = change.amount if change.amount is not None else amount
        close_day = change.close_date if change.close_date is not None else close_day
    if row.remote_modified_at is not None and row.remote_modified_at < moment:
        # The row as it stands was already known then.
        stage, amount = row.stage or stage, row.amount if row.amount is not None else amount
        close_day = row.close_date or close_day
        if row.is_closed and closed_at is None:
            closed_at = _at_or_before(row.close_date, row.remote_modified_at)
        if not row.is_closed:
            closed_at = None
    kind = kinds.get(stage, "open") if stage else "open"
    if kind == "open":
        closed_at = None
        if stage:
            reached.add(stage)
    return {
        "remote_ids": row.remote_id, "owners": row.owner_remote_id or "",
        "stages": stage, "created": row.remote_created_at.toordinal(),
        "closed": closed_at.toordinal() if closed_at is not None else -1,
        "won": closed_at is not None and kind == "won",
        "amount": float(amount) if amount is not None else np.nan,
        "close_date": close_day.toordinal() if close_day else -1,
        "stage_reached": reached,
    }


def _at_or_before(close_day: date | None, modified: datetime) -> datetime:
    """When a closed row without history closed: its close date, unless that is after it was saved."""
    if close_day is None:
        return modified
    return min(midnight(close_day), modified)


@dataclass(frozen=True)
class Owner:
    key: str
    name: str
    team: str


def owners(session: Session, organization_id: int) -> dict[str, Owner]:
    """The organization's CRM users by remote id, with their display name and team."""
    rows = session.execute(select(User.remote_id, User.name, User.team)
                           .where(User.organization_id == organization_id))
    return {remote_id: Owner(remote_id, name or remote_id, team or "No team")
            for remote_id, name, team in rows}


def won_revenue(session: Session, organization_id: int, period: Period,
                by: str = "org") -> dict[str, float]:
    """Won revenue closed inside the period, from the current rows, summed in SQL per group key."""
    start, end = period.start, period.end
    base = (select(func.coalesce(func.sum(Opportunity.amount), 0.0))
            .where(Opportunity.organization_id == organization_id, Opportunity.is_won.is_(True),
                   Opportunity.deleted_at.is_(None),
                   Opportunity.close_date >= start, Opportunity.close_date < end))
    if by == "org":
        return {"org": float(session.scalar(base))}
    if by == "rep":
        key = Opportunity.owner_remote_id
        rows = session.execute(base.add_columns(key).group_by(key))
        return {owner or "unassigned": float(total) for total, owner in rows}
    team = func.coalesce(User.team, "No team")
    rows = session.execute(
        base.add_columns(team)
        .outerjoin(User, (User.connection_id == Opportunity.connection_id)
                   & (User.remote_id == Opportunity.owner_remote_id))
        .group_by(team))
    return {name: float(total) for total, name in rows}
