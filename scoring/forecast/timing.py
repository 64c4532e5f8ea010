"""When open deals close: an empirical daily hazard model by deal age, quarter position and stage.

A deal's chance to be won inside a window depends as much on timing as on winning. The model
counts, over the organization's recent history, how many deals of each age were at risk on each
day and how many of them were won or lost that day; the ratio is a daily hazard. Days are also
split by their month's position in the quarter (first, second, third month), because B2B deals
bunch up at quarter ends. Sparse cells are shrunk towards the pooled estimate for the same age.
Deals created in the same month (a vintage) share a multiplier, fitted jointly with the hazards:
a month that filled the pipeline with deals that then stall closes less at every later age.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

# Deal age in days at the left edge of each bin; the last bin is open-ended.
AGE_EDGES = np.array([0, 8, 16, 31, 46, 61, 76, 91, 106, 121, 141, 181, 271])
# Pseudo exposure-days pulling a sparse (age, quarter-month) cell towards its age's pooled rate.
SHRINK_DAYS = 30.0
# Pseudo events pulling a creation month's (vintage's) multiplier towards 1: kept small, because
# a month that brought in many deals that then stalled is the strongest signal there is.
COHORT_SHRINK_EVENTS = 1.0
# Stage multipliers are shrunk towards 1 with this many pseudo closed deals.
STAGE_SHRINK_DEALS = 20.0


def age_bin(age: np.ndarray) -> np.ndarray:
    """Index of the age bin of each age (days)."""
    return np.clip(np.searchsorted(AGE_EDGES, age, side="right") - 1, 0, len(AGE_EDGES) - 1)


def quarter_month(day: int) -> int:
    """0, 1 or 2: the position of the day's month inside its calendar quarter."""
    return (date.fromordinal(day).month - 1) % 3


def quarter_months(first: int, last: int) -> np.ndarray:
    """Quarter-month position of every day in [first, last)."""
    return np.array([quarter_month(day) for day in range(first, last)], dtype=int)


@dataclass
class DealHistory:
    """The deals known at the as-of date, as day ordinals (closed = -1 while open as of that date)."""

    created: np.ndarray
    closed: np.ndarray
    won: np.ndarray
    stage_reached: list[set[str]] = field(default_factory=list)


@dataclass
class TimingModel:
    """Daily win and loss hazards per (age bin, quarter-month), plus per-stage win multipliers."""

    win: np.ndarray
    loss: np.ndarray
    stage_multiplier: dict[str, float]
    window: tuple[int, int]
    events: int
    cohorts: dict[int, float] = field(default_factory=dict)
    loss_cohorts: dict[int, float] = field(default_factory=dict)

    def vintage(self, created: np.ndarray, losses: bool = False) -> np.ndarray:
        """Each deal's creation-month multiplier on its win (or loss) hazard; 1 for new months."""
        table = self.loss_cohorts if losses else self.cohorts
        return np.array([table.get(month, 1.0) for month in cohort_of(created)]) if len(created) else np.ones(0)

    def multiplier(self, stage: str | None) -> float:
        """The win-hazard multiplier for a deal currently in this stage."""
        return self.stage_multiplier.get(stage or "", 1.0)

    def win_within(self, ages: np.ndarray, start: int, first: int, last: int,
                   multipliers: np.ndarray | None = None, win_scale: float = 1.0,
                   delay: np.ndarray | None = None,
                   loss_multipliers: np.ndarray | None = None) -> np.ndarray:
        """Probability that each deal, open on day `start` at the given age, is won in [first, last).

        `delay` holds, per deal, days during which it cannot close (slipped close dates).
        """
        ages = np.asarray(ages, dtype=float)
        n = len(ages)
        mult = np.ones(n) if multipliers is None else np.asarray(multipliers, dtype=float)
        loss_mult = np.ones(n) if loss_multipliers is None else np.asarray(loss_multipliers, dtype=float)
        delay = np.zeros(n) if delay is None else np.asarray(delay, dtype=float)
        alive = np.ones(n)
        won = np.zeros(n)
        positions = quarter_months(start, last) if last > start else np.zeros(0, dtype=int)
        for offset, position in enumerate(positions):
            day = start + offset
            active = offset >= delay
            bins = age_bin(ages + offset)
            h_win = np.minimum(self.win[bins, position] * mult * win_scale, 0.95) * active
            h_loss = np.minimum(self.loss[bins, position] * loss_mult, 0.95 - h_win) * active
            if day >= first:
                won += alive * h_win
            alive *= 1.0 - h_win - h_loss
        return won


