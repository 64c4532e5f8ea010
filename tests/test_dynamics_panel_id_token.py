"""The id_token of the Dynamics panel's sign-in: a real token of the sandbox tenant validates against the keys read
(once) from the configured authority; forged variants are refused."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from connectors.base import PanelRefused
from connectors.dynamics import panel
from connectors.dynamics.sandbox.server import DynamicsSandboxServer
from tests.conftest import make_config
from tests.test_dynamics_install import settings
from tests.test_dynamics_panel import consent, entra_session


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    """The sandbox environment's Entra ID tenant over HTTPS (no CRM data is needed here)."""
    sandbox = DynamicsSandboxServer(tmp_path_factory.mktemp("dynamics-tenant"), seed="none").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def config(tmp_path_factory, tenant):
    """Pipewise's settings for the tenant, as the panel reads them."""
    return make_config(tmp_path_factory.mktemp("pipewise"), "sqlite://", "redis://unused", **settings(tenant))


@pytest.fixture(scope="module")
def real_id_token(tenant, config):
    """An id_token the tenant issued for a panel sign-in (consent given on its page), and the nonce it was asked with."""
    entra = entra_session(tenant)
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect_uri = "http://127.0.0.1:5000/embed/dynamics/panel/signed-in"
    url = panel.authorize_url(config, redirect_uri, "s", nonce, challenge, silent=False)
    code = parse_qs(urlsplit(consent(tenant, entra, url, admin_of(tenant)["domainname"])).query)["code"][0]
    answer = entra.post(f"{tenant.authority}/oauth2/v2.0/token", data={
        "client_id": config.DYNAMICS_CLIENT_ID, "client_secret": config.DYNAMICS_CLIENT_SECRET,
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"], nonce


def admin_of(tenant) -> dict:
    return tenant.sandbox.user(tenant.sandbox.store.meta("admin_id"))


class CountingKeys(panel.SigningKeys):
    """The real key cache, reading the tenant's JWKS over HTTPS, with a clock the test moves."""

    def __init__(self, config):
        self.now = 0.0
        super().__init__(panel.signing_keys(config).url, config.ca_bundle, clock=lambda: self.now)


def claims_of(id_token: str) -> dict:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def resign(claims: dict, key, kid: str, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key)


def test_the_tenants_id_token_validates_with_keys_read_once_from_the_configured_authority(tenant, config,
                                                                                       real_id_token):
    id_token, nonce = real_id_token
    keys = CountingKeys(config)
    assert keys.url == f"{tenant.authority}/discovery/v2.0/keys"
    claims = panel.validate_id_token(id_token, keys, config, nonce)
    assert claims["oid"] == admin_of(tenant)["azureactivedirectoryobjectid"]
    assert claims["aud"] == config.DYNAMICS_CLIENT_ID and claims["tid"] == tenant.settings.tenant_id
    for _ in range(3):
        panel.validate_id_token(id_token, keys, config, nonce)
    assert keys.fetches == 1, "the keys are cached"
    # A kid the set lacks (a rolled key) reads the set again, but not more often than every few minutes.
    stranger = resign(claims_of(id_token), RSAKey.generate_key(2048), "unknown-kid")
    with pytest.raises(PanelRefused):
        panel.validate_id_token(stranger, keys, config, nonce)
    assert keys.fetches == 1
    keys.now += panel.KEYS_REFETCH_SECONDS + 1
    for _ in range(3):
        with pytest.raises(PanelRefused):
            panel.validate_id_token(stranger, keys, config, nonce)
    assert keys.fetches == 2
    keys.now += panel.KEYS_TTL_SECONDS + 1
    panel.validate_id_token(id_token, keys, config, nonce)
    assert keys.fetches == 3, "a day-old set is read again"


def test_forged_id_tokens_are_refused(tenant, config, real_id_token):
    id_token, nonce = real_id_token
    keys = CountingKeys(config)
    claims = claims_of(id_token)
    tenant_key = tenant.sandbox.signing_key
    head, payload, signature = id_token.split(".")
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    raised = {**claims, "name": "Someone Else"}
    tampered = base64.urlsafe_b64encode(json.dumps(raised).encode()).decode().rstrip("=")
    forged = {
        "another key under the tenant's kid": resign(claims, RSAKey.generate_key(2048), tenant_key.kid),
        "a changed payload": f"{head}.{tampered}.{signature}",
        "another app's audience": resign({**claims, "aud": str(uuid.uuid4())}, tenant_key, tenant_key.kid),
        "an expired token": resign({**claims, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200,
                                    "nbf": int(time.time()) - 7200}, tenant_key, tenant_key.kid),
        "another tenant": resign({**claims, "tid": str(uuid.uuid4())}, tenant_key, tenant_key.kid),
        "another issuer": resign({**claims, "iss": f"https://login.example.com/{claims['tid']}/v2.0"},
                                 tenant_key, tenant_key.kid),
        "no signature": f"{unsigned_header}.{payload}.",
        "not a token": "not-a-jwt",
    }
    for case, token in forged.items():
        with pytest.raises(PanelRefused) as refused:
            panel.validate_id_token(token, keys, config, nonce)
        assert refused.value.reason == "invalid-id-token", case
    with pytest.raises(PanelRefused):
        panel.validate_id_token(id_token, keys, config, "another request's nonce")
    assert panel.validate_id_token(id_token, keys, config, nonce)["oid"] == claims["oid"]
