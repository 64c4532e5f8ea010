"""Score a connection's open leads and deals and store the results (Score, ScoreHistory)."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.records.attribution import contributions
from scoring.records.bands import band_of, shown
from scoring.records.explain import LIMITED_HISTORY, reasons_table, stage_words
from scoring.records.features import EXPOSURE, ScoringScope, resolve_now
from scoring.records.nextstep import band, next_step, to_score
from scoring.records.registry import (TARGETS, active_version, build_features, is_fallback, load_model, needs_training,
                                      train)
from sync.stages import stage_names
from sync.store import Connection, Score, ScoreHistory
from sync.store.db import release, upsert

# A model trained on data older than this is retrained before scoring.
RETRAIN_AFTER = timedelta(days=7)
_IN_CHUNK = 500


def score_frame(model, frame: pd.DataFrame, target: str, card: dict | None = None,
                stage_labels: dict[str, str] | None = None) -> list[dict]:
    """Probability, score, band, reasons and next step for each row of a feature frame.

    ``card`` is the version's card: its band thresholds rank the records against the open ones,
    and when a fallback scores, its verdict says why in every record's reasons. ``stage_labels``
    (stage → the CRM's label) words the reasons in the stages' labels; the model sees the stages.
    """
    card = card or {}
    raw, bases, impacts, unsupported = explained_probabilities(model, frame, card)
    words = frame.assign(stage_label=frame["stage"].map(stage_labels)) if stage_labels and "stage" in frame else frame
    # Plain dicts, not a Series per row: the sentences and next steps read a few values of each.
    rows = words.to_dict("records")
    explained_rows = reasons_table(bases, impacts, rows, target, is_fallback(model))
    return [scored_record(model, card, target, row, explained, raw[i], unsupported[i])
            for i, (row, explained) in enumerate(zip(rows, explained_rows))]


def scored_record(model, card: dict, target: str, row, explained: dict, probability: float,
                  unsupported: bool) -> dict:
    """One record's stored result from its probability, its row of factors and its reasons."""
    fallback = is_fallback(model)
    cuts = card.get("band_cuts")
    p = float(shown(probability))
    # Bands rank the unrounded probability, so records below the floor still sort.
    grade = band_of(probability, cuts) if cuts else band(p, model.base_rate)
    if unsupported:
        explained.update(up=[], down=[], note=unsupported_note(row, card, model.base_rate))
    elif fallback:
        note = model.note(row) if hasattr(model, "note") else None
        explained["note"] = note or (LIMITED_HISTORY if card.get("limited_history", True)
                                     else card.get("panel_note") or LIMITED_HISTORY)
    return {"probability": p, "score": to_score(p), "band": grade, "reasons": explained,
            "next_step": next_step(target, row, grade), "limited_history": fallback}


def explained_probabilities(model, frame: pd.DataFrame, card: dict):
    """Per record: its probability, its base (with exposure), the impacts that may be reasons, and
    whether its stage is unsupported (its probability then is the base rate)."""
    base, impacts = contributions(model, frame)
    # The probability is computed from the explanation itself: base + Σ impacts is the log-odds.
    log_odds = np.clip(base + impacts.sum(axis=1).to_numpy(), -700, 700)
    raw = 1.0 / (1.0 + np.exp(-log_odds))
    unsupported = unsupported_rows(frame, card)
    raw[unsupported] = model.base_rate
    # Exposure (how long the record has had) moves the probability but is never a reason: it
    # joins each record's own base.
    exposure = [c for c in EXPOSURE if c in impacts]
    bases = base + impacts[exposure].sum(axis=1).to_numpy()
    return raw, bases, impacts.drop(columns=exposure), unsupported


def unsupported_rows(frame: pd.DataFrame, card: dict) -> np.ndarray:
    """Deals in a stage the model learnt too little about (see registry._support)."""
    support = card.get("support") or {}
    known = support.get("values")
    if known is None or support.get("column") not in frame:
        return np.zeros(len(frame), dtype=bool)
    return ~frame[support["column"]].fillna("(none)").isin(known).to_numpy()


def unsupported_note(row, card: dict, base_rate: float) -> str:
    """Why a deal shows the organization's rate rather than a model's score."""
    stage = stage_words(row)
    where = f"in {stage}" if stage else "without a stage"
    return (f"Pipewise has learnt from too few deals {where} to score this one, so it shows the organization's "
            f"win rate ({base_rate:.0%}) rather than guess.")


def _existing(session: Session, connection_id: int, target: str, remote_ids: list[str],
              complete: bool) -> dict[str, tuple]:
    """(score, band, reasons, next_step, model_version) of these records' stored scores, by remote id.

    ``complete`` says the records are all the connection's open ones: one read of the target's
    scores then beats hundreds of IN lists.
    """
    s = Score.__table__.c
    stmt = select(s.remote_id, s.score, s.band, s.reasons, s.next_step, s.model_version).where(
        s.connection_id == connection_id, s.object_type == target)
    if complete:
        return {row[0]: tuple(row[1:]) for row in session.execute(stmt)}
    found = {}
    for start in range(0, len(remote_ids), _IN_CHUNK):
        chunk = remote_ids[start:start + _IN_CHUNK]
        found.update({row[0]: tuple(row[1:]) for row in session.execute(stmt.where(s.remote_id.in_(chunk)))})
    return found


def store_scores(session: Session, connection: Connection, target: str, version: str,
                 remote_ids: list[str], scored: list[dict], now: datetime, complete: bool = False) -> list[str]:
    """Upsert Score rows, add ScoreHistory rows where the score moved; return remote ids whose output changed."""
    before = _existing(session, connection.id, target, remote_ids, complete)
    rows, history, changed = [], [], []
    for remote_id, result in zip(remote_ids, scored):
        old = before.get(remote_id)
        rows.append({"organization_id": connection.organization_id, "connection_id": connection.id,
                     "object_type": target, "remote_id": remote_id, "model_version": version,
                     "probability": result["probability"], "score": result["score"], "band": result["band"],
                     "reasons": result["reasons"], "next_step": result["next_step"],
                     "limited_history": result["limited_history"], "computed_at": now})
        # A new model version is a change too: the CRM shows which model scored the record.
        if old is None or old != (result["score"], result["band"], result["reasons"], result["next_step"], version):
            changed.append(remote_id)
        if old is None or old[0] != result["score"]:
            history.append({"connection_id": connection.id, "object_type": target, "remote_id": remote_id,
                            "probability": result["probability"], "score": result["score"],
                            "model_version": version, "computed_at": now})
    upsert(session, Score, rows, conflict=("connection_id", "object_type", "remote_id"))
    if history:
        session.execute(ScoreHistory.__table__.insert(), history)
    return changed


def score_target(session: Session, connection: Connection, target: str, now: datetime,
                 remote_ids: list[str] | None = None, report=None,
                 train_when_due: bool = True, check=None) -> tuple[list[str], list[str]]:
    """Score one type of the connection's open records, training first if needed: (ids scored, ids changed).

    ``report(event, target, count)``, when given, hears "training", "trained", "scoring" and "scored".
    ``train_when_due=False`` scores with the active version even when it is due for retraining
    (a webhook's rescoring, which cannot wait minutes; it needs an active version).
    ``check()``, when given, runs just before the scores are stored and raises to stop a scoring
    whose connection lock was lost meanwhile (``sync.locks.KeptLock.check``): another scoring may
    have read newer rows since.
    """
    report = report or (lambda *_args, **_kw: None)
    scope = ScoringScope(connection.id, frozenset(remote_ids) if remote_ids is not None else None)
    organization_id = connection.organization_id
    version = active_version(session, organization_id, target)
    if version is None or (train_when_due and needs_training(version, now, RETRAIN_AFTER)):
        report("training", target)
        features = build_features(session, organization_id, target, now)
        train(session, organization_id, target, now, features=features)
        report("trained", target)
        version = active_version(session, organization_id, target)
        chosen = features.subset((scope.mask(features.meta) & features.meta["is_open"]).to_numpy())
    else:  # only the records to score need features
        chosen = build_features(session, organization_id, target, now, scope)
    if chosen.frame.empty:
        return [], []
    release(session)  # the new version and the reads are done: scoring holds no lock on the store
    report("scoring", target, len(chosen.frame))
    scored = score_frame(load_model(version), chosen.frame, target, version.card,
                         stage_names(session, organization_id).for_connection(connection.id))
    ids = chosen.meta["remote_id"].tolist()
    if check is not None:
        check()
    changed = store_scores(session, connection, target, version.version, ids, scored, now,
                           complete=remote_ids is None)
    report("scored", target, len(ids))
    return ids, changed


def score_connection(session: Session, connection_id: int, now: datetime | None = None,
                     remote_ids: dict[str, list[str]] | None = None, report=None, check=None) -> dict:
    """Score the connection's open leads and deals (or only the given remote ids per type), and commit."""
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise ValueError(f"No connection with id {connection_id}; it may have been removed. Reconnect the CRM.")
    now = resolve_now(now)
    result = {"lead": 0, "opportunity": 0, "changed": {"lead": [], "opportunity": []}}
    for target in TARGETS:
        wanted = None if remote_ids is None else remote_ids.get(target)
        if remote_ids is not None and not wanted:
            continue
        scored, changed = score_target(session, connection, target, now, wanted, report, check=check)
        result[target], result["changed"][target] = len(scored), changed
        session.commit()  # one target's scores at a time: the write lock is held only while storing
    return result
