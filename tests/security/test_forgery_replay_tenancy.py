"""Forged and replayed CRM requests, and one organization reaching for another's data.

The attack run found these holding; they stay in the suite so they keep holding: signatures and
secrets are checked before anything is parsed, replays are refused or deduplicated, and every
console, API and panel route answers 404 (or a refusal) for another organization's ids.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from sync.store import Connection, Score, WebhookEvent
from tests.conftest import connect_salesforce, outbound_endpoint
from tests.hubspot_fixtures import connect as connect_hubspot
from tests.security.conftest import ADMIN, sign_in
from tests.security.signing import hubspot_headers
from tests.test_admin_signin import csrf

PUBLIC = "http://127.0.0.1:5000"


def test_canvas_requests_are_verified_and_never_replayed(both_app, sf_sandbox, sf_control):
    rt = both_app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    client = both_app.test_client()
    deal = sorted(r["Id"] for r in sf_control.records("Opportunity"))[0]
    signed = sf_control.signed_request("Opportunity", deal)["signed_request"]
    assert client.post("/embed/salesforce/canvas", data={"signed_request": signed}).status_code == 200
    # A reload posts the same request again (Salesforce's issuedAt may be null, so age is unknowable):
    # past the reload window it opens only while Salesforce calls the user's session live.
    rt.config.EMBED_CANVAS_WINDOW_SECONDS = 0
    assert client.post("/embed/salesforce/canvas", data={"signed_request": signed}).status_code == 200
    sf_control.revoke_tokens()
    replayed = client.post("/embed/salesforce/canvas", data={"signed_request": signed})
    assert replayed.status_code == 403
    signature, _, body = sf_control.signed_request("Opportunity", deal)["signed_request"].partition(".")
    forged = client.post("/embed/salesforce/canvas", data={"signed_request": f"{signature}.{body[:-4]}AAAA"})
    assert forged.status_code == 403


def test_hubspot_deliveries_forged_stale_or_replayed(both_app, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    installed = connect_hubspot(rt, hs_sandbox)
    secret = rt.config.HUBSPOT_CLIENT_SECRET
    client = both_app.test_client()
    url = f"{rt.config.PUBLIC_URL}/webhooks/hubspot"
    body = json.dumps([{"eventId": 77, "subscriptionId": 1, "portalId": int(hs_sandbox.portal_id), "appId": 1,
                        "occurredAt": int(time.time() * 1000), "subscriptionType": "contact.creation",
                        "objectId": 101, "attemptNumber": 0}]).encode()
    assert client.post("/webhooks/hubspot", data=body, headers=hubspot_headers("guess", "POST", url, body)).status_code == 401
    assert client.post("/webhooks/hubspot", data=body + b" ",
                       headers=hubspot_headers(secret, "POST", url, body)).status_code == 401
    stale = hubspot_headers(secret, "POST", url, body, int(time.time() * 1000) - 400_000)
    assert client.post("/webhooks/hubspot", data=body, headers=stale).status_code == 401
    for _ in range(3):  # the real delivery, then two replays of it
        assert client.post("/webhooks/hubspot", data=body, headers=hubspot_headers(secret, "POST", url, body)).status_code == 204
    with rt.sessions() as db:
        assert db.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.connection_id == installed.connection_id)) == 1
    assert len(rt.queues["webhooks"].jobs) == 1


def test_outbound_messages_need_the_secret_and_their_own_org(both_app, sf_sandbox):
    rt = both_app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    path = outbound_endpoint(rt, connection_id, "")
    client = both_app.test_client()
    message = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
               '<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}'
               '</OrganizationId><ActionId>04k000000000001AAA</ActionId></notifications></soapenv:Body>'
               '</soapenv:Envelope>')
    guessed = path.rsplit("/", 1)[0] + "/" + "A" * 32
    assert client.post(guessed, data=message.format(org=sf_sandbox.org_id)).status_code == 403
    other_org = client.post(path, data=message.format(org="00D000000000999AAA"))
    assert other_org.status_code == 403
    assert client.post(path, data=message.format(org=sf_sandbox.org_id)).status_code == 200


def test_one_organization_cannot_reach_anothers_connections_keys_or_scores(both_app, sf_sandbox, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    ours = connect_salesforce(rt, sf_sandbox)
    theirs = connect_hubspot(rt, hs_sandbox)
    with rt.sessions() as db:
        db.add(Score(organization_id=theirs.organization_id, connection_id=theirs.connection_id, object_type="lead",
                     remote_id="101", model_version="v1", probability=0.5, score=50, band="B"))
        db.commit()
        before = db.get(Connection, theirs.connection_id)
    admin = both_app.test_client()
    sign_in(admin, sf_sandbox, "salesforce", ADMIN)
    token = csrf(admin)
    other = theirs.connection_id
    for path in (f"/admin/connections/{other}", f"/admin/connections/{other}/writeback",
                 f"/admin/connections/{other}/mapping", f"/connections/{other}/progress.json",
                 f"/admin/webhooks/{other}/rotate", f"/admin/connections/{other}/purge"):
        assert admin.get(path).status_code == 404, path
    for path in (f"/admin/connections/{other}/sync", f"/admin/connections/{other}/pause",
                 f"/admin/connections/{other}/disconnect", f"/admin/webhooks/{other}/rotate",
                 f"/admin/webhooks/{other}/retry", f"/admin/connections/{other}/mapping/writeback"):
        assert admin.post(path, data={"csrf_token": token}).status_code == 404, path
    with rt.sessions() as db:
        after = db.get(Connection, theirs.connection_id)
    assert (after.status, after.webhook_secret_hash, after.token_ciphertext) == \
        (before.status, before.webhook_secret_hash, before.token_ciphertext)

    page = admin.post("/admin/api-keys", data={"name": "ours", "csrf_token": token}).get_data(as_text=True)
    key = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    api = both_app.test_client()
    bearer = {"Authorization": f"Bearer {key}"}
    assert api.get("/api/v1/scores/lead/101", headers=bearer).status_code == 404
    assert api.get("/api/v1/scores?object_type=lead", headers=bearer).json["data"] == []
    assert [c["id"] for c in api.get("/api/v1/connections", headers=bearer).json["data"]] == [ours]
