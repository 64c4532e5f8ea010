"""Signing in to the sandbox tenant with Microsoft's own client library (MSAL): authorize, token, refresh."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import msal
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.test_dynamics_sandbox import FIXTURES, web_api_session  # noqa: F401
from tests.test_dynamics_sandbox import control, server  # noqa: F401

REDIRECT = "https://localhost:5000/auth/dynamics/callback"


class FormReader(HTMLParser):
    """The consent form's hidden fields and the sign-in choices."""

    def __init__(self):
        super().__init__()
        self.fields, self.users, self.buttons = {}, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "option":
            self.users.append(attrs["value"])
        elif tag == "button":
            self.buttons.append(attrs.get("value"))


def browser_for(server) -> requests.Session:
    """A session trusting the sandbox CA (and not REQUESTS_CA_BUNDLE from the environment)."""
    session = requests.Session()
    session.verify = str(server.ca_path)
    session.trust_env = False
    return session


def app_for(server, secret: str | None = None) -> msal.ConfidentialClientApplication:
    http = browser_for(server)
    return msal.ConfidentialClientApplication(
        server.settings.client_id, client_credential=secret or server.settings.client_secret,
        authority=server.authority, instance_discovery=False, http_client=http)


def sign_in(server, browser: requests.Session, url: str, user: str) -> dict:
    """Open the authorize URL, pick the user, press Accept; the redirect's query."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    form = FormReader()
    form.feed(page.text)
    assert user in form.users and form.buttons == ["deny", "allow"]
    answer = browser.post(page.url, data={**form.fields, "user": user, "action": "allow"}, allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def test_authorization_code_round_trip_with_msal(server, control):
    app = app_for(server)
    flow = app.initiate_auth_code_flow([server.scope], redirect_uri=REDIRECT)
    assert flow["auth_uri"].startswith(f"{server.authority}/oauth2/v2.0/authorize?")
    browser = browser_for(server)
    user = "moses.frase@mavensandbox.onmicrosoft.com"
    query = sign_in(server, browser, flow["auth_uri"], user)
    result = app.acquire_token_by_auth_code_flow(flow, query)
    assert "error" not in result, result
    documented = json.loads((FIXTURES / "entra-token-response.json").read_text())
    assert set(documented) <= set(result)
    assert result["token_type"] == "Bearer" and result["scope"] == server.scope
    claims = result["id_token_claims"]
    assert claims["tid"] == server.settings.tenant_id and claims["preferred_username"] == user
    assert claims["aud"] == server.settings.client_id and claims["iss"] == f"{server.authority}/v2.0"
    # The id_token's signature checks out against the tenant's published keys.
    keys = KeySet.import_key_set(requests.get(f"{server.authority}/discovery/v2.0/keys",
                                              verify=str(server.ca_path)).json())
    assert jwt.decode(result["id_token"], keys).claims["oid"] == claims["oid"]
    api = web_api_session(server, result["access_token"])
    me = api.get(f"{server.web_api}/WhoAmI").json()
    who = api.get(f"{server.web_api}/systemusers({me['UserId']})?$select=domainname,azureactivedirectoryobjectid")
    assert who.json()["domainname"] == user and who.json()["azureactivedirectoryobjectid"] == claims["oid"]
    # Each refresh returns a new refresh token; once the admin revokes the grant, refreshing fails with AADSTS50173.
    refreshed = app.acquire_token_by_refresh_token(result["refresh_token"], [server.scope])
    assert "access_token" in refreshed and refreshed["refresh_token"] != result["refresh_token"]
    assert web_api_session(server, refreshed["access_token"]).get(f"{server.web_api}/WhoAmI").ok
    control.revoke_tokens()
    again = app.acquire_token_by_refresh_token(refreshed["refresh_token"], [server.scope])
    assert again["error"] == "invalid_grant" and again["error_codes"] == [50173]
    assert again["error_description"].startswith("AADSTS50173:")
    assert api.get(f"{server.web_api}/WhoAmI").status_code == 401
    # Signed in once, the next authorize with prompt=none answers silently (here as a posted form).
    silent = app.get_authorization_request_url([server.scope], redirect_uri=REDIRECT, prompt="none")
    silent += "&response_mode=form_post"
    answer = FormReader()
    answer.feed(browser.get(silent, allow_redirects=False).text)
    assert set(answer.fields) == {"code", "session_state"} and answer.fields["code"]
    stranger = FormReader()
    stranger.feed(browser_for(server).get(silent, allow_redirects=False).text)
    assert stranger.fields["error"] == "login_required"
    assert stranger.fields["error_description"].startswith("AADSTS50058:")


def test_token_errors_carry_aadsts_codes(server):
    wrong = app_for(server, secret="not-the-secret")
    flow = wrong.initiate_auth_code_flow([server.scope], redirect_uri=REDIRECT)
    browser = browser_for(server)
    query = sign_in(server, browser, flow["auth_uri"], "alex.admin@mavensandbox.onmicrosoft.com")
    result = wrong.acquire_token_by_auth_code_flow(flow, query)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    assert "access_token" in app_for(server).acquire_token_by_auth_code_flow(flow, query)  # the code still works
    token_url = f"{server.authority}/oauth2/v2.0/token"
    form = {"client_id": server.settings.client_id, "client_secret": server.settings.client_secret,
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "scope": server.scope}
    reused = requests.post(token_url, data=form, verify=str(server.ca_path)).json()
    assert reused["error"] == "invalid_grant" and reused["error_description"].startswith("AADSTS54005:")
    basic = requests.post(token_url, data={k: v for k, v in form.items() if k != "client_secret"},
                          auth=(server.settings.client_id, server.settings.client_secret), verify=str(server.ca_path))
    assert basic.status_code == 401 and basic.json()["error_codes"] == [7000218]
    other = app_for(server).get_authorization_request_url(["https://graph.microsoft.com/User.Read"],
                                                           redirect_uri=REDIRECT)
    page = requests.get(other, verify=str(server.ca_path))
    assert page.status_code == 400 and "AADSTS70011" in page.text
