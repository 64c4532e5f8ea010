"""A change in the CRM to a new score on its record, in one job (SQLite and PostgreSQL).

The Salesforce sandbox sends its real outbound messages to the app's intake; a real RQ worker
(in-process, as the Procfile's ``webhooks`` process runs it) takes each event through the targeted
sync, the rescoring of only the records the change moves, and the writeback, and its trace shows
every stage in order.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import select, update

from scoring.jobs import score_connection_job, scoring_lock
from scoring.records.registry import active_version, train
from sync import runtime as runtime_module
from sync import webhook_outbox, webhook_trace
from sync.jobs import sync_connection
from sync.runtime import Runtime
from sync.store import Connection, ModelVersion, Opportunity, Score, SyncRun, WebhookEvent, WritebackLedger
from sync.writeback_jobs import provision_job
from tests.browser import serve
from tests.conftest import connect_salesforce, outbound_endpoint, wait_for
from web import create_app


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, redis_server, sf_sandbox, tmp_path_factory):
    """An installed, synced and scored connection whose org sends outbound messages to the served app.

    One per module and store: the install, first sync and first training run once; each test
    logs its meetings on deals of its own.
    """
    from connectors.salesforce.sandbox.control import SandboxControl
    from tests.conftest import _pg_database, make_config
    from web.cli import upgrade_database

    tmp = tmp_path_factory.mktemp("event-job")
    url = f"sqlite:///{tmp / 'store.db'}" if request.param == "sqlite" else _pg_database(
        request.getfixturevalue("pg_server"))
    Redis.from_url(redis_server).flushall()
    config = make_config(tmp, url, redis_server, sf_sandbox)
    upgrade_database(config.DATABASE_URL)
    rt = Runtime.from_config(config)
    runtime_module.use(rt)
    control = SandboxControl(sf_sandbox.base_url, sf_sandbox.ca_path)
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)  # the install's step: Pipewise's fields in the CRM
    sync_connection(connection_id, "full", then_score=False)
    score_connection_job(connection_id, then_write_back=False)
    config.runtime = rt
    server, base = serve(create_app(config))
    control.configure_outbound(outbound_endpoint(rt, connection_id, base), ["Event"])
    try:
        yield rt, connection_id, iter(_open_deals(rt, connection_id, 40))
    finally:
        control.configure_outbound(None)
        server.shutdown()
        runtime_module.use(None)
        rt.engine.dispose()


def _open_deals(rt, connection_id: int, n: int) -> list[str]:
    with rt.sessions() as db:
        return db.scalars(select(Opportunity.remote_id).where(
            Opportunity.connection_id == connection_id, Opportunity.is_closed.is_(False))
            .order_by(Opportunity.remote_id).limit(n)).all()


def _log_meeting(rt, sf_control, connection_id: int, deal: str) -> WebhookEvent:
    """Log a meeting on the deal in the CRM; the stored event once the CRM's message arrived."""
    with rt.sessions() as db:
        known = set(db.scalars(select(WebhookEvent.id)))
    sf_control.create("Event", {"Subject": "Meeting", "WhatId": deal, "ActivityDateTime": sf_control.info()["clock"],
                                "DurationInMinutes": 30, "EventSubtype": "Event"})

    def arrived():
        with rt.sessions() as db:
            return db.scalar(select(WebhookEvent).where(WebhookEvent.connection_id == connection_id,
                                                        WebhookEvent.id.not_in(known)))
    return wait_for(arrived, message="the CRM's outbound message")


def _work(rt) -> None:
    SimpleWorker([rt.queues["webhooks"]], connection=rt.redis).work(burst=True)


def _event(rt, event_id: int) -> WebhookEvent:
    with rt.sessions() as db:
        return db.get(WebhookEvent, event_id)


def test_a_logged_meeting_reaches_the_crm_field_with_every_stage_traced_in_order(live, sf_control):
    rt, connection_id, deals = live
    deal = next(deals)
    with rt.sessions() as db:
        before = {s.remote_id: s.computed_at for s in db.scalars(select(Score).where(Score.connection_id == connection_id))}
    field_before = sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c")

    event = _log_meeting(rt, sf_control, connection_id, deal)
    _work(rt)

    done = _event(rt, event.id)
    assert done.processed_at is not None and done.error is None and done.attempts == 1
    times = [getattr(done, stage) for stage in webhook_trace.STAGES]
    assert None not in times, [f"{k}={v}" for k, v in zip(webhook_trace.STAGES, times)]
    assert times == sorted(times), dict(zip(webhook_trace.STAGES, times))
    # The new score is on the CRM record, and it is the stored one.
    with rt.sessions() as db:
        score = db.scalar(select(Score).where(Score.connection_id == connection_id, Score.remote_id == deal))
        rescored = {s.remote_id for s in db.scalars(select(Score).where(Score.connection_id == connection_id))
                    if s.computed_at != before.get(s.remote_id)}
        written = set(db.scalars(select(WritebackLedger.remote_id).where(
            WritebackLedger.connection_id == connection_id, WritebackLedger.status == "written",
            WritebackLedger.updated_at >= event.received_at)))
    crm = sf_control.record("Opportunity", deal)
    assert crm["Pipewise_Scored_At__c"] != field_before and str(crm["Pipewise_Score__c"]).split(".")[0] == str(score.score)
    # Only the deal the meeting is about was rescored and written: not the organization's other records.
    assert rescored == {deal} and written == {deal}


