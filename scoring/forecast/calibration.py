"""Forecast ranges that hold out of sample: the forecast calibrated on its own past errors.

At an as-of date T, for the period P asked about, Pipewise replays itself on earlier windows of
the same shape: for k = 1, 2, … months back, the window P shifted by k months, forecast from
what was known k months before T. Only windows that had ended by T count, and their actual won
revenue is what was known at T: nothing after T, and nothing of P itself, is ever used. These
analogs (a rolling-origin backtest) fix every choice:

- the capacity weight (how far open deals' expected wins are pulled towards the number the team
  closed a season earlier, scoring.forecast.runrate) is the candidate with the lowest WAPE on them;
- the range: each analog's error, in units of what was still uncertain then (the open pipeline
  and deals not yet created: the expectation minus what was already won), gives the error's
  distribution. P10/P50/P90 are the forecast plus the still-uncertain amount times that
  distribution's 10/50/90% prediction quantiles: a Student t on few analogs (wide when they are
  few), the empirical quantiles on many (reps and teams pool their errors). The range therefore
  widens with the horizon (longer-horizon analogs erred more) and with how much of the period
  is still open pipeline, and never falls below what was already won.

With fewer than ``MIN_ANALOGS`` analogs the Monte Carlo's range stands, widened by
``FALLBACK_WIDENING``, and the forecast says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from scipy import stats
from sqlalchemy.orm import Session

from scoring.deals_as_of import DealsAsOf, Owner, Period, add_months, load_deals
from scoring.forecast.runrate import CAPACITY_WEIGHT

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_ANALOGS = 12
MIN_ANALOGS = 2
# Empirical quantiles once there are this many errors; a Student t below.
EMPIRICAL_FROM = 20
# An analog's origin needs this much closing history before it, or its forecast knows nothing.
WARMUP_DAYS = 28
FALLBACK_WIDENING = 3.0
LOW, HIGH = 0.1, 0.9


@dataclass
class ErrorModel:
    """The distribution of errors (in units of the still-uncertain amount) and its quantiles."""

    errors: list[float]

    @property
    def n(self) -> int:
        return len(self.errors)

    def quantiles(self) -> tuple[float, float, float] | None:
        """10/50/90% prediction quantiles of the next error, or None when too few to say."""
        e = np.asarray(self.errors, dtype=float)
        if len(e) < MIN_ANALOGS:
            return None
        if len(e) >= EMPIRICAL_FROM:
            # Split-conformal levels: the ⌈(n+1)q⌉-th smallest, so the coverage holds for n errors.
            ranks = [min(len(e), max(1, int(np.ceil((len(e) + 1) * q)))) for q in (LOW, 0.5, HIGH)]
            ordered = np.sort(e)
            return tuple(float(ordered[r - 1]) for r in ranks)
        mean, sd = float(e.mean()), float(e.std(ddof=1))
        half = float(stats.t.ppf(HIGH, len(e) - 1)) * sd * np.sqrt(1 + 1 / len(e))
        return mean - half, mean, mean + half


@dataclass
class Calibration:
    """The capacity weight and the error models a forecast's ranges come from, and how they were found."""

    weight: float
    analogs: list[dict] = field(default_factory=list)
    wape_by_weight: dict[float, float] = field(default_factory=dict)
    total: ErrorModel = field(default_factory=lambda: ErrorModel([]))
    groups: ErrorModel = field(default_factory=lambda: ErrorModel([]))

    @property
    def note(self) -> str:
        if self.total.quantiles() is None:
            return (f"{len(self.analogs)} earlier window(s) of this shape had ended with history before them: too few to "
                    f"calibrate on, so the range is the simulation's widened {FALLBACK_WIDENING:g}× and the capacity "
                    f"weight is the default {self.weight:g}")
        return (f"calibrated on {self.total.n} earlier windows of the same shape, each forecast from what was "
                f"known then; capacity weight {self.weight:g} had the lowest WAPE on them")

    def range(self, expected: float, uncertain: float, won: float, simulated: tuple[float, float, float],
              group: bool = False) -> tuple[float, float, float]:
        """P10, P50, P90 for an expectation of which ``uncertain`` is not yet won (``won`` is)."""
        q = (self.groups if group else self.total).quantiles()
        if q is None:
            low, mid, high = simulated
            return (max(won, mid - FALLBACK_WIDENING * (mid - low)), mid, mid + FALLBACK_WIDENING * (high - mid))
        floor = max(won, 0.0)
        p10, p50, p90 = (max(floor, expected + uncertain * e) for e in q)
        return p10, max(p10, p50), max(p10, p50, p90)

    def to_dict(self) -> dict:
        q = self.total.quantiles()
        return {"method": "rolling-origin" if q is not None else "simulation, widened",
                "note": self.note, "capacity_weight": self.weight,
                "wape_by_weight": {str(w): round(float(v), 4) for w, v in self.wape_by_weight.items()},
                "error_quantiles": None if q is None else [round(float(v), 4) for v in q],
                "group_errors": self.groups.n, "analogs": self.analogs}


