"""Settings of one Salesforce sandbox org."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path

from .clock import parse_datetime

DEFAULT_CLIENT_ID = "pipewise-sandbox-client"
DEFAULT_CLIENT_SECRET = "pipewise-sandbox-secret"
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class SandboxSettings:
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

    @classmethod
    def coerce(cls, value: "SandboxSettings | dict | None") -> "SandboxSettings":
        """Settings from an instance, a dict of overrides or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return replace(value)  # a copy: runtime changes (outbound, canvas) stay with one sandbox
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"Unknown sandbox settings: {', '.join(sorted(unknown))}. "
                             f"Known settings: {', '.join(sorted(known))}.")
        settings = replace(cls(), **value)
        if isinstance(settings.clock_origin, str):
            settings.clock_origin = parse_datetime(settings.clock_origin)
        settings.outbound_objects = tuple(settings.outbound_objects)
        return settings


def datasets_dir(settings: SandboxSettings) -> Path:
    """The shared datasets folder: settings, then PIPEWISE_DATASETS, then ../shared/datasets."""
    if settings.datasets_dir:
        path = Path(settings.datasets_dir)
    elif os.environ.get("PIPEWISE_DATASETS"):
        path = Path(os.environ["PIPEWISE_DATASETS"])
    else:
        path = PROJECT_ROOT.parent / "shared" / "datasets"
    if not (path / "maven-crm").is_dir() or not (path / "olist-marketing-funnel").is_dir():
        raise FileNotFoundError(
            f"The Salesforce sandbox cannot seed: the datasets were not found in {path}. "
            "Set PIPEWISE_DATASETS to the folder holding maven-crm/ and olist-marketing-funnel/, "
            "or start the sandbox with seed='none'.")
    return path
