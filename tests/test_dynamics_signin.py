"""Console sign-in with Dynamics 365: the id_token from Microsoft's own client (msal), WhoAmI and security roles."""
from __future__ import annotations

import types

import pytest

from connectors.base import SignInError
from connectors.dynamics import signin
from connectors.dynamics.provider import DynamicsProvider
from connectors.oauth import OAuthApp
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures
from tests.test_dynamics_sandbox_oauth import REDIRECT, app_for, browser_for, sign_in as consent


def signed_in(server, user: str) -> dict:
    app = app_for(server)
    flow = app.initiate_auth_code_flow([server.scope], redirect_uri=REDIRECT)
    result = app.acquire_token_by_auth_code_flow(flow, consent(server, browser_for(server), flow["auth_uri"], user))
    assert "error" not in result, result
    return result


@pytest.mark.parametrize("user, role", [("alex.admin", "admin"), ("dustin.brinkmann", "manager"),
                                        ("anna.snelling", "rep")])
def test_sign_in_reads_who_and_their_role_from_security_roles(server, user, role):
    login = f"{user}@{server.settings.tenant_domain}"
    token = signed_in(server, login)
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, server.settings.client_secret,
                     verify=str(server.ca_path))
    # The environment comes from the granted scope: no setting is read.
    who = signin.sign_in(oauth, token, types.SimpleNamespace(), lambda org: set())
    assert who.provider == "dynamics" and who.role == role and who.username == login
    assert who.remote_org_id == server.sandbox.store.meta("organization_id")
    assert who.user_id == server.sandbox.user(login)["systemuserid"]


def test_a_sign_in_without_an_id_token_is_refused_with_a_sentence(server):
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, "unused",
                     verify=str(server.ca_path))
    with pytest.raises(SignInError, match="id_token"):
        signin.sign_in(oauth, {"access_token": server.issue_token()},
                       types.SimpleNamespace(DYNAMICS_API_URL=server.base_url), lambda org: set())
