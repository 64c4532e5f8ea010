"""The model registry: train per organization and target, version, card, activate, load.

A trained version is measured on the most recent 20% of the labelled records (held out, the model
fitted on the earlier 80%). The stored artifact is then refitted on all labelled records with the
same choices. It becomes active only when it is not worse than the active version (AUC at most
``AUC_TOLERANCE`` lower and Brier at most ``BRIER_TOLERANCE`` higher) on the same held-out
records, taken among those whose outcome became known after the active version was trained (the
active version has never seen them). With fewer than ``MIN_COMPARED`` such records there is
nothing fair to compare on, and the newer version, trained on more recent data, is activated; the
card records which case applied.

Too little history (fewer than ``MIN_LABELLED`` labelled records or fewer than ``MIN_MINORITY``
of the rarer outcome) gives a rules version instead (scoring.rules), marked limited history.
Artifacts are pickles of our own objects, read back only from our own store.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scoring.attribution import contributions
from scoring.deal_features import closed_stages, deal_features, stage_ranks
from scoring.features import FeatureSet, ScoringScope, resolve_now
from scoring.lead_features import lead_features
from scoring.leakage import find_leaks
from scoring.metrics import held_out_metrics
from scoring.models import fit_candidate, select_and_fit
from scoring.rules import RulesModel
from sync.models import ModelVersion

TARGETS = ("lead", "opportunity")
MIN_LABELLED = 200
MIN_MINORITY = 20
HOLDOUT_SHARE = 0.2
MIN_COMPARED = 50
AUC_TOLERANCE = 0.01
BRIER_TOLERANCE = 0.002
OUTCOME_NAMES = {"lead": ("not converted", "converted"), "opportunity": ("lost", "won")}
LOADED_LIMIT = 32
_loaded: dict[tuple[int, str], object] = {}


def build_features(session: Session, organization_id: int, target: str, now: datetime | None = None,
                   scope: ScoringScope | None = None) -> FeatureSet:
    """One target's features for an organization as of now: every record, or only the open ones in scope."""
    if target == "lead":
        return lead_features(session, organization_id, now, scope)
    if target == "opportunity":
        return deal_features(session, organization_id, now, scope)
    raise ValueError(f"Unknown scoring target {target!r}; use one of {', '.join(TARGETS)}.")


def active_version(session: Session, organization_id: int, target: str) -> ModelVersion | None:
    """The version that scores this organization's records of the target, if any."""
    stmt = (select(ModelVersion).where(ModelVersion.organization_id == organization_id,
                                       ModelVersion.target == target, ModelVersion.is_active.is_(True))
            .order_by(ModelVersion.id.desc()).limit(1))
    return session.scalars(stmt).first()


def load_model(version: ModelVersion):
    """The model object stored in a version (kept in memory after the first load)."""
    key = (version.id, version.version)
    if key not in _loaded:
        if len(_loaded) >= LOADED_LIMIT:  # a long-lived worker sees many versions; keep the recent ones
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = pickle.loads(version.artifact)
    return _loaded[key]


