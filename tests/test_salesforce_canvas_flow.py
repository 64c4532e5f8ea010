"""The Canvas apps against the Salesforce sandbox: real signed requests, reloads, replays, the team app,
and the self-authorize GET flow through Salesforce's approval."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from demo.stack import give_consent
from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app


@pytest.fixture
def world(tmp_path, sqlite_url, redis_url, sf_sandbox, sf_control):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, EMBED_CANVAS_WINDOW_SECONDS=0)
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    yield app, sf_control
    sf_control.configure_canvas(None)


def test_salesforces_own_request_opens_and_a_late_repeat_needs_a_live_session(world, sf_sandbox):
    app, control = world
    client = app.test_client()
    lead = control.records("Lead")[0]["Id"]
    signed = control.signed_request("Lead", lead)
    assert signed["context"]["issuedAt"] is None and signed["context"]["context"]["environment"]["parameters"] == {}
    first = client.post("/embed/salesforce/canvas", data={"signed_request": signed["signed_request"]})
    assert first.status_code == 200 and "Pipewise" in first.get_data(as_text=True)

    # Window 0: this repeat is only accepted because Salesforce calls the token inside it active.
    again = client.post("/embed/salesforce/canvas", data={"signed_request": signed["signed_request"]})
    assert again.status_code == 200
    control.revoke_tokens()  # the user's Salesforce session ends
    replayed = client.post("/embed/salesforce/canvas", data={"signed_request": signed["signed_request"]})
    assert replayed.status_code == 403


def test_the_team_panel_is_its_own_app_with_its_own_secret(world, sf_sandbox):
    app, control = world
    client = app.test_client()
    control.configure_canvas("https://pipewise.test/embed/salesforce/canvas",
                             "https://pipewise.test/embed/salesforce/manager")
    manager = next(u for u in control.records("User") if u["Title"] == "Sales Manager")
    team = control.signed_request("User", manager["Id"], as_user=manager["Username"])
    opened = client.post("/embed/salesforce/manager", data={"signed_request": team["signed_request"]})
    assert opened.status_code == 200 and "Pipeline health" in opened.get_data(as_text=True)
    # The rep panel's app does not accept what the team app signed, and the reverse.
    assert client.post("/embed/salesforce/canvas", data={"signed_request": team["signed_request"]}).status_code == 403
    lead = control.records("Lead")[0]["Id"]
    rep_request = control.signed_request("Lead", lead)["signed_request"]
    assert client.post("/embed/salesforce/manager", data={"signed_request": rep_request}).status_code == 403


def test_a_self_authorized_app_is_allowed_through_salesforce_then_posts(world, sf_sandbox):
    app, control = world
    client = app.test_client()
    asked = client.get("/embed/salesforce/canvas?_sfdc_canvas_authvalue=user_approval_required")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Allow Pipewise" in page
    assert "frame-ancestors" in asked.headers["Content-Security-Policy"] and "*.force.com" in \
        asked.headers["Content-Security-Policy"] and " * " not in asked.headers["Content-Security-Policy"] + " "
    to_salesforce = client.get("/embed/salesforce/canvas/approve?app=rep")
    assert to_salesforce.status_code == 302 and to_salesforce.headers["Location"].startswith(sf_sandbox.base_url)
    rep = next(u for u in control.records("User") if u["Title"] == "Sales Representative")
    back = urlsplit(give_consent(sf_sandbox.base_url, str(sf_sandbox.ca_path), to_salesforce.headers["Location"],
                                 rep["Username"]))
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200 and "reload the Salesforce page" in done.get_data(as_text=True)
    # Pipewise gave the token back at once: it keeps nothing of the user's.
    approval = parse_qs(back.query)
    assert "code" in approval
    live = sf_sandbox.sandbox.store.fetchall("SELECT COUNT(*) FROM _tokens WHERE user_id = ? AND kind = 'access' "
                                             "AND revoked = 0 AND scope != 'api web refresh_token'", (rep["Id"],))
    assert live == [(0,)]

    sf_sandbox.sandbox.settings.canvas_permitted_users = "self_authorized"
    try:
        control.configure_canvas("https://pipewise.test/embed/salesforce/canvas")
        lead = control.records("Lead")[2]["Id"]
        record_page = requests.get(f"{sf_sandbox.base_url}/lightning/r/Lead/{lead}/view?as={rep['Username']}",
                                   verify=str(sf_sandbox.ca_path), timeout=30).text
        assert 'name="signed_request"' in record_page, "approved: Salesforce now posts the signed request"
    finally:
        sf_sandbox.sandbox.settings.canvas_permitted_users = "admin_approved"

    stale = client.get("/embed/salesforce/canvas/approved?code=x&state=forged")
    assert stale.status_code == 400
    plain = client.get("/embed/salesforce/canvas")
    assert plain.status_code == 403

