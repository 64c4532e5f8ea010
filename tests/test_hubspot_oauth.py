"""Pipewise's HubSpot OAuth client against the sandbox: the install URL's scopes, form-field client
authentication, the documented token answer, and a revoked grant in either error shape."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from connectors.errors import ReauthorizationRequired
from connectors.hubspot import streams
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.provider import HubSpotProvider
from connectors.hubspot.tokens import complete_token, granted_scopes
from sync.connections import oauth_app

from tests.hubspot_fixtures import REDIRECT_URI, connect, hs_runtime, hs_sandbox  # noqa: F401


def test_the_install_url_asks_required_scopes_in_scope_and_goals_currencies_users_in_optional_scope(hs_runtime):
    url, state = oauth_app(hs_runtime.config, "hubspot").authorization_url(REDIRECT_URI)
    query = parse_qs(urlparse(url).query)
    assert query["scope"] == [" ".join(HubSpotProvider.scopes)]
    assert query["optional_scope"] == ["crm.objects.goals.read settings.currencies.read crm.objects.users.read"]
    assert query["state"] == [state] and query["redirect_uri"] == [REDIRECT_URI]


def test_the_token_answer_names_the_portal_so_no_lookup_is_needed(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    token = installed.token
    # The sandbox refuses HTTP Basic at the token endpoint: reaching here means the credentials went as
    # form fields. The answer's hub_id, user_id and scopes complete the token without a look-up.
    assert token["hub_id"] == hs_sandbox.portal_id and token["token_use"] == "access_token"
    assert token["instance_url"] == hs_sandbox.base_url
    assert set(token["scope"].split()) == set(HubSpotProvider.scopes) | set(HubSpotProvider.optional_scopes)
    identity = HubSpotProvider.identity(token)
    assert identity.remote_org_id == str(hs_sandbox.portal_id) and identity.remote_user_id == str(token["user_id"])


def test_a_token_without_its_portal_is_completed_by_introspection(hs_runtime, hs_sandbox):
    oauth = oauth_app(hs_runtime.config, "hubspot")
    completed = complete_token({"access_token": hs_sandbox.issue_token(), "token_type": "bearer"}, oauth)
    assert completed["hub_id"] == hs_sandbox.portal_id and completed["user"] == "alex.admin@maven-sandbox.example"
    assert granted_scopes(completed) >= set(HubSpotProvider.scopes)


@pytest.mark.parametrize("error_fields", ["hubspot", "rfc6749"])
def test_a_revoked_grant_needs_reauthorization_in_either_error_shape(hs_runtime, hs_sandbox, error_fields):
    installed = connect(hs_runtime, hs_sandbox)
    client = HubSpotClient(installed.token, installed.oauth, None, api_url=hs_sandbox.base_url,
                           verify=str(hs_sandbox.ca_path))
    hs_sandbox.settings.oauth_error_fields = error_fields
    try:
        hs_sandbox.revoke_tokens()
        hs_sandbox.expire_tokens()
        with pytest.raises(ReauthorizationRequired) as failure:
            list(client.read_stream(streams.Owners, None))
    finally:
        hs_sandbox.settings.oauth_error_fields = "hubspot"
    assert failure.value.code == "invalid_grant" and "re-authorize" in str(failure.value)
