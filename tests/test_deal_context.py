"""A targeted deal scoring reads only its deals; the organization's context is kept and rebuilt when it changes."""
from __future__ import annotations

from datetime import timedelta

from pandas.testing import assert_frame_equal
from sqlalchemy import select

from scoring.records import deal_context
from scoring.records.deal_context import ContextCache
from scoring.records.deal_features import build_context, deal_features
from scoring.records.features import ScoringScope
from scoring.records.score import score_connection
from sync.store import Opportunity, Score
from tests.test_scoring_store import NOW, sessions, sqlite_sessions, sqlite_store, store  # noqa: F401 (fixtures)


def _scores(session, connection_id: int) -> dict[str, tuple]:
    rows = session.execute(select(Score.remote_id, Score.probability, Score.score, Score.band, Score.reasons)
                           .where(Score.connection_id == connection_id, Score.object_type == "opportunity")).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_targeted_scores_equal_those_of_the_full_rescoring(store):
    org, conn = store["a"]
    deal_context.CACHE.clear()
    with store["sessions"]() as session:
        score_connection(session, conn, now=NOW)
        full = _scores(session, conn)
        some = sorted(full)[::2]
        result = score_connection(session, conn, now=NOW, remote_ids={"opportunity": some})
        assert result["opportunity"] == len(some) and result["changed"]["opportunity"] == []
        session.expire_all()
        targeted = _scores(session, conn)
        assert {k: targeted[k] for k in some} == {k: full[k] for k in some}


def test_features_from_the_kept_context_equal_the_full_build_until_it_ends(store):
    org, conn = store["a"]
    with store["sessions"]() as session:
        # A deal without an owner or account elsewhere in the organization: the named deals all have both.
        loner = session.scalars(select(Opportunity).where(Opportunity.connection_id == conn,
                                                          Opportunity.is_closed.is_(True))).first()
        loner.owner_remote_id = loner.account_remote_id = None
        session.commit()
        context = build_context(session, org, NOW)
        assert context.valid_until is not None and context.valid_until > NOW
        # The last moment the context covers, and the first one it does not.
        for now in (NOW, context.valid_until - timedelta(microseconds=1), context.valid_until):
            full = deal_features(session, org, now)
            some = full.meta[full.meta["is_open"]]["remote_id"].tolist()[::3]
            expected = full.frame[(full.meta["is_open"] & full.meta["remote_id"].isin(some)).to_numpy()]
            used = context if context.covers(now) else build_context(session, org, now)
            assert (used is context) == (now < context.valid_until)
            scoped = deal_features(session, org, now, ScoringScope(conn, frozenset(some)), used)
            assert sorted(scoped.meta["remote_id"]) == sorted(some)
            assert_frame_equal(scoped.frame.reset_index(drop=True), expected.reset_index(drop=True),
                               check_dtype=False)


def test_the_context_is_built_once_and_rebuilt_when_its_deals_change_or_time_passes_it(sqlite_store):
    org, conn = sqlite_store["a"]
    cache = ContextCache()
    with sqlite_store["sessions"]() as session:
        first = cache.get(session, org, NOW, build_context)
        assert cache.get(session, org, NOW + timedelta(microseconds=1), build_context) is first
        assert cache.builds == 1

        deal = session.scalars(select(Opportunity).where(Opportunity.connection_id == conn,
                                                         Opportunity.is_closed.is_(False))).first()
        deal.amount = (deal.amount or 0) + 1000  # a synced change of one deal's amount
        session.commit()
        second = cache.get(session, org, NOW, build_context)
        assert second is not first and cache.builds == 2
        assert second.fingerprint != first.fingerprint
        assert cache.get(session, org, NOW, build_context) is second

        later = cache.get(session, org, second.valid_until, build_context)
        assert later is not second and cache.builds == 3


def test_two_targeted_scorings_in_one_process_build_the_context_once(sqlite_store):
    org, conn = sqlite_store["a"]
    deal_context.CACHE.clear()
    with sqlite_store["sessions"]() as session:
        score_connection(session, conn, now=NOW)
        open_ids = sorted(_scores(session, conn))
        builds = deal_context.CACHE.builds
        for remote_id in open_ids[:2]:  # two webhook jobs, one deal each
            score_connection(session, conn, now=NOW, remote_ids={"opportunity": [remote_id]})
        assert deal_context.CACHE.builds == builds + 1
