"""The leakage guard's value tests: how a column's own values relate to the outcome.

Nothing here knows a column's name. Each test returns a reason sentence, or None:

- presence: filled (or empty) almost only for one class, as a won date or a converted date is;
- purity: category values that occur almost only with one outcome and cover a material share of
  the records, named by value ("'Closed by Anna' (99% converted, 358 records)");
- screening: the column alone ranks the classes implausibly well for a leading indicator
  (cross-validated single-column AUC of at least ``SCREEN_AUC``), read three ways: its order,
  its value bands, and its exact values (an amount rewritten at the close is a set of exact values).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from scoring.records.tabular import category_labels, per_value, smoothed_rates, to_bool, to_days, to_number

SCREEN_AUC = 0.90
PRESENCE_PURITY = 0.99   # share of one class among the records where the column is filled (or empty)
VALUE_PURITY = 0.95      # share of one class among the records carrying a category value
VALUE_ODDS = 20.0        # …and how much the value's odds of that class exceed the rest's
MIN_RECORDS = 10         # a pattern must be seen this often to count
MIN_SHARE = 0.01         # a pure value must cover this share of all records
# A pure pattern must be this unlikely by chance at the class's overall rate (rate ** records), so
# that a few inactive records that all lost are a signal, not a leak.
CHANCE = 1e-9
BANDS = 20
NAMED_VALUES = 3


def direction_free_auc(scores: np.ndarray, y: np.ndarray, strata: np.ndarray | None = None) -> float:
    """ROC AUC of scores against the outcome, whichever way round they point.

    With strata (bands of exposure, say) it compares records only within the same stratum: the
    pair-weighted mean of the strata's AUCs, so a column that merely restates a record's age
    does not look telling.
    """
    if strata is None:
        strata = np.zeros(len(y), dtype=int)
    total, pairs = 0.0, 0.0
    for stratum in np.unique(strata):
        inside = strata == stratum
        ys, ss = y[inside], scores[inside]
        n_pairs = float((ys == 1).sum()) * float((ys == 0).sum())
        if n_pairs == 0:
            continue
        auc = roc_auc_score(ys, ss) if len(np.unique(ss)) > 1 else 0.5
        total, pairs = total + auc * n_pairs, pairs + n_pairs
    if pairs == 0:
        return 0.5
    auc = total / pairs
    return float(max(auc, 1.0 - auc))


def exposure_strata(values: pd.Series | None, bands: int = 5) -> np.ndarray | None:
    """Equal-count bands of an exposure column (None when there is none)."""
    if values is None:
        return None
    numbers = pd.to_numeric(values, errors="coerce").reset_index(drop=True)
    ranked = numbers.rank(method="first", na_option="bottom").to_numpy()
    return np.minimum((bands * (ranked - 1) / max(len(ranked), 1)).astype(int), bands - 1)


def cross_fitted_rates(labels: pd.Series, y: np.ndarray) -> np.ndarray:
    """Each record's label rate learnt without that record, so unique values cannot look predictive."""
    prior = float(y.mean())
    rate = np.full(len(y), prior)
    if np.bincount(y, minlength=2).min() < 5:
        return rate
    labels = labels.reset_index(drop=True)
    for fit_idx, out_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        rates = smoothed_rates(labels.iloc[fit_idx], y[fit_idx], prior)
        rate[out_idx] = labels.iloc[out_idx].map(rates).fillna(prior).to_numpy(dtype=float)
    return rate


def numeric_values(series: pd.Series, kind: str) -> pd.Series:
    """A numeric, date or yes/no column as numbers (missing stays missing)."""
    if kind == "date":
        return to_days(series)
    if kind == "boolean":
        return series.astype(float) if pd.api.types.is_bool_dtype(series) else to_bool(series)
    return to_number(series)


def is_filled(series: pd.Series) -> np.ndarray:
    """Where the column holds a value."""
    return per_value(series, lambda values: values.astype("string").str.strip().fillna("").ne("")).astype(bool)


def _pure(mask: np.ndarray, y: np.ndarray, purity: float) -> tuple[int, float] | None:
    """(class, share) when the masked records are (nearly) all one class that is not itself nearly all records."""
    n = int(mask.sum())
    if n < MIN_RECORDS:
        return None
    share_positive = float(y[mask].mean())
    for cls, share in ((1, share_positive), (0, 1.0 - share_positive)):
        overall = float((y == cls).mean())
        if share >= purity and overall < 0.9 and n * np.log(max(overall, 1e-12)) <= np.log(CHANCE):
            return cls, share
    return None


