"""Generic column typing and encoding for any table of leads or deals.

The same pipeline serves the store's features and a user's CSV: columns are typed from their
values (never from their names), then encoded into numbers a linear model or a tree ensemble can
use. Every encoded column remembers the original column it came from (its group), so that
per-feature contributions can be summed back to what a rep recognizes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import SplineTransformer

# Categoricals with more distinct values than this are target- and frequency-encoded.
ONE_HOT_MAX_VALUES = 30
# Category values seen fewer times than this share one "other" column.
MIN_CATEGORY_COUNT = 5
# Shrinkage of a category's conversion rate toward the overall rate (pseudo-records).
TARGET_SMOOTHING = 20.0
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}
_DATE_LIKE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*$")
EPOCH = pd.Timestamp("1970-01-01")


def _text_values(series: pd.Series) -> pd.Series:
    """Non-missing values as stripped strings."""
    values = series.dropna().astype(str).str.strip()
    return values[values != ""]


def to_bool(series: pd.Series) -> pd.Series:
    """Yes/no, true/false, 1/0 values as 1.0/0.0, anything else missing."""
    words = series.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=series.index, dtype=float)
    out[words.isin(TRUE_WORDS)] = 1.0
    out[words.isin(FALSE_WORDS)] = 0.0
    return out


def to_days(series: pd.Series) -> pd.Series:
    """Dates as days since 1970-01-01 (fractional), missing where unparseable."""
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series
    else:
        stamps = pd.to_datetime(series.astype("string"), errors="coerce", format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    return (stamps - EPOCH).dt.total_seconds() / 86400.0


def infer_kind(series: pd.Series) -> str:
    """A column's kind, from its values alone (numeric, boolean, date, categorical, text, …)."""
    values = _text_values(series)
    if values.empty:
        return "empty"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    lowered = set(values.str.lower().unique())
    if len(lowered) <= 2 and lowered <= (TRUE_WORDS | FALSE_WORDS):
        return "boolean"
    if pd.to_numeric(values, errors="coerce").notna().mean() >= 0.98:
        return "numeric"
    sample = values.head(500)
    if sample.str.match(_DATE_LIKE).mean() >= 0.9 and to_days(values).notna().mean() >= 0.9:
        return "date"
    distinct = values.nunique()
    if distinct <= ONE_HOT_MAX_VALUES:
        return "categorical"
    words = values.head(2000).str.split().str.len().mean()
    if words >= 3:
        return "text"
    if distinct >= 0.95 * len(values) and len(values) >= 50:
        return "identifier"
    return "high_cardinality"


def infer_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """The kind of every column of the frame."""
    return {column: infer_kind(frame[column]) for column in frame.columns}


def to_number(series: pd.Series) -> pd.Series:
    """Values as floats, missing where not a number."""
    return pd.to_numeric(series, errors="coerce").astype(float)


@dataclass
class _Block:
    """The encoded columns of one original column."""

    column: str
    kind: str
    names: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)


