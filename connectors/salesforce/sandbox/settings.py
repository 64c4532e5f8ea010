"""Settings of one Salesforce sandbox org."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.sandbox_kit.settings import CoercibleSettings, datasets_dir as shared_datasets_dir

from .clock import parse_datetime

DEFAULT_CLIENT_ID = "pipewise-sandbox-client"
DEFAULT_CLIENT_SECRET = "pipewise-sandbox-secret"


@dataclass
class SandboxSettings(CoercibleSettings):
    """What can be configured when a sandbox starts; runtime faults live in Knobs."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    app_name: str = "Pipewise"
    org_name: str = "Maven Tech (sandbox)"
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
    outbound_retry_seconds: float = 0.5       # first retry delay; doubles per failure
    outbound_retry_max_seconds: float = 30.0  # cap of the retry delay (Salesforce: up to 2 h, for 24 h)
    outbound_batch_seconds: float = 0.05      # gather changes this long so they share one message
    outbound_timeout_seconds: float = 10.0
    outbound_ca_bundle: str | None = None     # CA file for an https receiver with a private certificate

    def _normalize(self) -> None:
        """Text clock origins become datetimes, lists tuples."""
        if isinstance(self.clock_origin, str):
            self.clock_origin = parse_datetime(self.clock_origin)
        self.outbound_objects = tuple(self.outbound_objects)


def datasets_dir(settings: SandboxSettings) -> Path:
    """The shared datasets folder: settings, then PIPEWISE_DATASETS, then ../shared/datasets."""
    return shared_datasets_dir(settings.datasets_dir, "Salesforce")
