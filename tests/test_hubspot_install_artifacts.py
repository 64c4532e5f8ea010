"""The HubSpot app in docs/hubspot is the app Pipewise and its sandbox expect: the same scopes, the webhook
subscriptions the connection check asks for, and a card that fetches the card endpoint."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from connectors.hubspot.provider import HubSpotProvider
from connectors.hubspot.sandbox.settings import APP_OPTIONAL_SCOPES, APP_REQUIRED_SCOPES
from connectors.hubspot.webhooks import OBJECT_TYPE_IDS, REQUIRED_SUBSCRIPTIONS, subscription_key

PROJECT = Path(__file__).resolve().parents[1] / "docs" / "hubspot" / "project"
TYPE_IDS = {name: type_id for type_id, name in OBJECT_TYPE_IDS.items()}


def load(relative: str) -> dict:
    return json.loads((PROJECT / relative).read_text())


def test_the_app_asks_for_the_scopes_pipewise_requests_and_the_sandbox_registers():
    auth = load("src/app/app-hsmeta.json")["config"]["auth"]
    assert auth["requiredScopes"] == list(HubSpotProvider.scopes) == list(APP_REQUIRED_SCOPES)
    assert auth["optionalScopes"] == list(HubSpotProvider.optional_scopes) == list(APP_OPTIONAL_SCOPES)
    assert [urlparse(url).path for url in auth["redirectUrls"]] == ["/install/hubspot/callback",
                                                                    "/auth/hubspot/callback"]


def test_the_webhook_subscriptions_are_those_the_check_requires():
    config = load("src/app/webhooks/webhooks-hsmeta.json")["config"]
    assert config["settings"]["targetUrl"].endswith("/webhooks/hubspot")
    subscriptions = config["subscriptions"]
    keys = {subscription_key(s["subscriptionType"], TYPE_IDS[s["objectType"]], s.get("propertyName"))
            for s in subscriptions["crmObjects"] if s["active"]}
    keys |= {subscription_key(s["subscriptionType"], None, s.get("propertyName"))
             for s in subscriptions["legacyCrmObjects"] if s["active"]}
    assert keys == set(REQUIRED_SUBSCRIPTIONS)
    # Engagements only have generic subscriptions.
    assert all(s["subscriptionType"].startswith("object.") for s in subscriptions["crmObjects"])


def test_the_card_fetches_the_card_endpoint_it_may_fetch_and_frames_the_panel():
    app = load("src/app/app-hsmeta.json")["config"]
    card = load("src/app/cards/pipewise-card-hsmeta.json")["config"]
    assert card["objectTypes"] == ["contacts", "deals"] and card["entrypoint"] == "/app/cards/PipewiseCard.jsx"
    code = (PROJECT / "src" / "app" / "cards" / "PipewiseCard.jsx").read_text()
    fetch_url = app["permittedUrls"]["fetch"][0]
    assert fetch_url.endswith("/embed/hubspot/card") and f'CARD_URL = "{fetch_url}"' in code
    assert "associatedObjectId" in code and "associatedObjectType" in code and "openIframeModal" in code
    assert all(url.endswith("/embed/") for url in app["permittedUrls"]["iframe"])