class TabularEncoder:
    """Encode typed columns into a numeric matrix, keeping each encoded column's original column."""

    def __init__(self, kinds: dict[str, str], seed: int = 0):
        self.kinds = {c: k for c, k in kinds.items() if k not in ("identifier", "empty")}
        self.seed = seed
        self.blocks: list[_Block] = []
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        """Encoded column names, in matrix order."""
        return [name for block in self.blocks for name in block.names]

    @property
    def groups(self) -> list[str]:
        """The original column of each encoded column."""
        return [block.column for block in self.blocks for _ in block.names]

    def fit_transform(self, frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """Fit on training rows; their target encodings are cross-fitted, so none sees its own label."""
        y = np.asarray(y, dtype=float)
        self.blocks = []
        parts = []
        for column, kind in self.kinds.items():
            block = _Block(column, kind)
            parts.append(getattr(self, f"_fit_{kind}")(block, frame[column], y))
            self.blocks.append(block)
        raw = np.hstack(parts) if parts else np.zeros((len(frame), 0))
        # Standardize so one regularization strength suits every column.
        self.mean_ = raw.mean(axis=0)
        scale = raw.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        return (raw - self.mean_) / self.scale_

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode new rows with what was learnt in fit_transform."""
        parts = []
        for block in self.blocks:
            series = frame[block.column] if block.column in frame else pd.Series(np.nan, index=frame.index)
            parts.append(getattr(self, f"_apply_{block.kind}")(block, series))
        raw = np.hstack(parts) if parts else np.zeros((len(frame), 0))
        return (raw - self.mean_) / self.scale_

    # numeric: value (log-compressed when heavy-tailed), median-imputed, plus a missing indicator.
    # Values beyond the training range are held at its edge: a deal open for 300 days when the
    # longest one learnt from closed after 120 is scored as that one, not extrapolated.
    def _fit_numeric(self, block, series, y):
        values = to_number(series)
        present = values.dropna()
        skewed = bool(len(present) and present.min() >= 0
                      and present.quantile(0.99) > 20 * max(present.median(), 1e-9))
        block.state = {"log": skewed, "median": 0.0, "missing": bool(values.isna().any()),
                       "low": None, "high": None}
        if len(present):
            seen = np.log1p(present) if skewed else present
            block.state.update(median=float(seen.median()), low=float(seen.min()), high=float(seen.max()))
        block.names = [block.column] + ([f"{block.column} (missing)"] if block.state["missing"] else [])
        return self._apply_numeric(block, series)

    def _apply_numeric(self, block, series):
        values = to_number(series)
        if block.state["log"]:
            values = np.log1p(values.clip(lower=0))
        kept = values.clip(lower=block.state["low"], upper=block.state["high"])
        cols = [kept.fillna(block.state["median"]).to_numpy()]
        if block.state["missing"]:
            cols.append(values.isna().to_numpy(dtype=float))
        return np.column_stack(cols)

    def _fit_boolean(self, block, series, y):
        values = series.astype(float) if pd.api.types.is_bool_dtype(series) else to_bool(series)
        block.state = {"missing": bool(values.isna().any())}
        block.names = [block.column] + ([f"{block.column} (missing)"] if block.state["missing"] else [])
        return self._apply_boolean(block, series)

    def _apply_boolean(self, block, series):
        values = series.astype(float) if pd.api.types.is_bool_dtype(series) else to_bool(series)
        cols = [values.fillna(0.0).to_numpy()]
        if block.state["missing"]:
            cols.append(values.isna().to_numpy(dtype=float))
        return np.column_stack(cols)

    # date: the trend (days since epoch) and a smooth curve over time, since rates drift
    def _fit_date(self, block, series, y):
        days = to_days(series)
        present = days.dropna().to_numpy()
        block.state = {"median": float(np.median(present)) if len(present) else 0.0,
                       "missing": bool(days.isna().any()), "spline": None,
                       "low": float(present.min()) if len(present) else None,
                       "high": float(present.max()) if len(present) else None}
        if len(np.unique(present)) >= 20:
            spline = SplineTransformer(n_knots=4, degree=3, knots="quantile", extrapolation="constant")
            block.state["spline"] = spline.fit(present.reshape(-1, 1))
        n_curve = block.state["spline"].n_features_out_ if block.state["spline"] is not None else 0
        block.names = ([block.column] + [f"{block.column} (curve {i + 1})" for i in range(n_curve)]
                       + ([f"{block.column} (missing)"] if block.state["missing"] else []))
        return self._apply_date(block, series)

    def _apply_date(self, block, series):
        days = to_days(series)
        kept = days.clip(lower=block.state["low"], upper=block.state["high"])
        filled = kept.fillna(block.state["median"]).to_numpy()
        cols = [filled.reshape(-1, 1)]
        if block.state["spline"] is not None:
            cols.append(block.state["spline"].transform(filled.reshape(-1, 1)))
        if block.state["missing"]:
            cols.append(days.isna().to_numpy(dtype=float).reshape(-1, 1))
        return np.hstack(cols)

    # categorical: one column per frequent value, rare values pooled, missing its own value
    def _fit_categorical(self, block, series, y):
        labels = category_labels(series)
        counts = labels.value_counts()
        kept = sorted(counts[counts >= MIN_CATEGORY_COUNT].index)
        pooled = bool((counts < MIN_CATEGORY_COUNT).any())
        block.state = {"values": kept, "other": pooled}
        block.names = [f"{block.column}={value}" for value in kept]
        block.names += [f"{block.column}=(other)"] if pooled else []
        return self._apply_categorical(block, series)

    def _apply_categorical(self, block, series):
        labels = category_labels(series)
        kept = block.state["values"]
        cols = [(labels == value).to_numpy(dtype=float) for value in kept]
        if block.state["other"]:
            cols.append((~labels.isin(kept)).to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(series), 0))

    # many values: a smoothed conversion rate per value (cross-fitted on training rows) and its frequency
    def _fit_high_cardinality(self, block, series, y):
        labels = category_labels(series)
        prior = float(y.mean())
        block.state = {"prior": prior, "rates": smoothed_rates(labels, y, prior),
                       "counts": labels.value_counts().to_dict()}
        block.names = [f"{block.column} (rate)", f"{block.column} (frequency)"]
        rate = np.full(len(labels), prior)
        folds = StratifiedKFold(5, shuffle=True, random_state=self.seed)
        if np.bincount(y.astype(int), minlength=2).min() >= 5:
            for fit_idx, out_idx in folds.split(np.zeros(len(y)), y.astype(int)):
                rates = smoothed_rates(labels.iloc[fit_idx], y[fit_idx], prior)
                rate[out_idx] = labels.iloc[out_idx].map(rates).fillna(prior).to_numpy()
        frequency = np.log1p(labels.map(block.state["counts"]).fillna(0).to_numpy(dtype=float))
        return np.column_stack([rate, frequency])

    def _apply_high_cardinality(self, block, series):
        labels = category_labels(series)
        rate = labels.map(block.state["rates"]).fillna(block.state["prior"]).to_numpy(dtype=float)
        frequency = np.log1p(labels.map(block.state["counts"]).fillna(0).to_numpy(dtype=float))
        return np.column_stack([rate, frequency])

    # free text: how much was written
    def _fit_text(self, block, series, y):
        block.names = [f"{block.column} (length)", f"{block.column} (words)"]
        return self._apply_text(block, series)

    def _apply_text(self, block, series):
        text = series.astype("string").fillna("")
        return np.column_stack([np.log1p(text.str.len().to_numpy(dtype=float)),
                                np.log1p(text.str.split().str.len().fillna(0).to_numpy(dtype=float))])


def per_value(series: pd.Series, words) -> np.ndarray:
    """``words`` (a function of a Series) applied once per distinct value and spread back to every record.

    Store columns hold few distinct values among many records; Python objects of mixed kinds
    (where 1 and True would share a value) go through ``words`` whole.
    """
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        return np.asarray(words(series), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    distinct = np.asarray(words(pd.Series(uniques, dtype=series.dtype)), dtype=object)
    missing = series[series.isna()].iloc[:1]  # one of the column's own missing values, when it has any
    return np.append(distinct, np.asarray(words(missing), dtype=object))[codes]


def _labels_of(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text.isna() | (text == ""), "(missing)").astype(object)


def category_labels(series: pd.Series) -> pd.Series:
    """Category labels as strings, missing as its own label."""
    return pd.Series(per_value(series, _labels_of), index=series.index, name=series.name, dtype=object)


def smoothed_rates(labels: pd.Series, y: np.ndarray, prior: float) -> dict:
    """Each value's positive rate shrunk toward the prior by TARGET_SMOOTHING pseudo-records."""
    stats = pd.DataFrame({"label": labels.to_numpy(), "y": y}).groupby("label")["y"].agg(["sum", "count"])
    return ((stats["sum"] + TARGET_SMOOTHING * prior) / (stats["count"] + TARGET_SMOOTHING)).to_dict()
