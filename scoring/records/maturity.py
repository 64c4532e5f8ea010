"""Mature labels: a record is learnt from, and tested on, only once it has had time to reach its outcome.

The outcome window is the data's own: the time within which 95% of the records that reached the
positive outcome did so (lead created → converted, deal created → closed), rounded up to a
whole week and kept between 14 and 365 days. A record created at least one window ago is
mature: its label is whether it reached the outcome within the window. Younger records are
scored but neither learnt from nor tested on, so the newest records, which have not had time to
convert, never count as failures.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

WINDOW_QUANTILE = 0.95
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 14, 365
# Fewer outcomes than this cannot measure a 95th percentile: the default window stands in.
MIN_OUTCOMES = 20
DEFAULT_WINDOW_DAYS = {"lead": 90, "opportunity": 120}


@dataclass(frozen=True)
class Window:
    """How long a record needs to reach its outcome, and how that was measured."""

    days: int
    measured_on: int
    quantile: float
    measured: bool
    what: str  # "converted" | "closed"

    def sentence(self) -> str:
        """The window in words, as the model card states it."""
        if not self.measured:
            return (f"{self.days} days (the default: fewer than {MIN_OUTCOMES} records have {self.what} "
                    "to measure it on); records younger than that are scored but not learnt from")
        return (f"{self.days} days: {self.quantile:.0%} of the {self.measured_on} records that {self.what} "
                f"did so within it; records younger than that are scored but not learnt from")

    def to_dict(self) -> dict:
        return {**asdict(self), "sentence": self.sentence()}


def outcome_window(durations_days, target: str, what: str) -> Window:
    """The window from the observed times to outcome (days; negative or missing ones are ignored)."""
    durations = np.asarray(durations_days, dtype=float)
    durations = durations[np.isfinite(durations) & (durations >= 0)]
    if len(durations) < MIN_OUTCOMES:
        return Window(DEFAULT_WINDOW_DAYS[target], int(len(durations)), WINDOW_QUANTILE, False, what)
    days = float(np.quantile(durations, WINDOW_QUANTILE))
    weeks = max(1, math.ceil(days / 7))
    return Window(int(min(max(7 * weeks, MIN_WINDOW_DAYS), MAX_WINDOW_DAYS)), int(len(durations)),
                  WINDOW_QUANTILE, True, what)
