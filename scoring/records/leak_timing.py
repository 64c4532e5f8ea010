"""The leakage guard's timing tests: fields filled or changed after the outcome, or a person's judgement.

- Against open records: a field known before the outcome looks on records still open the way it
  looked on closed records before they closed. When most records of one class carry values (or a
  fill) that open records never have, while the other class's values are the open records' own,
  the value was written when the outcome came (an amount corrected when a deal is won).
- By name and fill (a CSV, whose columns Pipewise did not build): a column named like a judgement
  ("Lead Quality", "Tags", "Status") or like a record of what happened last ("Last Activity") is
  flagged when its fill or its values track the outcome; a name alone never excludes a column.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scoring.records.leak_screens import is_filled, numeric_values
from scoring.records.tabular import category_labels

MIN_OPEN = 30            # open records needed to compare with
MIN_CLASS = 20           # records of each class needed to compare with
SEEN_HIGH = 0.8          # one class's records carry values seen on open records at least this often…
SEEN_LOW = 0.2           # …and the other class's at most this often
FILL_RATIO = 2.0         # a fill pattern: one class filled this many times as often as the other…
FILL_GAP = 0.15          # …and this many points apart
TRACKS_AUC = 0.70        # a judgement-named column whose values alone reach this AUC tracks the outcome
# A column named like a record of the outcome or of what happened last (a close date, a last
# activity) needs less: such a value is by its name written late.
TRACKS_AUC_AFTERWARDS = 0.60

JUDGEMENT = re.compile(r"quality|rating|rated|grade|tag|status|stage|reason|disposition|outcome|result|"
                       r"priority|temperature|qualif|interest|feedback|comment|note|profile|score|rank|"
                       r"verdict|assessment|likel", re.IGNORECASE)
AFTERWARDS = re.compile(r"(^|[^a-z])(last|latest|final|closed?|won|lost|convert|conversion|churn|cancel)",
                        re.IGNORECASE)


def _values_seen(series: pd.Series, kind: str, seen: set) -> np.ndarray:
    """Whether each record's value also occurs among the open records' values."""
    if kind in ("numeric", "date", "boolean"):
        values = numeric_values(series, kind)
        return values.isin(seen).to_numpy() & values.notna().to_numpy()
    labels = category_labels(series)
    return labels.isin(seen).to_numpy() & (labels != "(missing)").to_numpy()


def _open_values(series: pd.Series, kind: str) -> set:
    if kind in ("numeric", "date", "boolean"):
        return set(numeric_values(series, kind).dropna().unique())
    return set(category_labels(series).unique()) - {"(missing)"}


def open_record_leak(series: pd.Series, kind: str, y: np.ndarray, open_series: pd.Series | None,
                     names: tuple[str, str], plural: str = "records") -> str | None:
    """Values (or fill) one class carries and open records never do: written when the outcome came."""
    if open_series is None or len(open_series) < MIN_OPEN or np.bincount(y, minlength=2).min() < MIN_CLASS:
        return None
    if kind in ("identifier", "empty", "text"):
        return None
    filled = is_filled(series)
    open_filled = float(is_filled(open_series).mean())
    fill = [float(filled[y == cls].mean()) for cls in (0, 1)]
    for cls in (0, 1):
        other = 1 - cls
        if fill[cls] >= FILL_RATIO * max(open_filled, 0.01) and fill[cls] - open_filled >= 0.5 \
                and abs(fill[other] - open_filled) <= FILL_GAP:
            return (f"filled on {fill[cls]:.0%} of {names[cls]} {plural} but only {open_filled:.0%} of open "
                    f"ones (and {fill[other]:.0%} of {names[other]} ones): it is filled when the outcome comes")
    seen_values = _open_values(open_series, kind)
    if not seen_values:
        return None
    seen = _values_seen(series, kind, seen_values)
    shares = []
    for cls in (0, 1):
        carried = filled & (y == cls)
        shares.append(float(seen[carried].mean()) if carried.sum() >= MIN_CLASS else np.nan)
    if np.isnan(shares).any():
        return None
    for cls in (0, 1):
        other = 1 - cls
        if shares[other] >= SEEN_HIGH and shares[cls] <= SEEN_LOW:
            return (f"{shares[other]:.0%} of {names[other]} {plural} carry a value also seen on open {plural}, "
                    f"but only {shares[cls]:.0%} of {names[cls]} ones do: the value is rewritten when a record "
                    f"becomes {names[cls]} (after the outcome)")
    return None


def name_hint(column: str) -> tuple[str, float] | None:
    """What a column's name suggests about when it was filled, and the AUC that confirms it; or None."""
    words = re.sub(r"[_\-.]+", " ", str(column))
    if AFTERWARDS.search(words):
        return (f"its name ({column!r}) reads like a record of what happened last or of the outcome",
                TRACKS_AUC_AFTERWARDS)
    if JUDGEMENT.search(words):
        return f"its name ({column!r}) reads like a person's judgement recorded after contact", TRACKS_AUC
    return None


def judgement_leak(column: str, series: pd.Series, y: np.ndarray, names: tuple[str, str],
                   alone_auc: float) -> tuple[str | None, str | None]:
    """(reason to exclude, note when only the name matched) for a column named like a judgement or afterwards."""
    found = name_hint(column)
    if found is None:
        return None, None
    hint, tracks = found
    filled = is_filled(series)
    fill = [float(filled[y == cls].mean()) for cls in (0, 1)]
    low, high = min(fill), max(fill)
    evidence = []
    if high - low >= FILL_GAP and high >= FILL_RATIO * max(low, 0.01):
        more = int(np.argmax(fill))
        evidence.append(f"it is filled for {fill[more]:.0%} of {names[more]} records against "
                        f"{fill[1 - more]:.0%} of {names[1 - more]} ones")
    if alone_auc >= tracks:
        evidence.append(f"its values alone reach AUC {alone_auc:.2f}")
    if not evidence:
        return None, (f"{hint}, but neither its fill nor its values track the outcome "
                      f"(AUC {alone_auc:.2f} alone); kept")
    return f"{hint}, and {' and '.join(evidence)}: filled or changed after first contact", None
