"""Salesforce Outbound Messages into Pipewise: verified, deduplicated, turned into targeted syncs."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from sync.store import Connection, WebhookEvent
from tests.conftest import connect_salesforce, make_config, outbound_endpoint
from web import create_app


@pytest.fixture
def served(tmp_path, sqlite_url, redis_url, sf_sandbox, sf_control, make_runtime):
    """Pipewise served over real HTTP, with a connection installed from the sandbox."""
    rt = make_runtime(sqlite_url, sf_sandbox)
    config = make_config(tmp_path, sqlite_url, redis_url, sf_sandbox)
    config.runtime = rt
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    connection_id = connect_salesforce(rt, sf_sandbox)
    url = outbound_endpoint(rt, connection_id, f"http://127.0.0.1:{server.server_port}")
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
    yield rt, connection, url
    sf_control.configure_outbound(None)  # nothing left pending for the next test
    server.shutdown()


def _events(rt, connection_id):
    with rt.sessions() as session:
        return session.scalars(select(WebhookEvent).where(WebhookEvent.connection_id == connection_id)).all()


def test_a_change_is_acknowledged_and_enqueues_one_targeted_sync(served, sf_sandbox, sf_control):
    rt, connection, url = served
    sf_control.configure_outbound(url)
    lead = sorted(r["Id"] for r in sf_control.records("Lead"))[3]
    sf_control.update("Lead", lead, {"Title": "Head of Procurement"})
    sf_control.wait_outbound_idle()

    stats = sf_control.outbound()
    assert stats["acked"] >= 1 and stats["pending"] == 0
    events = _events(rt, connection.id)
    assert [e.remote_ids for e in events] == [[lead]]
    jobs = rt.queues["webhooks"].jobs
    assert len(jobs) == 1 and jobs[0].func_name == "scoring.event_job.process_events"
    assert jobs[0].args == (connection.id, [events[0].id])
    assert events[0].targets == {"lead": [lead]} and events[0].processed_at is None


def test_a_redelivered_message_is_processed_once(served, sf_control):
    rt, connection, url = served
    sf_control.configure_outbound(url)
    deal = sorted(r["Id"] for r in sf_control.records("Opportunity"))[0]
    sf_control.update("Opportunity", deal, {"Amount": 4242})
    sf_control.wait_outbound_idle()
    sf_control.redeliver_last()
    sf_control.wait_outbound_idle()

    assert sf_control.outbound()["acked"] >= 2  # both deliveries were acknowledged
    assert len(_events(rt, connection.id)) == 1
    assert len(rt.queues["webhooks"].jobs) == 1


def test_an_unknown_organization_or_a_wrong_secret_is_refused(served):
    rt, connection, url = served
    body = b"<not-even-parsed/>"
    wrong_secret = url.rsplit("/", 1)[0] + "/not-the-secret"
    unknown_org = url.replace(connection.remote_org_id, "00D000000000000AAA")
    for target in (wrong_secret, unknown_org):
        answer = requests.post(target, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
        assert answer.status_code == 403
    assert _events(rt, connection.id) == []
    assert len(rt.queues["webhooks"].jobs) == 0


def test_a_malformed_message_gets_a_negative_ack_and_changes_nothing(served):
    rt, connection, url = served
    answer = requests.post(url, data=b"<soapenv:Envelope", headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 400
    assert b"<Ack>false</Ack>" in answer.content
    assert _events(rt, connection.id) == []


def test_a_record_deleted_before_delivery_does_not_fail_the_message(served, sf_sandbox, sf_control):
    rt, connection, url = served
    sf_control.configure_outbound(url, retry_seconds=0.1)
    doomed = sf_sandbox.create("Opportunity", {"Name": "Short-lived", "StageName": "Prospecting",
                                               "CloseDate": "2017-12-01"})
    sf_control.delete("Opportunity", doomed)  # deleted before Salesforce delivers: no data comes
    kept = sorted(r["Id"] for r in sf_control.records("Opportunity"))[1]
    sf_control.update("Opportunity", kept, {"Amount": 777})
    stats = sf_control.wait_outbound_idle()

    assert stats["failed"] == 0 and stats["acked"] >= 1, "acknowledged the first time: no day of retries"
    events = _events(rt, connection.id)
    assert [e.remote_ids for e in events] == [[kept]]
    assert [e.targets for e in events] == [{"opportunity": [kept]}]
    jobs = rt.queues["webhooks"].jobs
    assert [job.args for job in jobs] == [(connection.id, [events[0].id])]
