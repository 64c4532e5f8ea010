"""Settings of one Dataverse sandbox environment (fixed when it starts; runtime faults live in faults.Knobs)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.sandbox_kit.clock import parse_iso_utc
from connectors.sandbox_kit.settings import CoercibleSettings, datasets_dir as shared_datasets_dir

DEFAULT_CLIENT_ID = "5f1d3a4e-7c2b-4e8a-9b61-2d0c8f3a9e71"          # the app registration's Application (client) ID
DEFAULT_CLIENT_SECRET = "pipewise-dynamics-sandbox-secret"
DEFAULT_TENANT_ID = "8c3f6a2d-1b4e-4f7a-a9d2-5e6b7c8d9e0f"


@dataclass
class DynamicsSandboxSettings(CoercibleSettings):
    """What can be configured when a sandbox starts."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    tenant_id: str = DEFAULT_TENANT_ID
    tenant_domain: str = "mavensandbox.onmicrosoft.com"   # users sign in as first.last@<tenant_domain>
    org_name: str = "mavensandbox"                        # the environment's unique name (orgname on forms)
    org_friendly_name: str = "Maven Tech (Dynamics 365 sandbox)"
    # Redirect URIs registered on the app; empty: any https or localhost URI is accepted.
    redirect_uris: tuple = ()
    # Entra ID access tokens live 60-90 minutes (authenticate-oauth.md: "default expiration is 60 minutes").
    token_ttl_seconds: int = 3600
    # Tables whose EntityMetadata.ChangeTrackingEnabled is false when the environment starts (which standard
    # tables ship with it on is not documented; campaigns start off so clients meet the documented refusal).
    untracked_tables: tuple = ("campaign",)
    # Organization.ExpireChangeTrackingInDays (default 7, use-change-tracking-synchronize-data-external-systems.md).
    change_tracking_expiry_days: float = 7.0
    clock_origin: datetime = datetime(2017, 10, 1)
    datasets_dir: Path | None = None
    webhook_timeout_seconds: float = 60.0    # use-webhooks.md: "The timeout is 60 seconds."
    webhook_retry_seconds: float = 0.2       # delay of the one retry after 502/503/504 (not documented)
    webhook_ca_bundle: str | None = None     # CA file for an https receiver with a private certificate
    # The model-driven form's web resource (an IFRAME on opportunity, lead and user forms): off until set.
    web_resource_url: str | None = None
    # Its "Restrict cross-frame scripting, where supported" option: the IFRAME gets sandbox="" (forms, scripts and
    # links to other browsing contexts disabled; use-iframe-and-web-resource-controls-on-a-form.md).
    web_resource_restricted: bool = False

    def _normalize(self) -> None:
        """Text clock origins become datetimes, lists tuples."""
        if isinstance(self.clock_origin, str):
            self.clock_origin = parse_iso_utc(self.clock_origin)
        self.untracked_tables = tuple(self.untracked_tables)
        self.redirect_uris = tuple(self.redirect_uris)


def datasets_dir(settings: DynamicsSandboxSettings) -> Path:
    """The seed data folder: settings, then PIPEWISE_DATASETS, then the datasets/ shipped in the repository."""
    return shared_datasets_dir(settings.datasets_dir, "Dynamics 365")
