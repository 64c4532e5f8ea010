"""Held-out metrics shared by the model card and the CSV evaluator."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score


def calibration_by_decile(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """Records split into ten equal groups by predicted probability: mean predicted vs observed rate."""
    order = np.argsort(p, kind="stable")
    table = []
    for decile, idx in enumerate(np.array_split(order, 10), start=1):
        if len(idx):
            table.append({"decile": decile, "n": int(len(idx)), "predicted": round(float(p[idx].mean()), 4),
                          "observed": round(float(y[idx].mean()), 4)})
    return table


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Positive rate among the 10% highest-scored records over the overall rate."""
    base = float(np.mean(y))
    if base == 0:
        return 0.0
    top = np.argsort(-p, kind="stable")[:max(1, int(np.ceil(0.1 * len(p))))]
    return float(np.mean(y[top]) / base)


def held_out_metrics(y, p, prior: float | None = None) -> dict:
    """AUC, Brier, log loss, base rate (and its Brier), lift and calibration of predictions p for outcomes y.

    ``base_rate_brier`` is the Brier score of always predicting these records' own rate;
    ``prior_brier`` that of always predicting ``prior`` (the rate known at training time).
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    base = float(y.mean())
    prior = base if prior is None else float(prior)
    both = len(np.unique(y)) == 2
    return {
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 4),
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
        "base_rate": round(base, 4),
        "base_rate_brier": round(base * (1 - base), 4),
        "prior_brier": round(float(np.mean((y - prior) ** 2)), 4),
        "top_decile_lift": round(top_decile_lift(y, p), 3),
        "n": int(len(y)),
        "calibration": calibration_by_decile(y, p),
    }
