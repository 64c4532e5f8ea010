"""The model card: what scores, why, how it did on held-out records, what it learnt from and left out."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scoring.records.attribution import contributions
from scoring.records.bands import RANKS
from scoring.records.stage_age import band_label
from scoring.records.targets import FALLBACK_NAMES

BRIEF = ("auc", "brier", "brier_skill", "log_loss", "base_rate", "base_rate_brier", "prior_brier",
         "top_decile_lift", "n", "positives")


def brief(metrics: dict | None) -> dict | None:
    """The headline metrics, without the reliability table."""
    return None if metrics is None else {k: metrics.get(k) for k in BRIEF}


def global_factors(model, frame: pd.DataFrame, exposure=(), top: int = 10) -> list[dict]:
    """The features that move scores most on average (mean absolute contribution, in log-odds), exposure aside."""
    if frame.empty:
        return []
    _, impacts = contributions(model, frame)
    impacts = impacts.drop(columns=[c for c in exposure if c in impacts])
    mean_abs = impacts.abs().mean().sort_values(ascending=False)
    return [{"feature": f, "mean_abs_impact": round(float(v), 4)} for f, v in mean_abs.head(top).items()]


def _stage_age_table(model) -> list[dict]:
    """The deals' fallback as a table: stage, age band, win rate."""
    rows = getattr(model, "cell_rate", None)
    if not rows:
        return []
    return [{"stage": stage, "age": band_label(band), "rate": round(rate, 4)}
            for (stage, band), rate in sorted(rows.items())]


def _metrics_note(judged) -> str:
    """How the held-out figures were obtained, including a fitting sample when there was one."""
    if judged is None:
        return "too few outcomes to hold any out"
    fitted = judged.candidate.fitted_on if judged.candidate is not None else None
    earlier = "the earlier 80%"
    if fitted is not None and fitted < len(judged.fit):
        earlier = f"a stratified sample of {fitted:,} of the earlier 80% ({len(judged.fit):,} records)"
    return ("held out: the 20% most recently created of the matured records; the model was fitted on "
            f"{earlier}, each record weighted by the time it was open")


def card(*, target: str, model, features, labelled, y: np.ndarray, judged, limited: bool, verdict: str,
         now, comparison, cuts: dict, evidence_notes: dict, kept: dict, thresholds: dict,
         support: dict | None = None) -> dict:
    """The card stored with a version (JSON-ready)."""
    as_of = pd.to_datetime(labelled.meta["as_of"])
    known_to = pd.to_datetime(labelled.meta["known_at"]).max()
    report = judged.report if judged is not None else None
    held = judged.held if judged is not None else np.zeros(0, dtype=int)
    metrics = judged.metrics if judged is not None else None
    fallback = getattr(model, "fallback", False)
    findings = report.findings if report is not None else []
    data = {
        "target": target, "kind": model.kind, "scorer": "fallback" if fallback else "model",
        "limited_history": limited, "as_of": now.isoformat(), "verdict": verdict,
        "earns": bool(judged is not None and judged.earns),
        "panel_note": judged.panel_note if judged is not None else "",
        "candidate_kind": judged.candidate.kind if judged is not None and judged.candidate is not None else None,
        "metrics": brief(metrics),
        "metrics_note": _metrics_note(judged),
        "calibration": metrics["calibration"] if metrics else [],
        "fallback_name": FALLBACK_NAMES[target],
        "fallback_metrics": brief(judged.fallback_metrics) if judged is not None else None,
        "fallback_calibration": (judged.fallback_metrics or {}).get("calibration", []) if judged is not None else [],
        "stage_age_table": _stage_age_table(model),
        "top_factors": global_factors(model, labelled.frame, features.exposure) if len(y) else [],
        "exposure": list(features.exposure),
        "training": {"labelled": int(len(y)), "positives": int(y.sum()), "negatives": int(len(y) - y.sum()),
                     "open_records": int(features.meta["is_open"].sum()),
                     "holdout_n": int(len(held)), "holdout_positives": int(y[held].sum()) if len(held) else 0,
                     "cv_log_loss": judged.candidate.cv_log_loss if judged is not None and judged.candidate else None,
                     # Fewer than labelled (or than the 80% before the holdout) when a stratified sample was fitted.
                     "fitted_on": getattr(model, "fitted_on", None),
                     "candidate_fitted_on": (judged.candidate.fitted_on
                                             if judged is not None and judged.candidate else None),
                     "thresholds": thresholds},
        "window": features.window.to_dict() if features.window is not None else None,
        "data_window": {"from": as_of.min().isoformat() if len(as_of) else None,
                        "to": as_of.max().isoformat() if len(as_of) else None,
                        "labels_known_to": known_to.isoformat() if pd.notna(known_to) else None},
        "excluded": [{"feature": f.column, "reason": f.sentence(), "test": f.test, "auc_alone": f.auc_alone,
                      "auc_with": f.auc_with, "auc_without": f.auc_without} for f in findings if not f.kept],
        "kept": [{"feature": f.column, "reason": f.reason, "kept_by": f.kept_by, "auc_with": f.auc_with,
                  "auc_without": f.auc_without} for f in findings if f.kept]
                + [{"feature": c, "reason": None, "kept_by": by} for c, by in kept.items()
                   if c not in {f.column for f in findings}],
        "leak_checks": {**(report.notes if report is not None else {}), **evidence_notes},
        "leakage_notes": features.notes,
        "base_rate": round(float(model.base_rate), 4),
        "band_cuts": cuts,
        "support": support,
        "bands": "Open records ranked against each other: A the top "
                 + ", ".join(f"{name} to {share:.0%}" for name, share in RANKS[1:]) + ", D the rest",
        "comparison": comparison,
    }
    return json_ready(data)


def json_ready(value):
    """Numpy scalars and NaN turned into plain JSON values, as JSON columns need."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
