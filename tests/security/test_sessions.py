"""Finding 6: signing out, a role change in the CRM and a disconnect end sessions at once.

The attack: a session cookie copied before sign-out still opened the console for up to 8 hours,
with the role frozen at sign-in. Sessions now live on the server; the cookie is a random id.
"""
from __future__ import annotations

import base64
import re

import pytest

from sync.jobs import sync_connection
from tests.conftest import connect_salesforce
from tests.test_admin_signin import ADMIN, REP, build_app, csrf, sign_in


def _cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_cookie_copied_before_sign_out_opens_nothing_after(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    stolen = _cookie(client)
    assert client.post("/auth/logout", data={"csrf_token": csrf(client)}).status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    answer = replay.get("/admin/connections")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/login")


def test_the_cookie_is_a_random_id_secure_and_http_only_outside_local_development(tmp_path, sqlite_url, redis_url,
                                                                                    sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, PUBLIC_URL="https://pipewise.example")
    client = app.test_client()
    landed = sign_in(client, sf_sandbox)
    header = landed.headers["Set-Cookie"]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    value = _cookie(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,64}", value)
    # Nothing about the person, in clear or base64: the id alone, 256 random bits.
    decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    for secret in (ADMIN, "Alex", "admin", "salesforce"):
        assert secret.encode() not in decoded and secret not in value


@pytest.fixture
def synced_admin(tmp_path, sqlite_url, redis_url, sf_sandbox, sf_control):
    """A synced connection (its users in the store), the admin signed in, and the admin's CRM user id."""
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    connection_id = connect_salesforce(app.extensions["pipewise"], sf_sandbox)
    sync_connection(connection_id, "full", then_score=False)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    admin_id = next(r["Id"] for r in sf_control.records("User") if r["Username"] == ADMIN)
    return client, connection_id, admin_id


def test_a_role_change_in_the_crm_ends_the_session_at_the_next_sync(synced_admin, sf_control):
    client, connection_id, admin_id = synced_admin
    assert client.get("/admin/connections").status_code == 200
    users = sf_control.records("User")
    admin_profile = next(u["ProfileId"] for u in users if u["Id"] == admin_id)
    rep_profile = next(u["ProfileId"] for u in users if u["Username"] == REP)
    assert rep_profile != admin_profile
    try:
        # The admin's profile is swapped for one without Modify All Data: no longer an admin.
        sf_control.update("User", admin_id, {"ProfileId": rep_profile})
        sync_connection(connection_id, "incremental", then_score=False)
        answer = client.get("/admin/connections")
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/login")
    finally:
        sf_control.update("User", admin_id, {"ProfileId": admin_profile})


def test_a_deactivated_user_is_signed_out(synced_admin, sf_control):
    client, connection_id, admin_id = synced_admin
    try:
        sf_control.update("User", admin_id, {"IsActive": False})
        sync_connection(connection_id, "incremental", then_score=False)
        assert client.get("/auth/me").status_code == 302
    finally:
        sf_control.update("User", admin_id, {"IsActive": True})


def test_a_disconnect_signs_out_everyone_else_of_the_organization(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    acting, other = app.test_client(), app.test_client()
    sign_in(acting, sf_sandbox)
    sign_in(other, sf_sandbox)
    assert other.get("/admin/connections").status_code == 200
    acting.post(f"/admin/connections/{connection_id}/disconnect", data={"csrf_token": csrf(acting)})
    assert other.get("/admin/connections").status_code == 302
    assert acting.get(f"/admin/connections/{connection_id}/purge").status_code == 200  # to delete the data
