"""The sandbox's installs and token endpoints follow HubSpot's published OAuth contract, and each API
endpoint asks for the scopes HubSpot's API descriptions name.

Sources: "Working with OAuth" and the app scope settings (required / optional scopes), the OAuth API
descriptions PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-03/oauth.json and
PublicApiSpecs/Auth/Oauth/Rollouts/155908/v1/oauth.json in HubSpot/HubSpot-public-api-spec-collection.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests

from connectors.hubspot.sandbox.scopes import USERS_READ
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from connectors.hubspot.sandbox.settings import (APP_OPTIONAL_SCOPES, APP_REQUIRED_SCOPES, DEFAULT_CLIENT_ID,
                                                 DEFAULT_CLIENT_SECRET)

REDIRECT_URI = "https://pipewise.test/install/hubspot/callback"
REQUIRED = " ".join(APP_REQUIRED_SCOPES)
OPTIONAL = " ".join(APP_OPTIONAL_SCOPES)
GOALS = "crm.objects.goals.read"


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    server = HubSpotSandboxServer(tmp_path_factory.mktemp("hs-oauth"), seed="none").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def free_portal(tmp_path_factory):
    """A portal whose subscription has no goals: the optional scope cannot be granted there."""
    server = HubSpotSandboxServer(tmp_path_factory.mktemp("hs-oauth-free"), seed="none",
                                  settings={"unavailable_scopes": [GOALS]}).start()
    yield server
    server.stop()


def http(server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, server.base_url + path, verify=str(server.ca_path), timeout=30,
                            allow_redirects=False, **kwargs)


def authorize(server, **params) -> requests.Response:
    """POST the consent form as the admin clicking Connect."""
    fields = {"client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": "s", "scope": REQUIRED,
              "optional_scope": OPTIONAL, "user": "", "action": "allow", **params}
    return http(server, "POST", "/oauth/authorize", data={k: v for k, v in fields.items() if v is not None})


def code_of(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text
    return parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]


def token_request(server, path: str = "/oauth/2026-03/token", **fields) -> requests.Response:
    body = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, **fields}
    return http(server, "POST", path, data=body)


def install(server) -> dict:
    code = code_of(authorize(server))
    answer = token_request(server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_install_grants_the_required_and_the_available_optional_scopes(portal, free_portal):
    token = install(portal)
    # AccessTokenResponse: access_token, expires_in, refresh_token, token_type, token_use required; hub_id,
    # user_id and scopes name the portal, the installing user and the grant.
    assert token["token_use"] == "access_token" and token["token_type"] == "bearer" and token["expires_in"] == 1800
    assert token["hub_id"] == portal.portal_id and isinstance(token["user_id"], int)
    assert set(token["scopes"]) == set(APP_REQUIRED_SCOPES) | set(APP_OPTIONAL_SCOPES)

    consent = http(free_portal, "GET", "/oauth/authorize?" + urlencode({
        "client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": REQUIRED, "optional_scope": OPTIONAL}))
    assert consent.status_code == 200 and "does not have access to" in consent.text and GOALS in consent.text
    without_goals = install(free_portal)
    assert set(without_goals["scopes"]) == set(APP_REQUIRED_SCOPES) | set(APP_OPTIONAL_SCOPES) - {GOALS}


@pytest.mark.parametrize("redirect_uri", ["https://elsewhere.test/callback", None])
def test_a_code_is_exchanged_only_with_the_redirect_uri_it_was_authorized_for(portal, redirect_uri):
    # "Working with OAuth": the token request's redirect_uri must match the one of the authorize request.
    code = code_of(authorize(portal))
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    answer = token_request(portal, **{k: v for k, v in fields.items() if v is not None})
    assert answer.status_code == 400 and answer.json()["status"] == "BAD_REDIRECT_URI"
    assert "access_token" not in answer.json()


@pytest.mark.parametrize("params, says", [
    ({"scope": None}, "scope parameter is missing"),
    ({"scope": "oauth crm.objects.contacts.read"}, "mark as required"),
    ({"scope": REQUIRED + " tickets"}, "scopes in this install URL do not match"),
    ({"scope": REQUIRED + " " + GOALS}, "only be requested in the optional_scope parameter"),
    ({"client_id": "someone-else"}, "not an app of this portal"),
])
def test_installs_hubspot_refuses_show_its_error_page(portal, params, says):
    answer = authorize(portal, **params)
    assert answer.status_code == 400 and says in answer.text


def test_a_required_scope_the_account_lacks_refuses_the_install(tmp_path):
    server = HubSpotSandboxServer(tmp_path / "hs", seed="none",
                                  settings={"unavailable_scopes": ["crm.objects.deals.write"]}).start()
    try:
        answer = authorize(server)
        assert answer.status_code == 400 and "does not have access to everything the app requires" in answer.text
    finally:
        server.stop()


def test_client_credentials_are_taken_only_as_form_fields(portal):
    code = code_of(authorize(portal))
    basic = http(portal, "POST", "/oauth/2026-03/token", auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
                 data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert basic.status_code == 400 and basic.json()["status"] == "BAD_CLIENT_ID"
    in_url = http(portal, "POST", "/oauth/2026-03/token?" + urlencode({"client_secret": DEFAULT_CLIENT_SECRET}),
                  data={"client_id": DEFAULT_CLIENT_ID, "grant_type": "authorization_code", "code": code,
                        "redirect_uri": REDIRECT_URI})
    assert in_url.status_code == 400 and "never in the URL" in in_url.json()["message"]
    as_json = http(portal, "POST", "/oauth/2026-03/token", json={
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, "grant_type": "authorization_code",
        "code": code, "redirect_uri": REDIRECT_URI})
    assert as_json.status_code == 400
    # The code was not spent by the refused requests; the documented form still works, on every version.
    assert token_request(portal, grant_type="authorization_code", code=code,
                         redirect_uri=REDIRECT_URI).status_code == 200
    for path in ("/oauth/v3/token", "/oauth/v1/token"):
        code = code_of(authorize(portal))
        answer = token_request(portal, path, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        assert answer.status_code == 200 and answer.json()["token_use"] == "access_token"


def test_errors_come_in_hubspots_shape_and_optionally_with_rfc6749_fields(portal):
    answer = token_request(portal, grant_type="refresh_token", refresh_token="not-a-token")
    body = answer.json()
    assert answer.status_code == 400 and body["status"] == "BAD_REFRESH_TOKEN"
    assert {"message", "correlationId", "category"} <= set(body) and "error" not in body
    assert token_request(portal, client_secret="wrong", grant_type="refresh_token",
                         refresh_token="x").json()["status"] == "BAD_CLIENT_SECRET"
    portal.settings.oauth_error_fields = "rfc6749"
    try:
        body = token_request(portal, grant_type="refresh_token", refresh_token="not-a-token").json()
        assert body["status"] == "BAD_REFRESH_TOKEN" and body["error"] == "invalid_grant" and body["error_description"]
    finally:
        portal.settings.oauth_error_fields = "hubspot"


def test_refresh_introspect_and_revoke(portal):
    token = install(portal)
    fresh = token_request(portal, grant_type="refresh_token", refresh_token=token["refresh_token"]).json()
    assert fresh["access_token"] != token["access_token"] and fresh["refresh_token"] == token["refresh_token"]
    assert fresh["hub_id"] == portal.portal_id and fresh["scopes"] == token["scopes"]

    facts = token_request(portal, "/oauth/2026-03/token/introspect", token=fresh["access_token"],
                          token_type_hint="access_token").json()
    assert facts["active"] is True and facts["hub_id"] == portal.portal_id and facts["token_use"] == "access_token"
    assert facts["user"] == "alex.admin@maven-sandbox.example" and facts["client_id"] == DEFAULT_CLIENT_ID
    refresh_facts = token_request(portal, "/oauth/v3/token/introspect", token=token["refresh_token"],
                                  token_type_hint="refresh_token").json()
    assert refresh_facts["token_use"] == "refresh_token" and refresh_facts["user_id"] == token["user_id"]
    # The deprecated v1 look-up still answers, with the token in the path.
    v1 = http(portal, "GET", f"/oauth/v1/access-tokens/{fresh['access_token']}").json()
    assert v1["hub_id"] == portal.portal_id and v1["token_type"] == "access"

    revoked = token_request(portal, "/oauth/2026-03/token/revoke", token=token["refresh_token"],
                            token_type_hint="refresh_token")
    assert revoked.status_code == 200
    assert token_request(portal, "/oauth/2026-03/token/introspect",
                         token=fresh["access_token"]).json() == {"active": False}
    again = token_request(portal, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert again.status_code == 400 and again.json()["status"] == "BAD_REFRESH_TOKEN"


@pytest.mark.parametrize("method, path, body, scope", [
    ("POST", "/crm/v3/objects/goal_targets/search", {"limit": 1}, GOALS),
    ("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": []}, "crm.objects.contacts.write"),
    ("GET", "/crm/v3/objects/companies?limit=1", None, "crm.objects.companies.read"),
    ("POST", "/crm/v3/objects/calls/search", {"limit": 1}, "crm.objects.contacts.read"),
    ("POST", "/crm/v3/properties/deals", {"name": "x"}, "crm.schemas.deals.write"),
    ("POST", "/crm/v4/associations/deals/companies/batch/read", {"inputs": []}, "crm.objects.companies.read"),
    ("GET", "/crm/v3/owners", None, "crm.objects.owners.read"),
    ("GET", "/settings/v3/users/", None, "settings.users.read"),
    ("GET", "/settings/v3/currencies/company-currency", None, "settings.currencies.read"),
    ("GET", "/settings/v3/currencies/exchange-rates/current", None, "settings.currencies.read"),
    ("GET", "/crm/v3/objects/users?limit=1", None, "crm.objects.users.read"),
    ("GET", "/account-info/v3/details", None, "oauth"),
])
def test_each_endpoint_refuses_a_token_without_its_scope_with_403_missing_scopes(portal, method, path, body, scope):
    # The settings users endpoints take either users scope: the token holds neither.
    alternatives = USERS_READ if scope in USERS_READ else (scope,)
    granted = [s for s in (*APP_REQUIRED_SCOPES, *APP_OPTIONAL_SCOPES) if s not in alternatives]
    token = portal.issue_token(scope=" ".join(granted))
    answer = http(portal, method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403, answer.text
    payload = answer.json()
    assert payload["category"] == "MISSING_SCOPES" and payload["correlationId"]
    assert scope in json.dumps(payload["errors"])
    full = portal.issue_token()
    allowed = http(portal, method, path, json=body, headers={"Authorization": f"Bearer {full}"})
    assert allowed.status_code != 403, allowed.text
