"""The model registry: train per organization and target, version, card, activate, load.

Training follows the one path of scoring.records.training: mature records only (scoring.records.maturity), the
20% most recently created held out, the leakage guard on the rest (with the store's field
history and the open records as evidence, and the fields an admin confirmed kept in), then a
decision: the trained model scores only when it beats both the base rate and the fallback on
the held-out records (leads: rules; deals: the stage-and-age win rate). Either way the version
stores the scorer refitted on every mature record (on a stratified sample of them when there are
more than scoring.records.models.MAX_FIT_RECORDS; the held-out records are always all judged), its card
(verdict, held-out figures, reliability table, exclusions) and the band thresholds of the open records.

A trained version that earns the right to score still has to be not worse than the active
trained version (AUC at most ``AUC_TOLERANCE`` lower and Brier at most ``BRIER_TOLERANCE`` higher)
on held-out records whose outcome became known after the active version was trained. With fewer
than ``MIN_COMPARED`` such records there is nothing fair to compare on, and the newer version,
trained on more recent data, is activated; the card records which case applied.

Too little history (fewer than ``MIN_LABELLED`` mature records or fewer than ``MIN_MINORITY``
of the rarer outcome) gives a rules version at once (scoring.records.rules), marked limited history.
Artifacts are pickles of our own objects, read back only from our own store.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

from connectors import registry as connectors
from scoring.records.bands import band_cuts
from scoring.records.deal_features import deal_features, targeted_context
from scoring.records.deal_stages import closed_stages, stage_ranks
from scoring.records.features import FeatureSet, ScoringScope, resolve_now
from scoring.records.lead_features import lead_features
from scoring.records.leak_history import deal_evidence, modified_after_outcome
from scoring.records.metrics import held_out_metrics
from scoring.records.model_card import brief, card
from scoring.records.model_overrides import kept_features
from scoring.records.models import fit_candidate, one_thread
from scoring.records.rules import RulesModel
from scoring.records.stage_age import StageAgeRate
from scoring.records.targets import FALLBACK_NAMES, OUTCOME_NAMES, PLURALS, TARGETS
from scoring.records.training import MIN_HOLDOUT_OUTCOMES, judge
from sync.store import Connection, ModelVersion
from sync.store.db import release

MIN_LABELLED = 200
MIN_MINORITY = 20
MIN_COMPARED = 50
# A deal stage needs this many learnt-from deals before the model scores open deals in it.
MIN_SUPPORT = 30
AUC_TOLERANCE = 0.01
BRIER_TOLERANCE = 0.002
FALLBACK_KINDS = ("rules", "stage_age_rate")
LIMITED_VERDICT = ("Scores come from rules: there are {labelled} matured records with {minority} of the rarer "
                   "outcome, and at least {min_labelled} with {min_minority} of each are needed to learn from.")
log = logging.getLogger(__name__)
LOADED_LIMIT = 32
_loaded: dict[tuple[int, str], object] = {}


def build_features(session: Session, organization_id: int, target: str, now: datetime | None = None,
                   scope: ScoringScope | None = None) -> FeatureSet:
    """One target's features for an organization as of now: every record, or only the open ones in scope."""
    if target == "lead":
        return lead_features(session, organization_id, now, scope)
    if target == "opportunity":
        # A few named deals read only themselves; the rest of the organization is the process's kept context.
        named = scope is not None and scope.remote_ids is not None
        return deal_features(session, organization_id, now, scope,
                             targeted_context(session, organization_id, now) if named else None)
    raise ValueError(f"Unknown scoring target {target!r}; use one of {', '.join(TARGETS)}.")