def presence_leak(series: pd.Series, y: np.ndarray, names: tuple[str, str]) -> str | None:
    """Filled (or empty) almost only for one class."""
    present = is_filled(series)
    for mask, word in ((present, "filled"), (~present, "empty")):
        found = _pure(mask, y, PRESENCE_PURITY) if 0 < mask.sum() < len(y) else None
        if found:
            return (f"{word} only for {names[found[0]]} records ({found[1]:.0%} of the {int(mask.sum())} "
                    f"records where it is {word}): recorded after the outcome")
    return None


def pure_values(labels: pd.Series, y: np.ndarray) -> list[tuple[str, int, float, int]]:
    """Category values telling the outcome: (value, class, share of that class, records), most records first."""
    counts = labels.value_counts()
    floor = max(MIN_RECORDS, int(np.ceil(MIN_SHARE * len(y))))
    found = []
    for value in counts[counts >= floor].index:
        mask = (labels == value).to_numpy()
        pure = _pure(mask, y, VALUE_PURITY)
        if pure is None:
            continue
        cls, share = pure
        rest = y[~mask] == cls
        # Smoothed odds, so a rest with no record of the class does not divide by zero.
        inside = (share * mask.sum() + 0.5) / ((1 - share) * mask.sum() + 0.5)
        outside = (rest.sum() + 0.5) / ((~rest).sum() + 0.5)
        if inside / outside >= VALUE_ODDS:
            found.append((str(value), cls, share, int(mask.sum())))
    return found


def purity_leak(series: pd.Series, y: np.ndarray, names: tuple[str, str]) -> str | None:
    """Category values that name the outcome, named in the reason."""
    found = pure_values(category_labels(series), y)
    if not found:
        return None
    listed = ", ".join(f"{value!r} ({share:.0%} {names[cls]}, {n} records)"
                       for value, cls, share, n in found[:NAMED_VALUES])
    more = f" and {len(found) - NAMED_VALUES} more" if len(found) > NAMED_VALUES else ""
    return f"its values name the outcome: {listed}{more}"


def _band_labels(values: pd.Series) -> pd.Series:
    """Values cut into equal-count bands (missing its own band)."""
    present = values.dropna()
    if present.nunique() <= BANDS:
        labels = values.astype(object)
    else:
        edges = np.unique(np.quantile(present, np.linspace(0, 1, BANDS + 1)))
        labels = pd.Series(np.searchsorted(edges, values, side="right"), index=values.index).astype(object)
    return labels.where(values.notna(), "(missing)")


def _exact_labels(values: pd.Series) -> pd.Series | None:
    """Exact values as labels, when most records share their value with others (else None)."""
    present = values.dropna()
    if present.empty or present.nunique() <= BANDS:
        return None  # the bands already are the exact values
    shared = present.map(present.value_counts()) >= 5
    if shared.mean() < 0.3:
        return None
    return values.astype(object).where(values.notna(), "(missing)")


def single_auc(series: pd.Series, kind: str, y: np.ndarray, strata: np.ndarray | None = None) -> tuple[float, str]:
    """The column's own cross-validated AUC (within strata when given), and how it was read."""
    if kind in ("numeric", "date", "boolean"):
        values = numeric_values(series, kind).reset_index(drop=True)
        filled = values.fillna(values.median() if values.notna().any() else 0.0).to_numpy(dtype=float)
        readings = [(direction_free_auc(filled, y, strata), "order")]
        readings.append((direction_free_auc(cross_fitted_rates(_band_labels(values), y), y, strata), "value bands"))
        exact = _exact_labels(values)
        if exact is not None:
            readings.append((direction_free_auc(cross_fitted_rates(exact, y), y, strata), "exact values"))
        return max(readings)
    if kind in ("categorical", "high_cardinality", "text"):
        labels = category_labels(series).reset_index(drop=True)
        return direction_free_auc(cross_fitted_rates(labels, y), y, strata), "values"
    return 0.5, "none"


def screening_leak(series: pd.Series, kind: str, y: np.ndarray, names: tuple[str, str],
                   auc: tuple[float, str] | None = None) -> str | None:
    """The column alone separates the classes too well for something known before the outcome."""
    auc, reading = auc or single_auc(series, kind, y)
    if auc < SCREEN_AUC:
        return None
    if kind in ("numeric", "date", "boolean"):
        values = numeric_values(series, kind).fillna(0.0).to_numpy(dtype=float)
        zero = values == 0
        if 0 < zero.sum() < len(zero) and direction_free_auc(zero.astype(float), y) >= SCREEN_AUC:
            cls = int(round(y[zero].mean()))
            return (f"is 0 for almost exactly the {names[cls]} records "
                    f"(AUC {direction_free_auc(zero.astype(float), y):.2f}): it encodes the result")
    how = {"order": "its values", "value bands": "its value bands", "exact values": "its exact values",
           "values": "its values"}[reading]
    return (f"{how} alone separate {names[1]} from {names[0]} records (cross-validated AUC {auc:.2f}), "
            "implausibly well for something known before the outcome")
