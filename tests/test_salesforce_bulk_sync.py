"""A Salesforce first sync through Bulk API 2.0 query jobs, end to end: the engine's backfill over real HTTPS
against the sandbox, on SQLite and PostgreSQL. It stores exactly what the sandbox holds, the next incremental
pull catches what changed on the sandbox's own clock, a worker killed mid-job resumes without duplicates or
gaps (whether the job is still there or Salesforce deleted it), and a failing job falls back to REST."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from connectors.salesforce.mapping import to_common
from connectors.salesforce.provider import SalesforceProvider
from sync import jobs
from sync.connections import open_client
from sync.engine import SyncEngine
from sync.store import Connection, Lead, Opportunity, SyncCursor
from tests.conftest import connect_salesforce
from tests.test_sync import sandbox_ids, store_ids

# The small seed's larger objects hold a few hundred records: above this they are read in bulk.
THRESHOLD = 100


class Killed(BaseException):
    """The worker dying between two pages (raised from the engine's heartbeat, after a page's commit)."""


def bulk_runtime(make_runtime, db_url, sandbox):
    return make_runtime(db_url, sandbox, SALESFORCE_BULK_THRESHOLD=THRESHOLD)


def engine_for(rt, connection_id: int, heartbeat) -> tuple[SyncEngine, int]:
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
        organization_id = connection.organization_id
    engine = SyncEngine(rt.sessions, client, SalesforceProvider, to_common,
                        lookback=timedelta(seconds=rt.config.SYNC_LOOKBACK_SECONDS), heartbeat=heartbeat)
    return engine, organization_id


def unfinished_backfills(rt, connection_id: int) -> list[str]:
    with rt.sessions() as session:
        return list(session.scalars(select(SyncCursor.stream).where(
            SyncCursor.connection_id == connection_id, SyncCursor.backfill_started_at.is_not(None))))


def test_a_bulk_first_sync_stores_the_sandbox_and_the_next_pull_catches_changes(db_url, make_runtime, sf_sandbox,
                                                                                  sf_control):
    rt = bulk_runtime(make_runtime, db_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)

    first = jobs.sync_connection(connection_id, "full", then_score=False)
    assert first["status"] == "completed"
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)
    assert unfinished_backfills(rt, connection_id) == []
    # The larger objects went through query jobs (the clean-up deletes every job there is).
    assert sf_control.expire_query_jobs() >= 3

    # The sandbox's clock runs years behind this machine's: a cursor placed on our clock would miss these.
    deal = sorted(r["Id"] for r in sf_control.records("Opportunity") if not r.get("IsDeleted"))[0]
    lead = sorted(r["Id"] for r in sf_control.records("Lead") if not r.get("IsDeleted"))[0]
    sf_control.update("Opportunity", deal, {"Amount": 424242})
    sf_control.delete("Lead", lead)

    second = jobs.sync_connection(connection_id, then_score=False)
    assert second["status"] == "completed" and second["deleted"] == 1
    with rt.sessions() as session:
        assert session.scalar(select(Opportunity.amount).where(Opportunity.connection_id == connection_id,
                                                               Opportunity.remote_id == deal)) == 424242
        assert session.scalar(select(Lead.deleted_at).where(Lead.connection_id == connection_id,
                                                            Lead.remote_id == lead)) is not None
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)


def _killed_then_resumed(rt, sf_control, connection_id: int, *, expire_jobs: bool) -> None:
    pages = {"n": 0}

    def die_on_fourth_page() -> None:
        pages["n"] += 1
        if pages["n"] == 4:
            raise Killed()

    engine, organization_id = engine_for(rt, connection_id, die_on_fourth_page)
    try:
        engine.run(connection_id, organization_id, kind="full")
    except Killed:
        pass
    else:  # pragma: no cover - the seed shrank below four pages
        raise AssertionError("the sync finished before the worker was killed")
    assert unfinished_backfills(rt, connection_id), "the kill should land inside a bulk backfill"
    if expire_jobs:
        assert sf_control.expire_query_jobs() >= 1  # Salesforce deleted the job the token names

    resumed = jobs.sync_connection(connection_id, "incremental", then_score=False)
    assert resumed["status"] == "completed"
    assert unfinished_backfills(rt, connection_id) == []
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)  # also fails on any duplicate row


def test_a_worker_killed_mid_job_resumes_the_same_job_without_duplicates_or_gaps(sqlite_url, make_runtime,
                                                                                  sf_sandbox, sf_control):
    rt = bulk_runtime(make_runtime, sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    _killed_then_resumed(rt, sf_control, connection_id, expire_jobs=False)


def test_a_resume_after_salesforce_deleted_the_job_starts_a_new_one_and_ends_exact(sqlite_url, make_runtime,
                                                                                   sf_sandbox, sf_control):
    rt = bulk_runtime(make_runtime, sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    _killed_then_resumed(rt, sf_control, connection_id, expire_jobs=True)


def test_failing_query_jobs_fall_back_to_rest_and_the_sync_completes(sqlite_url, make_runtime, sf_sandbox,
                                                                     sf_control):
    rt = bulk_runtime(make_runtime, sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sf_control.knobs(bulk_failing_jobs=2, bulk_unsupported_objects=["Lead"])

    result = jobs.sync_connection(connection_id, "full", then_score=False)
    assert result["status"] == "completed"
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)
