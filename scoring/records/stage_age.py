"""The deals' fallback: the win rate of past deals in the same stage at the same age.

When no trained deal model beats the base rate, a rep still sees an honest number: how often
deals that were in this stage at this age went on to be won. Rates are shrunk towards the
stage's rate, and the stage's towards the organization's, so a thin cell says little. In
log-odds the stage's rate is the stage's contribution and the age band's adjustment is exposure
(folded into the base, never shown as a reason), so the explanation is exact by construction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.records.explain import stage_words

AGE_BANDS = (0, 15, 30, 60, 90, 180)
SHRINK = 20.0  # pseudo-deals pulling a cell towards its parent's rate


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def age_band(days) -> np.ndarray:
    """Index of each age's band (AGE_BANDS are the left edges; missing ages fall in the first)."""
    values = np.nan_to_num(np.asarray(days, dtype=float), nan=0.0)
    return np.searchsorted(AGE_BANDS, values, side="right") - 1


def band_label(index: int) -> str:
    """"30–60 days old", "over 180 days old"."""
    low = AGE_BANDS[index]
    if index + 1 < len(AGE_BANDS):
        return f"{low}–{AGE_BANDS[index + 1]} days old"
    return f"over {low} days old"


class StageAgeRate:
    """Win rate by (stage, age band), shrunk towards the stage's and then the organization's rate."""

    kind = "stage_age_rate"
    fallback = True

    def __init__(self, frame: pd.DataFrame, labels: np.ndarray, weights: np.ndarray | None = None):
        y = np.asarray(labels, dtype=float)
        # Weights (the open time each record stands for) are rescaled to sum to the record count,
        # so SHRINK keeps meaning pseudo-deals.
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
        w = w * (len(y) / w.sum()) if len(y) and w.sum() > 0 else w
        self.base_rate = float(((w * y).sum() + 1.0) / (w.sum() + 2.0)) if len(y) else 0.3
        self.base = float(_logit(self.base_rate))
        self.excluded: dict[str, str] = {}
        stages = frame["stage"].fillna("(none)").to_numpy()
        bands = age_band(frame["age_days"])
        table = pd.DataFrame({"stage": stages, "band": bands, "y": w * y, "w": w})
        by_stage = table.groupby("stage")[["y", "w"]].sum().rename(columns={"y": "sum", "w": "count"})
        self.stage_rate = ((by_stage["sum"] + SHRINK * self.base_rate)
                           / (by_stage["count"] + SHRINK)).to_dict()
        cells = table.groupby(["stage", "band"])[["y", "w"]].sum().rename(columns={"y": "sum", "w": "count"})
        self.cell_rate = {key: float((row["sum"] + SHRINK * self.stage_rate[key[0]]) / (row["count"] + SHRINK))
                          for key, row in cells.iterrows()}

    def rates(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each deal's stage rate and (stage, age) rate."""
        stages = frame["stage"].fillna("(none)").to_numpy()
        bands = age_band(frame["age_days"])
        stage = np.array([self.stage_rate.get(s, self.base_rate) for s in stages])
        cell = np.array([self.cell_rate.get((s, int(b)), r) for s, b, r in zip(stages, bands, stage)])
        return stage, cell

    def contributions(self, frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
        """Base, the stage's points and the age band's (exposure) points, in log-odds."""
        stage, cell = self.rates(frame)
        return self.base, pd.DataFrame({"stage": _logit(stage) - self.base, "age_days": _logit(cell) - _logit(stage)},
                                       index=frame.index)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The (stage, age band) win rate."""
        return self.rates(frame)[1]

    def note(self, row: pd.Series) -> str:
        """What the rep is shown instead of a model's reasons."""
        stage = row.get("stage")
        key = stage if isinstance(stage, str) and stage else "(none)"
        index = int(age_band([row.get("age_days")])[0])
        rate = self.cell_rate.get((key, index), self.stage_rate.get(key, self.base_rate))
        where = f"in {stage_words(row)}" if key != "(none)" else "without a stage"
        return (f"Past deals {where} at {band_label(index)} were won {rate:.0%} of the time. Pipewise shows this rate "
                "because its deal model does not yet beat the base rate on recent deals.")
