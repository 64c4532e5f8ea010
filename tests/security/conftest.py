"""The attack suite's fixtures: Pipewise wired to both sandbox CRMs, and the attacker's helpers.

Every attack goes through Pipewise's real routes, with real OAuth consent on the sandboxes.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo.stack import give_consent
from tests.hubspot_fixtures import hs_sandbox, hubspot_settings  # noqa: F401 (fixture)
from tests.test_admin_signin import build_app

ADMIN = "alex.admin@maven-sandbox.example"
MANAGER = "cara.losch@maven-sandbox.example"
REP = "anna.snelling@maven-sandbox.example"
CONSENT = {"salesforce": {}, "hubspot": {"path": "/oauth/authorize", "user_field": "user"}}


def ca_bundle(tmp_path: Path, *sandboxes) -> str:
    """One CA file trusting every sandbox, as the demo builds it."""
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(b"".join(Path(s.ca_path).read_bytes() for s in sandboxes))
    return str(bundle)


@pytest.fixture
def both_app(tmp_path, sqlite_url, redis_url, sf_sandbox, hs_sandbox):  # noqa: F811
    """Pipewise whose Salesforce and HubSpot are the two sandboxes."""
    hs_sandbox.reset_knobs()
    settings = {**hubspot_settings(hs_sandbox), "PUBLIC_URL": "http://127.0.0.1:5000"}
    settings["CA_BUNDLE"] = ca_bundle(tmp_path, sf_sandbox, hs_sandbox)
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, **settings)
    app.extensions["pipewise"].config.CA_BUNDLE = settings["CA_BUNDLE"]
    return app


def consent(client, sandbox, start: str, provider: str, user: str):
    """Follow Pipewise to the CRM's consent page, allow as ``user``, and return Pipewise's answer."""
    to_crm = client.get(start)
    assert to_crm.status_code == 302, to_crm.data
    back = urlsplit(give_consent(sandbox.base_url, str(sandbox.ca_path), to_crm.headers["Location"], user,
                                 **CONSENT[provider]))
    return client.get(f"{back.path}?{back.query}")


def sign_in(client, sandbox, provider: str, user: str = ADMIN):
    """Sign in to the console through the CRM's consent page."""
    return consent(client, sandbox, f"/auth/login/{provider}", provider, user)


def install(client, sandbox, provider: str, user: str = ADMIN):
    """Start the install of a CRM and consent as ``user``."""
    return consent(client, sandbox, f"/install/{provider}", provider, user)


def session_user(client) -> dict | None:
    """The signed-in user as the server-side session holds it."""
    with client.session_transaction() as session:
        return session.get("user")
