"""Rolling-origin backtest of the monthly forecast against three baselines: WAPE and range coverage.

At the start of each month (the origin) every method forecasts that month's won revenue from
what was known then; the actuals are the won revenue the store shows now. Pipewise's forecast
is made exactly as in production: its capacity weight and its P10–P90 range come from its own
errors on earlier months that had ended by the origin (scoring.forecast.calibration), so no
figure reported for a month was tuned on that month. WAPE is the sum of absolute errors over
the sum of actuals, so big months weigh more than small ones; coverage is the share of months
whose actual fell inside P10–P90 (about 80% is the target).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
from sqlalchemy.orm import Session

from scoring.deals_as_of import DealsAsOf, Period, load_deals, month_of, owners, won_revenue
from scoring.forecast.calibration import calibrate
from scoring.forecast.revenue import SIMULATIONS, WhatIf, forecast_from, history_of
from scoring.forecast.timing import fit_timing, stage_win_tally
from sync.store import utcnow

METHODS = ("pipewise", "naive", "seasonal_naive", "stage_weighted")
LABELS = {"pipewise": "Pipewise forecast", "naive": "naive (last month's won revenue)",
          "seasonal_naive": "seasonal naive", "stage_weighted": "stage-weighted pipeline"}


@dataclass
class Origin:
    """One month's forecasts by every method, made at the start of the month, and the actual."""

    period: str
    as_of: date
    actual: float
    forecasts: dict[str, float]
    p10: float
    p90: float
    seasonal_source: str
    capacity_weight: float = 0.5
    calibrated_on: int = 0


@dataclass
class BacktestReport:
    origins: list[Origin] = field(default_factory=list)
    seasonal_rule: str = ""

    def wape(self, method: str) -> float:
        """Weighted absolute percentage error of a method over all origins (0.1 = 10%)."""
        actual = sum(origin.actual for origin in self.origins)
        error = sum(abs(origin.forecasts[method] - origin.actual) for origin in self.origins)
        return error / actual if actual else float("nan")

    def _rank(self, method: str) -> float:
        """A method's WAPE for ranking: one that produced no number never wins."""
        wape = self.wape(method)
        return float("inf") if np.isnan(wape) else wape

    @property
    def winner(self) -> str:
        return min(METHODS, key=self._rank)

    @property
    def best_baseline(self) -> str:
        return min(METHODS[1:], key=self._rank)

    @property
    def pipewise_is_best(self) -> bool:
        return all(self._rank("pipewise") < self._rank(method) for method in METHODS[1:])

    @property
    def coverage(self) -> float:
        """Share of months whose actual fell inside Pipewise's P10–P90 range."""
        inside = [origin.p10 <= origin.actual <= origin.p90 for origin in self.origins]
        return sum(inside) / len(inside) if inside else float("nan")

    def verdict(self) -> str:
        """One sentence saying plainly which method won, and by how much Pipewise misses if it lost."""
        if not self.origins:
            return "No month in the range has ended yet, so nothing could be backtested."
        if not sum(origin.actual for origin in self.origins):
            return ("No revenue was won in these months, so WAPE is undefined; backtest a range "
                    "with won deals.")
        ours, best = self.wape("pipewise"), self.best_baseline
        if self.pipewise_is_best:
            return (f"Pipewise won: WAPE {ours:.1%}, against {self.wape(best):.1%} for the best "
                    f"baseline ({LABELS[best]}).")
        winner = self.winner
        if np.isnan(ours):
            return (f"{LABELS[winner].capitalize()} won with WAPE {self.wape(winner):.1%}; Pipewise produced "
                    f"no figure for some of these months. Use the {LABELS[winner]} figure for them.")
        return (f"{LABELS[winner].capitalize()} won with WAPE {self.wape(winner):.1%}; Pipewise "
                f"missed it by {100 * (ours - self.wape(winner)):.1f} percentage points "
                f"(WAPE {ours:.1%}). Use the {LABELS[winner]} figure for these months.")

    def coverage_sentence(self) -> str:
        """How often the range held, against the 80% it aims for."""
        if not self.origins:
            return ""
        inside = sum(origin.p10 <= origin.actual <= origin.p90 for origin in self.origins)
        return (f"P10–P90 held the actual in {inside} of {len(self.origins)} months ({self.coverage:.0%}; "
                "the range aims at about 80%).")

    def to_dict(self) -> dict:
        """The JSON shape of `forecast backtest --json`."""
        return {"origins": [{**asdict(origin), "as_of": origin.as_of.isoformat()}
                            for origin in self.origins],
                "wape": {method: _number(self.wape(method)) for method in METHODS},
                "winner": self.winner, "pipewise_is_best": self.pipewise_is_best,
                "best_baseline": self.best_baseline,
                "margin": _number(self.wape(self.best_baseline) - self.wape("pipewise")),
                "p10_p90_coverage": _number(self.coverage), "seasonal_rule": self.seasonal_rule,
                "coverage_sentence": self.coverage_sentence(), "verdict": self.verdict(),
                "procedure": "each month's weight and range fixed from months that had ended by its first day"}


