"""HubSpot test helpers: the sandbox portal, a Pipewise runtime pointed at it, and a real OAuth install."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from connectors.hubspot import mapping
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.provider import HubSpotProvider
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from connectors.oauth import OAuthApp
from sync.connections import install, oauth_app, token_saver
from sync.engine import SyncEngine

REDIRECT_URI = "https://pipewise.example/install/hubspot/callback"
PUBLIC_URL = "https://pipewise.example"


def hubspot_settings(server: HubSpotSandboxServer) -> dict[str, Any]:
    """Config overrides that make the sandbox portal Pipewise's HubSpot."""
    return dict(HUBSPOT_LOGIN_URL=server.base_url, HUBSPOT_API_URL=server.base_url,
                HUBSPOT_CLIENT_ID=server.settings.client_id, HUBSPOT_CLIENT_SECRET=server.settings.client_secret,
                CA_BUNDLE=str(server.ca_path), PUBLIC_URL=PUBLIC_URL)


@pytest.fixture(scope="module")
def hs_sandbox(tmp_path_factory):
    """A HubSpot sandbox portal over HTTPS with the small seed, one per test module."""
    server = HubSpotSandboxServer(tmp_path_factory.mktemp("hs-sandbox"), port=0, seed="small").start()
    yield server
    server.stop()


@pytest.fixture
def hs_runtime(make_runtime, sqlite_url, hs_sandbox):
    """A migrated Pipewise runtime whose HubSpot is the sandbox, with the sandbox's knobs reset."""
    hs_sandbox.reset_knobs()
    hs_sandbox.reset_usage()
    yield make_runtime(sqlite_url, **hubspot_settings(hs_sandbox))
    hs_sandbox.reset_knobs()


@dataclass
class Installed:
    connection_id: int
    organization_id: int
    token: dict[str, Any]
    oauth: OAuthApp


def connect(rt, server: HubSpotSandboxServer, user: str = "", organization_id: int | None = None) -> Installed:
    """The admin's install: consent in the sandbox, code exchange, token completion, Connection row (in the
    given organization, as when a signed-in admin adds HubSpot, or a new one)."""
    oauth = oauth_app(rt.config, "hubspot")
    url, _state = oauth.authorization_url(REDIRECT_URI)
    # The consent form posts back the install URL's own parameters (scope, optional_scope, state, ...).
    params = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    browser = requests.Session()
    browser.verify, browser.trust_env = str(server.ca_path), False
    answer = browser.post(f"{server.base_url}/oauth/authorize", allow_redirects=False,
                          data={**params, "user": user, "action": "allow"})
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    token = oauth.exchange_code(code, REDIRECT_URI)
    with rt.sessions() as session:
        connection = install(session, rt.cipher, "hubspot", token, installed_by="test",
                             organization_id=organization_id)
        session.commit()
        return Installed(connection.id, connection.organization_id, token, oauth)


def make_client(rt, installed: Installed, **kw) -> HubSpotClient:
    """A client for the installed connection that persists refreshed tokens."""
    saver = token_saver(rt.sessions, rt.cipher, installed.connection_id)
    return HubSpotClient(installed.token, installed.oauth, saver, api_url=rt.config.HUBSPOT_API_URL,
                         verify=rt.config.ca_bundle, **kw)


def make_engine(rt, client: HubSpotClient) -> SyncEngine:
    return SyncEngine(rt.sessions, client, HubSpotProvider, mapping.to_common,
                      lookback=timedelta(seconds=rt.config.SYNC_LOOKBACK_SECONDS))


class LiveApp:
    """A Pipewise app served over real HTTP on 127.0.0.1 (so the sandbox can call it)."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = None

    def __enter__(self) -> "LiveApp":
        import threading

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
