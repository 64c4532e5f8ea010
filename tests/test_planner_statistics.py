"""A sync that loads many rows leaves the store analyzed, so the scoring after it is planned for them."""
from __future__ import annotations

from sqlalchemy import text

from sync import jobs, planner_statistics
from tests.conftest import connect_salesforce, wait_for


def analyzed(rt, table: str) -> bool:
    """Whether the store holds planner statistics for the table gathered by an ANALYZE."""
    with rt.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            return session.scalar(text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = :t"),
                                  {"t": table}) is True
        known = session.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
        return bool(known) and session.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = :t"),
                                              {"t": table}) > 0


def test_a_bulk_first_sync_analyzes_the_tables_it_loaded(db_url, make_runtime, sf_sandbox, monkeypatch):
    rt = make_runtime(db_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    assert not analyzed(rt, "opportunity")
    # The small seed writes fewer rows than a real first sync: the threshold follows it down.
    monkeypatch.setattr(planner_statistics, "BULK_ROWS", 100)

    first = jobs.sync_connection(connection_id, "full", then_score=False)

    assert first["changed"] >= 100
    wait_for(lambda: analyzed(rt, "opportunity") and analyzed(rt, "opportunity_stage_change"), timeout=10,
             message="statistics of the loaded tables")


def test_a_small_sync_does_not_analyze(sqlite_url, make_runtime, sf_sandbox):
    # SQLite only: PostgreSQL's autovacuum may analyze the new rows by itself meanwhile.
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)

    first = jobs.sync_connection(connection_id, "full", then_score=False)

    assert 0 < first["changed"] < planner_statistics.BULK_ROWS
    assert not analyzed(rt, "opportunity")