def _number(value: float) -> float | None:
    """Rounded for JSON; NaN (nothing to measure) becomes null."""
    return None if value != value else round(value, 4)


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month that starts inside [first, last]."""
    starts, day = [], date(first.year, first.month, 1)
    if day < first:
        day = month_of(day).end
    while day <= last:
        starts.append(day)
        day = month_of(day).end
    return starts


def backtest(session: Session, organization_id: int, first: date, last: date,
             simulations: int = SIMULATIONS, today: date | None = None) -> BacktestReport:
    """Forecast each month starting in [first, last] from its first day and score every method.

    Only months that ended by ``today`` (default: the current date) are scored.
    """
    report = BacktestReport()
    people = owners(session, organization_id)
    today = today or utcnow().date()
    for start in month_starts(first, last):
        period = month_of(start)
        if period.end > today:
            continue
        deals = load_deals(session, organization_id, start)
        model = fit_timing(history_of(deals), start.toordinal())
        calibration = calibrate(session, organization_id, deals, people, period)
        ours = forecast_from(deals, people, model, organization_id, period, "org", WhatIf(),
                             simulations, calibration=calibration)
        seasonal, source = seasonal_naive(deals, period)
        report.origins.append(Origin(
            period=period.label, as_of=start,
            actual=won_revenue(session, organization_id, period)["org"],
            forecasts={"pipewise": ours.total.expected, "naive": won_in(deals, period.previous()),
                       "seasonal_naive": seasonal, "stage_weighted": stage_weighted(deals, period)},
            p10=ours.total.p10, p90=ours.total.p90, seasonal_source=source,
            capacity_weight=calibration.weight, calibrated_on=calibration.total.n))
    sources = sorted({origin.seasonal_source for origin in report.origins})
    report.seasonal_rule = ("same month last year where a year of closed deals was on record, "
                            "else same month last quarter; used: " + ", ".join(sources))
    return report


def won_in(deals: DealsAsOf, period: Period) -> float:
    """Won revenue inside the period, as it was known at the deals' as-of date."""
    start, end = period.start.toordinal(), period.end.toordinal()
    mask = deals.won & (deals.closed >= start) & (deals.closed < end)
    return float(deals.amount[mask].sum())


def seasonal_naive(deals: DealsAsOf, period: Period) -> tuple[float, str]:
    """The same month last year when the history reaches back that far, else last quarter's."""
    recorded = deals.closed[deals.closed >= 0]
    first_close = int(recorded.min()) if len(recorded) else deals.as_of.toordinal()
    year_ago = period.previous(12)
    if year_ago.start.toordinal() >= first_close:
        return won_in(deals, year_ago), f"{year_ago.label} (a year earlier)"
    quarter_ago = period.previous(3)
    return won_in(deals, quarter_ago), f"{quarter_ago.label} (a quarter earlier)"


def stage_weighted(deals: DealsAsOf, period: Period) -> float:
    """Open amount × stage probability, for deals expected to close inside the period.

    A stage's probability is the win rate of closed deals that went through it. A deal without
    a close date is expected to close at its creation plus the median days to a win; overdue
    deals are left out, as a CRM's forecast leaves them in their past period.
    """
    today = deals.as_of.toordinal()
    closed = deals.closed >= 0
    if not closed.any():
        return 0.0
    base = deals.won[closed].mean()
    rates = stage_win_tally(deals.won, deals.stage_reached, closed)
    wins = deals.won & closed
    cycle = float(np.median(deals.closed[wins] - deals.created[wins])) if wins.any() else 30.0
    expected_close = np.where(deals.close_date >= 0, deals.close_date,
                              deals.created + int(round(cycle)))
    inside = (deals.open & (expected_close >= max(period.start.toordinal(), today))
              & (expected_close < period.end.toordinal()))
    total = 0.0
    for index in np.flatnonzero(inside):
        wins_total = rates.get(deals.stages[index] or "")
        probability = wins_total[0] / wins_total[1] if wins_total and wins_total[1] else base
        total += probability * deals.amount[index]
    return float(total)
