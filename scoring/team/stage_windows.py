"""The stage entries of a window, and the whole organization's conversion and P75 read from the stage
entry months the sync keeps (``sync.stage_months``) instead of every entry of the year.

Whole months of the window come from the rollup, except two kinds of entries the readers take from
the facts, exactly as the window's conditions count them: irregular ones (``sync.store.rollups.irregular``)
and those whose next entry falls in the month the window's end cuts short. The cut-short months at
both ends come from the facts too. The P75 is exact: the day buckets find the day it lies in, and that
day's stays of that stage are read (an expression index on PostgreSQL) to find its value.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import midnight, whole_months
from scoring.scope import owner_filter
from sync.deal_months import next_month
from sync.sql_time import days_between, whole_days
from sync.store.rollups import NO_CLOSE_DATE, OpportunityStageFact, StageEntryMonth, StageEntryOwnerMonth, irregular


def entry_conditions(organization_id: int, owners, since: datetime | None, until: datetime,
                     open_only: bool = False) -> list:
    """WHERE clauses on the stage facts: the entries a window [since, until) counts (see stage_stats.stage_entries)."""
    fact = OpportunityStageFact
    conditions = [fact.organization_id == organization_id, owner_filter(fact.owner_remote_id, owners),
                  fact.changed_at < until]
    if since is None:
        conditions.append(fact.is_entry.is_(True))
    else:
        conditions += [fact.changed_at >= since, or_(fact.is_entry.is_(True), fact.previous_at < since),
                       # A deal closed before the window has no stage change inside it.
                       fact.deal_created_at < until,
                       or_(fact.deal_is_closed.is_(False), fact.deal_close_date >= since.date())]
    if open_only:
        conditions.append(fact.deal_is_closed.is_(False))
    return conditions


@dataclass
class StageTally:
    """One stage's entries in a window: how many, how many moved on and were lost, and the stays' lengths."""

    entered: int = 0
    ended: int = 0
    lost: int = 0
    days: float = 0.0
    buckets: dict = field(default_factory=lambda: defaultdict(int))


def organization_stage_tallies(session: Session, organization_id: int, since: datetime, until: datetime,
                               lost_stages: set[str], by_owner: bool = False) -> dict:
    """Per stage (or per (owner, stage), owner None for none), the whole organization's entries in
    [since, until) (midnights), as the facts count them; a next entry into one of ``lost_stages`` is a loss.

    Summed in SQL to a row per stage and day (per owner and stage): a whole organization's reps
    times stages times next stages is too many rows to add up in Python.
    """
    fact = OpportunityStageFact
    first, past = whole_months(since.date(), until.date())
    lost = sorted(lost_stages)
    tallies: dict = defaultdict(StageTally)
    window = entry_conditions(organization_id, None, since, until)
    if first < past:
        rollup = StageEntryOwnerMonth if by_owner else StageEntryMonth
        ended = and_(rollup.next_month > NO_CLOSE_DATE, rollup.next_month < past)
        # The owners' table has no day buckets (their conversion needs no P75).
        grouping = (rollup.owner_key, rollup.stage) if by_owner else (rollup.day_bucket, rollup.stage, ended)
        for row in session.execute(
                select(*grouping, func.sum(rollup.entries), func.sum(case((ended, rollup.entries), else_=0)),
                       func.sum(case((and_(ended, rollup.next_stage_key.in_(lost)), rollup.entries), else_=0)),
                       func.sum(case((ended, rollup.stay_us), else_=0)))
                .where(rollup.organization_id == organization_id, rollup.changed_month >= first,
                       rollup.changed_month < past, rollup.next_month != past)
                .group_by(*grouping)):
            other, stage, *sums = row if by_owner else (row[0], row[1], *row[3:])
            entries, ended_n, lost_n, stay_us = (int(v or 0) for v in sums)
            key, bucket = ((other or None, stage), None) if by_owner else (stage, int(other))
            _count(tallies[key], entries, ended_n, lost_n, bucket, stay_us / 86_400_000_000)
        in_months = and_(fact.changed_at >= midnight(first), fact.changed_at < midnight(past))
        # Each part a plain range of one index (an OR of two ranges reads the table's rows instead).
        parts = [fact.changed_at < midnight(first), fact.changed_at >= midnight(past),
                 and_(in_months, irregular()),
                 and_(in_months, ~irregular(), fact.next_at >= midnight(past),
                      fact.next_at < midnight(next_month(past)))]
    else:
        parts = [fact.changed_at >= since]
    is_ended = fact.next_at < until
    days = days_between(fact.changed_at, fact.next_at)
    grouping = (fact.owner_remote_id, fact.stage) if by_owner else (fact.stage, case((is_ended, whole_days(days))))
    for part in parts:
        for first_key, second_key, entries, ended_n, lost_n, total_days in session.execute(
                select(*grouping, func.count(), func.sum(case((is_ended, 1), else_=0)),
                       func.sum(case((and_(is_ended, fact.next_stage.in_(lost)), 1), else_=0)),
                       func.sum(case((is_ended, days))))
                .where(*window, part).group_by(*grouping)):
            key, bucket = ((first_key, second_key), None) if by_owner else (first_key, second_key)
            _count(tallies[key], int(entries), int(ended_n or 0), int(lost_n or 0), bucket, float(total_days or 0.0))
    return dict(tallies)


def _count(tally: StageTally, entries: int, ended: int, lost: int, bucket: int | None, days: float) -> None:
    tally.entered += entries
    tally.ended += ended
    tally.lost += lost
    tally.days += days
    if ended and bucket is not None:
        tally.buckets[bucket] += ended


def nearest_rank_p75(session: Session, organization_id: int, since: datetime, until: datetime, stage: str,
                     tally: StageTally) -> float | None:
    """The stage's nearest-rank P75 stay (what percentile_disc(0.75) gives) from its day buckets and that day's stays."""
    if not tally.ended:
        return None
    rank, below = (3 * tally.ended + 3) // 4, 0
    for bucket in sorted(tally.buckets):
        if below + tally.buckets[bucket] >= rank:
            break
        below += tally.buckets[bucket]
    fact = OpportunityStageFact
    days = days_between(fact.changed_at, fact.next_at)
    values = list(session.scalars(
        select(days).where(*entry_conditions(organization_id, None, since, until), fact.stage == stage,
                           fact.next_at < until, days >= bucket, days < bucket + 1).order_by(days)))
    if len(values) != tally.buckets[bucket]:
        raise RuntimeError(f"The stage rollup of organization {organization_id} disagrees with its facts "
                           f"({stage}, day {bucket}): rebuild it with sync.rollups.rebuild_organization.")
    return float(values[rank - below - 1])
