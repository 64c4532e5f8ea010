"""End to end on a real worker: sync → score → writeback, then a meeting logged in the CRM moves the
deal's score on its record, through the outbound message."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from sync.store import Opportunity, Score, ScoreHistory, SyncRun
from sync.writeback_jobs import provision_job
from tests.conftest import connect_salesforce, make_config, outbound_endpoint, wait_for
from web import create_app


def queues_idle(rt) -> bool:
    return all(len(q) == 0 and q.started_job_registry.count == 0 for q in rt.queues.values())


@pytest.fixture
def pipeline(tmp_path, sqlite_url, redis_url, sf_sandbox, sf_control, make_runtime, start_worker):
    rt = make_runtime(sqlite_url, sf_sandbox)
    config = make_config(tmp_path, sqlite_url, redis_url, sf_sandbox)
    config.runtime = rt
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    connection_id = connect_salesforce(rt, sf_sandbox)
    endpoint = outbound_endpoint(rt, connection_id, base)
    provision_job(connection_id)
    sf_control.configure_outbound(endpoint)
    start_worker(rt.config)
    rt.queues["sync"].enqueue("sync.jobs.sync_connection", connection_id, "full")
    wait_for(lambda: _scored(rt, connection_id) and queues_idle(rt), 240, 0.5, "sync, scoring and writeback")
    sf_control.wait_outbound_idle(30)
    wait_for(lambda: queues_idle(rt), 60, 0.5, "the echoes of our writes to be handled")
    yield rt, connection_id, base
    sf_control.configure_outbound(None)
    server.shutdown()


def _scored(rt, connection_id: int) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(Score).where(Score.connection_id == connection_id))


def test_scores_reach_the_crm_and_our_own_writes_start_no_rescoring(pipeline, sf_control):
    rt, connection_id, _ = pipeline
    with rt.sessions() as session:
        scores = {s.remote_id: s for s in session.scalars(select(Score).where(
            Score.connection_id == connection_id, Score.object_type == "opportunity"))}
        open_deals = session.scalar(select(func.count()).select_from(Opportunity).where(
            Opportunity.connection_id == connection_id, Opportunity.is_closed.is_(False)))
        targeted = session.scalars(select(SyncRun).where(SyncRun.connection_id == connection_id,
                                                        SyncRun.kind == "targeted")).all()
        scored = session.scalar(select(func.count()).select_from(Score).where(Score.connection_id == connection_id))
        history = session.scalar(select(func.count()).select_from(ScoreHistory).where(
            ScoreHistory.connection_id == connection_id))
    assert len(scores) == open_deals > 0
    on_record = {r["Id"]: r for r in sf_control.records("Opportunity")}
    for remote_id, score in list(scores.items())[:25]:
        assert on_record[remote_id]["Pipewise_Score__c"] == score.score
        assert on_record[remote_id]["Pipewise_Band__c"] == score.band
    # Hundreds of outbound messages echoed our writes. The sandbox, like Salesforce, leaves null fields
    # out of a message, so most cannot prove nothing else changed: those start a targeted sync, which
    # finds every content hash unchanged and starts no rescoring. No loop: each record scored once.
    assert sf_control.outbound()["acked_notifications"] > 0
    assert all(run.status == "completed" and run.changed == 0 and run.deleted == 0 for run in targeted)
    assert history == scored


def test_a_meeting_logged_on_a_deal_changes_its_score_on_the_record(pipeline, sf_control):
    rt, connection_id, base = pipeline
    with rt.sessions() as session:
        stale = session.scalars(select(Score).where(Score.connection_id == connection_id,
                                                    Score.object_type == "opportunity")
                                .order_by(Score.remote_id)).first()
    deal = stale.remote_id
    before = sf_control.record("Opportunity", deal)
    sf_control.create("Event", {"Subject": "Pricing review", "WhatId": deal, "DurationInMinutes": 45,
                                "ActivityDateTime": sf_control.info()["clock"], "EventSubtype": "Event"})

    after = wait_for(lambda: (r := sf_control.record("Opportunity", deal))["Pipewise_Scored_At__c"]
                     != before["Pipewise_Scored_At__c"] and r, 60, 0.2, "the deal's new score on its record")
    assert (after["Pipewise_Score__c"], after["Pipewise_Reasons__c"]) != \
        (before["Pipewise_Score__c"], before["Pipewise_Reasons__c"])
    with rt.sessions() as session:
        stored = session.scalar(select(Score).where(Score.connection_id == connection_id, Score.remote_id == deal))
    assert after["Pipewise_Score__c"] == stored.score

    # The rep's panel shows the score the CRM field shows.
    signed = sf_control.signed_request("Opportunity", deal)["signed_request"]
    panel = requests.post(f"{base}/embed/salesforce/canvas", data={"signed_request": signed}, timeout=30)
    assert panel.status_code == 200
    assert f">{int(after['Pipewise_Score__c'])}<" in panel.text
