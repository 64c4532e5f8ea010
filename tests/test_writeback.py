"""Writeback to the Salesforce sandbox: only what changed, in collections of 200, rejections retried."""
from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from connectors.salesforce.provider import SalesforceProvider
from sync import jobs
from sync.connections import open_client
from sync.store import Connection, Lead, Score, WritebackLedger, utcnow
from sync.store.db import upsert
from sync.writeback import write
from sync.writeback_jobs import provision_job
from tests.conftest import connect_salesforce


@pytest.fixture
def synced(db_url, make_runtime, sf_sandbox, sf_control):
    """A connection with its fields provisioned and its data synced."""
    rt = make_runtime(db_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)
    jobs.sync_connection(connection_id, "full", then_score=False)
    return rt, connection_id


def give_scores(rt, connection_id: int, count: int, score: int = 61, converted: bool = False) -> list[str]:
    """Store a score for the first `count` open leads (or converted ones), as the scoring layer would."""
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        ids = session.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id,
                                                           Lead.is_converted.is_(converted))
                              .order_by(Lead.remote_id).limit(count)).all()
        upsert(session, Score, [{
            "organization_id": connection.organization_id, "connection_id": connection_id, "object_type": "lead",
            "remote_id": remote_id, "model_version": "lead-test-1", "probability": score / 100, "score": score,
            "band": "B", "reasons": {"up": [{"feature": "x", "text": "Replied to the last email", "impact": 0.4}],
                                     "down": []},
            "next_step": "Call within 24 hours", "limited_history": False, "computed_at": utcnow(),
        } for remote_id in ids], conflict=("connection_id", "object_type", "remote_id"))
        session.commit()
    return ids


def run_writeback(rt, connection_id: int):
    with rt.sessions() as session:
        client = open_client(rt.config, rt.sessions, rt.cipher, session.get(Connection, connection_id))
        calls_before = client.usage.calls
        summary = write(session, client, SalesforceProvider, connection_id)
        assert client.usage.calls - calls_before == summary.calls
        return summary


def test_changed_scores_go_out_in_collections_of_200_and_a_rerun_writes_nothing(synced, sf_control):
    rt, connection_id = synced
    ids = give_scores(rt, connection_id, 250)

    first = run_writeback(rt, connection_id)
    assert (first.written, first.calls) == (250, math.ceil(250 / 200))
    record = sf_control.record("Lead", ids[0])
    assert record["Pipewise_Score__c"] == 61
    assert record["Pipewise_Band__c"] == "B"
    assert "Replied to the last email" in record["Pipewise_Reasons__c"]
    assert record["Pipewise_Next_Step__c"] == "Call within 24 hours"

    second = run_writeback(rt, connection_id)
    assert (second.written, second.calls, second.unchanged) == (0, 0, 250)

    give_scores(rt, connection_id, 3, score=77)  # three scores move: one call for them
    third = run_writeback(rt, connection_id)
    assert (third.written, third.calls) == (3, 1)


def test_a_rejected_record_keeps_its_reason_and_is_retried_next_run(synced, sf_control):
    rt, connection_id = synced
    ids = give_scores(rt, connection_id, 20)
    sf_control.knobs(reject_ids=[ids[5]])

    first = run_writeback(rt, connection_id)
    assert (first.written, first.rejected) == (19, 1)
    with rt.sessions() as session:
        rows = session.scalars(select(WritebackLedger).where(WritebackLedger.remote_id == ids[5])).all()
    assert {r.status for r in rows} == {"rejected"}
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in rows[0].error
    assert sf_control.record("Lead", ids[6])["Pipewise_Score__c"] == 61

    sf_control.knobs(reject_ids=[])
    second = run_writeback(rt, connection_id)
    assert (second.written, second.rejected, second.calls) == (1, 0, 1)
    assert sf_control.record("Lead", ids[5])["Pipewise_Score__c"] == 61


def test_a_lead_converted_before_its_score_went_out_is_refused_once_not_every_run(synced):
    rt, connection_id = synced
    converted = give_scores(rt, connection_id, 2, converted=True)  # scored while open, converted since
    give_scores(rt, connection_id, 3)

    first = run_writeback(rt, connection_id)
    assert (first.written, first.rejected) == (3, 2)
    assert {e["code"] for e in first.errors} == {"CANNOT_UPDATE_CONVERTED_LEAD"}
    with rt.sessions() as session:
        statuses = set(session.scalars(select(WritebackLedger.status).where(
            WritebackLedger.remote_id.in_(converted))))
    assert statuses == {"refused"}
    second = run_writeback(rt, connection_id)
    assert (second.written, second.rejected, second.calls) == (0, 0, 0), "Salesforce will never take them"


def test_our_own_write_coming_back_through_a_sync_is_no_change(synced, sf_control):
    rt, connection_id = synced
    give_scores(rt, connection_id, 30)
    run_writeback(rt, connection_id)
    result = jobs.sync_connection(connection_id, then_score=False)
    assert result["seen"] >= 30  # the writes moved SystemModstamp, so the records came back
    assert result["changed"] == 0