def _time_holdout(order: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Earlier 80% for fitting, latest 20% held out (both must hold both outcomes)."""
    ranked = np.argsort(order, kind="stable")
    cut = int(round(len(ranked) * (1 - HOLDOUT_SHARE)))
    fit, held = ranked[:cut], ranked[cut:]
    if len(np.unique(y[held])) < 2 or len(np.unique(y[fit])) < 2:
        rng = np.random.default_rng(0)
        shuffled = rng.permutation(len(y))
        fit, held = shuffled[:cut], shuffled[cut:]
    return np.sort(fit), np.sort(held)


def global_factors(model, frame: pd.DataFrame, top: int = 10) -> list[dict]:
    """The features that move scores most on average (mean absolute contribution, in log-odds)."""
    _, impacts = contributions(model, frame)
    mean_abs = impacts.abs().mean().sort_values(ascending=False)
    return [{"feature": f, "mean_abs_impact": round(float(v), 4)} for f, v in mean_abs.head(top).items()]


def _timestamps(meta: pd.DataFrame) -> np.ndarray:
    """As-of times as numbers, for ordering."""
    return pd.to_datetime(meta["as_of"]).astype("int64").to_numpy(dtype=float)


def _fit_trained(labelled: FeatureSet, y: np.ndarray, target: str):
    """Select, measure on the time holdout, and refit on everything; returns model, metrics, holdout."""
    order = _timestamps(labelled.meta)
    fit, held = _time_holdout(order, y)
    frame = labelled.frame
    leaks = find_leaks(frame.iloc[fit], y[fit], labelled.kinds, OUTCOME_NAMES[target])
    kinds = {c: k for c, k in labelled.kinds.items() if c not in leaks}
    candidate = select_and_fit(frame.iloc[fit], y[fit], kinds, order=order[fit])
    metrics = held_out_metrics(y[held], candidate.predict_proba(frame.iloc[held]), prior=float(y[fit].mean()))
    final = fit_candidate(candidate.kind, frame, y, kinds, order=order)
    final.excluded = leaks
    return final, metrics, held, candidate.cv_log_loss, candidate


def _compare(active: ModelVersion, labelled: FeatureSet, y: np.ndarray, held: np.ndarray,
             candidate) -> tuple[bool, dict]:
    """Whether the candidate is not worse than the active version on held-out records neither has learnt from."""
    known_to = (active.card.get("data_window") or {}).get("labels_known_to")
    known_at = pd.to_datetime(labelled.meta["known_at"]).to_numpy()[held]
    unseen = held if known_to is None else held[known_at > np.datetime64(known_to)]
    comparison = {"active_version": active.version, "records": int(len(unseen))}
    if len(unseen) < MIN_COMPARED or len(np.unique(y[unseen])) < 2:
        return True, {**comparison, "promoted": True,
                      "reason": "too few outcomes the active version has not seen; the newer version is used"}
    frame = labelled.frame.iloc[unseen]
    new = held_out_metrics(y[unseen], candidate.predict_proba(frame))
    old = held_out_metrics(y[unseen], load_model(active).predict_proba(frame))
    promote = _not_worse(new, old)
    return promote, {**comparison, "promoted": promote, "new_metrics": _brief(new), "active_metrics": _brief(old)}


def _not_worse(new: dict, old: dict) -> bool:
    """AUC not lower and Brier not higher than the old, within the tolerances."""
    if new["auc"] is None or old["auc"] is None:
        return new["brier"] <= old["brier"] + BRIER_TOLERANCE
    return new["auc"] >= old["auc"] - AUC_TOLERANCE and new["brier"] <= old["brier"] + BRIER_TOLERANCE


def train(session: Session, organization_id: int, target: str, now: datetime | None = None,
          features: FeatureSet | None = None) -> ModelVersion:
    """Train a version for the organization's target as of now, store it, and activate it if it is not worse."""
    now = resolve_now(now)
    features = features if features is not None else build_features(session, organization_id, target, now)
    labelled = features.labelled()
    y = labelled.meta["label"].to_numpy(dtype=int)
    counts = np.bincount(y, minlength=2)
    limited = len(y) < MIN_LABELLED or counts.min() < MIN_MINORITY
    active = active_version(session, organization_id, target)
    comparison = None
    if limited:
        ranks = (stage_ranks(session, organization_id, closed_stages(session, organization_id))
                 if target == "opportunity" else None)
        model = RulesModel(target, y, labelled.frame, ranks)
        metrics = held_out_metrics(y, model.predict_proba(labelled.frame)) if len(np.unique(y)) == 2 else None
        promote = active is None or active.kind == "rules"
        cv_loss = None
    else:
        model, metrics, held, cv_loss, model_for_comparison = _fit_trained(labelled, y, target)
        promote = True
        if active is not None and active.kind != "rules":
            promote, comparison = _compare(active, labelled, y, held, model_for_comparison)
    artifact = pickle.dumps(model)
    digest = hashlib.sha1(artifact + f"{organization_id}:{now.isoformat()}".encode()).hexdigest()[:6]
    card = _json_ready(_card(target, model, features, labelled, y, metrics, limited, now, cv_loss, comparison))
    version = ModelVersion(organization_id=organization_id, target=target,
                           version=f"{target}-{now:%Y%m%d}-{digest}", kind=model.kind, is_active=False,
                           card=card, artifact=artifact)
    session.add(version)
    session.flush()
    if promote:
        session.execute(update(ModelVersion).where(ModelVersion.organization_id == organization_id,
                                                   ModelVersion.target == target, ModelVersion.id != version.id)
                        .values(is_active=False))
        version.is_active = True
        session.flush()
    return version


def _brief(metrics: dict | None) -> dict | None:
    """The headline metrics, without the calibration table."""
    keys = ("auc", "brier", "log_loss", "base_rate", "base_rate_brier", "prior_brier", "top_decile_lift", "n")
    return None if metrics is None else {k: metrics[k] for k in keys}


def _card(target, model, features, labelled, y, metrics, limited, now, cv_loss, comparison) -> dict:
    """The model card: what it is, how it did on held-out records, what it learnt from, what it left out."""
    as_of = pd.to_datetime(labelled.meta["as_of"])
    known_to = pd.to_datetime(labelled.meta["known_at"]).max()
    return {
        "target": target, "kind": model.kind, "limited_history": limited, "as_of": now.isoformat(),
        "metrics": _brief(metrics),
        "metrics_note": ("rules scored on all labelled records" if limited else
                         "held out: the most recent 20% of labelled records, model fitted on the earlier 80%"),
        "calibration": metrics["calibration"] if metrics else [],
        "top_factors": global_factors(model, labelled.frame) if len(y) else [],
        "training": {"labelled": int(len(y)), "positives": int(y.sum()), "negatives": int(len(y) - y.sum()),
                     "open_records": int(features.meta["is_open"].sum()), "cv_log_loss": cv_loss,
                     "thresholds": {"min_labelled": MIN_LABELLED, "min_minority": MIN_MINORITY}},
        "data_window": {"from": as_of.min().isoformat() if len(as_of) else None,
                        "to": as_of.max().isoformat() if len(as_of) else None,
                        "labels_known_to": known_to.isoformat() if pd.notna(known_to) else None},
        "excluded": [{"feature": f, "reason": r} for f, r in model.excluded.items()],
        "leakage_notes": features.notes,
        "base_rate": round(float(model.base_rate), 4),
        "bands": "A: odds ≥ 2× the base rate's; B: ≥ 1×; C: ≥ 0.5×; D: below",
        "comparison": comparison,
    }


def _json_ready(value):
    """The card with numpy scalars turned into plain Python values, as JSON columns need."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def needs_training(version: ModelVersion | None, now: datetime, max_age: timedelta) -> bool:
    """True when there is no active version or it was trained on data older than max_age (a day for rules)."""
    if version is None:
        return True
    if version.kind == "rules":  # enough history may have arrived: look again sooner
        max_age = min(max_age, timedelta(days=1))
    as_of = version.card.get("as_of")
    trained_as_of = datetime.fromisoformat(as_of) if as_of else version.trained_at
    return now - trained_as_of > max_age
