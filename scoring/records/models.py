"""Candidate models, time-aware cross-validation, selection and Platt calibration.

Calibration is Platt's: calibrated log-odds = a·f(x) + b on the model's raw log-odds f(x),
fitted on out-of-fold predictions. Because it is affine in f(x), additive explanations of f
stay exact after calibration (contributions scale by a, the base becomes a·base + b).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from scoring.records.tabular import TabularEncoder

N_FOLDS = 4
# Above this many records, a candidate is cross-validated, calibrated and fitted on a stratified
# sample of them (the same share of each outcome, in their time order): beyond it the fit hardly
# changes while its cost keeps growing. The held-out records that judge it are never sampled.
MAX_FIT_RECORDS = 20_000
# A more complex candidate replaces a simpler one only when its log loss is this much lower.
SIMPLER_MARGIN = 0.01


def one_thread():
    """Native thread pools (OpenMP, BLAS) held to one thread while a model is fitted.

    A worker is one of several processes sharing the machine's cores: parallelism comes from the
    worker count. Pools sized to every core make their threads spin-wait for cores other work
    holds; on a busy 2-core machine that made one organization's deal model train in 172 s
    instead of 38 s (the leakage guard's histogram boosting, mostly), with the same result.
    """
    return threadpool_limits(limits=1)


def _logistic_regression():
    """Regularized logistic regression on the standardized encoding."""
    return LogisticRegression(C=0.3, max_iter=5000)


def _gradient_boosting():
    """Shallow gradient-boosted trees, slowly learnt and subsampled against overfitting."""
    return GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                                      min_samples_leaf=20, random_state=0)


# Name → estimator factory. Both see balanced sample weights (the minority class counts as much
# as the majority) so the rare class shapes the fit; Platt scaling restores true probabilities.
CANDIDATES = {"logistic_regression": _logistic_regression, "gradient_boosting": _gradient_boosting}


def balanced_weights(y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sample weights giving each class the same total weight (on top of the records' own weights)."""
    y = np.asarray(y, dtype=int)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    totals = np.bincount(y, weights=weights, minlength=2)
    return weights * (weights.sum() / (2.0 * np.maximum(totals, 1e-12)))[y]


def cv_splits(y: np.ndarray, order: np.ndarray | None = None, n_folds: int = N_FOLDS, seed: int = 0):
    """Validation splits: with an order (timestamps), train on earlier records and validate on the next block."""
    y = np.asarray(y, dtype=int)
    if order is None or np.isnan(np.asarray(order, dtype=float)).all():
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        return list(folds.split(np.zeros(len(y)), y))
    order = np.nan_to_num(np.asarray(order, dtype=float), nan=np.nanmin(order))
    blocks = np.array_split(np.argsort(order, kind="stable"), n_folds + 1)
    splits = []
    for k in range(1, n_folds + 1):
        train, valid = np.concatenate(blocks[:k]), blocks[k]
        if len(np.unique(y[train])) == 2 and len(np.unique(y[valid])) == 2:
            splits.append((train, valid))
    return splits or list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


@dataclass
class FittedModel:
    """An encoder, an estimator and its Platt calibration: everything needed to score and explain."""

    kind: str
    encoder: TabularEncoder
    estimator: object
    platt_a: float = 1.0
    platt_b: float = 0.0
    base_rate: float = 0.5
    excluded: dict[str, str] = field(default_factory=dict)
    cv_log_loss: float | None = None
    fitted_on: int | None = None  # records the estimator learnt from (fewer than given when sampled)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded matrix the estimator sees."""
        return self.encoder.transform(frame)

    def raw_log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        """The estimator's own log-odds, before calibration."""
        return np.asarray(self.estimator.decision_function(self.encode(frame)), dtype=float).ravel()

    def log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds."""
        return self.platt_a * self.raw_log_odds(frame) + self.platt_b

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(frame)))


def _fit_estimator(name: str, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
    """Fit one candidate with balanced class weights."""
    estimator = CANDIDATES[name]()
    estimator.fit(X, y, sample_weight=balanced_weights(y, weights))
    return estimator


def _weights(weights, index) -> np.ndarray | None:
    return None if weights is None else np.asarray(weights, dtype=float)[index]


def _raw_out_of_fold(name: str, frame: pd.DataFrame, y: np.ndarray, kinds: dict, splits,
                     weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds for each validation record from a model fitted on its training part."""
    idx, raw = [], []
    for train, valid in splits:
        encoder = TabularEncoder(kinds)
        X_train = encoder.fit_transform(frame.iloc[train], y[train])
        estimator = _fit_estimator(name, X_train, y[train], _weights(weights, train))
        raw.append(estimator.decision_function(encoder.transform(frame.iloc[valid])))
        idx.append(valid)
    return np.concatenate(idx), np.concatenate(raw)


def fit_platt(raw: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Platt scaling: a, b with P(y=1) = sigmoid(a·raw + b)."""
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(raw).reshape(-1, 1), y, sample_weight=weights)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _platt_log_loss(raw: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float, float]:
    """Log loss of the Platt-calibrated raw scores, and the Platt parameters."""
    a, b = fit_platt(raw, y, weights)
    p = 1.0 / (1.0 + np.exp(-(a * raw + b)))
    return float(log_loss(y, np.clip(p, 1e-9, 1 - 1e-9), labels=[0, 1], sample_weight=weights)), a, b


def fitting_sample(y: np.ndarray, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Positions of at most ``limit`` records (default MAX_FIT_RECORDS), the same share of each outcome, in order."""
    y = np.asarray(y, dtype=int)
    limit = MAX_FIT_RECORDS if limit is None else limit
    if len(y) <= limit:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == cls), size=max(1, int(round(limit * (y == cls).mean()))),
                         replace=False) for cls in np.unique(y)]
    return np.sort(np.concatenate(picked))


