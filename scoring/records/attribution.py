"""Faithful per-feature contributions: base + Σ contributions = the model's calibrated log-odds.

- Logistic regression: coefficient × encoded value (features are standardized on the
  training rows, so the base is the intercept: the log-odds of an average record).
- Gradient-boosted trees: Saabas path attributions. Walking a tree from root to leaf, each
  split's feature is credited with the change in node value; the changes telescope to
  leaf − root, so over all trees (× learning rate) plus the initial log-odds they add up to
  the raw prediction exactly.
- Rules: each rule's points are its contribution (see scoring.records.rules); the stage-and-age rate
  splits into the stage's points and the age band's (scoring.records.stage_age).

Encoded columns are summed back to the original column (their group).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression


def _linear(estimator: LogisticRegression, X: np.ndarray) -> tuple[float, np.ndarray]:
    """Intercept, and coefficient × value per encoded column."""
    return float(estimator.intercept_[0]), X * estimator.coef_[0]


def _saabas_matrix(estimator: GradientBoostingClassifier, n_features: int) -> tuple[sparse.csr_matrix, float]:
    """Node → feature credit over the whole ensemble (aligned with decision_path), and Σ root values."""
    rows, cols, vals = [], [], []
    roots = 0.0
    offset = 0
    for tree in estimator.estimators_[:, 0]:
        t = tree.tree_
        value = t.value[:, 0, 0] * estimator.learning_rate
        roots += value[0]
        for node in range(t.node_count):
            for child in (t.children_left[node], t.children_right[node]):
                if child != -1:
                    rows.append(offset + child)
                    cols.append(t.feature[node])
                    vals.append(value[child] - value[node])
        offset += t.node_count
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(offset, n_features))
    return matrix, roots


def _trees(estimator: GradientBoostingClassifier, X: np.ndarray) -> tuple[float, np.ndarray]:
    """Initial log-odds plus root values, and Saabas credits per encoded column."""
    cache = getattr(estimator, "_pipewise_saabas", None)
    if cache is None:
        cache = _saabas_matrix(estimator, X.shape[1])
        estimator._pipewise_saabas = cache
    matrix, roots = cache
    # The trees' own paths on the rows converted once: the estimators' decision_path would check
    # and convert X again for each of the hundreds of trees, most of a webhook's attribution time.
    rows = np.ascontiguousarray(X, dtype=np.float32)
    paths = sparse.hstack([tree.tree_.decision_path(rows) for tree in estimator.estimators_[:, 0]], format="csr")
    contributions = np.asarray((paths @ matrix).todense())
    # The initial raw prediction of binary log loss is the (weighted) prior log-odds.
    prior = estimator.init_.class_prior_[1]
    return float(np.log(prior / (1.0 - prior)) + roots), contributions


def raw_contributions(model, X: np.ndarray) -> tuple[float, np.ndarray]:
    """Base and per-encoded-column contributions in the estimator's raw log-odds."""
    estimator = model.estimator
    if isinstance(estimator, LogisticRegression):
        return _linear(estimator, X)
    if isinstance(estimator, GradientBoostingClassifier):
        return _trees(estimator, X)
    raise TypeError(f"no attribution for {type(estimator).__name__}")


def contributions(model, frame: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Base and per-original-column contributions in calibrated log-odds, one row per record."""
    if hasattr(model, "scaled_contributions"):  # the rules explain themselves, on their calibrated scale
        return model.scaled_contributions(frame)
    if hasattr(model, "contributions"):  # so does the stage-and-age rate
        return model.contributions(frame)
    X = model.encode(frame)
    base, per_column = raw_contributions(model, X)
    grouped = pd.DataFrame(per_column * model.platt_a, index=frame.index,
                           columns=model.encoder.names).T.groupby(model.encoder.groups, sort=False).sum().T
    return model.platt_a * base + model.platt_b, grouped
