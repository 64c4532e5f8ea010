"""The HubSpot card: a signed fetch answers the stored score in HubSpot's card detail payload and opens the
panel in HubSpot's look."""
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from hubspot.utils.signature import Signature

from sync.store import Connection, Lead, Opportunity, Organization, Score, User
from tests.hubspot_fixtures import LiveApp, hs_sandbox, hubspot_settings  # noqa: F401
from web import create_app

SECRET = "pipewise-hubspot-secret"
PUBLIC = "https://pipewise.example"
PORTAL = "62515"


def add_store(rt, portal=PORTAL, instance_url="https://app.hubspot.com", lead_id="1000001", deal_id="3000001"):
    """A HubSpot connection with one scored lead and one unscored deal."""
    with rt.sessions() as session:
        org = Organization(name="Maven")
        session.add(org)
        session.flush()
        connection = Connection(organization_id=org.id, provider="hubspot", remote_org_id=portal,
                                instance_url=instance_url, token_ciphertext=b"-")
        session.add(connection)
        session.flush()
        common = dict(organization_id=org.id, connection_id=connection.id, remote_data={}, content_hash="-")
        session.add(Lead(remote_id=lead_id, first_name="Ana", last_name="Lima", company="Acme", **common))
        session.add(Opportunity(remote_id=deal_id, name="Acme GTX", stage="qualifiedtobuy", **common))
        session.add(User(remote_id="40000002", name="Mia Manager", email="mia@maven.example", role="manager",
                         **common))
        session.add(Score(organization_id=org.id, connection_id=connection.id, object_type="lead", remote_id=lead_id,
                          model_version="lead-v3", probability=0.73, score=73, band="B",
                          reasons={"up": [{"text": "Came from organic search"}], "down": [{"text": "No reply yet"}]},
                          next_step="Call within a day"))
        session.commit()
        return connection.id


@pytest.fixture
def card_app(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url, HUBSPOT_CLIENT_SECRET=SECRET, PUBLIC_URL=PUBLIC)
    add_store(rt)
    rt.config.runtime = rt
    return create_app(rt.config)


def card_query(object_id="1000001", object_type="0-1", portal=PORTAL, email="ana%40maven.example"):
    """What the app card's hubspot.fetch sends: its own parameters, then userId, portalId, userEmail, appId."""
    return (f"associatedObjectId={object_id}&associatedObjectType={object_type}&userId=70000001"
            f"&portalId={portal}&userEmail={email}&appId=2016482")


def fetch(client, query, *, secret=SECRET, stamp=None, signed_query=None):
    """GET the card as HubSpot does: v3 over GET + URL (decoded as HubSpot signs it) + empty body + timestamp."""
    stamp = str(int(time.time() * 1000) if stamp is None else stamp)
    signed_url = f"{PUBLIC}/embed/hubspot/card?" + (signed_query or query).replace("%40", "@")
    signature = Signature.get_signature(secret, "", "v3", http_uri=signed_url, http_method="GET", timestamp=stamp)
    return client.get(f"/embed/hubspot/card?{query}", base_url=PUBLIC,
                      headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp})


def test_card_shows_the_stored_score_and_opens_the_panel_in_hubspots_look(card_app):
    client = card_app.test_client()
    answer = fetch(client, card_query())
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["responseVersion"] == "v3" and body["totalCount"] == 1
    section = body["sections"][0]
    assert section["id"] == "1000001" and section["title"] == "Pipewise score 73 (B)"
    values = {t["label"]: t["value"] for t in section["tokens"]}
    assert values["Score"] == "73" and values["Band"] == "B" and values["Next step"] == "Call within a day"
    assert "+ Came from organic search" in values["Top reasons"]
    action = body["topLevelActions"]["primary"]
    assert section["actions"] == [] and body["topLevelActions"]["secondary"] == []  # a rep: no team panel
    assert (action["type"], action["width"], action["height"]) == ("IFRAME", 890, 748)
    url = urlparse(action["url"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC and url.path == "/embed/panel/lead/1000001"
    assert parse_qs(url.query)["theme"] == ["hubspot"]
    panel = client.get(f"{url.path}?{url.query}")
    assert panel.status_code == 200
    html = panel.get_data(as_text=True)
    assert 'class="pw-theme-hubspot"' in html and "Ana Lima" in html and "theme=hubspot" in html
    assert "frame-ancestors https://app.hubspot.com" in panel.headers["Content-Security-Policy"]


def test_unscored_deal_gets_a_card_saying_so_and_legacy_type_names_still_work(card_app):
    client = card_app.test_client()
    body = fetch(client, card_query("3000001", "0-3")).get_json()
    section = body["sections"][0]
    assert section["title"] == "Pipewise has not scored this record yet"
    assert "/embed/panel/opportunity/3000001?" in body["topLevelActions"]["primary"]["url"]
    legacy = fetch(client, card_query("3000001", "DEAL")).get_json()["sections"][0]
    assert legacy["title"] == section["title"]


def test_a_manager_also_gets_the_team_panel_as_a_secondary_action(card_app):
    body = fetch(card_app.test_client(), card_query(email="mia%40maven.example")).get_json()
    (team,) = body["topLevelActions"]["secondary"]
    assert team["label"] == "Open team panel" and team["type"] == "IFRAME" and team["propertyNamesIncluded"] == []
    assert urlparse(team["url"]).path == "/embed/manager"


def test_unknown_portal_and_other_objects_get_a_message_card(card_app):
    client = card_app.test_client()
    assert "not installed" in fetch(client, card_query(portal="999")).get_json()["sections"][0]["title"]
    assert "contacts and deals" in fetch(client, card_query("2000001", "0-2")).get_json()["sections"][0]["title"]


def test_forged_altered_and_stale_card_fetches_are_refused(card_app, caplog):
    client = card_app.test_client()
    assert fetch(client, card_query(), secret="not-ours").status_code == 401
    assert fetch(client, card_query("1000002"), signed_query=card_query()).status_code == 401
    assert fetch(client, card_query(), stamp=int(time.time() * 1000) - 301_000).status_code == 401
    assert client.get(f"/embed/hubspot/card?{card_query()}", base_url=PUBLIC).status_code == 401
    assert "hubspot.card.invalid-signature" in caplog.text


def test_the_sandbox_record_page_shows_the_card(make_runtime, sqlite_url, hs_sandbox):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_sandbox))
    lead_id = hs_sandbox.records("contacts")[0]["id"]
    add_store(rt, portal=str(hs_sandbox.portal_id), instance_url=hs_sandbox.base_url, lead_id=lead_id)
    rt.config.runtime = rt
    with LiveApp(create_app(rt.config)) as live:
        hs_sandbox.configure_card(f"{live.url}/embed/hubspot/card")
        try:
            page = requests.get(f"{hs_sandbox.base_url}/contacts/{hs_sandbox.portal_id}/record/0-1/{lead_id}",
                                verify=str(hs_sandbox.ca_path), timeout=30)
        finally:
            hs_sandbox.configure_card(None)
    assert page.status_code == 200
    assert "Pipewise score 73 (B)" in page.text and "Call within a day" in page.text