def active_version(session: Session, organization_id: int, target: str) -> ModelVersion | None:
    """The version that scores this organization's records of the target, if any."""
    # The artifact (the pickled model) is read only when this process has not loaded the version yet.
    stmt = (select(ModelVersion).options(defer(ModelVersion.artifact))
            .where(ModelVersion.organization_id == organization_id,
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
        log.info("scoring.model-loaded organization=%s target=%s version=%s", version.organization_id,
                 version.target, version.version)
    return _loaded[key]


def _created_order(meta: pd.DataFrame) -> np.ndarray:
    """Creation times as numbers, for the time-aware split and folds (missing ones first)."""
    created = pd.to_datetime(meta["created_at"]).fillna(pd.to_datetime(meta["as_of"]))
    return created.astype("int64").to_numpy(dtype=float)


def fallback_for(target: str):
    """The fallback fitter of a target: calibrated rules for leads, the stage-and-age rate for deals."""
    if target == "lead":
        return lambda frame, y, weights: RulesModel("lead", y, frame).calibrate(frame, y, weights)
    return lambda frame, y, weights: StageAgeRate(frame, y, weights)


def is_fallback(version_or_model) -> bool:
    """Whether a version (or model) scores by a fallback rather than a trained model."""
    return getattr(version_or_model, "kind", None) in FALLBACK_KINDS


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
    weights = labelled.meta["weight"].to_numpy(dtype=float)[unseen]
    new = held_out_metrics(y[unseen], candidate.predict_proba(frame), weights=weights)
    old = held_out_metrics(y[unseen], load_model(active).predict_proba(frame), weights=weights)
    promote = _not_worse(new, old)
    return promote, {**comparison, "promoted": promote, "new_metrics": brief(new), "active_metrics": brief(old)}


def _not_worse(new: dict, old: dict) -> bool:
    """AUC not lower and Brier not higher than the old, within the tolerances."""
    if new["auc"] is None or old["auc"] is None:
        return new["brier"] <= old["brier"] + BRIER_TOLERANCE
    return new["auc"] >= old["auc"] - AUC_TOLERANCE and new["brier"] <= old["brier"] + BRIER_TOLERANCE


def _support(target: str, frame: pd.DataFrame) -> dict | None:
    """The deal stages the model learnt enough about to score open deals in them.

    A stage counts when at least ``MIN_SUPPORT`` learnt-from deals were seen in it, over more
    than a day of their stay (deals seen only the hour they entered a stage say nothing about
    one sitting there for weeks). An open deal in any other stage shows the organization's rate
    instead of an extrapolation.
    """
    if target != "opportunity":
        return None
    stays = frame.assign(stage=frame["stage"].fillna("(none)")).groupby("stage")["days_in_stage"]
    counts, longest = stays.count(), stays.quantile(0.95)
    known = [str(v) for v in counts.index if counts[v] >= MIN_SUPPORT and longest[v] >= 1]
    return {"column": "stage", "minimum": MIN_SUPPORT, "values": sorted(known)}


def _cuts(model, open_frame: pd.DataFrame, card_support: dict | None) -> dict:
    """Band thresholds from the open records' probabilities (unsupported ones at the base rate)."""
    from scoring.records.score import unsupported_rows

    if open_frame.empty:
        return {}
    p = np.asarray(model.predict_proba(open_frame), dtype=float)
    p[unsupported_rows(open_frame, {"support": card_support})] = model.base_rate
    return band_cuts(p)


def _evidence(session: Session, organization_id: int, target: str) -> tuple[dict[str, str], dict[str, str]]:
    """What the store's field history and modification times say, for the guard and the card."""
    exclude, notes = {}, {}
    if target == "opportunity":
        exclude, notes = deal_evidence(session, organization_id, closed_stages(session, organization_id),
                                       OUTCOME_NAMES[target])
    modified = modified_after_outcome(session, organization_id, target)
    if modified:
        notes["modification times"] = modified
    return exclude, notes


def _provider_name(key: str | None) -> str:
    try:
        return connectors.get(key).provider.name
    except (KeyError, LookupError, TypeError):
        return key or "an unknown CRM"


def _sources(session: Session, connection_ids: pd.Series) -> list[str]:
    """Each record's source as an admin names it (the CRM and its connection), for the leakage guard."""
    ids = sorted({int(i) for i in connection_ids.unique()})
    providers = dict(session.execute(select(Connection.id, Connection.provider).where(Connection.id.in_(ids))).all())
    names = {i: f"{_provider_name(providers.get(i))} (connection {i})" for i in ids}
    return [names[int(i)] for i in connection_ids]


def train(session: Session, organization_id: int, target: str, now: datetime | None = None,
          features: FeatureSet | None = None) -> ModelVersion:
    """Train a version for the organization's target as of now, store it, and activate it when it may score."""
    with one_thread():
        return _train(session, organization_id, target, now, features)


def _train(session: Session, organization_id: int, target: str, now: datetime | None,
           features: FeatureSet | None) -> ModelVersion:
    now = resolve_now(now)
    features = features if features is not None else build_features(session, organization_id, target, now)
    labelled = features.labelled()
    y = labelled.meta["label"].to_numpy(dtype=int)
    weights = labelled.meta["weight"].to_numpy(dtype=float)
    counts = np.bincount(y, minlength=2)
    limited = len(y) < MIN_LABELLED or counts.min() < MIN_MINORITY
    active = active_version(session, organization_id, target)
    kept = kept_features(session, organization_id, target)
    exclude, evidence_notes = _evidence(session, organization_id, target)
    open_records = features.subset(features.meta["is_open"].to_numpy())
    ranks = (stage_ranks(session, organization_id, closed_stages(session, organization_id))
             if limited and target == "opportunity" else None)
    sources = _sources(session, labelled.meta["connection_id"])
    release(session)  # everything is read: fitting and judging hold no lock on the store
    comparison, judged = None, None
    if limited:
        model = RulesModel(target, y, labelled.frame, ranks)
        verdict = LIMITED_VERDICT.format(labelled=len(y), minority=int(counts.min()), min_labelled=MIN_LABELLED,
                                         min_minority=MIN_MINORITY)
        promote = active is None or is_fallback(active)
    else:
        order = _created_order(labelled.meta)
        fallback = fallback_for(target)
        judged = judge(labelled.frame, y, labelled.kinds, OUTCOME_NAMES[target], order=order, fallback=fallback,
                       fallback_name=FALLBACK_NAMES[target], open_frame=open_records.frame, evidence=exclude,
                       keep=kept, exposure=features.exposure, plural=PLURALS[target], weights=weights,
                       sources=sources)
        verdict = judged.verdict
        if judged.earns:
            model = fit_candidate(judged.candidate.kind, labelled.frame, y, judged.kinds, order=order,
                                  weights=weights)
        else:
            model = fallback(labelled.frame, y, weights)
        model.excluded = judged.report.excluded
        promote = True
        if judged.earns and active is not None and not is_fallback(active):
            promote, comparison = _compare(active, labelled, y, judged.held, judged.candidate)
    support = _support(target, labelled.frame) if not limited else None
    cuts = _cuts(model, open_records.frame, support)
    artifact = pickle.dumps(model)
    digest = hashlib.sha1(artifact + f"{organization_id}:{now.isoformat()}".encode()).hexdigest()[:6]
    version = ModelVersion(organization_id=organization_id, target=target,
                           version=f"{target}-{now:%Y%m%d}-{digest}", kind=model.kind, is_active=False,
                           card=card(target=target, model=model, features=features, labelled=labelled, y=y,
                                     judged=judged, limited=limited, verdict=verdict, now=now,
                                     comparison=comparison, cuts=cuts, evidence_notes=evidence_notes, kept=kept,
                                     support=support, thresholds={
                                         "min_labelled": MIN_LABELLED, "min_minority": MIN_MINORITY,
                                         "min_holdout_outcomes": MIN_HOLDOUT_OUTCOMES}),
                           artifact=artifact)
    session.add(version)
    session.flush()
    if promote:
        session.execute(update(ModelVersion).where(ModelVersion.organization_id == organization_id,
                                                   ModelVersion.target == target, ModelVersion.id != version.id)
                        .values(is_active=False))
        version.is_active = True
        session.flush()
    return version


def needs_training(version: ModelVersion | None, now: datetime, max_age: timedelta) -> bool:
    """True when there is no active version or it was trained on data older than max_age (a day for rules)."""
    if version is None:
        return True
    if is_fallback(version):  # enough history (or a better model) may have arrived: look again sooner
        max_age = min(max_age, timedelta(days=1))
    as_of = version.card.get("as_of")
    trained_as_of = datetime.fromisoformat(as_of) if as_of else version.trained_at
    return now - trained_as_of > max_age
