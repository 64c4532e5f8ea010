"""The Salesforce Canvas panel: signed-request checks, the panel's content, tokens, headers, the chart."""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

import web
from sync.store import Activity, Connection, Lead, Opportunity, Organization, Score, ScoreHistory
from tests.conftest import make_config
from web.cli import upgrade_database
from web.extensions import runtime

SECRET = "canvas-consumer-secret"
ORG_ID = "00D000000000001AAA"
INSTANCE = "https://127.0.0.1:8443"
OPP_ID = "006000000000001AAA"
LEAD_ID = "00Q000000000001AAA"
UNSCORED_LEAD_ID = "00Q000000000002AAA"
CANVAS = "/embed/salesforce/canvas"


# -- an independent signer, as Salesforce does it ------------------------------------------------

def sign(envelope: dict, secret: str = SECRET, urlsafe: bool = False, padded: bool = True) -> str:
    """`<base64 HMAC-SHA256 of the envelope string>.<base64 JSON>`, the way Salesforce posts it."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    body = encode(json.dumps(envelope).encode()).decode()
    if not padded:
        body = body.rstrip("=")
    mac = encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()
    return f"{mac if padded else mac.rstrip('=')}.{body}"


def envelope(record_type: str = "Opportunity", record_id: str = OPP_ID, org_id: str = ORG_ID, **extra) -> dict:
    """A Canvas context for a record page, shaped as the Canvas guide's example (issuedAt null)."""
    return {
        "algorithm": "HMACSHA256", "issuedAt": None, "userId": "005000000000001AAA",
        "client": {"instanceId": "_:Pipewise:j_id0", "instanceUrl": INSTANCE, "oauthToken": "00D!token",
                   "targetOrigin": INSTANCE},
        "context": {
            "application": {"name": "Pipewise", "authType": "SIGNED_REQUEST", "canvasUrl": CANVAS},
            "user": {"userId": "005000000000001AAA", "userName": "rep@example.com", "fullName": "Rita Rep"},
            "environment": {"displayLocation": "RecordPage", "parameters": {},
                            "record": {"attributes": {"type": record_type, "url": f"/r/{record_id}"},
                                       "Id": record_id}},
            "organization": {"organizationId": org_id, "name": "Acme"},
        },
        **extra,
    }


# -- the app and its store ----------------------------------------------------------------------

@pytest.fixture
def make_app(tmp_path, sqlite_url, redis_url):
    """The app on a seeded store, with these settings changed."""
    built = []

    def build(**overrides):
        config = make_config(tmp_path, sqlite_url, redis_url, SALESFORCE_CLIENT_SECRET=SECRET, **overrides)
        upgrade_database(config.DATABASE_URL)
        flask_app = web.create_app(config)
        with flask_app.app_context():
            with runtime().sessions() as session:
                seed_store(session)
                session.commit()
        built.append(flask_app)
        return flask_app

    yield build
    for flask_app in built:
        with flask_app.app_context():
            runtime().engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def seed_store(session, instance_url: str = INSTANCE) -> None:
    """An organization with a Salesforce connection, a scored opportunity and lead, and one unscored lead."""
    org = Organization(name="Acme")
    session.add(org)
    session.flush()
    conn = Connection(organization_id=org.id, provider="salesforce", remote_org_id=ORG_ID, instance_url=instance_url,
                      token_ciphertext=b"not-a-real-token")
    session.add(conn)
    session.flush()
    ids = dict(organization_id=org.id, connection_id=conn.id, content_hash="h")
    session.add_all([
        Opportunity(remote_id=OPP_ID, remote_data={}, name="Acme <Renewal> & Co", stage="Engaging",
                    amount=48000, close_date=date(2024, 6, 30), **ids),
        Lead(remote_id=LEAD_ID, remote_data={}, first_name="Lena", last_name="Lead", company="Globex", **ids),
        Lead(remote_id=UNSCORED_LEAD_ID, remote_data={}, first_name="Nora", last_name="New", **ids),
    ])
    now = datetime(2024, 5, 20, 12, 0)
    session.add_all([
        Score(organization_id=org.id, connection_id=conn.id, object_type="opportunity", remote_id=OPP_ID,
              model_version="opp-2024.05.1", probability=0.72, score=87, band="A",
              reasons={"up": [{"text": "Champion replied within a day"}, {"text": "Stage moved twice this month"},
                              {"text": "Budget confirmed"}, {"text": "A fourth raising reason"}],
                       "down": [{"text": "No meeting booked in 14 days"}]},
              next_step="Book the pricing call with the economic buyer", computed_at=now),
        Score(organization_id=org.id, connection_id=conn.id, object_type="lead", remote_id=LEAD_ID,
              model_version="rules-1", probability=0.31, score=34, band="C",
              reasons={"up": [{"text": "Opened three emails"}], "down": [{"text": "Free email domain"}],
                       "limited_history": True},
              next_step="Call within 24 hours", limited_history=True, computed_at=now),
    ])
    for day, probability in enumerate([0.35, 0.41, 0.38, 0.55, 0.72]):
        session.add(ScoreHistory(connection_id=conn.id, object_type="opportunity", remote_id=OPP_ID,
                                 probability=probability, score=int(probability * 99) or 1,
                                 model_version="opp-2024.05.1", computed_at=now - timedelta(days=8 - 2 * day)))
    for n in range(12):
        session.add(Activity(remote_id=f"00T{n:015d}", remote_data={}, kind="email", subject=f"Email number {n}",
                             occurred_at=now - timedelta(hours=n), what_remote_id=OPP_ID, **ids))
    session.add(Activity(remote_id="00T999999999999AAA", remote_data={}, kind="call", subject="Discovery call",
                         occurred_at=now, who_remote_id=LEAD_ID, **ids))


