"""Finding 8: every malformed input gets a 4xx with a sentence, never a 500.

The attack found 500s for Unicode digits ("²") in timestamps and API key headers, ``limit=²``,
``after=10^30``, path ids above 2^63 (283 of 700 fuzzed admin requests on SQLite), deeply nested
JSON and out-of-range timestamps in signed bodies.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import connect_salesforce
from tests.security.signing import canvas, hubspot_headers
from tests.test_admin_signin import build_app, csrf, sign_in

HUBSPOT_SECRET = "malformed-hubspot-secret"
SALESFORCE_SECRET = "pipewise-sandbox-secret"
TEAM_SECRET = "pipewise-team-sandbox-secret"  # the team panel's own Canvas app
PUBLIC = "http://127.0.0.1:5000"
HUGE = str(2**64 + 7)
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def app(tmp_path, db_url, redis_url, sf_sandbox):
    return build_app(tmp_path, db_url, redis_url, sf_sandbox, HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET)


def _sentence(answer) -> bool:
    text = answer.get_data(as_text=True)
    return len(text.strip()) > 20 and "." in text


def _hubspot(client, body: str):
    data = body.encode()
    return client.post("/webhooks/hubspot", data=data,
                       headers=hubspot_headers(HUBSPOT_SECRET, "POST", f"{PUBLIC}/webhooks/hubspot", data))


def test_unicode_digits_in_signature_timestamps_and_api_keys(app):
    client = app.test_client()
    for stamp in ("²", "١٢٣", "1²"):
        answer = client.post("/webhooks/hubspot", data=b"[]", headers={"X-HubSpot-Request-Timestamp": stamp,
                                                                      "X-HubSpot-Signature-v3": "x"})
        assert answer.status_code == 401 and _sentence(answer)
        card = client.get("/embed/hubspot/card?portalId=1", headers={"X-HubSpot-Request-Timestamp": stamp,
                                                                     "X-HubSpot-Signature-v3": "x"})
        assert card.status_code == 401 and _sentence(card)
    for key in ("pw_²_secret", "pw_١_secret", f"pw_{HUGE}_secret"):
        answer = client.get("/api/v1/connections", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 401 and answer.json["error"]["message"]


def test_paging_arguments_out_of_range(app, sf_sandbox):
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    page = client.post("/admin/api-keys", data={"name": "fuzz", "csrf_token": csrf(client)}).get_data(as_text=True)
    token = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    headers = {"Authorization": f"Bearer {token}"}
    for query in ("limit=²", "limit=١", f"after={10**30}", "after=²", f"limit={10**30}", "after=-1"):
        answer = client.get(f"/api/v1/scores?object_type=lead&{query}", headers=headers)
        assert answer.status_code == 400 and answer.json["error"]["message"].endswith("."), query


def test_path_ids_above_64_bits(app, sf_sandbox):
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    token = csrf(client)
    for path in (f"/admin/connections/{HUGE}", f"/admin/models/{HUGE}", f"/connections/{HUGE}/progress",
                 f"/admin/connections/{HUGE}/writeback", f"/admin/connections/{HUGE}/mapping"):
        assert client.get(path).status_code == 404, path
    for path in (f"/admin/connections/{HUGE}/sync", f"/admin/api-keys/{HUGE}/revoke",
                 f"/admin/webhooks/{HUGE}/retry", f"/admin/connections/{HUGE}/disconnect"):
        assert client.post(path, data={"csrf_token": token}).status_code in (404, 405), path


def test_hostile_signed_hubspot_bodies(app):
    client = app.test_client()
    now = 1_700_000_000_000
    event = {"eventId": 1, "subscriptionId": 2, "portalId": 3, "appId": 4, "occurredAt": now, "attemptNumber": 0,
             "subscriptionType": "contact.propertyChange", "objectId": 5}
    for body in (DEEP, json.dumps([{**event, "occurredAt": 10**30}]), json.dumps([{**event, "occurredAt": -10**20}]),
                 json.dumps([{**event, "objectId": 10**400}]), '{"a": ' * 5000 + "1" + "}" * 5000,
                 json.dumps([{**event, "eventId": "²"}]), "[" + "1e999999," * 10 + "1]"):
        answer = _hubspot(client, body)
        assert answer.status_code in (204, 400), (answer.status_code, body[:60])
        if answer.status_code == 400:
            assert _sentence(answer)


def test_hostile_signed_canvas_envelopes(app):
    client = app.test_client()
    base = {"algorithm": "HMACSHA256", "context": {}, "client": {}}
    apps = {"/embed/salesforce/canvas": SALESFORCE_SECRET, "/embed/salesforce/manager": TEAM_SECRET}
    # Salesforce may send issuedAt as null, so Pipewise ignores it: a signed envelope with a hostile one
    # is refused for naming no organization Pipewise knows, and never answers 500.
    for envelope in ({**base, "issuedAt": 10**400}, {**base, "issuedAt": "²"}, {**base, "issuedAt": "9" * 400},
                     {**base, "issuedAt": -10**30}):
        for path, secret in apps.items():
            answer = client.post(path, data={"signed_request": canvas(secret, envelope)})
            assert answer.status_code == 403 and _sentence(answer), (path, str(envelope)[:60])
    for envelope in ('{"algorithm": "HMACSHA256", "x": ' + DEEP + "}", DEEP):
        for path, secret in apps.items():
            answer = client.post(path, data={"signed_request": canvas(secret, envelope)})
            assert answer.status_code == 403 and b"could not verify" in answer.data, (path, str(envelope)[:60])


def test_hostile_outbound_messages(app, sf_sandbox):
    from tests.conftest import outbound_endpoint

    rt = app.extensions["pipewise"]
    path = outbound_endpoint(rt, connect_salesforce(rt, sf_sandbox), "")
    client = app.test_client()
    for body in (b"<a>" * 100_000, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
                 b"\xff\xfe<x/>", b"<x>" + "²".encode() + b"</x>", b""):
        answer = client.post(path, data=body, headers={"Content-Type": "text/xml"})
        assert answer.status_code == 400 and b"<Ack>false</Ack>" in answer.data
