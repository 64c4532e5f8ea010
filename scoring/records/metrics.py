"""Held-out metrics shared by the model card and the CSV evaluator."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


def calibration_by_decile(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> list[dict]:
    """Reliability: records split into ten equal groups by predicted probability, mean predicted vs observed."""
    weights = np.ones(len(y)) if weights is None else weights
    order = np.argsort(p, kind="stable")
    table = []
    for decile, idx in enumerate(np.array_split(order, 10), start=1):
        if len(idx):
            table.append({"decile": decile, "n": int(len(idx)),
                          "predicted": round(float(np.average(p[idx], weights=weights[idx])), 4),
                          "observed": round(float(np.average(y[idx], weights=weights[idx])), 4)})
    return table


def top_decile_lift(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Positive rate among the 10% highest-scored records over the overall rate."""
    weights = np.ones(len(y)) if weights is None else weights
    base = float(np.average(y, weights=weights))
    if base == 0:
        return 0.0
    top = np.argsort(-p, kind="stable")[:max(1, int(np.ceil(0.1 * len(p))))]
    return float(np.average(y[top], weights=weights[top]) / base)


def held_out_metrics(y, p, prior: float | None = None, weights=None) -> dict:
    """AUC, Brier (and its skill), log loss, base rate, lift and reliability of predictions p for outcomes y.

    ``base_rate_brier`` is the Brier score of always predicting these records' own rate;
    ``prior_brier`` that of always predicting ``prior`` (the rate known at training time), the
    reference of ``brier_skill`` (above 0: better than the base rate). ``weights`` are the
    records' own weights (the open time each stands for), so the figures describe open records
    as they are scored.
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    base = float(np.average(y, weights=weights))
    prior = base if prior is None else float(prior)
    both = len(np.unique(y)) == 2
    brier = float(brier_score_loss(y, p, sample_weight=weights))
    prior_brier = float(np.average((y - prior) ** 2, weights=weights))
    return {
        "auc": round(float(roc_auc_score(y, p, sample_weight=weights)), 4) if both else None,
        "brier": round(brier, 4),
        # Brier skill score against always predicting the rate known at training time.
        "brier_skill": round(1.0 - brier / prior_brier, 4) if prior_brier > 0 else None,
        "positives": int(y.sum()),
        "log_loss": round(float(log_loss(y, p, labels=[0, 1], sample_weight=weights)), 4),
        "base_rate": round(base, 4),
        "base_rate_brier": round(base * (1 - base), 4),
        "prior_brier": round(prior_brier, 4),
        "top_decile_lift": round(top_decile_lift(y, p, weights), 3),
        "n": int(len(y)),
        "calibration": calibration_by_decile(y, p, weights),
    }
