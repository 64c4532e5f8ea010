"""Every admin route refuses reps, managers and signed-out visitors; every form needs its CSRF token."""
from __future__ import annotations

import pytest

from sync.store import Connection
from tests.conftest import connect_salesforce
from tests.test_admin_signin import ADMIN, MANAGER, REP, build_app, csrf, sign_in
from web.csrf import EXEMPT_PATHS, EXEMPT_PREFIXES

# Admin-only routes outside /admin: the install flow and its progress pages.
INSTALL_ENDPOINTS = {"install.home", "install.start", "install.callback", "install.progress",
                     "install.progress_json"}


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, sf_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)


def _admin_routes(app, connection_id: int) -> list[tuple[str, str]]:
    """(method, url) of every admin route, with real ids filled in."""
    from flask import url_for

    values = {"connection_id": connection_id, "version_id": 1, "provider": "salesforce", "job_id": "retrain-1-lead"}
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not (rule.endpoint.startswith("admin.") or rule.endpoint in INSTALL_ENDPOINTS):
                continue
            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
            routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_every_admin_route_refuses_reps_managers_and_strangers(app, sf_sandbox):
    connection_id = connect_salesforce(app.extensions["pipewise"], sf_sandbox)
    routes = _admin_routes(app, connection_id)
    assert len(routes) >= 25 and ("POST", f"/admin/connections/{connection_id}/purge") in routes

    for method, url in routes:
        answer = app.test_client().open(url, method=method)
        assert answer.status_code in (302, 400), (method, url, answer.status_code)
        if method == "GET":
            assert answer.headers["Location"].startswith("/auth/login"), url

    for username in (MANAGER, REP):
        client = app.test_client()
        sign_in(client, sf_sandbox, username)
        token = csrf(client)
        for method, url in routes:
            answer = client.open(url, method=method, data={"csrf_token": token})
            assert answer.status_code == 403, (username, method, url, answer.status_code)
            assert b"This page is for Pipewise admins" in answer.data
    with app.extensions["pipewise"].sessions() as session:
        assert session.get(Connection, connection_id).status == "healthy"  # no refused POST did anything


def test_a_post_without_the_csrf_token_is_refused(app, sf_sandbox):
    connection_id = connect_salesforce(app.extensions["pipewise"], sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox, ADMIN)
    refused = client.post(f"/admin/connections/{connection_id}/pause")
    assert refused.status_code == 400 and b"expired or was not sent from a Pipewise page" in refused.data
    forged = client.post(f"/admin/connections/{connection_id}/pause", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    with app.extensions["pipewise"].sessions() as session:
        assert session.get(Connection, connection_id).status == "healthy"
    accepted = client.post(f"/admin/connections/{connection_id}/pause", data={"csrf_token": csrf(client)})
    assert accepted.status_code == 302
    with app.extensions["pipewise"].sessions() as session:
        assert session.get(Connection, connection_id).status == "paused"


def test_the_csrf_exemptions_are_only_the_signed_crm_and_api_endpoints(app):
    assert set(EXEMPT_PATHS) == {"/embed/salesforce/canvas", "/embed/salesforce/manager", "/embed/manager/quotas",
                                 "/embed/manager/forecast-call"}
    assert set(EXEMPT_PREFIXES) == {"/webhooks/", "/embed/hubspot/", "/api/v1/"}
    # An exempt path still does its own verification: a webhook with a wrong secret is refused.
    answer = app.test_client().post("/webhooks/salesforce/00Dnope/wrong-secret", data=b"<x/>")
    assert answer.status_code == 403


def test_security_headers(app, sf_sandbox, tmp_path, sqlite_url, redis_url):
    client = app.test_client()
    plain = client.get("/auth/login")
    assert "camera=()" in plain.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in plain.headers  # published over plain HTTP (local development)
    # Published over HTTPS: HSTS on every answer, even one a TLS proxy forwarded over plain HTTP.
    published = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, PUBLIC_URL="https://pipewise.test")
    behind_proxy = published.test_client().get("/auth/login", base_url="http://10.0.0.5")
    assert behind_proxy.headers["Strict-Transport-Security"].startswith("max-age=")
    sign_in(client, sf_sandbox)
    assert client.get("/admin/connections").headers["Cache-Control"] == "no-store"
