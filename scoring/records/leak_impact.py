"""What each column the guard flags is worth: a quick model's cross-validated AUC with and without it.

The quick model is a histogram gradient-boosted ensemble on the same encoding production uses:
flexible enough to exploit an exact value or a value band (where a linear model would not show
the leak), fast enough to refit once per flagged column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from scoring.records.models import fitting_sample
from scoring.records.tabular import TabularEncoder

FOLDS = 3
MAX_ROWS = 6000


def cross_validated_auc(frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str]) -> float | None:
    """Out-of-fold AUC of the quick model on these columns (None when nothing is left to learn from)."""
    kinds = {c: k for c, k in kinds.items() if c in frame and k not in ("identifier", "empty")}
    if not kinds or np.bincount(y, minlength=2).min() < FOLDS:
        return None
    scores = np.zeros(len(y))
    for fit, out in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        encoder = TabularEncoder(kinds)
        X = encoder.fit_transform(frame.iloc[fit], y[fit])
        model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                               random_state=0).fit(X, y[fit])
        scores[out] = model.predict_proba(encoder.transform(frame.iloc[out]))[:, 1]
    return round(float(roc_auc_score(y, scores)), 4)


def _sample(frame: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """At most MAX_ROWS records, stratified, so a large table is measured in seconds."""
    picked = fitting_sample(y, MAX_ROWS)
    return frame.iloc[picked].reset_index(drop=True), y[picked]


def measure_impact(report, frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str]) -> None:
    """Fill each finding's AUC with and without its column, against the columns that stay in."""
    frame, y = _sample(frame, y)
    left_out = {f.column for f in report.findings if not f.kept}
    staying = {c: k for c, k in kinds.items() if c not in left_out}
    without_all = cross_validated_auc(frame, y, staying)
    for finding in report.findings:
        if finding.kept:  # it is in the model: measure what taking it out would change
            finding.auc_with = without_all
            finding.auc_without = cross_validated_auc(
                frame, y, {c: k for c, k in staying.items() if c != finding.column})
        else:
            finding.auc_without = without_all
            finding.auc_with = cross_validated_auc(frame, y, {**staying, finding.column: kinds[finding.column]})
