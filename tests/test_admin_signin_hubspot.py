"""Sign-in with HubSpot: roles from the sandbox's settings users API, the portal mapping, state, the grant."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.hubspot.provider import HubSpotProvider
from demo.stack import give_consent
from tests.hubspot_fixtures import connect, hs_sandbox, hubspot_settings  # noqa: F401 (fixture)
from tests.test_admin_signin import build_app

ADMIN = "alex.admin@maven-sandbox.example"
MANAGER = "cara.losch@maven-sandbox.example"
REP = "anna.snelling@maven-sandbox.example"


def sign_in(client, server, email: str = ADMIN):
    """Sign in through the HubSpot sandbox's consent page as this user; return Pipewise's last answer."""
    to_crm = client.get("/auth/login/hubspot")
    assert to_crm.status_code == 302, to_crm.data
    back = urlsplit(give_consent(server.base_url, str(server.ca_path), to_crm.headers["Location"], email,
                                 path="/oauth/authorize", user_field="user"))
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, hs_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, None, **hubspot_settings(hs_sandbox))


def test_the_login_page_offers_hubspot(app):
    page = app.test_client().get("/auth/login")
    assert b"Sign in with HubSpot" in page.data and b'href="/auth/login/hubspot"' in page.data


def test_the_portal_admin_signs_in_and_gets_the_console(app, hs_sandbox):
    client = app.test_client()
    landed = sign_in(client, hs_sandbox, ADMIN)
    assert landed.status_code == 302 and landed.headers["Location"] == "/admin/connections"
    with client.session_transaction() as session:
        user = session["user"]
    assert user["provider"] == "hubspot" and user["role"] == "admin" and user["name"] == "Alex Admin"
    assert user["email"] == ADMIN and user["remote_org_id"] == str(hs_sandbox.portal_id)
    assert user["organization_id"] is None  # no connection yet: the admin signs in to create it
    page = client.get("/admin/connections")
    assert page.status_code == 200 and b"Alex Admin" in page.data


def test_managers_and_reps_map_to_the_connected_portal_and_are_refused_the_console(app, hs_sandbox):
    refused = sign_in(app.test_client(), hs_sandbox, REP)
    assert refused.status_code == 403 and b"not connected to your CRM yet" in refused.data
    installed = connect(app.extensions["pipewise"], hs_sandbox)
    for email, role in ((MANAGER, "manager"), (REP, "rep")):
        client = app.test_client()
        landed = sign_in(client, hs_sandbox, email)
        assert landed.status_code == 302 and landed.headers["Location"] == "/auth/me"
        with client.session_transaction() as session:
            assert session["user"]["role"] == role and session["user"]["email"] == email
            assert session["user"]["organization_id"] == installed.organization_id
        page = client.get("/admin/connections")
        assert page.status_code == 403 and f"a {role} in your CRM".encode() in page.data
        assert client.get("/auth/me").status_code == 200
    admin = app.test_client()
    sign_in(admin, hs_sandbox, ADMIN)
    with admin.session_transaction() as session:
        assert session["user"]["organization_id"] == installed.organization_id
    assert admin.get("/admin/connections").status_code == 200


def test_a_forged_state_is_refused_before_anything_else(app):
    client = app.test_client()
    client.get("/auth/login/hubspot")
    answer = client.get("/auth/hubspot/callback?code=anything&state=forged")
    assert answer.status_code == 400 and b"stale or was not started here" in answer.data
    with client.session_transaction() as session:
        assert "user" not in session and "signin_state" not in session


def test_the_sign_in_refresh_token_is_deleted_but_the_connections_is_kept(app, hs_sandbox):
    to_crm = app.test_client().get("/auth/login/hubspot")
    query = parse_qs(urlsplit(to_crm.headers["Location"]).query)
    # HubSpot refuses an authorization without every required scope of the app.
    assert query["scope"] == [" ".join(HubSpotProvider.scopes)]
    assert query["redirect_uri"] == ["https://pipewise.example/auth/hubspot/callback"]  # the public URL
    installed = connect(app.extensions["pipewise"], hs_sandbox)
    started = time.time()
    assert sign_in(app.test_client(), hs_sandbox, ADMIN).status_code == 302
    store = hs_sandbox.sandbox.store
    signin = store.fetchall("SELECT revoked FROM tokens WHERE kind = 'refresh' AND issued_at >= ?", (started,))
    assert signin == [(1,)]  # Pipewise keeps no refresh token from a sign-in
    kept = store.fetchall("SELECT revoked FROM tokens WHERE token = ?", (installed.token["refresh_token"],))
    assert kept == [(0,)]
