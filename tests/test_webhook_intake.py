"""Webhook intake of full CRM batches on SQLite and PostgreSQL, and while the Redis server is down.

A batch is stored with one statement; redeliveries (inside one batch or later) are recognized and
queue nothing; every answered event is in the store and processed exactly once, also when Redis
was stopped at intake and came back only later.
"""
from __future__ import annotations

import json
import time

import pytest
from hubspot.utils.signature import Signature
from rq import Queue, SimpleWorker
from sqlalchemy import select

from demo.redis_process import RedisProcess
from sync import runtime as runtime_module
from sync import webhook_outbox
from sync.connections import rotate_webhook_secret
from sync.runtime import Runtime
from sync.store import Connection, Organization, WebhookEvent, WritebackLedger
from tests.conftest import make_config
from web import create_app
from web.cli import upgrade_database

SECRET = "intake-hubspot-secret"
PORTAL = "62515"
SF_ORG = "00D000000000001EAA"


@pytest.fixture
def intake(tmp_path, db_url):
    """The web app on a fresh store and its own Redis server (a process the test may stop); two connections."""
    redis = RedisProcess(tmp_path / "redis", socket=tmp_path / "redis.sock").start()
    config = make_config(tmp_path, db_url, redis.url, HUBSPOT_CLIENT_SECRET=SECRET, WEBHOOK_RETRY_SECONDS=0)
    upgrade_database(db_url)
    rt = Runtime.from_config(config)
    runtime_module.use(rt)
    config.runtime = rt
    with rt.sessions() as session:
        org = Organization(name="Maven")
        session.add(org)
        session.flush()
        # Both paused by their admin: processing their events reaches no CRM, it notes why nothing was synced.
        hubspot = Connection(organization_id=org.id, provider="hubspot", remote_org_id=PORTAL,
                             instance_url="https://app.hubspot.com", token_ciphertext=b"-", status="paused")
        salesforce = Connection(organization_id=org.id, provider="salesforce", remote_org_id=SF_ORG,
                                instance_url="https://example.my.salesforce.com", token_ciphertext=b"-",
                                status="paused")
        secret = rotate_webhook_secret(salesforce)
        session.add_all([hubspot, salesforce])
        session.commit()
        ids = {"hubspot": hubspot.id, "salesforce": salesforce.id}
    yield create_app(config).test_client(), rt, ids, f"/webhooks/salesforce/{SF_ORG}/{secret}", redis
    runtime_module.use(None)
    rt.engine.dispose()
    redis.stop()


def hs_event(n: int, object_id: int, kind: str = "contact.propertyChange", **extra) -> dict:
    event = {"eventId": n, "subscriptionId": 7, "portalId": int(PORTAL), "appId": 1, "occurredAt": 1_760_000_000_000,
             "subscriptionType": kind, "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM_UI"}
    if kind.endswith("propertyChange"):
        event.update(propertyName="lifecyclestage", propertyValue="lead")
    return {**event, **extra}