def cohort_of(day: np.ndarray | int) -> np.ndarray:
    """Creation month of each day ordinal, as a month count (year × 12 + month)."""
    days = np.atleast_1d(np.asarray(day, dtype=int))
    months = {value: date.fromordinal(int(value)) for value in np.unique(days)}
    return np.array([months[value].year * 12 + months[value].month for value in days], dtype=int)


def fit_timing(history: DealHistory, as_of: int, window_days: int = 365) -> TimingModel:
    """Estimate the hazards from deals at risk in the window before as_of (exclusive)."""
    created, closed, won = history.created, history.closed, history.won
    recorded = closed[closed >= 0]
    # Before the first recorded close, closes were not being recorded (an import, a new CRM):
    # counting that time as exposure would make every deal look slow.
    first_close = int(recorded.min()) if len(recorded) else as_of
    window_start = max(as_of - window_days, first_close)
    cohorts, cohort_index = np.unique(cohort_of(created), return_inverse=True) if len(created) else (
        np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    shape = (len(AGE_EDGES), 3, max(len(cohorts), 1))
    exposure, win_events, loss_events = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    end = np.where(closed >= 0, closed, as_of)
    for day in range(window_start, as_of):
        position = quarter_month(day)
        at_risk = (created <= day) & (end >= day)
        if not at_risk.any():
            continue
        np.add.at(exposure, (age_bin(day - created[at_risk]), position, cohort_index[at_risk]), 1.0)
        closing = at_risk & (closed == day)
        if closing.any():
            cells = (age_bin(day - created[closing]), np.full(closing.sum(), position),
                     cohort_index[closing])
            target = np.where(won[closing], 0, 1)
            for events, kind in ((win_events, 0), (loss_events, 1)):
                chosen = target == kind
                np.add.at(events, tuple(axis[chosen] for axis in cells), 1.0)
    win, win_cohorts = _backfit(win_events, exposure)
    loss, loss_cohorts = _backfit(loss_events, exposure)
    return TimingModel(win=win, loss=loss, stage_multiplier=_stage_multipliers(history, as_of),
                       window=(window_start, as_of), events=int(win_events.sum() + loss_events.sum()),
                       cohorts=dict(zip(cohorts.tolist(), win_cohorts.tolist())),
                       loss_cohorts=dict(zip(cohorts.tolist(), loss_cohorts.tolist())))


def _backfit(events: np.ndarray, exposure: np.ndarray, rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative fit: rate[age, quarter-month] × vintage[cohort], each shrunk when sparse."""
    vintage = np.ones(events.shape[2])
    for _ in range(rounds):
        weighted = (exposure * vintage).sum(axis=2)
        rate = _shrunk(events.sum(axis=2), weighted)
        expected = (exposure * rate[:, :, None]).sum(axis=(0, 1))
        vintage = (events.sum(axis=(0, 1)) + COHORT_SHRINK_EVENTS) / (expected + COHORT_SHRINK_EVENTS)
    return rate, vintage


def _shrunk(events: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Per-cell rates pulled towards the age bin's rate pooled over quarter-months."""
    overall = events.sum() / max(exposure.sum(), 1.0)
    pooled = (events.sum(axis=1) + SHRINK_DAYS * overall) / (exposure.sum(axis=1) + SHRINK_DAYS)
    return (events + SHRINK_DAYS * pooled[:, None]) / (exposure + SHRINK_DAYS)


def _stage_multipliers(history: DealHistory, as_of: int) -> dict[str, float]:
    """Win rate of closed deals that passed through each stage, relative to all closed deals."""
    closed = (history.closed >= 0) & (history.closed < as_of)
    if not closed.any() or not history.stage_reached:
        return {}
    base = history.won[closed].mean()
    if base <= 0:
        return {}
    return {stage: ((wins + STAGE_SHRINK_DEALS * base) / (total + STAGE_SHRINK_DEALS)) / base
            for stage, (wins, total) in stage_win_tally(history.won, history.stage_reached, closed).items()}


def stage_win_tally(won: np.ndarray, stage_reached: list[set[str]], closed: np.ndarray) -> dict[str, list[float]]:
    """Per stage, of the closed deals that passed through it: [how many were won, how many]."""
    tally: dict[str, list[float]] = {}
    for index in np.flatnonzero(closed):
        for stage in stage_reached[index]:
            counts = tally.setdefault(stage, [0.0, 0.0])
            counts[0] += won[index]
            counts[1] += 1
    return tally
