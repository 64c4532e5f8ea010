"""Rep benchmarks: win rate, cycle length, average deal size and activity volume, this period and
the one before, against the team's median and top quartile, with a percentile rank.

Per-rep figures come from two GROUP BY queries; medians and quartiles are then taken over those
few per-rep rows. Quartiles interpolate linearly (statistics.quantiles, "inclusive"). "Top" means
the better end: the 75th percentile for win rate, deal size and activity, the 25th for cycle.
Percentile rank = share of the team below the rep, counting ties as half.
"""
from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period
from scoring.scope import owner_filter
from scoring.team import deal_totals
from scoring.team.views import Table
from sync.store.rollups import ActivityDayCount, ActivityMonthCount

# Activities a rep does themselves; marketing touches (web visits, email opens) are not effort.
REP_ACTIVITY_KINDS = ("call", "email", "meeting", "task")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    unit: str  # percent | days | amount | count


METRICS = (Metric("win_rate", "Win rate", True, "percent"),
           Metric("cycle_days", "Cycle length", False, "days"),
           Metric("avg_deal", "Average deal size", True, "amount"),
           Metric("activities", "Activities", True, "count"))


def rep_figures(session: Session, organization_id: int, owners, period: Period,
                as_of: date) -> dict[str, dict[str, Any]]:
    """Per owner: each metric this period (up to as_of) and the previous period."""
    previous = period.previous()
    upto = min(as_of, period.end)
    out: dict[str, dict[str, Any]] = {}
    # Summed from the deal rollup (sync.deal_months): an owner counts with a deal closed in either window.
    windows = (("", deal_totals.closed_totals(session, organization_id, owners, period.start, upto)),
               ("_prev", deal_totals.closed_totals(session, organization_id, owners, previous.start, previous.end)))
    for suffix, by_owner in windows:
        for owner in by_owner:
            if owner is not None:
                out.setdefault(owner, {})
    for owner, entry in out.items():
        for suffix, by_owner in windows:
            totals = by_owner.get(owner) or deal_totals.Totals()
            entry["closed" + suffix] = totals.closed
            entry["won" + suffix] = totals.won
            entry["win_rate" + suffix] = totals.won / totals.closed if totals.closed else None
            entry["avg_deal" + suffix] = totals.avg_won
            entry["cycle_days" + suffix] = totals.avg_cycle_days
    for owner, (current, earlier) in activity_counts(session, organization_id, owners, previous.start,
                                                     period.start, upto).items():
        if owner is None:
            continue
        entry = out.setdefault(owner, {})
        entry["activities"], entry["activities_prev"] = current, earlier
    for entry in out.values():
        entry.setdefault("activities", 0)
        entry.setdefault("activities_prev", 0)
    return out


def activity_counts(session: Session, organization_id: int, owners, start_prev: date, start_now: date,
                    upto: date) -> dict[str | None, tuple[int, int]]:
    """Per owner with any: the rep activities logged in [start_now, upto) and in [start_prev, start_now)
    (activities of no one are left out).

    Whole months come from the monthly counts the sync keeps (sync.activity_counts), the days of the
    month ``upto`` cuts short from its daily counts.
    """
    out: dict[str | None, list[int]] = {}
    cut = upto.replace(day=1)
    for table, start, end in ((ActivityMonthCount, start_prev, cut), (ActivityDayCount, max(cut, start_prev), upto)):
        # Whole months on either side of start_now; the cut-short month's days all on one side.
        current = table.starts_on >= start_now
        for owner, is_current, n in session.execute(
                select(table.owner_key, current, func.sum(table.activities))
                .where(table.organization_id == organization_id, table.kind_key.in_(REP_ACTIVITY_KINDS),
                       table.starts_on >= start, table.starts_on < end, owner_filter(table.owner_key, owners))
                .group_by(table.owner_key, current)):
            out.setdefault(owner or None, [0, 0])[0 if is_current else 1] += int(n)
    return {owner: (current, earlier) for owner, (current, earlier) in out.items() if owner is not None}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(P25, median, P75) of the values, interpolating linearly."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def percentile_rank(value: float, ordered: list[float], higher_is_better: bool) -> float:
    """Percent of the team the value beats, ties counting half (the value itself among them).

    ``ordered`` is the team's values sorted: two bisections instead of a pass per rep, which a whole
    organization's hundreds of reps times four metrics made quadratic.
    """
    first, past = bisect.bisect_left(ordered, value), bisect.bisect_right(ordered, value)
    below = first if higher_is_better else len(ordered) - past
    return 100.0 * (below + 0.5 * (past - first)) / len(ordered)


def team_marks(figures: dict[str, dict[str, Any]], peers) -> dict[str, dict[str, float]]:
    """Per metric: the team's median and top-quartile mark, and the values they came from."""
    marks = {}
    for metric in METRICS:
        values = [entry[metric.key] for owner, entry in figures.items()
                  if (peers is None or owner in peers) and entry.get(metric.key) is not None]
        if not values:
            continue
        low, median, high = quartiles(values)
        marks[metric.key] = {"median": median, "top": high if metric.higher_is_better else low,
                             "values": values, "ordered": sorted(values)}
    return marks


def benchmarks(session: Session, organization_id: int, subject, period: Period, as_of: date,
               names: dict[str, str]) -> dict[str, Any]:
    """The benchmarks view: one row per rep and metric, against the team (the subject's peers)."""
    figures = rep_figures(session, organization_id, subject.peers, period, as_of)
    marks = team_marks(figures, subject.peers)
    table = Table("benchmarks", [("name", "Rep"), ("metric", "Metric"), ("value", "This period"),
                                 ("previous", "Previous period"), ("trend", "Change"),
                                 ("median", "Team median"), ("top", "Top quartile"),
                                 ("percentile", "Percentile")],
                  note=f"Deals closed and activities logged in {period.label} up to {as_of.isoformat()}, "
                       f"against {period.previous().label}.")
    for owner in sorted(figures, key=lambda o: names.get(o, o)):
        if subject.owners is not None and owner not in subject.owners:
            continue
        entry = figures[owner]
        for metric in METRICS:
            value, previous = entry.get(metric.key), entry.get(metric.key + "_prev")
            mark = marks.get(metric.key)
            table.rows.append({
                "owner": owner, "name": names.get(owner, owner), "metric": metric.label,
                "metric_key": metric.key, "unit": metric.unit, "value": value, "previous": previous,
                "trend": value - previous if value is not None and previous is not None else None,
                "median": mark["median"] if mark else None, "top": mark["top"] if mark else None,
                "percentile": (percentile_rank(value, mark["ordered"], metric.higher_is_better)
                               if mark and value is not None else None)})
    team = {m.key: marks[m.key] for m in METRICS if m.key in marks}
    tables = [table]
    if subject.kind == "rep":  # the deals behind a rep's figures
        from scoring.team.winloss import closed_deals
        tables.append(closed_deals(session, organization_id, subject.owners, period, as_of, names))
    return {"tables": tables, "figures": figures, "marks": team}
