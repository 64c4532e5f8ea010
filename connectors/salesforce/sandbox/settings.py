"""Settings of one Salesforce sandbox org."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.sandbox_kit.settings import CoercibleSettings, datasets_dir as shared_datasets_dir

from .clock import parse_datetime

DEFAULT_CLIENT_ID = "pipewise-sandbox-client"
DEFAULT_CLIENT_SECRET = "pipewise-sandbox-secret"
# The team panel is its own app (one app carries one Canvas URL and signs with its own secret).
DEFAULT_TEAM_CLIENT_ID = "pipewise-team-sandbox-client"
DEFAULT_TEAM_CLIENT_SECRET = "pipewise-team-sandbox-secret"
# What docs/salesforce/workflows/*.workflow-meta.xml tells admins to send in each Outbound Message.
_PIPEWISE_FIELDS = ("Pipewise_Score__c", "Pipewise_Band__c", "Pipewise_Reasons__c", "Pipewise_Next_Step__c",
                    "Pipewise_Model_Version__c", "Pipewise_Scored_At__c")
DEFAULT_OUTBOUND_FIELDS = {
    "Lead": ("Id", "LastModifiedById", "SystemModstamp", *_PIPEWISE_FIELDS),
    "Opportunity": ("Id", "LastModifiedById", "SystemModstamp", *_PIPEWISE_FIELDS),
    "Task": ("Id", "LastModifiedById", "SystemModstamp"),
    "Event": ("Id", "LastModifiedById", "SystemModstamp"),
}


@dataclass
class SandboxSettings(CoercibleSettings):
    """What can be configured when a sandbox starts; runtime faults live in Knobs."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    team_client_id: str = DEFAULT_TEAM_CLIENT_ID
    team_client_secret: str = DEFAULT_TEAM_CLIENT_SECRET
    # The Canvas apps' Permitted Users: "admin_approved" (Salesforce POSTs the signed request) or
    # "self_authorized" (a user who has not approved the app gets a GET with _sfdc_canvas_authvalue).
    canvas_permitted_users: str = "admin_approved"
    app_name: str = "Pipewise"
    org_name: str = "Maven Tech, Inc."        # Organization.Name (Setup > Company Information)
    # Organization.TimeZoneSidKey: the org's default zone; users get their office's zone (seed.py).
    org_time_zone: str = "America/Los_Angeles"
    org_id: str | None = None            # None: generated once per data directory
    token_ttl_seconds: int = 7200
    daily_api_limit: int = 15000
    clock_origin: datetime = datetime(2017, 10, 1)
    api_version: str = "59.0"
    datasets_dir: Path | None = None
    refresh_token_rotation: bool = False
    canvas_url: str | None = None         # where the record page's Canvas frame POSTs its signed_request
    user_canvas_url: str | None = None    # a second Canvas app placed on User record pages (the team panel)
    # Outbound Messages (workflow "Send Outbound Message"): None turns them off.
    outbound_url: str | None = None
    outbound_objects: tuple[str, ...] = ("Lead", "Opportunity", "Task", "Event")
    # The fields each Outbound Message definition sends (Id always); an object not listed sends Id only.
    outbound_fields: dict | None = None
    outbound_retry_seconds: float = 0.5       # first retry delay; doubles per failure
    outbound_retry_max_seconds: float = 30.0  # cap of the retry delay (Salesforce: up to 2 h, for 24 h)
    outbound_batch_seconds: float = 0.05      # gather changes this long so they share one message
    outbound_timeout_seconds: float = 10.0
    outbound_ca_bundle: str | None = None     # CA file for an https receiver with a private certificate
    # A multi-currency org (None: one currency, as the default seed): {"mode": "multi" | "advanced",
    # "corporate": "USD", "rates": {"EUR": 0.9}, "dated": {"EUR": [["2017-01-01", 0.95], ...]},
    # "deals": {"EUR": 5, "GBP": 7}} puts every 5th seeded deal in EUR, every 7th other one in GBP.
    # Rates are per corporate unit, as CurrencyType.ConversionRate. Applied when the org is seeded.
    currencies: dict | None = None

    def __post_init__(self) -> None:
        self._normalize()

    def _normalize(self) -> None:
        """Text clock origins become datetimes, lists tuples."""
        if isinstance(self.clock_origin, str):
            self.clock_origin = parse_datetime(self.clock_origin)
        self.outbound_objects = tuple(self.outbound_objects)
        if self.outbound_fields is None:
            self.outbound_fields = {k: tuple(v) for k, v in DEFAULT_OUTBOUND_FIELDS.items()}
        if self.canvas_permitted_users not in ("admin_approved", "self_authorized"):
            raise ValueError("canvas_permitted_users is admin_approved or self_authorized.")


def datasets_dir(settings: SandboxSettings) -> Path:
    """The seed data folder: settings, then PIPEWISE_DATASETS, then the datasets/ shipped in the repository."""
    return shared_datasets_dir(settings.datasets_dir, "Salesforce")
