"""The sync engine against the Salesforce sandbox: real HTTPS, real Redis, SQLite and PostgreSQL."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from connectors.salesforce.mapping import to_common
from connectors.salesforce.provider import SalesforceProvider
from sync import jobs
from sync.connections import open_client
from sync.engine import SyncEngine
from sync.store import SYNCED_MODELS, Connection, Lead, Opportunity, SyncRun
from tests.conftest import connect_salesforce, wait_for

OBJECTS = {"User": "user", "UserRole": "user_role", "Account": "account", "Contact": "contact", "Lead": "lead",
           "Opportunity": "opportunity", "OpportunityHistory": "opportunity_stage_change",
           "Task": "activity", "Event": "activity", "Campaign": "campaign", "CampaignMember": "campaign_member",
           "ForecastingQuota": "quota", "CurrencyType": "currency_rate", "DatedConversionRate": "currency_rate"}


def sandbox_ids(control) -> dict[str, set[str]]:
    """Live record ids in the sandbox, per common object (none for objects Salesforce has no stream for)."""
    ids: dict[str, set[str]] = {name: set() for name in SYNCED_MODELS}
    for remote, common in OBJECTS.items():
        ids[common] |= {r["Id"] for r in control.records(remote) if not r.get("IsDeleted")}
    return ids


def store_ids(rt, connection_id: int) -> dict[str, set[str]]:
    """Live record ids in the store, per common object; fails on a duplicate."""
    out = {}
    with rt.sessions() as session:
        for name, model in SYNCED_MODELS.items():
            rows = session.scalars(select(model.remote_id).where(
                model.connection_id == connection_id, model.deleted_at.is_(None))).all()
            duplicates = [k for k, n in Counter(rows).items() if n > 1]
            assert not duplicates, f"{name} duplicated: {duplicates[:5]}"
            out[name] = set(rows)
    return out


def last_run(rt, connection_id: int) -> SyncRun:
    with rt.sessions() as session:
        return session.scalar(select(SyncRun).where(SyncRun.connection_id == connection_id)
                              .order_by(SyncRun.id.desc()).limit(1))


def test_first_sync_stores_exactly_the_sandbox_and_a_second_changes_nothing(db_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(db_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)

    first = jobs.sync_connection(connection_id, "full", then_score=False)
    assert first["status"] == "completed"
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)
    assert first["changed"] == first["seen"] > 0

    second = jobs.sync_connection(connection_id, then_score=False)
    assert second["changed"] == 0 and second["deleted"] == 0
    # A query per stream the org has (a single-currency org has no currency rates), nothing else: the
    # first sync's describe of every object (one Composite call) is kept by the process.
    assert first["api_calls"] > second["api_calls"]
    assert second["api_calls"] == len([s for s in SalesforceProvider.streams if not s.quiet_when_missing])
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)


def _lead_stream():
    stream = SalesforceProvider.stream("lead")
    return type("SmallLeadPages", (stream,), {"page_size": 200})


def test_records_sharing_one_modstamp_across_page_boundaries_all_arrive(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    leads = [r["Id"] for r in sf_control.records("Lead") if not r.get("IsDeleted")]
    assert len(leads) >= 400, "the small seed needs at least two pages of leads"
    sf_control.touch("Lead", leads, "2017-09-15T10:00:00Z")
    stream = _lead_stream()

    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
    engine = SyncEngine(rt.sessions, client, SalesforceProvider, to_common)
    run = engine.run(connection_id, connection.organization_id, streams=(stream,))
    assert run.status == "completed"
    assert run.api_calls >= 2  # two pages or more, so the shared stamp crossed a boundary
    assert store_ids(rt, connection_id)["lead"] == set(leads)


def test_an_edit_during_a_sync_arrives_next_time_and_a_delete_is_marked(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    jobs.sync_connection(connection_id, "full", then_score=False)
    target = sorted(r["Id"] for r in sf_control.records("Opportunity") if not r.get("IsDeleted"))[0]
    victim = sorted(r["Id"] for r in sf_control.records("Lead") if not r.get("IsDeleted"))[0]

    edited = []

    def edit_once():
        if not edited:
            sf_control.update("Opportunity", target, {"Amount": 123456})
            edited.append(True)

    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
    engine = SyncEngine(rt.sessions, client, SalesforceProvider, to_common,
                        lookback=timedelta(seconds=rt.config.SYNC_LOOKBACK_SECONDS), heartbeat=edit_once)
    engine.run(connection_id, connection.organization_id)
    sf_control.delete("Lead", victim)

    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["deleted"] == 1
    with rt.sessions() as session:
        amount = session.scalar(select(Opportunity.amount).where(Opportunity.remote_id == target))
        deleted_at = session.scalar(select(Lead.deleted_at).where(Lead.remote_id == victim))
    assert amount == 123456
    assert deleted_at is not None
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)


def test_an_org_without_forecasting_syncs_everything_else_and_says_why_quotas_are_missing(
        sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    jobs.sync_connection(connection_id, "full", then_score=False)
    victim = sorted(r["Id"] for r in sf_control.records("Lead") if not r.get("IsDeleted"))[1]
    sf_control.delete("Lead", victim)
    sf_control.knobs(forecasting_enabled=False)  # Collaborative Forecasts off (or no forecasting access)

    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["status"] == "completed" and result["deleted"] == 1, "the other objects' deletes still apply"
    run = last_run(rt, connection_id)
    quota = run.streams["forecasting_quota"]
    assert quota["skipped"] is True and "Collaborative Forecasts" in quota["note"]
    with rt.sessions() as session:
        assert session.get(Connection, connection_id).status == "healthy"
        assert session.scalar(select(Lead.deleted_at).where(Lead.remote_id == victim)) is not None


def test_expired_access_token_is_refreshed_without_the_user_noticing(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as session:
        before = session.get(Connection, connection_id).token_ciphertext
    sf_control.expire_tokens()

    result = jobs.sync_connection(connection_id, "full", then_score=False)
    assert result["status"] == "completed"
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        assert connection.status == "healthy"
        assert rt.cipher.decrypt_json(connection.token_ciphertext)["access_token"] != \
            rt.cipher.decrypt_json(before)["access_token"]


def test_revoked_refresh_token_asks_an_admin_to_reauthorize(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sf_control.revoke_tokens()

    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["status"] == "needs_reauth"
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
    assert connection.status == "needs_reauth"
    assert "re-authorize" in connection.status_reason.lower()


def test_429_and_503_are_retried_and_the_sync_completes(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sf_control.knobs(rate_limit_count=2, rate_limit_status=503)
    result = jobs.sync_connection(connection_id, "full", then_score=False)
    assert result["status"] == "completed"
    sf_control.knobs(rate_limit_count=2, rate_limit_status=429, rate_limit_retry_after=1)
    sf_control.update("Lead", sorted(r["Id"] for r in sf_control.records("Lead"))[1], {"Title": "VP Sales"})
    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["status"] == "completed" and result["changed"] == 1
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)


def test_daily_limit_pauses_the_connection_and_loses_nothing(sqlite_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sf_control.reset_usage()
    sf_control.knobs(daily_api_limit=4)  # runs out part-way through the streams

    result = jobs.sync_connection(connection_id, "full", then_score=False)
    assert result["status"] == "paused"
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        assert connection.status == "paused_quota"
        assert "quota" in connection.status_reason.lower()
        assert connection.api_usage_limit == 4
        connection.paused_until = None  # the quota came back
        session.commit()

    sf_control.knobs(daily_api_limit=15000)
    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["status"] == "completed"
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)


def test_no_token_is_stored_in_plaintext(tmp_path, make_runtime, sf_sandbox):
    path = tmp_path / "plain.db"
    rt = make_runtime(f"sqlite:///{path}", sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as session:
        token = rt.cipher.decrypt_json(session.get(Connection, connection_id).token_ciphertext)
    rt.engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("plain.db*"))
    assert token["access_token"].encode() not in raw
    assert token["refresh_token"].encode() not in raw


def test_a_worker_killed_mid_sync_resumes_without_duplicates_or_gaps(db_url, make_runtime, sf_sandbox, sf_control,
                                                                     start_worker):
    rt = make_runtime(db_url, sf_sandbox, SYNC_LOCK_TTL_SECONDS=3)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sf_control.knobs(delay_ms=250)  # every call slow, so the kill lands mid-run
    worker = start_worker(rt.config, queues=("sync",))
    rt.queues["sync"].enqueue(jobs.sync_connection, connection_id, "full", False)

    def some_streams_done():
        run = last_run(rt, connection_id)
        return run and run.seen > 0 and any(s.get("done") for s in run.streams.values()) \
            and not all(s.get("done") for s in run.streams.values())

    wait_for(some_streams_done, 60, message="a sync part-way through")
    worker.kill()
    sf_control.knobs(delay_ms=0)
    start_worker(rt.config, queues=("sync",))
    rt.queues["sync"].enqueue(jobs.sync_connection, connection_id, "incremental", False)
    wait_for(lambda: last_run(rt, connection_id).status == "completed", 90, message="the resumed sync")
    assert store_ids(rt, connection_id) == sandbox_ids(sf_control)