def post_canvas(client, signed_request: str):
    return client.post(CANVAS, data={"signed_request": signed_request})


def panel_link(response) -> str:
    """The refresh link of a rendered panel (it carries the panel token)."""
    match = re.search(r'href="(/embed/panel/[^"]+)"', response.get_data(as_text=True))
    assert match, "the panel has no refresh link"
    return html.unescape(match.group(1))


# -- the signed request -------------------------------------------------------------------------

def test_a_valid_signed_request_shows_the_opportunity_panel(client):
    response = post_canvas(client, sign(envelope()))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ">87<" in page and "Band A" in page and "72%" in page and "Win probability" in page
    assert "Champion replied within a day" in page and "Budget confirmed" in page
    assert "A fourth raising reason" not in page, "at most three raising reasons"
    assert "Raises the score: " in page and "Lowers the score: " in page
    assert "No meeting booked in 14 days" in page
    assert "Book the pricing call with the economic buyer" in page
    assert "opp-2024.05.1" in page and "2024-05-20 12:00 UTC" in page
    assert "Limited history" not in page
    # The last ten activities, newest first.
    shown = re.findall(r"Email number (\d+)", page)
    assert shown == [str(n) for n in range(10)]
    assert "<svg" in page and "Acme &lt;Renewal&gt; &amp; Co" in page


def test_a_lead_shows_convert_probability_and_limited_history(client):
    response = post_canvas(client, sign(envelope("Lead", LEAD_ID)))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Convert probability" in page and "31%" in page and "Band C" in page
    assert "Limited history" in page and "Discovery call" in page
    assert "<svg" not in page


def test_a_record_without_a_score_says_so_plainly(client):
    response = post_canvas(client, sign(envelope("Lead", UNSCORED_LEAD_ID)))
    assert response.status_code == 200
    assert ("Pipewise has not scored this record yet; it will appear after the next sync"
            in response.get_data(as_text=True))


def test_the_record_is_the_one_in_the_environment_even_in_15_characters(client):
    context = envelope()
    context["context"]["environment"]["record"]["Id"] = OPP_ID[:15]
    response = post_canvas(client, sign(context))
    assert response.status_code == 200 and ">87<" in response.get_data(as_text=True)

    # Off a record page the record is empty; parameters hold only what an admin configured, never the record.
    context = envelope()
    context["context"]["environment"]["record"] = {}
    context["context"]["environment"]["parameters"] = {"recordId": OPP_ID}
    response = post_canvas(client, sign(context))
    assert response.status_code == 200 and "Open a lead or an opportunity" in response.get_data(as_text=True)


