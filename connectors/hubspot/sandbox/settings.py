"""Settings of one HubSpot sandbox portal."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.sandbox_kit.settings import CoercibleSettings, datasets_dir as shared_datasets_dir

from .clock import parse_datetime

DEFAULT_CLIENT_ID = "pipewise-hubspot-sandbox-client"
DEFAULT_CLIENT_SECRET = "pipewise-hubspot-sandbox-secret"
DEFAULT_APP_ID = 2016482
DEFAULT_DEVELOPER_API_KEY = "pipewise-hubspot-sandbox-developer-key"
# The app's scope settings as its developer registered them (docs/hubspot/app: required and optional).
APP_REQUIRED_SCOPES = (
    "oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
    "crm.objects.deals.read", "crm.objects.deals.write", "crm.objects.owners.read", "crm.schemas.contacts.read",
    "crm.schemas.contacts.write", "crm.schemas.deals.read", "crm.schemas.deals.write", "settings.users.read",
)
APP_OPTIONAL_SCOPES = ("crm.objects.goals.read", "settings.currencies.read", "crm.objects.users.read")


@dataclass
class HubSpotSandboxSettings(CoercibleSettings):
    """What can be configured when a sandbox starts; runtime faults live in Knobs."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    app_id: int = DEFAULT_APP_ID
    app_name: str = "Pipewise"
    portal_name: str = "Maven Tech (HubSpot sandbox)"
    hub_domain: str = "maven-sandbox.example"
    portal_id: int | None = None           # None: chosen once per data directory
    developer_api_key: str = DEFAULT_DEVELOPER_API_KEY   # the developer account's key (webhooks API)
    app_required_scopes: tuple = APP_REQUIRED_SCOPES
    app_optional_scopes: tuple = APP_OPTIONAL_SCOPES
    # Scopes this portal cannot grant because its subscription lacks the feature (goals need a paid Sales
    # or Service Hub seat): left out of the optional grant, and an install that requires them is refused.
    unavailable_scopes: tuple = ()
    # OAuth error answers: "hubspot" is HubSpot's own shape {status, message, correlationId, category};
    # "rfc6749" adds error and error_description, as HubSpot's changelog announces for its OAuth endpoints.
    oauth_error_fields: str = "hubspot"
    token_ttl_seconds: int = 1800
    daily_limit: int = 500_000             # calls per portal per day; counted, never enforced on OAuth apps
    ten_secondly_limit: int = 110          # calls per 10 s per app and portal (OAuth apps)
    search_per_second: int = 4             # search calls per second per token
    clock_origin: datetime = datetime(2017, 10, 1)
    datasets_dir: Path | None = None
    # Webhooks: off until a URL is configured (settings or POST /_sandbox/webhooks).
    webhook_url: str | None = None
    webhook_subscriptions: tuple = ()
    webhook_retry_seconds: float = 0.5      # first redelivery delay; doubles per failure
    webhook_retry_max_seconds: float = 30.0
    webhook_max_attempts: int = 10          # HubSpot tries 10 times over 24 hours
    webhook_batch_seconds: float = 0.05     # gather events this long so they share one POST
    webhook_timeout_seconds: float = 5.0
    webhook_ca_bundle: str | None = None    # CA file for an https receiver with a private certificate
    # The app card shown on record pages: off until its fetch URL is configured.
    card_fetch_url: str | None = None
    card_title: str = "Pipewise"
    card_ca_bundle: str | None = None
    company_currency: str = "USD"
    # The portal's time zone as the Account Information API names it; HubSpot's documented examples use
    # the tz database's old link names ("US/Eastern") as well as canonical ones ("America/New_York").
    time_zone: str = "US/Eastern"
    # Further currencies (None: the company currency only, as the default seed): {"rates": {"EUR": 1.1},
    # "deals": {"EUR": 5, "GBP": 7}} gives every 5th seeded deal EUR, every 7th other one GBP. A rate is
    # HubSpot's conversionRate, from the currency into the company currency; a currency given deals but
    # no rate is one the portal has no rate for. Applied when the portal is seeded.
    currencies: dict | None = None
    # Deal pipelines besides HubSpot's default one, shaped as the Pipelines API answers them (see
    # pipelines.py): their stages become dealstage options, so API writes may use them.
    deal_pipelines: tuple = ()

    def _normalize(self) -> None:
        """Text clock origins become datetimes, lists tuples."""
        if isinstance(self.clock_origin, str):
            self.clock_origin = parse_datetime(self.clock_origin)
        self.webhook_subscriptions = tuple(self.webhook_subscriptions)
        self.app_required_scopes = tuple(self.app_required_scopes)
        self.app_optional_scopes = tuple(self.app_optional_scopes)
        self.unavailable_scopes = tuple(self.unavailable_scopes)
        self.deal_pipelines = tuple(self.deal_pipelines)


def datasets_dir(settings: HubSpotSandboxSettings) -> Path:
    """The seed data folder: settings, then PIPEWISE_DATASETS, then the datasets/ shipped in the repository."""
    return shared_datasets_dir(settings.datasets_dir, "HubSpot")
