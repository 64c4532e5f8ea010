"""Seasonal analogs: the same window one quarter earlier, for new deals and closing capacity.

Revenue from deals not yet created (how much business is both opened and won inside the
window) is seasonal: the same window one quarter earlier (and the one before that, when
the history has it) shows how much revenue came from deals created after that window's as-of
day and won before its end. Quarters are the season because quarter-end pushes shape both
creation and closing. Without such history the timing model is used instead: the recent
creation rate times each new deal's chance to be won before the period ends.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from scoring.deals_as_of import DealsAsOf, Period, add_months
from scoring.forecast.timing import TimingModel

ANALOG_QUARTERS = 2
# How far the open pipeline's expected number of wins is pulled towards the number the team won
# from its open pipeline in the analog windows (geometric blend: 0 = timing model alone,
# 1 = analog count alone). Stale deals inflate a pipeline without adding wins, so the count a
# team closed a season ago is a steady anchor; the timing model still decides which deals win.
# The weight used is chosen per forecast from its own past errors (scoring.forecast.calibration);
# this one stands in only when there are none to choose from.
CAPACITY_WEIGHT = 0.5
# Recent history for the creation-rate fallback and the amounts new deals bring.
RECENT_DAYS = 91


@dataclass
class RunRate:
    """Expected number of new deals won per group, the amounts they bring, and how it was found."""

    counts: np.ndarray
    amounts: np.ndarray
    shares: np.ndarray
    source: str

    @property
    def expected(self) -> np.ndarray:
        """Expected revenue per group."""
        return self.counts * (self.amounts.mean() if len(self.amounts) else 0.0)


def analog_windows(deals: DealsAsOf, period: Period):
    """(as_of, first, end) day ordinals of the window shifted back 1, 2, … quarters, ended and on record."""
    today, end = deals.as_of, period.end
    recorded = deals.closed[deals.closed >= 0]
    history_start = int(recorded.min()) if len(recorded) else today.toordinal()
    found = 0
    for quarters in range(1, 9):
        shift = -3 * quarters
        as_of, first, finish = (add_months(day, shift).toordinal()
                                for day in (today, max(period.start, today), end))
        if finish > today.toordinal():
            continue
        if as_of < history_start or found == ANALOG_QUARTERS:
            return
        found += 1
        yield as_of, first, finish


def capacity_factor(deals: DealsAsOf, period: Period, expected_wins: float,
                    weight: float = CAPACITY_WEIGHT) -> tuple[float, str]:
    """Scale for open deals' win chances: analog wins from the open pipeline over expected wins, to the weight."""
    counts, used = [], []
    for as_of, first, finish in analog_windows(deals, period):
        was_open = (deals.created < as_of) & ((deals.closed < 0) | (deals.closed >= as_of))
        counts.append(int((was_open & deals.won & (deals.closed >= first) & (deals.closed < finish)).sum()))
        used.append(date.fromordinal(as_of).isoformat())
    if not counts or expected_wins <= 0 or not np.mean(counts):
        return 1.0, "no analog window on record: timing model alone"
    target = float(np.mean(counts))
    factor = (target / expected_wins) ** weight
    return factor, (f"{expected_wins:.0f} expected wins pulled (weight {weight:g}) towards {target:.0f} won "
                    f"from the open pipeline as of {', '.join(used)}")


def run_rate(deals: DealsAsOf, model: TimingModel, period: Period, deal_group: np.ndarray,
             groups: int, win_rate: float = 1.0) -> RunRate:
    """New-deal wins expected inside the period, per group, from seasonal analogs or the model."""
    today = deals.as_of
    if today >= period.end:
        return RunRate(np.zeros(groups), np.zeros(0), np.full(groups, 1.0 / groups), "period over")
    revenue, amounts, used = np.zeros(groups), [], []
    for as_of, first, finish in analog_windows(deals, period):
        won = deals.won & (deals.created >= as_of) & (deals.closed >= first) & (deals.closed < finish)
        revenue += np.bincount(deal_group[won], weights=deals.amount[won], minlength=groups)
        amounts.append(deals.amount[won])
        used.append(date.fromordinal(as_of).isoformat())
    recent = deals.created >= today.toordinal() - RECENT_DAYS
    shares = np.bincount(deal_group[recent], minlength=groups) + 0.5
    shares = shares / shares.sum()
    pooled = np.concatenate(amounts) if amounts else np.zeros(0)
    if used and len(pooled) and not pooled.any():
        # The analog wins booked no amount (won deals made from converted leads often carry none):
        # they add no revenue, and counting them at some size would invent it.
        return RunRate(np.zeros(groups), pooled, shares,
                       "the same window a quarter earlier won only deals without an amount, as of " + ", ".join(used))
    if used and len(pooled):
        # Counts follow from revenue so each group's expected value is its analog revenue.
        mean_revenue = revenue / len(used)
        return RunRate(mean_revenue / pooled.mean() * win_rate, pooled, shares,
                       "same window a quarter earlier, as of " + ", ".join(used))
    return _from_model(deals, model, period, deal_group, groups, win_rate, shares)


def _from_model(deals: DealsAsOf, model: TimingModel, period: Period, deal_group: np.ndarray,
                groups: int, win_rate: float, shares: np.ndarray) -> RunRate:
    """Recent creation rate × the chance of a deal created on each remaining day to win in time."""
    today, start, end = deals.as_of.toordinal(), period.start.toordinal(), period.end.toordinal()
    per_day = (deals.created >= today - RECENT_DAYS).sum() / RECENT_DAYS
    recently_won = deals.won & (deals.closed >= today - RECENT_DAYS)
    amounts = deals.amount[recently_won] if recently_won.any() else deals.amount[deals.won]
    if per_day == 0 or not len(amounts):
        return RunRate(np.zeros(groups), np.zeros(0), shares, "no recent deals")
    # One deal created on each remaining day: the days before its creation cannot close.
    offsets = np.arange(end - today)
    chances = model.win_within(-offsets.astype(float), today, max(start, today), end,
                               win_scale=win_rate, delay=offsets)
    return RunRate(per_day * chances.sum() * shares, amounts, shares,
                   f"creation rate of the last {RECENT_DAYS} days × timing model")
