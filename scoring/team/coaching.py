"""Coaching: each rep's largest gaps against the team's top quartile, each with a suggestion.

The rule table (RULES) is the documentation: a gap on a metric picks its rule, and a low win
rate is traced to the stage where the rep's deals convert furthest below the team's.
A gap is the relative shortfall against the top-quartile mark: (top − rep) ÷ top, or for cycle
length (rep − top) ÷ top. Gaps under MIN_GAP are noise and not shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from scoring.deals_as_of import Period
from scoring.team.benchmarks import METRICS, rep_figures, team_marks
from scoring.team.stage_stats import stage_conversion
from scoring.team.stalled import stalled_deals
from scoring.team.views import Table, ratio

MIN_GAP = 0.05
MAX_GAPS = 3
# Stages with fewer deals than this say nothing about a rep's conversion.
MIN_STAGE_DEALS = 3


@dataclass(frozen=True)
class Rule:
    metric: str
    problem: str
    suggestion: str


RULES = {
    "win_rate": Rule("win_rate", "Low win rate",
                     "Deals leave {stage} at {rep_stage} against {team_stage} for the team: review the exit "
                     "criteria of {stage} together on the next three deals there, and disqualify earlier "
                     "the ones without a confirmed budget and decision maker."),
    "cycle_days": Rule("cycle_days", "Long sales cycle",
                       "Agree a mutual close plan with dates on every deal past its first stage, and go "
                       "through the stalled-deals list each week: a deal idle for two weeks gets a next "
                       "step or is closed."),
    "activities": Rule("activities", "Low activity",
                       "Block time for outreach: about {needed} more calls, emails or meetings this period "
                       "reach the top quartile; end every meeting with the next one booked."),
    "avg_deal": Rule("avg_deal", "Small deals",
                     "Open with the larger packages and bundles the top performers sell, and bring in the "
                     "economic buyer early so the deal is scoped to the whole need, not one team's."),
}
# Used for win rate when no single stage stands out (too few stage changes recorded).
WIN_RATE_FALLBACK = ("Review the last five lost deals together to find where they stalled, and qualify "
                     "harder before a deal moves past its first stage.")


def gap(value: float | None, top: float | None, higher_is_better: bool) -> float | None:
    """The relative shortfall against the top-quartile mark (positive means behind)."""
    if value is None or not top:
        return None
    return (top - value) / top if higher_is_better else (value - top) / top


@dataclass
class StageRates:
    """The per-owner conversion rows, indexed once: the team's totals per stage and each owner's rows.

    A whole organization has hundreds of reps, each asking for their weakest stage: summing the team
    again per rep made the view quadratic.
    """

    team: dict[str, list[int]]
    by_owner: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> "StageRates":
        team: dict[str, list[int]] = {}
        by_owner: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            counts = team.setdefault(row["stage"], [0, 0])
            counts[0] += row["entered"]
            counts[1] += row["advanced"]
            by_owner.setdefault(row["owner"], []).append(row)
        return cls(team, by_owner)


def weakest_stage(rates: StageRates, owner: str) -> tuple[str, float, float] | None:
    """The stage where the rep's conversion falls furthest below the team's: (stage, rep, team)."""
    worst = None
    for row in rates.by_owner.get(owner, ()):
        if row["entered"] < MIN_STAGE_DEALS:
            continue
        entered, advanced = rates.team[row["stage"]]
        rep_rate, team_rate = row["conversion"] or 0.0, ratio(advanced, entered) or 0.0
        if rep_rate < team_rate and (worst is None or team_rate - rep_rate > worst[2] - worst[1]):
            worst = (row["stage"], rep_rate, team_rate)
    return worst


def coaching(session: Session, organization_id: int, subject, period: Period, as_of: date,
             names: dict[str, str]) -> dict[str, Any]:
    """Per rep in the subject, up to MAX_GAPS gaps, largest first, each with its suggestion."""
    figures = rep_figures(session, organization_id, subject.peers, period, as_of)
    marks = team_marks(figures, subject.peers)
    stages = StageRates.of(stage_conversion(session, organization_id, subject.peers, as_of, by_owner=True).rows)
    table = Table("coaching", [("name", "Rep"), ("problem", "Gap"), ("value", "Rep's figure"), ("top", "Top quartile"),
                               ("gap", "Behind by"), ("suggestion", "Suggestion")],
                  note="Gaps against the team's top quartile this period; the largest first.")
    for owner in sorted(figures, key=lambda o: names.get(o, o)):
        if subject.owners is not None and owner not in subject.owners:
            continue
        found = []
        for metric in METRICS:
            mark = marks.get(metric.key)
            size = gap(figures[owner].get(metric.key), mark["top"] if mark else None, metric.higher_is_better)
            if size is not None and size >= MIN_GAP:
                found.append((size, metric))
        for size, metric in sorted(found, key=lambda item: -item[0])[:MAX_GAPS]:
            value, top = figures[owner][metric.key], marks[metric.key]["top"]
            table.rows.append({"owner": owner, "name": names.get(owner, owner), "metric_key": metric.key,
                               "unit": metric.unit, "problem": RULES[metric.key].problem, "value": value,
                               "top": top, "gap": size,
                               "suggestion": suggestion(metric.key, value, top, stages, owner)})
    tables = [table]
    if subject.kind == "rep":  # the deals to go through together
        tables.append(stalled_deals(session, organization_id, subject.owners, as_of))
    return {"tables": tables}


def suggestion(metric: str, value: float, top: float, stages: StageRates, owner: str) -> str:
    """The rule's suggestion, filled in with the rep's own numbers."""
    rule = RULES[metric]
    if metric == "win_rate":
        weakest = weakest_stage(stages, owner)
        if weakest is None:
            return WIN_RATE_FALLBACK
        stage, rep_rate, team_rate = weakest
        return rule.suggestion.format(stage=stage, rep_stage=f"{rep_rate:.0%}", team_stage=f"{team_rate:.0%}")
    if metric == "activities":
        return rule.suggestion.format(needed=max(1, round(top - value)))
    return rule.suggestion
