"""Finding 9: OAuth redirect URIs come from PIPEWISE_PUBLIC_URL, proxies are trusted as configured.

The attack: redirect_uri was built from the Host header, so a request with ``Host: evil.example``
sent the CRM's authorization code to evil.example (if the CRM accepted it). Forwarded headers are
trusted exactly PIPEWISE_PROXY_COUNT hops deep; HSTS is sent whenever the public URL is https.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from sync.store import Connection, Organization
from tests.security.signing import hubspot_headers
from tests.test_admin_signin import build_app, sign_in

SECRET = "proxy-hubspot-secret"


def _redirect_uri(answer) -> str:
    return parse_qs(urlsplit(answer.headers["Location"]).query)["redirect_uri"][0]


def test_redirect_uris_ignore_the_host_header(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, PUBLIC_URL="https://pipewise.example")
    client = app.test_client()
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    signin = client.get("/auth/login/salesforce", headers=evil)
    assert _redirect_uri(signin) == "https://pipewise.example/auth/salesforce/callback"
    sign_in(client, sf_sandbox)
    client.set_cookie("session", client.get_cookie("session").value, domain="evil.example")
    install = client.get("/install/salesforce", headers=evil)
    assert _redirect_uri(install) == "https://pipewise.example/install/salesforce/callback"
    document = client.get("/api/v1/openapi.json", headers=evil).get_data(as_text=True)
    assert "evil.example" not in document


def _hubspot_app(tmp_path, sqlite_url, redis_url, proxies: int):
    app = build_app(tmp_path, sqlite_url, redis_url, None, HUBSPOT_CLIENT_SECRET=SECRET, PROXY_COUNT=proxies,
                    PUBLIC_URL="https://pipewise.example")
    with app.extensions["pipewise"].sessions() as db:
        organization = Organization(name="Proxy test")
        db.add(organization)
        db.flush()
        db.add(Connection(organization_id=organization.id, provider="hubspot", remote_org_id="3",
                          instance_url="https://app.hubspot.com", token_ciphertext=b"-"))
        db.commit()
    return app


def _event() -> bytes:
    return json.dumps([{"eventId": 1, "subscriptionId": 2, "portalId": 3, "appId": 4, "occurredAt": 1_700_000_000_000,
                        "subscriptionType": "contact.creation", "objectId": 5, "attemptNumber": 0}]).encode()


def test_forwarded_headers_count_only_with_a_configured_proxy(tmp_path, sqlite_url, redis_url):
    """HubSpot signs the URL it called: a second public host works only through the configured proxy."""
    body = _event()
    signed_for = "https://hooks.example/webhooks/hubspot"
    forwarded = {**hubspot_headers(SECRET, "POST", signed_for, body), "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "hooks.example"}
    direct = _hubspot_app(tmp_path / "a", sqlite_url.replace("store.db", "a.db"), redis_url, proxies=0)
    assert direct.test_client().post("/webhooks/hubspot", data=body, headers=forwarded).status_code == 401
    proxied = _hubspot_app(tmp_path / "b", sqlite_url.replace("store.db", "b.db"), redis_url, proxies=1)
    assert proxied.test_client().post("/webhooks/hubspot", data=body, headers=forwarded).status_code == 204
    # A client-supplied hop in front of the proxy's own is not trusted: only the last one counts.
    spoofed = {**forwarded, "X-Forwarded-Host": "hooks.example, internal.example"}
    assert proxied.test_client().post("/webhooks/hubspot", data=body, headers=spoofed).status_code == 401


def test_hsts_whenever_the_public_url_is_https(tmp_path, sqlite_url, redis_url):
    app = build_app(tmp_path, sqlite_url, redis_url, None, PUBLIC_URL="https://pipewise.example")
    for path in ("/auth/login", "/healthz", "/api/v1/openapi.json"):
        assert "max-age=" in app.test_client().get(path).headers["Strict-Transport-Security"]