def analog_windows(as_of: date, period: Period, first_close: date | None) -> list[tuple[date, Period]]:
    """(origin, window): the period shifted back k months, seen k months before as_of, for windows ended by then."""
    found = []
    if first_close is None:
        return found
    for k in range(1, 61):
        origin = add_months(as_of, -k)
        if origin < first_close + timedelta(days=WARMUP_DAYS):
            break
        window = Period(f"{period.label} shifted {k} month(s) back", add_months(period.start, -k),
                        add_months(period.end, -k))
        if window.end > as_of:
            continue
        found.append((origin, window))
        if len(found) == MAX_ANALOGS:
            break
    return found


def _won_by_key(deals: DealsAsOf, people: dict[str, Owner], window: Period, by: str) -> dict[str, float]:
    """Won revenue inside the window per group key, as the deals show it."""
    from scoring.forecast.revenue import group_keys

    keys, _, index = group_keys(deals, people, by)
    start, end = window.start.toordinal(), window.end.toordinal()
    won = deals.won & (deals.closed >= start) & (deals.closed < end)
    totals = np.bincount(index[won], weights=deals.amount[won], minlength=len(keys))
    return {key: float(total) for key, total in zip(keys, totals)}


def calibrate(session: Session, organization_id: int, deals: DealsAsOf, people: dict[str, Owner], period: Period,
              by: str = "org") -> Calibration:
    """Replay the forecast on the analog windows of (deals.as_of, period) and fix the weight and ranges."""
    from scoring.forecast.revenue import WhatIf, components, history_of
    from scoring.forecast.timing import fit_timing

    recorded = deals.closed[deals.closed >= 0]
    first_close = date.fromordinal(int(recorded.min())) if len(recorded) else None
    replays = []
    for origin, window in analog_windows(deals.as_of, period, first_close):
        past = load_deals(session, organization_id, origin)
        model = fit_timing(history_of(past), origin.toordinal())
        parts = {w: components(past, people, model, window, by, WhatIf(), w) for w in WEIGHTS}
        replays.append((origin, window, parts, _won_by_key(deals, people, window, by)))
    if len(replays) < MIN_ANALOGS:
        return Calibration(CAPACITY_WEIGHT, [_row(o, w, p[CAPACITY_WEIGHT], a) for o, w, p, a in replays],
                           total=ErrorModel([]), groups=ErrorModel([]))
    actual_total = sum(sum(actual.values()) for *_, actual in replays)
    wape = {w: sum(abs(parts[w].expected.sum() - sum(actual.values())) for _, _, parts, actual in replays)
            / max(actual_total, 1.0) for w in WEIGHTS}
    weight = min(WEIGHTS, key=lambda w: (round(wape[w], 6), abs(w - CAPACITY_WEIGHT)))
    totals, groups = [], []
    for _, _, parts, actual in replays:
        chosen = parts[weight]
        if chosen.uncertain.sum() > 0:
            totals.append((sum(actual.values()) - chosen.expected.sum()) / chosen.uncertain.sum())
        if by != "org":
            for g, key in enumerate(chosen.keys):
                if chosen.uncertain[g] > 0:
                    groups.append((actual.get(key, 0.0) - chosen.expected[g]) / chosen.uncertain[g])
    return Calibration(weight, [_row(o, w, p[weight], a) for o, w, p, a in replays], wape,
                       ErrorModel(totals), ErrorModel(groups))


def _row(origin: date, window: Period, parts, actual: dict[str, float]) -> dict:
    """One analog as the forecast's JSON shows it."""
    return {"as_of": origin.isoformat(), "from": window.start.isoformat(), "to": window.end.isoformat(),
            "forecast": round(float(parts.expected.sum()), 2), "uncertain": round(float(parts.uncertain.sum()), 2),
            "actual": round(sum(actual.values()), 2)}
