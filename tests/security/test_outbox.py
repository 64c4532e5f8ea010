"""Finding 3: webhook events are processed at least once, and failures reach the console.

The attack (or an outage): Redis is down when the CRM delivers. Before the fix the event row was
committed, the enqueue failed, the CRM got a 500 and retried, and the retry was dropped as a
duplicate: the change was never processed, and processed_at/error were never set.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select, text

from sync import runtime as runtime_module
from sync import webhook_outbox
from sync.jobs import sync_connection
from sync.runtime import QUEUE_NAMES, Runtime
from sync.store import Lead, WebhookEvent
from tests.conftest import connect_salesforce, make_config, outbound_endpoint
from tests.test_admin_signin import csrf, sign_in
from web import create_app


def _dead_redis_runtime(live: Runtime, tmp_path: Path) -> Runtime:
    """The same store, but a Redis that does not answer (its server is down)."""
    dead = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"), socket_connect_timeout=0.2)
    return Runtime(config=live.config, engine=live.engine, sessions=live.sessions, redis=dead, cipher=live.cipher,
                   queues={name: Queue(name, connection=dead) for name in QUEUE_NAMES})


@pytest.fixture
def outage(tmp_path, sqlite_url, redis_url, sf_sandbox, make_runtime):
    """A connection, and the web app answering while Redis is down (the worker side still has it)."""
    live = make_runtime(sqlite_url, sf_sandbox, WEBHOOK_RETRY_SECONDS=1)
    connection_id = connect_salesforce(live, sf_sandbox)
    sync_connection(connection_id, "full", then_score=False)
    config = make_config(tmp_path, sqlite_url, redis_url, sf_sandbox, WEBHOOK_RETRY_SECONDS=1)
    config.runtime = _dead_redis_runtime(live, tmp_path)
    app = create_app(config)
    runtime_module.use(live)  # jobs run with the live Redis
    path = outbound_endpoint(live, connection_id, "")
    return live, app, connection_id, path


def _message(org: str, notification_id: str, lead: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
            f'envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications '
            f'xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>'
            f'04k000000000001AAA</ActionId><Notification><Id>{notification_id}</Id><sObject xsi:type="sf:Lead" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{lead}</sf:Id></sObject></Notification>'
            f'</notifications></soapenv:Body></soapenv:Envelope>').encode()


def _lead(rt, connection_id: int) -> str:
    with rt.sessions() as db:
        return db.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id)
                          .order_by(Lead.remote_id)).first()


def _event(rt) -> WebhookEvent:
    with rt.sessions() as db:
        return db.scalar(select(WebhookEvent))


def test_an_event_delivered_while_redis_is_down_is_acknowledged_stored_and_processed_later(outage, sf_sandbox):
    live, app, connection_id, path = outage
    lead = _lead(live, connection_id)
    answer = app.test_client().post(path, data=_message(sf_sandbox.org_id, "04l00000000000AAA1", lead),
                                    headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200 and b"<Ack>true</Ack>" in answer.data  # safely stored, so acknowledged
    stored = _event(live)
    assert stored.targets == {"lead": [lead]} and stored.processed_at is None and stored.error is None

    # The scheduler's sweeper queues what was stored but not processed; a worker processes it.
    live.config.WEBHOOK_RETRY_SECONDS = 3600
    assert webhook_outbox.sweep(live) == 0  # intake tried a moment ago: the retry window has not passed
    live.config.WEBHOOK_RETRY_SECONDS = 0
    assert webhook_outbox.sweep(live) == 1
    live.config.WEBHOOK_RETRY_SECONDS = 3600
    assert webhook_outbox.sweep(live) == 0  # just queued: not queued twice
    SimpleWorker([live.queues["webhooks"]], connection=live.redis).work(burst=True)
    done = _event(live)
    assert done.processed_at is not None and done.error is None and done.attempts == 1


def test_no_2xx_for_an_event_that_could_not_be_stored(outage, sf_sandbox):
    live, app, connection_id, path = outage
    with live.engine.begin() as db:
        db.execute(text("ALTER TABLE webhook_event RENAME TO webhook_event_away"))
    try:
        client = app.test_client()
        client.application.config["PROPAGATE_EXCEPTIONS"] = False
        failed = client.post(path, data=_message(sf_sandbox.org_id, "04l00000000000AAA2", _lead(live, connection_id)),
                             headers={"Content-Type": "text/xml"})
        assert failed.status_code >= 500  # Salesforce keeps the message and delivers it again
    finally:
        with live.engine.begin() as db:
            db.execute(text("ALTER TABLE webhook_event_away RENAME TO webhook_event"))


def test_a_failed_event_shows_on_the_webhooks_screen_and_an_admin_retries_it(tmp_path, sqlite_url, redis_url,
                                                                             sf_sandbox, sf_control):
    from tests.test_admin_signin import build_app

    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    admin = app.test_client()
    sign_in(admin, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    sync_connection(connection_id, "full", then_score=False)
    sign_in(admin, sf_sandbox)  # again, now that the connection gives the admin an organization
    path = outbound_endpoint(rt, connection_id, "")
    assert admin.post(path, data=_message(sf_sandbox.org_id, "04l00000000000AAA3", _lead(rt, connection_id)),
                      headers={"Content-Type": "text/xml"}).status_code == 200
    sf_control.knobs(fail_count=50, fail_path="/query", fail_status=400)
    worker = SimpleWorker([rt.queues["webhooks"]], connection=rt.redis)
    worker.work(burst=True)
    failed = _event(rt)
    assert failed.processed_at is None and "failed" in failed.error and failed.attempts == 1
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert failed.event_id in page and "retried automatically (1 so far)" in page

    sf_control.reset_knobs()
    retried = admin.post(f"/admin/webhooks/{connection_id}/retry", data={"csrf_token": csrf(admin)})
    assert retried.status_code == 302
    worker.work(burst=True)
    done = _event(rt)
    assert done.processed_at is not None and done.error is None
    assert "No failed events." in admin.get("/admin/webhooks").get_data(as_text=True)
