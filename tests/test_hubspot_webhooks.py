"""HubSpot webhooks: v3 signatures (checked against HubSpot's own helper), event parsing, the endpoint."""
import json
import time

import pytest
from hubspot.utils.signature import Signature
from rq import Queue
from sqlalchemy import func, select

from connectors.hubspot import webhooks
from connectors.hubspot.provider import HubSpotProvider
from sync.store import Connection, Organization, WebhookEvent, WritebackLedger
from tests.hubspot_fixtures import LiveApp, hs_sandbox, hubspot_settings  # noqa: F401
from web import create_app

SECRET = "pipewise-hubspot-secret"
URL = "https://pipewise.example/webhooks/hubspot"


def now_ms() -> int:
    return int(time.time() * 1000)


def hubspot_signature(method: str, uri: str, body: str, timestamp: int, secret: str = SECRET) -> str:
    """What HubSpot sends, computed by HubSpot's own library."""
    return Signature.get_signature(secret, body, "v3", http_uri=uri, http_method=method, timestamp=str(timestamp))


# -- the signature -------------------------------------------------------------------------------

def test_signature_made_by_hubspots_helper_is_accepted():
    body = '[{"eventId": 1}]'
    stamp = now_ms()
    signature = hubspot_signature("POST", URL, body, stamp)
    assert webhooks.verify_signature_v3(SECRET, "POST", URL, body.encode(), stamp, signature)
    # And ours is the same text HubSpot's helper validates.
    ours = webhooks.signature_v3(SECRET, "POST", URL, body.encode(), str(stamp))
    assert Signature.is_valid(ours, SECRET, body, URL, "POST", "v3", str(stamp))


def test_altered_forged_and_stale_signatures_are_refused():
    body = b'[{"eventId": 1}]'
    stamp = now_ms()
    good = hubspot_signature("POST", URL, body.decode(), stamp)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body + b" ", stamp, good)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL + "?x=1", body, stamp, good)
    assert not webhooks.verify_signature_v3(SECRET, "GET", URL, body, stamp, good)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body, stamp + 1, good)
    forged = hubspot_signature("POST", URL, body.decode(), stamp, secret="someone-else")
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body, stamp, forged)
    old = stamp - 301_000
    stale = hubspot_signature("POST", URL, body.decode(), old)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body, old, stale)
    assert webhooks.verify_signature_v3(SECRET, "POST", URL, body, old, stale, now_ms=old + 1000)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body, "soon", good)
    assert not webhooks.verify_signature_v3(SECRET, "POST", URL, body, stamp, None)


def test_a_test_delivery_is_signed_as_hubspots_helper_validates_and_parses_as_an_event():
    body, headers = webhooks.test_delivery("62515", "contacts", "101", "1000000000000042", url=URL,
                                           client_secret=SECRET, app_id="2016482")
    stamp = headers[webhooks.TIMESTAMP_HEADER]
    assert Signature.is_valid(headers[webhooks.SIGNATURE_HEADER], SECRET, body.decode(), URL, "POST", "v3", stamp)
    [parsed] = webhooks.parse_events(body)
    assert (parsed.portal_id, parsed.stream, parsed.object_ids, parsed.action) == ("62515", "contact", ("101",),
                                                                                   "creation")


def test_uri_is_checked_with_the_characters_hubspot_decodes():
    signed_uri = "https://pipewise.example/embed/hubspot/card?userEmail=ana@example.com&portalId=1"
    sent_uri = "https://pipewise.example/embed/hubspot/card?userEmail=ana%40example.com&portalId=1"
    stamp = now_ms()
    signature = hubspot_signature("GET", signed_uri, "", stamp)
    assert webhooks.verify_signature_v3(SECRET, "GET", sent_uri, b"", stamp, signature)


# -- parsing and coalescing ----------------------------------------------------------------------

def event(event_id, object_id, kind="contact.propertyChange", portal=62515, **extra):
    return {"eventId": event_id, "subscriptionId": 7, "portalId": portal, "appId": 2016482,
            "occurredAt": 1_700_000_000_000, "subscriptionType": kind, "attemptNumber": 0,
            "objectId": object_id, "changeSource": "CRM_UI", **extra}