def test_a_burst_is_coalesced_into_one_sync_and_each_event_is_processed_once(live, sf_control):
    rt, connection_id, fresh = live
    deals = [next(fresh) for _ in range(3)]
    events = [_log_meeting(rt, sf_control, connection_id, deal) for deal in deals]
    with rt.sessions() as db:
        runs_before = db.scalar(select(SyncRun.id).order_by(SyncRun.id.desc()).limit(1))
    _work(rt)  # three jobs queued: the first takes all three events, the others find nothing to do

    with rt.sessions() as db:
        runs = db.scalars(select(SyncRun).where(SyncRun.id > runs_before, SyncRun.kind == "targeted")).all()
    named = {rid for e in events for ids in e.targets.values() for rid in ids}
    assert len(runs) == 1 and named <= {rid for ids in runs[0].changed_ids.values() for rid in ids}
    for event in events:
        done = _event(rt, event.id)
        assert done.processed_at is not None and done.error is None and done.attempts == 1


def test_the_model_is_loaded_once_per_worker_process_and_again_when_its_version_changes(live, sf_control, caplog):
    rt, connection_id, deals = live
    first, second, third = next(deals), next(deals), next(deals)
    caplog.set_level(logging.INFO, logger="scoring.records.registry")
    for deal in (first, second):  # this process already scored with the active version at install
        _log_meeting(rt, sf_control, connection_id, deal)
        _work(rt)
    assert [r for r in caplog.records if "scoring.model-loaded" in r.getMessage()] == []

    # Another process trains and activates a new version.
    with rt.sessions() as db:
        organization_id = db.get(Connection, connection_id).organization_id
        old = active_version(db, organization_id, "opportunity")
        new = train(db, organization_id, "opportunity", datetime.fromisoformat(old.card["as_of"]) + timedelta(minutes=1))
        db.execute(update(ModelVersion).where(ModelVersion.organization_id == organization_id,
                                              ModelVersion.target == "opportunity")
                   .values(is_active=ModelVersion.id == new.id))
        db.commit()
        new_version = new.version
    _log_meeting(rt, sf_control, connection_id, third)
    _work(rt)
    loads = [r.getMessage() for r in caplog.records if "scoring.model-loaded" in r.getMessage()]
    assert len(loads) == 1 and f"version={new_version}" in loads[0]
    with rt.sessions() as db:
        assert db.scalar(select(Score.model_version).where(Score.remote_id == third)) == new_version


def test_a_failure_after_the_sync_resumes_with_the_rescoring_and_the_writeback(live, sf_control, monkeypatch):
    rt, connection_id, deals = live
    deal = next(deals)
    field_before = sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c")
    event = _log_meeting(rt, sf_control, connection_id, deal)
    # The job stops right after the sync stored the change, before any rescoring (the store going
    # away, a deploy); the next attempt's sync then finds nothing new to re-read.
    import scoring.event_job as event_job

    def stop(*_args, **_kwargs):
        raise RuntimeError("the store went away")
    monkeypatch.setattr(event_job, "_rescore_and_write", stop)
    _work(rt)
    monkeypatch.undo()
    stopped = _event(rt, event.id)
    assert stopped.processed_at is None and stopped.sync_finished_at is not None
    assert stopped.scoring_started_at is None and "store went away" in stopped.error
    assert sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c") == field_before

    # The sweeper queues it again: the record is rescored and written all the same, the event processed once.
    rt.config.WEBHOOK_RETRY_SECONDS = 0
    assert webhook_outbox.sweep(rt) == 1
    _work(rt)
    done = _event(rt, event.id)
    assert done.processed_at is not None and done.error is None and done.attempts == 2
    assert done.writeback_acked_at is not None
    assert sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c") != field_before


def test_a_rescoring_that_finds_another_scoring_running_is_handed_to_the_scoring_queue(live, sf_control):
    rt, connection_id, deals = live
    deal = next(deals)
    field_before = sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c")
    earlier = set(rt.queues["scoring"].job_ids)  # what the module's other tests left queued
    running = scoring_lock(rt.redis, connection_id, 60)  # a full scoring of the connection, say
    assert running.acquire()
    try:
        event = _log_meeting(rt, sf_control, connection_id, deal)
        _work(rt)
        # The event's sync is done and it is finished; its rescoring waits in the scoring queue.
        done = _event(rt, event.id)
        assert done.processed_at is not None and done.error is None and done.sync_finished_at is not None
        assert done.scoring_started_at is None and done.writeback_sent_at is None
        (queued,) = [rt.queues["scoring"].fetch_job(i) for i in rt.queues["scoring"].job_ids if i not in earlier]
        assert queued.func_name == "scoring.jobs.score_connection_job"
        assert queued.args == (connection_id, {"opportunity": [deal]})
        assert sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c") == field_before
    finally:
        running.release()

    # Once the running scoring is done, the queued one rescores the deal and its writeback sends it.
    SimpleWorker([rt.queues["scoring"], rt.queues["writeback"]], connection=rt.redis).work(burst=True)
    assert sf_control.record("Opportunity", deal).get("Pipewise_Scored_At__c") != field_before