@dataclass
class _Calibrated:
    """A candidate cross-validated and Platt-calibrated on (a sample of) the records, not yet fitted on them."""

    name: str
    frame: pd.DataFrame
    y: np.ndarray
    weights: np.ndarray | None
    base: float
    platt_a: float
    platt_b: float
    cv_log_loss: float


def _calibrate(name: str, frame: pd.DataFrame, y: np.ndarray, kinds: dict, order=None,
               weights: np.ndarray | None = None, limit: int | None = None) -> _Calibrated:
    """Out-of-fold predictions of one candidate on the records (or ``limit`` of them), and their Platt scaling."""
    y = np.asarray(y, dtype=int)
    base = float(np.average(y, weights=weights))
    kept = fitting_sample(y, limit)
    if len(kept) < len(y):
        frame, y = frame.iloc[kept], y[kept]
        order = None if order is None else np.asarray(order, dtype=float)[kept]
        weights = _weights(weights, kept)
    idx, raw = _raw_out_of_fold(name, frame, y, kinds, cv_splits(y, order), weights)
    loss, a, b = _platt_log_loss(raw, y[idx], _weights(weights, idx))
    return _Calibrated(name, frame, y, weights, base, a, b, loss)


def _fit(calibrated: _Calibrated, kinds: dict) -> FittedModel:
    """The calibrated candidate fitted on the records it was cross-validated on."""
    c = calibrated
    encoder = TabularEncoder(kinds)
    estimator = _fit_estimator(c.name, encoder.fit_transform(c.frame, c.y), c.y, c.weights)
    return FittedModel(c.name, encoder, estimator, c.platt_a, c.platt_b, c.base, cv_log_loss=c.cv_log_loss,
                       fitted_on=len(c.y))


def fit_candidate(name: str, frame: pd.DataFrame, y: np.ndarray, kinds: dict, order=None,
                  weights: np.ndarray | None = None, limit: int | None = None) -> FittedModel:
    """Calibrate one candidate on out-of-fold predictions, then fit it on every record (or ``limit`` of them).

    ``weights`` are the records' own weights (the open time a labelled record stands for, say).
    """
    return _fit(_calibrate(name, frame, y, kinds, order, weights, limit), kinds)


def select_and_fit(frame: pd.DataFrame, y: np.ndarray, kinds: dict, order=None,
                   candidates: tuple[str, ...] = tuple(CANDIDATES), weights: np.ndarray | None = None,
                   limit: int | None = None) -> FittedModel:
    """Cross-validate the candidates, simplest first (a later one must clearly beat the kept one's loss),
    then fit only the one chosen."""
    chosen = None
    for name in candidates:
        calibrated = _calibrate(name, frame, y, kinds, order, weights, limit)
        # Differences of a fraction of a percent are noise between folds; the simpler model
        # (linear, exactly explained by its coefficients) keeps them.
        if chosen is None or calibrated.cv_log_loss < chosen.cv_log_loss * (1 - SIMPLER_MARGIN):
            chosen = calibrated
    return _fit(chosen, kinds)
