"""The leakage guard: find columns that are filled after the outcome or that give it away.

Used by production training and by the CSV evaluator alike. Nothing here knows a column's name;
each test looks only at how a column's values relate to the outcome:

- presence: the column is filled (or empty) almost only for one class, as a won date or a
  converted date is;
- separation: the column alone ranks the classes almost perfectly (single-column ROC AUC at
  least ``AUC_LIMIT``), including a numeric that is 0 for one class and non-zero for the other
  (lost deals with an amount of 0);
- a category value that occurs only in one class and covers much of it (a lead status
  "Closed - Converted").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from scoring.tabular import category_labels, to_number, smoothed_rates, to_bool, to_days

AUC_LIMIT = 0.95
PURITY = 0.99          # share of one class among the records with the pattern
MIN_RECORDS = 10       # the pattern must be seen this often to count
# …and be this unlikely to be so pure by chance at the class's overall rate (rate ** records),
# so that a few inactive records that all lost are a signal, not a leak.
CHANCE = 1e-9
MIN_COVERAGE = 0.3     # a pure category value must cover this share of its class


def _separation(values: np.ndarray, y: np.ndarray) -> float:
    """Direction-free ROC AUC of one numeric column against the outcome."""
    if len(np.unique(values)) < 2:
        return 0.5
    auc = roc_auc_score(y, values)
    return max(auc, 1.0 - auc)


def _purity(mask: np.ndarray, y: np.ndarray) -> tuple[int, float] | None:
    """(class, share) when the masked records are (nearly) all one class that is not itself nearly all records."""
    n = int(mask.sum())
    if n < MIN_RECORDS:
        return None
    share_positive = float(y[mask].mean())
    for cls, share in ((1, share_positive), (0, 1.0 - share_positive)):
        overall = float((y == cls).mean())
        if share >= PURITY and overall < 0.9 and n * np.log(max(overall, 1e-12)) <= np.log(CHANCE):
            return cls, share
    return None


def _numeric_values(series: pd.Series, kind: str) -> pd.Series:
    """A numeric, date or yes/no column as numbers."""
    if kind == "date":
        return to_days(series)
    if kind == "boolean":
        return series.astype(float) if pd.api.types.is_bool_dtype(series) else to_bool(series)
    return to_number(series)


def _cross_fitted_rates(labels: pd.Series, y: np.ndarray) -> np.ndarray:
    """Each record's category rate learnt without that record, so unique values cannot look predictive."""
    prior = float(y.mean())
    rate = np.full(len(y), prior)
    for fit_idx, out_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        rates = smoothed_rates(labels.iloc[fit_idx], y[fit_idx], prior)
        rate[out_idx] = labels.iloc[out_idx].map(rates).fillna(prior).to_numpy(dtype=float)
    return rate


def column_leak(series: pd.Series, kind: str, y: np.ndarray, names: tuple[str, str]) -> str | None:
    """Why this column leaks the outcome, or None."""
    present = series.astype("string").str.strip().fillna("").ne("").to_numpy(dtype=bool)
    for mask, word in ((present, "filled"), (~present, "empty")):
        found = _purity(mask, y) if 0 < mask.sum() < len(y) else None
        if found:
            return (f"{word} only for {names[found[0]]} records ({found[1]:.0%} of the {int(mask.sum())} "
                    f"records where it is {word}): recorded after the outcome")
    if kind == "identifier":
        return None
    if kind in ("numeric", "date", "boolean"):
        values = _numeric_values(series, kind)
        filled = values.fillna(values.median() if values.notna().any() else 0.0).to_numpy(dtype=float)
        zero = (filled == 0)
        if 0 < zero.sum() < len(zero) and _separation(zero.astype(float), y) >= AUC_LIMIT:
            cls = int(round(y[zero].mean()))
            return (f"is 0 for almost exactly the {names[cls]} records "
                    f"(AUC {_separation(zero.astype(float), y):.2f}): it encodes the result")
        auc = _separation(filled, y)
        if auc >= AUC_LIMIT:
            return f"alone separates {names[1]} from {names[0]} records (single-column AUC {auc:.2f})"
        return None
    if kind in ("categorical", "high_cardinality"):
        labels = category_labels(series)
        counts = labels.value_counts()
        for value in counts[counts >= MIN_RECORDS].index:
            mask = (labels == value).to_numpy()
            found = _purity(mask, y)
            if found and mask.sum() >= MIN_COVERAGE * (y == found[0]).sum():
                return (f"the value {value!r} occurs only in {names[found[0]]} records "
                        f"({int(mask.sum())} of them): it encodes the result")
        if np.bincount(y, minlength=2).min() >= 5:
            auc = _separation(_cross_fitted_rates(labels, y), y)
            if auc >= AUC_LIMIT:
                return f"its values alone separate {names[1]} from {names[0]} records (AUC {auc:.2f})"
    return None


def find_leaks(frame: pd.DataFrame, y, kinds: dict[str, str],
               names: tuple[str, str] = ("negative", "positive")) -> dict[str, str]:
    """Column → reason for every column of the frame that leaks the outcome."""
    y = np.asarray(y, dtype=int)
    leaks = {}
    for column, kind in kinds.items():
        if kind == "empty" or column not in frame:
            continue
        reason = column_leak(frame[column], kind, y, names)
        if reason:
            leaks[column] = reason
    return leaks