def test_events_are_validated_and_coalesced_per_record():
    body = json.dumps([event(1, 101, propertyName="email", propertyValue="a@b.c"),
                       event(2, 101, propertyName="lastname", propertyValue="Lima"),
                       event(3, 3001, kind="deal.creation"),
                       event(4, 9, kind="ticket.creation"),
                       {"eventId": 5, "subscriptionId": 8, "portalId": 62515, "occurredAt": 1_700_000_000_000,
                        "subscriptionType": "contact.associationChange", "fromObjectId": 102, "toObjectId": 2001,
                        "associationType": "CONTACT_TO_COMPANY"}]).encode()
    events = webhooks.parse_events(body)
    assert [e.event_id for e in events] == ["1", "2", "3", "4", "5"]
    assert events[0].property_name == "email" and events[0].stream == "contact"
    assert webhooks.coalesce(events) == {"contact": ["101", "102"], "deal": ["3001"], "company": ["2001"]}


@pytest.mark.parametrize("body", [b"", b"{}", b"not json", json.dumps([{"eventId": 1}]).encode(),
                                  json.dumps([event("x", 1)]).encode(),
                                  json.dumps([event(1, 1, kind="contact")]).encode()])
def test_malformed_bodies_are_refused(body):
    with pytest.raises(ValueError):
        webhooks.parse_events(body)


# -- the endpoint ----------------------------------------------------------------------------------

@pytest.fixture
def app_and_store(make_runtime, sqlite_url, redis_url):
    rt = make_runtime(sqlite_url, HUBSPOT_CLIENT_SECRET=SECRET, PUBLIC_URL="https://pipewise.example")
    with rt.sessions() as session:
        org = Organization(name="Maven")
        session.add(org)
        session.flush()
        connection = Connection(organization_id=org.id, provider="hubspot", remote_org_id="62515",
                                instance_url="https://app.hubspot.com", token_ciphertext=b"-")
        session.add(connection)
        session.commit()
        connection_id = connection.id
    rt.config.runtime = rt
    return create_app(rt.config), rt, connection_id


def post_events(client, events, *, uri=URL, stamp=None, secret=SECRET, path="/webhooks/hubspot", tamper=b""):
    body = json.dumps(events)
    stamp = now_ms() if stamp is None else stamp
    headers = {"X-HubSpot-Signature-v3": hubspot_signature("POST", uri, body, stamp, secret),
               "X-HubSpot-Request-Timestamp": str(stamp), "Content-Type": "application/json"}
    return client.post(path, data=body.encode() + tamper, headers=headers)


def queued(rt):
    return Queue("webhooks", connection=rt.redis).jobs


def queued_targets(rt) -> list[tuple[int, dict[str, list[str]]]]:
    """Per queued outbox job: its connection and the records its stored events name, stream by stream."""
    found = []
    for job in queued(rt):
        assert job.func_name == "scoring.event_job.process_events"
        connection_id, event_ids = job.args
        targets: dict[str, set[str]] = {}
        with rt.sessions() as session:
            for stored in session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(event_ids))):
                for stream, ids in stored.targets.items():
                    targets.setdefault(stream, set()).update(ids)
        found.append((connection_id, {k: sorted(v, key=int) for k, v in sorted(targets.items())}))
    return found


def test_signed_events_are_stored_once_and_enqueue_one_targeted_sync(app_and_store):
    app, rt, connection_id = app_and_store
    client = app.test_client()
    batch = [event(11, 101, propertyName="email", propertyValue="x@y.z"), event(12, 101, propertyName="phone"),
             event(13, 3001, kind="deal.propertyChange", propertyName="amount", propertyValue="10")]
    assert post_events(client, batch).status_code == 204
    assert queued_targets(rt) == [(connection_id, {"contact": ["101"], "deal": ["3001"]})]
    # HubSpot redelivers the same events: stored once, nothing new enqueued.
    assert post_events(client, batch).status_code == 204
    assert len(queued(rt)) == 1
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 3


