"""Sign-in with the CRM identity: roles from the user's profile, permission sets and hierarchy, state,
expiry, sign-out.

``build_app`` and ``sign_in`` are shared by the other admin test modules.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from demo.stack import give_consent
from sync.store.audit_log import ensure_table
from tests.conftest import connect_salesforce, make_config
from web import create_app
from web.cli import upgrade_database

ADMIN = "alex.admin@maven-sandbox.example"
MANAGER = "cara.losch@maven-sandbox.example"
REP = "anna.snelling@maven-sandbox.example"


def build_app(tmp_path, db_url, redis_url, sandbox, **overrides):
    """A migrated store (plus the audit table until its migration lands) and the app on it."""
    config = make_config(tmp_path, db_url, redis_url, sandbox, **overrides)
    upgrade_database(config.DATABASE_URL)
    app = create_app(config)
    ensure_table(app.extensions["pipewise"].engine)
    return app


def sign_in(client, sandbox, username: str = ADMIN):
    """Sign in through the sandbox's consent page as this user; return Pipewise's last answer."""
    to_crm = client.get("/auth/login/salesforce")
    assert to_crm.status_code == 302, to_crm.data
    back = urlsplit(give_consent(sandbox.base_url, str(sandbox.ca_path), to_crm.headers["Location"], username))
    return client.get(f"{back.path}?{back.query}")


def csrf(client) -> str:
    """The session's CSRF token (a page with a form creates it)."""
    client.get("/auth/logout")
    with client.session_transaction() as session:
        return session["_csrf"]


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, sf_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)


def test_signed_out_visitors_are_sent_to_sign_in_and_brought_back(app, sf_sandbox):
    client = app.test_client()
    answer = client.get("/admin/webhooks")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/auth/login?next=/admin/webhooks")
    client.get(answer.headers["Location"])
    landed = sign_in(client, sf_sandbox)
    assert landed.status_code == 302 and landed.headers["Location"] == "/admin/webhooks"


def test_the_first_admin_signs_in_before_any_connection_exists(app, sf_sandbox):
    client = app.test_client()
    landed = sign_in(client, sf_sandbox, ADMIN)
    assert landed.status_code == 302 and landed.headers["Location"] == "/admin/connections"
    with client.session_transaction() as session:
        user = session["user"]
        assert session.permanent
    assert user["role"] == "admin" and user["username"] == ADMIN and user["name"] == "Alex Admin"
    assert user["remote_org_id"] == sf_sandbox.org_id and user["organization_id"] is None
    page = client.get("/admin/connections")
    assert page.status_code == 200 and b"No CRM is connected yet" in page.data
    assert b"Alex Admin" in page.data


def test_managers_and_reps_cannot_sign_in_before_install_then_are_refused_the_console(app, sf_sandbox):
    for username in (MANAGER, REP):
        refused = sign_in(app.test_client(), sf_sandbox, username)
        assert refused.status_code == 403 and b"not connected to your CRM yet" in refused.data
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    for username, role in ((MANAGER, "manager"), (REP, "rep")):
        client = app.test_client()
        landed = sign_in(client, sf_sandbox, username)
        assert landed.status_code == 302 and landed.headers["Location"] == "/auth/me"
        with client.session_transaction() as session:
            assert session["user"]["role"] == role and session["user"]["organization_id"] is not None
        page = client.get("/admin/connections")
        assert page.status_code == 403
        assert f"a {role} in your CRM".encode() in page.data and b"Only CRM admins" in page.data
        assert client.get("/auth/me").status_code == 200


def test_a_forged_or_stale_state_is_refused_before_anything_else(app, sf_sandbox):
    client = app.test_client()
    client.get("/auth/login/salesforce")
    answer = client.get("/auth/salesforce/callback?code=anything&state=forged")
    assert answer.status_code == 400 and b"stale or was not started here" in answer.data
    with client.session_transaction() as session:
        assert "user" not in session and "signin_state" not in session


def test_the_sign_in_grant_reads_the_identity_and_standing_and_is_given_back(app, sf_sandbox):
    to_crm = app.test_client().get("/auth/login/salesforce")
    query = parse_qs(urlsplit(to_crm.headers["Location"]).query)
    # api as well: the role is read from the user's profile and permission sets through the API.
    assert query["scope"] == ["id api"]
    # From PIPEWISE_PUBLIC_URL, never from the Host header the request came with.
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/auth/salesforce/callback"]
    sign_in(app.test_client(), sf_sandbox)
    live = sf_sandbox.sandbox.store.fetchall("SELECT kind FROM _tokens WHERE scope = 'id api' AND revoked = 0")
    issued = sf_sandbox.sandbox.store.fetchall("SELECT kind FROM _tokens WHERE scope = 'id api'")
    assert issued and live == []  # Pipewise keeps no live grant from a sign-in


def test_an_admin_is_whoever_salesforce_gives_modify_all_data_whatever_their_title(app, sf_sandbox, sf_control):
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    rep = next(u for u in sf_control.records("User") if u["Username"] == REP)
    assert rep["Title"] == "Sales Representative"
    granted = sf_control.create("PermissionSet", {"Name": "Ops_Admin", "Label": "Ops Admin",
                                                  "PermissionsModifyAllData": True})
    assignment = sf_control.create("PermissionSetAssignment", {"AssigneeId": rep["Id"], "PermissionSetId": granted})
    try:
        client = app.test_client()
        landed = sign_in(client, sf_sandbox, REP)
        assert landed.status_code == 302 and landed.headers["Location"] == "/admin/connections"
        with client.session_transaction() as session:
            assert session["user"]["role"] == "admin"
    finally:
        sf_control.delete("PermissionSetAssignment", assignment)
    with app.test_client() as client:
        sign_in(client, sf_sandbox, REP)
        with client.session_transaction() as session:
            assert session["user"]["role"] == "rep"


def test_sessions_expire(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, SESSION_LIFETIME_SECONDS=2)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    started = time.monotonic()
    assert client.get("/admin/connections").status_code == 200
    time.sleep(max(0.0, 2.3 - (time.monotonic() - started)))
    expired = client.get("/admin/connections")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/auth/login")


def test_sign_out_is_a_post_with_the_csrf_token(app, sf_sandbox):
    client = app.test_client()
    sign_in(client, sf_sandbox)
    assert client.post("/auth/logout").status_code == 400  # no token: refused, still signed in
    assert client.get("/admin/connections").status_code == 200
    assert client.post("/auth/logout", data={"csrf_token": csrf(client)}).status_code == 302
    assert client.get("/admin/connections").status_code == 302