def post_hubspot(client, events: list[dict]):
    body = json.dumps(events)
    stamp = str(int(time.time() * 1000))
    signature = Signature.get_signature(SECRET, body, "v3", http_uri="http://localhost/webhooks/hubspot",
                                        http_method="POST", timestamp=stamp)
    return client.post("/webhooks/hubspot", data=body, headers={
        "Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp, "X-HubSpot-Signature-v3": signature})


def outbound(notifications: list[tuple[str, str, str]]) -> bytes:
    """A Salesforce outbound message of (notification id, object, record id), a title left empty (xsi:nil)."""
    notes = "".join(
        f'<Notification><Id>{nid}</Id><sObject xsi:type="sf:{obj}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f'<sf:Id>{rid}</sf:Id><sf:Title xsi:nil="true"/><sf:Status>Open - Not Contacted</sf:Status></sObject>'
        f'</Notification>' for nid, obj, rid in notifications)
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns='
            f'"http://soap.sforce.com/2005/09/outbound"><OrganizationId>{SF_ORG}</OrganizationId><ActionId>'
            f'04k000000000001AAA</ActionId>{notes}</notifications></soapenv:Body></soapenv:Envelope>').encode()


def stored(rt, connection_id: int) -> dict[str, WebhookEvent]:
    with rt.sessions() as session:
        return {e.event_id: e for e in session.scalars(select(WebhookEvent)
                                                       .where(WebhookEvent.connection_id == connection_id))}


def queued(rt) -> list[tuple[int, list[int]]]:
    return [tuple(job.args) for job in Queue("webhooks", connection=rt.redis).jobs]


def test_a_full_hubspot_batch_is_stored_once_and_queued_as_one_job(intake):
    client, rt, ids, _, _ = intake
    with rt.sessions() as session:  # Pipewise wrote this score: its echo needs no work
        session.add(WritebackLedger(connection_id=ids["hubspot"], object_type="lead", remote_id="9001",
                                    field="pipewise_score", value="73", status="written", attempts=1))
        session.commit()
    first = [hs_event(n, 1000 + n) for n in range(1, 99)]
    first += [first[0] | {"attemptNumber": 1},  # HubSpot repeats an event inside one delivery
              hs_event(99, 9001, propertyName="pipewise_score", propertyValue="73")]
    assert post_hubspot(client, first).status_code == 204
    events = stored(rt, ids["hubspot"])
    assert len(events) == 99
    assert events["1:7:1001"].payload == first[0] and events["1:7:1001"].targets == {"contact": ["1001"]}
    assert events["99:7:9001"].echo is True and events["99:7:9001"].processed_at is not None
    work = sorted(e.id for e in events.values() if not e.echo)
    assert queued(rt) == [(ids["hubspot"], work)]

    # The next delivery: half of it redelivered; only the new half is stored and queued.
    again = [e | {"attemptNumber": 1} for e in first[:50]] + [hs_event(n, 5000 + n, kind="deal.creation")
                                                              for n in range(200, 250)]
    assert post_hubspot(client, again).status_code == 204
    events = stored(rt, ids["hubspot"])
    assert len(events) == 149
    new = sorted(e.id for key, e in events.items() if key.startswith(tuple(f"{n}:" for n in range(200, 250))))
    assert len(new) == 50 and queued(rt) == [(ids["hubspot"], work), (ids["hubspot"], new)]
    assert events["200:7:5200"].targets == {"deal": ["5200"]}


def test_a_full_outbound_message_is_stored_with_its_fields_and_acknowledged(intake):
    client, rt, ids, path, _ = intake
    notes = [(f"04l0000000000{n:02d}AAA", ("Lead", "Contact")[n % 2], f"00Q0000000000{n:02d}AAA") for n in range(100)]
    answer = client.post(path, data=outbound(notes), headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200 and b"<Ack>true</Ack>" in answer.data
    events = stored(rt, ids["salesforce"])
    assert len(events) == 100
    lead = events["04l000000000000AAA"]
    assert lead.payload == {"stream": "lead", "fields": {"Id": "00Q000000000000AAA", "Title": None,
                                                         "Status": "Open - Not Contacted"}}
    assert lead.remote_ids == ["00Q000000000000AAA"] and lead.object_type == "lead"
    assert queued(rt) == [(ids["salesforce"], sorted(e.id for e in events.values()))]
    # Salesforce delivers the same message again (its answer was lost): acknowledged, nothing new.
    assert b"<Ack>true</Ack>" in client.post(path, data=outbound(notes), headers={"Content-Type": "text/xml"}).data
    assert len(stored(rt, ids["salesforce"])) == 100 and len(queued(rt)) == 1


def test_events_answered_while_redis_is_stopped_are_processed_once_when_it_returns(intake):
    client, rt, ids, path, redis = intake
    redis.stop()
    answer = client.post(path, data=outbound([("04l000000000077AAA", "Lead", "00Q000000000077AAA")]),
                         headers={"Content-Type": "text/xml"})
    # Stored before the answer, so acknowledged: Salesforce would otherwise redeliver it for a day.
    assert answer.status_code == 200 and b"<Ack>true</Ack>" in answer.data
    assert post_hubspot(client, [hs_event(7, 707)]).status_code == 204
    waiting = {**stored(rt, ids["salesforce"]), **stored(rt, ids["hubspot"])}
    assert set(waiting) == {"04l000000000077AAA", "7:7:707"}
    assert all(e.processed_at is None and e.attempts == 0 for e in waiting.values())

    redis.start()  # the same server address, empty: the jobs of the failed enqueue never existed
    assert queued(rt) == []
    assert webhook_outbox.sweep(rt) == 2  # the scheduler's tick does this
    rt.config.WEBHOOK_RETRY_SECONDS = 3600
    assert webhook_outbox.sweep(rt) == 0  # queued once, not again while it waits
    SimpleWorker([rt.queues["webhooks"]], connection=rt.redis).work(burst=True)
    done = {**stored(rt, ids["salesforce"]), **stored(rt, ids["hubspot"])}
    assert all(e.processed_at is not None and e.attempts == 1 for e in done.values())
    assert all(e.error.startswith("The connection is paused by an admin") for e in done.values())
    rt.config.WEBHOOK_RETRY_SECONDS = 0
    assert webhook_outbox.sweep(rt) == 0