def test_the_public_url_is_what_hubspot_signs_behind_a_proxy(app_and_store):
    app, rt, _ = app_and_store
    # The test client reaches http://localhost/…; HubSpot signed the public https URL.
    assert post_events(app.test_client(), [event(21, 105)], uri="https://pipewise.example/webhooks/hubspot").status_code == 204


def test_forged_altered_or_stale_requests_get_401_and_change_nothing(app_and_store, caplog):
    app, rt, _ = app_and_store
    client = app.test_client()
    assert post_events(client, [event(31, 101)], secret="not-the-secret").status_code == 401
    assert post_events(client, [event(32, 101)], tamper=b" ").status_code == 401
    assert post_events(client, [event(33, 101)], stamp=now_ms() - 400_000).status_code == 401
    assert client.post("/webhooks/hubspot", data=b"[]").status_code == 401
    assert "hubspot.webhook.invalid-signature" in caplog.text
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert queued(rt) == []


def test_echo_of_pipewise_own_write_starts_nothing(app_and_store):
    app, rt, connection_id = app_and_store
    with rt.sessions() as session:
        session.add(WritebackLedger(connection_id=connection_id, object_type="lead", remote_id="101",
                                    field="pipewise_score", value="73", status="written", attempts=1))
        session.commit()
    client = app.test_client()
    echo = event(41, 101, propertyName="pipewise_score", propertyValue="73", changeSource="INTEGRATION")
    assert post_events(client, [echo]).status_code == 204
    assert queued(rt) == []
    with rt.sessions() as session:  # kept for dedupe, marked so the Webhooks page does not count it
        assert session.scalar(select(WebhookEvent.echo).where(WebhookEvent.event_id.like("41:%"))) is True
    edited = event(42, 101, propertyName="pipewise_score", propertyValue="12")
    assert post_events(client, [edited]).status_code == 204
    assert queued_targets(rt) == [(connection_id, {"contact": ["101"]})]


def test_unknown_portal_is_accepted_and_dropped(app_and_store):
    app, rt, _ = app_and_store
    assert post_events(app.test_client(), [event(51, 101, portal=999)]).status_code == 204
    assert queued(rt) == []
    assert HubSpotProvider.writable_objects["lead"] == "contacts"


def test_sandbox_deliveries_are_verified_deduplicated_and_enqueued(make_runtime, sqlite_url, hs_sandbox):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_sandbox))
    with rt.sessions() as session:
        org = Organization(name="Maven")
        session.add(org)
        session.flush()
        connection = Connection(organization_id=org.id, provider="hubspot", remote_org_id=str(hs_sandbox.portal_id),
                                instance_url=hs_sandbox.base_url, token_ciphertext=b"-")
        session.add(connection)
        session.commit()
        connection_id = connection.id
    rt.config.runtime = rt
    contact_id = hs_sandbox.records("contacts")[0]["id"]
    with LiveApp(create_app(rt.config)) as live:
        hs_sandbox.configure_webhooks(f"{live.url}/webhooks/hubspot", ["contact.propertyChange", "deal.creation"])
        try:
            hs_sandbox.update("contacts", contact_id, {"jobtitle": "Chief Buyer"})
            deal_id = hs_sandbox.create("deals", {"dealname": "Webhook deal", "dealstage": "qualifiedtobuy"})
            assert hs_sandbox.wait_webhooks_idle(10)
            targets = {}
            for queued_connection, named in queued_targets(rt):
                assert queued_connection == connection_id
                for stream, ids in named.items():
                    targets.setdefault(stream, set()).update(ids)
            assert targets == {"contact": {contact_id}, "deal": {deal_id}}
            jobs, stats = len(queued(rt)), hs_sandbox.webhook_stats()
            assert hs_sandbox.redeliver_last_webhook()  # the same events again, attemptNumber + 1
            assert hs_sandbox.wait_webhooks_idle(10)
            assert len(queued(rt)) == jobs  # processed once
            assert hs_sandbox.webhook_stats().get("failed", 0) == stats.get("failed", 0)
        finally:
            hs_sandbox.configure_webhooks(None)
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 2
