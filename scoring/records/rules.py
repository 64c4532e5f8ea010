"""The transparent fallback when an organization's history is too small to train on.

A points table in log-odds: the base is the organization's (smoothed) rate, and each rule adds or
removes points. The points are the contributions, so the explanation is exact by construction.
Deals: stage progress and engagement; leads: source and engagement.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Rates assumed before any outcome is known, and how many pseudo-records they weigh.
PRIOR_RATE = {"lead": 0.1, "opportunity": 0.3}
PRIOR_WEIGHT = 20.0
SOURCE_POINTS_LIMIT = 1.0
STAGE_POINTS_SPAN = 1.2  # first open stage −0.6 … last open stage +0.6


def _logit(p: float) -> float:
    """Log-odds of a probability kept away from 0 and 1."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _flag(values: pd.Series, condition) -> np.ndarray:
    """1.0 where the condition holds, else 0.0."""
    return condition(values.astype(float)).to_numpy(dtype=float)


class RulesModel:
    """Stage and engagement rules for deals, source and engagement rules for leads."""

    kind = "rules"
    fallback = True
    platt_a, platt_b = 1.0, 0.0

    def __init__(self, target: str, labels: np.ndarray | None = None, frame: pd.DataFrame | None = None,
                 stage_ranks: dict[str, float] | None = None):
        labels = np.asarray(labels if labels is not None else [], dtype=float)
        prior = PRIOR_RATE[target]
        self.target = target
        self.base_rate = float((labels.sum() + PRIOR_WEIGHT * prior) / (len(labels) + PRIOR_WEIGHT))
        self.base = _logit(self.base_rate)
        self.excluded: dict[str, str] = {}
        self.source_points: dict[str, float] = {}
        self.stage_points: dict[str, float] = {}
        if target == "lead" and frame is not None and len(labels):
            rates = pd.DataFrame({"source": frame["lead_source"].fillna("(missing)").to_numpy(), "y": labels})
            stats = rates.groupby("source")["y"].agg(["sum", "count"])
            smoothed = (stats["sum"] + PRIOR_WEIGHT * self.base_rate) / (stats["count"] + PRIOR_WEIGHT)
            limit = SOURCE_POINTS_LIMIT
            self.source_points = {source: float(np.clip(_logit(rate) - self.base, -limit, limit))
                                  for source, rate in smoothed.items()}
        if target == "opportunity" and stage_ranks:
            top = max(stage_ranks.values()) or 1.0
            self.stage_points = {s: STAGE_POINTS_SPAN * (r / top - 0.5) for s, r in stage_ranks.items()}

    def contributions(self, frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
        """Base and each rule's points, one column per feature the rule reads."""
        silent = frame["days_since_activity"].isna() | (frame["days_since_activity"] >= 30)
        points = {"days_since_activity": np.where(silent, -0.6 if self.target == "opportunity" else -0.5, 0.0)}
        if self.target == "opportunity":
            points["stage"] = frame["stage"].map(self.stage_points).fillna(0.0).to_numpy(dtype=float)
            points["activities_14d"] = 0.4 * _flag(frame["activities_14d"], lambda v: v >= 1)
            pushes = frame["close_date_pushes"].fillna(0).to_numpy(float)
            points["close_date_pushes"] = -0.25 * np.minimum(pushes, 3)
            points["stage_moves_back"] = -0.3 * _flag(frame["stage_moves_back"], lambda v: v >= 1)
            points["days_in_stage"] = -0.4 * _flag(frame["days_in_stage"], lambda v: v >= 90)
        else:
            source = frame["lead_source"].fillna("(missing)")
            points["lead_source"] = source.map(self.source_points).fillna(0.0).to_numpy(dtype=float)
            points["meetings_30d"] = 0.5 * _flag(frame["meetings_30d"], lambda v: v >= 1)
            points["sales_touches_total"] = 0.3 * _flag(frame["sales_touches_total"], lambda v: v >= 1)
            points["campaign_responses"] = 0.4 * _flag(frame["campaign_responses"], lambda v: v >= 1)
            points["marketing_touches_30d"] = 0.3 * _flag(frame["marketing_touches_30d"], lambda v: v >= 3)
            points["has_company"] = 0.2 * frame["has_company"].astype(float).to_numpy()
        return self.base, pd.DataFrame(points, index=frame.index)

    def scaled_contributions(self, frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
        """The rules' points on the calibrated scale (Platt: a·log-odds + b), still exact."""
        base, points = self.contributions(frame)
        return self.platt_a * base + self.platt_b, points * self.platt_a

    def calibrate(self, frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None) -> "RulesModel":
        """Fit a, b so the points' probabilities match these outcomes (kept when both classes occur)."""
        from scoring.records.models import fit_platt

        y = np.asarray(labels, dtype=int)
        if len(np.unique(y)) == 2:
            base, points = self.contributions(frame)
            a, b = fit_platt(base + points.sum(axis=1).to_numpy(), y, weights)
            if a > 0:  # the rules' direction stands; only their scale and level are learnt
                self.platt_a, self.platt_b = a, b
        return self

    def log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        """Base plus the points of every rule (calibrated when calibrate was called)."""
        base, points = self.scaled_contributions(frame)
        return base + points.sum(axis=1).to_numpy()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability the points stand for."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(frame)))