def test_a_forged_signature_is_refused_and_logged_without_the_secret(client, caplog):
    caplog.set_level(logging.WARNING)
    response = post_canvas(client, sign(envelope(), secret="someone-elses-secret"))
    assert response.status_code == 403
    assert "87" not in response.get_data(as_text=True)
    assert "embed.canvas.invalid-signature reason=bad-signature" in caplog.text
    assert SECRET not in caplog.text


def test_a_tampered_envelope_is_refused(client):
    mac, body = sign(envelope("Lead", LEAD_ID)).split(".")
    other = sign(envelope()).split(".")[1]
    assert post_canvas(client, f"{mac}.{other}").status_code == 403
    assert post_canvas(client, f"{mac}.{body}x").status_code == 403
    assert post_canvas(client, "not-a-signed-request").status_code == 403
    assert client.post(CANVAS).status_code == 403


def test_a_reload_posts_the_same_signed_request_and_opens_the_panel_again(client):
    signed = sign(envelope())
    assert post_canvas(client, signed).status_code == 200
    assert post_canvas(client, signed).status_code == 200
    # The same MAC re-encoded in the URL-safe alphabet is the same request: a reload too.
    mac, body = signed.split(".")
    again = post_canvas(client, f"{mac.replace('+', '-').replace('/', '_').rstrip('=')}.{body}")
    assert again.status_code == 200


def test_a_repeat_after_the_window_needs_a_live_salesforce_session(make_app):
    # Window 0: every repeat must be confirmed; this org's instance answers nothing, so none is.
    client = make_app(EMBED_CANVAS_WINDOW_SECONDS=0).test_client()
    signed = sign(envelope())
    assert post_canvas(client, signed).status_code == 200
    replayed = post_canvas(client, signed)
    assert replayed.status_code == 403 and "session ended" in replayed.get_data(as_text=True)


@pytest.mark.parametrize("issued", [None, "absent", 0, 1234567890123])
def test_issued_at_is_salesforces_own_and_is_not_read(client, issued):
    # Canvas guide, CanvasRequest: issuedAt is for internal use only; its example carries null.
    context = envelope()
    if issued == "absent":
        del context["issuedAt"]
    else:
        context["issuedAt"] = issued
    assert post_canvas(client, sign(context)).status_code == 200


def test_another_algorithm_is_refused(client):
    assert post_canvas(client, sign(envelope(algorithm="HMACSHA1"))).status_code == 403


def test_the_url_safe_alphabet_without_padding_is_accepted(client):
    # Grow a nonce until both parts really use the URL-safe characters and need padding.
    for nonce in range(500):
        context = envelope(nonce="~?" * nonce)
        signed = sign(context, urlsafe=True, padded=False)
        standard = sign(context)
        mac, body = signed.split(".")
        if re.search("[-_]", mac) and re.search("[-_]", body) and standard.count("=") and signed != standard:
            break
    else:
        pytest.fail("no URL-safe example found")
    response = post_canvas(client, signed)
    assert response.status_code == 200 and ">87<" in response.get_data(as_text=True)


def test_an_unknown_organization_is_told_to_install_pipewise(client):
    response = post_canvas(client, sign(envelope(org_id="00D000000000009AAA")))
    assert response.status_code == 403
    assert "install Pipewise" in response.get_data(as_text=True)


def test_an_unknown_organizations_message_is_framed_by_the_instance_salesforce_signed(client):
    response = post_canvas(client, sign(envelope(org_id="00D000000000009AAA")))
    assert re.search(r"frame-ancestors ([^;]+)", response.headers["Content-Security-Policy"]).group(1) == INSTANCE


def test_an_organization_id_in_15_characters_is_the_installed_organization(make_app):
    app = make_app()
    with app.app_context(), runtime().sessions() as session:
        # Installed under the API's 18 characters: "E" for the upper-case D at position 3 of the first five.
        session.query(Connection).one().remote_org_id = "00D000000000001EAA"
        session.commit()
    response = post_canvas(app.test_client(), sign(envelope(org_id="00D000000000001")))
    assert response.status_code == 200 and ">87<" in response.get_data(as_text=True)


