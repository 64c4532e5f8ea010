"""Scorings of one connection on several worker processes never store an older reading after a newer one.

Two real ``sync.worker`` processes on the scoring queue, one Redis and one PostgreSQL. A full
scoring reads the deals and is held just before it stores (the test holds the other deals' score
rows, as a slow store or a long scoring would); meanwhile a deal changes and its targeted scoring
is queued. Whatever order the processes run in, the deal's stored score must be the one its
current rows give: a full scoring that read the deal before the change may not store after the
rescoring that read it after.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select, text, update

from scoring.jobs import score_connection_job, scoring_lock
from scoring.records.score import score_connection, score_target
from sync.locks import LockLost
from sync.store import Connection, Opportunity, Score, utcnow
from tests.conftest import _pg_database, wait_for
from tests.test_scoring_store import Rows, org_with_connection, seed_deals


def _seeded(rt) -> tuple[int, str]:
    """A synced connection with trained models and scores; the deal whose change the test makes."""
    with rt.sessions() as session:
        org, connection_id = org_with_connection(session, "two-scorings")
        session.execute(update(Connection).where(Connection.id == connection_id).values(last_synced_at=utcnow()))
        rows = Rows(org, connection_id)
        seed_deals(rows, n_closed=200, n_open=300, seed=7)
        rows.write(session)
    assert score_connection_job(connection_id, then_write_back=False)["opportunity"] == 300
    with rt.sessions() as session:
        # The newest deal: the full scoring stores it after the rows the test holds.
        deal = session.scalar(select(Opportunity.remote_id).where(Opportunity.is_closed.is_(False))
                              .order_by(Opportunity.id.desc()).limit(1))
    return connection_id, deal


def _stored(session, connection_id: int, deal: str):
    return session.execute(select(Score.probability, Score.score, Score.computed_at).where(
        Score.connection_id == connection_id, Score.remote_id == deal)).one()


def _score_from_current_rows(rt, connection_id: int, deal: str, now) -> float:
    """The probability the deal's rows as they are now give at ``now`` (computed, then rolled back)."""
    with rt.sessions() as session:
        score_target(session, session.get(Connection, connection_id), "opportunity", now, [deal],
                     train_when_due=False)
        probability = _stored(session, connection_id, deal).probability
        session.rollback()
    return probability


def _blocked_stores(rt) -> int:
    with rt.engine.connect() as db:
        return db.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND query LIKE 'INSERT INTO score %'"))


def _drained(queue) -> bool:
    return not (len(queue) or queue.started_job_registry.count or queue.scheduled_job_registry.count)


def test_a_full_scoring_that_read_before_a_change_never_stores_after_its_rescoring(
        make_runtime, pg_server, start_worker):
    rt = make_runtime(_pg_database(pg_server))
    connection_id, deal = _seeded(rt)
    queue = rt.queues["scoring"]
    with rt.sessions() as session:
        before = _stored(session, connection_id, deal)
        stage = session.scalar(select(Opportunity.stage).where(Opportunity.remote_id == deal))
    workers = [start_worker(rt.config, queues=("scoring",)) for _ in range(2)]

    held = rt.engine.connect()
    try:
        # The full scoring's store waits on the other deals' rows (the deal's own row stays free).
        held.execute(text("SELECT id FROM score WHERE connection_id = :c AND remote_id != :d FOR UPDATE"),
                     {"c": connection_id, "d": deal})
        full = queue.enqueue(score_connection_job, connection_id, None, False, job_timeout=600)
        wait_for(lambda: _blocked_stores(rt) == 1, 90, 0.2, "the full scoring to read and reach its store")

        # The CRM changes the deal and its rescoring is queued (as a sync does), on the other worker.
        with rt.sessions() as session:
            session.execute(update(Opportunity).where(Opportunity.remote_id == deal).values(
                stage="Prospecting" if stage != "Prospecting" else "Negotiation", synced_at=utcnow()))
            session.commit()
        targeted = queue.enqueue(score_connection_job, connection_id, {"opportunity": [deal]}, False)
        wait_for(lambda: targeted.get_status(refresh=True) in ("finished", "failed"), 90, 0.2,
                 "the deal's rescoring to run")
        time.sleep(1)  # a rescoring that stored would have committed by now
    finally:
        held.rollback()
        held.close()

    wait_for(lambda: full.get_status(refresh=True) == "finished" and _drained(queue), 120, 0.5,
             "the scorings to finish")
    assert not queue.failed_job_registry.count, [w.output()[-3000:] for w in workers]
    with rt.sessions() as session:
        after = _stored(session, connection_id, deal)
    # The deal's stored score is what its current rows give; the change did move it.
    assert after.probability == _score_from_current_rows(rt, connection_id, deal, after.computed_at)
    assert after.probability != before.probability


def test_a_scoring_whose_lock_was_lost_stops_before_it_stores(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)
    connection_id, deal = _seeded(rt)
    lock = scoring_lock(rt.redis, connection_id, ttl=1)
    assert lock.acquire()
    try:
        rt.redis.delete(lock.name)  # Redis lost the key (it restarted, or the process stalled past the TTL)
        wait_for(lambda: lock.lost, 10, 0.1, "the renewal to find the lock gone")
        with rt.sessions() as session:
            with pytest.raises(LockLost):
                score_connection(session, connection_id, now=utcnow(), remote_ids={"opportunity": [deal]},
                                 check=lock.check)
    finally:
        lock.release()
