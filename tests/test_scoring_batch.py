"""Batch scoring: the whole-organization path stores exactly what scoring one record at a time gives.

The reference below is the per-record path scoring used before it was made to scale (a Series per
record, its impacts sorted one record at a time); the batch path must store the same probability,
score, band, reasons and next step for every record, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from scoring.records.deal_features import _deals, _rows, deal_features
from scoring.records.explain import LIMITED_HISTORY, MIN_IMPACT, TOP, describe, reads_as
from scoring.records.features import ScoringScope
from scoring.records.models import fitting_sample
from scoring.records.registry import TARGETS, active_version, build_features, is_fallback, load_model, train
from scoring.records.score import explained_probabilities, score_connection, scored_record
from sync.stages import stage_names
from sync.store import Score
from tests.test_scoring_store import NOW, sessions, sqlite_sessions, sqlite_store, store  # noqa: F401


def per_record_reasons(base, impacts: pd.Series, row: pd.Series, target: str, limited_history: bool) -> dict:
    """The reasons of one record, sorted and worded one record at a time."""
    def pick(items):
        return [{"feature": f, "text": describe(f, row.get(f), row, target), "impact": round(float(v), 4)}
                for f, v in items[:TOP]]
    ordered = impacts.sort_values(kind="stable")
    up = [(f, v) for f, v in ordered[::-1].items() if v >= MIN_IMPACT and reads_as(f, row.get(f), row) >= 0]
    down = [(f, v) for f, v in ordered.items() if v <= -MIN_IMPACT and reads_as(f, row.get(f), row) <= 0]
    out = {"up": pick(up), "down": pick(down), "base": round(float(base), 4), "limited_history": limited_history}
    if limited_history:
        out["note"] = LIMITED_HISTORY
    return out


def per_record_scores(model, frame: pd.DataFrame, target: str, card: dict, stage_labels) -> list[dict]:
    """Every record scored through a Series of its own (iterrows), as the per-record path did."""
    raw, bases, impacts, unsupported = explained_probabilities(model, frame, card)
    words = frame.assign(stage_label=frame["stage"].map(stage_labels)) if stage_labels and "stage" in frame else frame
    return [scored_record(model, card, target, row,
                          per_record_reasons(bases[i], impacts.iloc[i], row, target, is_fallback(model)), raw[i],
                          unsupported[i])
            for i, (_, row) in enumerate(words.iterrows())]


def test_the_batch_path_stores_what_scoring_each_record_alone_gives(store):
    for org, conn in (store["a"], store["b"]):  # a trained model, and rules on a short history
        with store["sessions"]() as session:
            result = score_connection(session, conn, now=NOW)
            assert result["lead"] > 0 and result["opportunity"] > 0
            for target in TARGETS:
                version = active_version(session, org, target)
                chosen = build_features(session, org, target, NOW, ScoringScope(conn))
                expected = per_record_scores(load_model(version), chosen.frame, target, version.card,
                                             stage_names(session, org).for_connection(conn))
                stored = {s.remote_id: s for s in session.scalars(select(Score).where(
                    Score.connection_id == conn, Score.object_type == target))}
                ids = chosen.meta["remote_id"].tolist()
                assert sorted(stored) == sorted(ids)
                for remote_id, want in zip(ids, expected):
                    got = stored[remote_id]
                    assert (got.probability, got.score, got.band, got.next_step) == (
                        want["probability"], want["score"], want["band"], want["next_step"]), remote_id
                    assert got.reasons == want["reasons"], remote_id


def test_track_records_count_only_the_deals_closed_before_each_moment(store):
    org, _ = store["a"]
    with store["sessions"]() as session:
        features = deal_features(session, org, NOW)
        rows, _ = _rows(_deals(session, org), NOW, None)
    closed = rows[rows["closed_at"].notna()]
    wanted = rows[rows["wanted"] == 1].reset_index(drop=True)
    frame = features.frame.reset_index(drop=True)
    assert len(wanted) == len(frame)
    for i in range(0, len(wanted), 7):  # one deal in seven, pairwise against every closed deal
        deal = wanted.iloc[i]
        mine = closed[(closed["connection_id"] == deal["connection_id"])
                      & (closed["owner_remote_id"] == deal["owner_remote_id"])]
        before = mine[mine["closed_at"].dt.floor("us") < pd.Timestamp(deal["as_of"]).floor("us")]
        recent = before[before["closed_at"].dt.floor("us") >= (pd.Timestamp(deal["as_of"]).floor("us")
                                                                - pd.Timedelta(days=180))]
        assert frame.loc[i, "owner_closed_deals"] == len(before)
        assert frame.loc[i, "owner_recent_closed_deals"] == len(recent)
        if len(before):
            won = float(before["won"].sum())
            prior = float(rows.loc[rows["closed_at"].notna(), "won"].mean())
            assert np.isclose(frame.loc[i, "owner_win_rate"], (won + 5 * prior) / (len(before) + 5))


def test_a_large_history_is_fitted_on_a_sample_and_judged_on_every_held_out_record(sqlite_store, monkeypatch):
    import scoring.records.models

    org, _ = sqlite_store["a"]
    monkeypatch.setattr(scoring.records.models, "MAX_FIT_RECORDS", 600)
    with sqlite_store["sessions"]() as session:
        version = train(session, org, "lead", NOW)
        training = version.card["training"]
        labelled = training["labelled"]
        assert labelled * 0.8 > 1000  # well above the limit, so both fits are sampled
        # the held-out fifth is whole: every matured recent record judges the model
        assert training["holdout_n"] == labelled - int(round(labelled * 0.8))
        assert abs(training["candidate_fitted_on"] - 600) <= 1 and abs(training["fitted_on"] - 600) <= 1
        assert "stratified sample of" in version.card["metrics_note"]
        assert version.card["earns"] and version.card["metrics"]["auc"] > 0.6, version.card["verdict"]


def test_a_fitting_sample_keeps_each_outcomes_share_and_the_records_order():
    y = np.r_[np.zeros(9000, dtype=int), np.ones(1000, dtype=int)]
    np.random.default_rng(3).shuffle(y)
    picked = fitting_sample(y, 1000)
    assert len(picked) == 1000 and len(np.unique(picked)) == 1000
    assert (np.diff(picked) > 0).all() and y[picked].sum() == 100
    assert (fitting_sample(y[:800], 1000) == np.arange(800)).all()  # few records: all of them