def test_a_my_domain_org_may_frame_the_panel_from_its_lightning_pages(make_app):
    app = make_app()
    with app.app_context(), runtime().sessions() as session:
        session.query(Connection).one().instance_url = "https://acme.my.salesforce.com"
        session.commit()
    response = post_canvas(app.test_client(), sign(envelope()))
    ancestors = re.search(r"frame-ancestors ([^;]+)", response.headers["Content-Security-Policy"]).group(1).split()
    assert response.status_code == 200
    assert ancestors == ["https://acme.my.salesforce.com", "https://acme.lightning.force.com"]


def test_only_the_organizations_instance_may_frame_the_panel(client):
    response = post_canvas(client, sign(envelope()))
    csp = response.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).split()
    assert ancestors == [INSTANCE]
    assert "*" not in csp and "default-src 'self'" in csp
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]


# -- the panel token ------------------------------------------------------------------------------

def test_the_panel_token_renders_the_panel_again(client):
    link = panel_link(post_canvas(client, sign(envelope())))
    again = client.get(link)
    assert again.status_code == 200 and ">87<" in again.get_data(as_text=True)
    assert "frame-ancestors https://127.0.0.1:8443" in again.headers["Content-Security-Policy"]

    path, token = urlsplit(link).path, parse_qs(urlsplit(link).query)["pt"][0]
    bearer = client.get(f"{path}/score.json", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200 and bearer.get_json()["score"]["value"] == 87
    assert client.get(path).status_code == 403, "no token"
    assert client.get(f"{path}?pt={token[:-2]}xx").status_code == 403, "forged token"
    assert client.get(f"/embed/panel/lead/{LEAD_ID}?pt={token}").status_code == 403, "another record"


def test_an_expired_or_foreign_panel_token_is_refused(client):
    link = panel_link(post_canvas(client, sign(envelope())))
    path, token = urlsplit(link).path, parse_qs(urlsplit(link).query)["pt"][0]
    salt = "pipewise.embed.panel-token"
    _ok, claims = URLSafeTimedSerializer("test-secret", salt=salt).loads_unsafe(token)

    class SignedAnHourAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 3600

    expired = URLSafeTimedSerializer("test-secret", salt=salt, signer=SignedAnHourAgo).dumps(claims)
    response = client.get(f"{path}?pt={expired}")
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)
    foreign = URLSafeTimedSerializer("another-app-secret", salt=salt).dumps(claims)
    assert client.get(f"{path}?pt={foreign}").status_code == 403


def test_the_history_chart_is_well_formed_svg(client):
    link = panel_link(post_canvas(client, sign(envelope())))
    path, query = urlsplit(link).path, urlsplit(link).query
    response = client.get(f"{path}/history.svg?{query}")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.get_data())
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert root.find(f"{ns}title").text == "Win probability over time: Acme <Renewal> & Co"
    assert "5 scores" in root.find(f"{ns}desc").text
    points = root.find(f"{ns}polyline").get("points").split()
    assert len(points) == 5
    # Rising probability draws a line going up (smaller y) from first to last point.
    assert float(points[-1].split(",")[1]) < float(points[0].split(",")[1])


def test_a_deal_scored_by_the_fallback_says_why_in_the_panel(app, client):
    note = ("Past deals in Engaging at 30–60 days old were won 58% of the time. Pipewise shows this rate "
            "because its deal model does not yet beat the base rate on recent deals.")
    with app.app_context(), runtime().sessions() as session:
        score = session.query(Score).filter_by(remote_id=OPP_ID).one()
        score.limited_history = True
        score.reasons = {"up": [{"text": "Stage: Engaging"}], "down": [], "limited_history": True, "note": note}
        session.commit()
    page = html.unescape(post_canvas(client, sign(envelope())).get_data(as_text=True))
    assert "Why this number." in page and note in page
    assert "Limited history." not in page  # that message is for organizations with too few outcomes
