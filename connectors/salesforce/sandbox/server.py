"""Running a sandbox org over HTTPS in a background thread (tests, the demo) or in the foreground."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sandbox_kit.https_server import HttpsServer

from .app import create_app
from .clock import format_datetime, parse_datetime
from .core import Sandbox
from .settings import SandboxSettings


class SandboxServer(HttpsServer):
    """A Salesforce sandbox on https://127.0.0.1:PORT; a fresh data_dir is seeded, an old one reused."""

    thread_prefix = "sf-sandbox"

    def __init__(self, data_dir: Path | str, port: int = 0, seed: str = "small",
                 settings: SandboxSettings | dict | None = None, reset: bool = False, host: str = "127.0.0.1",
                 quiet: bool = True):
        self.data_dir = Path(data_dir)
        self.sandbox = Sandbox(self.data_dir, seed, settings, reset=reset)
        self._listen(create_app(self.sandbox), self.data_dir, host, port, quiet)
        self.sandbox.outbound.instance_url = self.base_url

    @property
    def org_id(self) -> str:
        return self.sandbox.org_id

    @property
    def settings(self) -> SandboxSettings:
        return self.sandbox.settings

    def reset_usage(self) -> None:
        """The daily API counter back to 0."""
        self.sandbox.usage.reset()

    def records(self, object_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of an object, as the API shows them."""
        return self.sandbox.records(object_name, include_deleted)

    def create(self, object_name: str, fields: dict[str, Any], as_user: str | None = None) -> str:
        """Create a record as a UI user would; returns its id."""
        return self.sandbox.writer.create(object_name, fields, as_user or self.sandbox.admin_id, system=True)

    def update(self, object_name: str, record_id: str, fields: dict[str, Any], as_user: str | None = None) -> str:
        """Update a record as a UI user would."""
        return self.sandbox.writer.update(object_name, record_id, fields, as_user or self.sandbox.admin_id,
                                          system=True)

    def delete(self, object_name: str, record_id: str) -> str:
        """Soft-delete a record as a UI user would."""
        return self.sandbox.writer.delete(object_name, record_id, self.sandbox.admin_id)

    def touch(self, object_name: str, record_ids: list[str], modstamp: str | None = None) -> str:
        """Give records one SystemModstamp; returns it."""
        return self.sandbox.writer.touch(object_name, record_ids, parse_datetime(modstamp) if modstamp else None)

    def advance_clock(self, seconds: float) -> str:
        """Move the sandbox clock forward."""
        return format_datetime(self.sandbox.clock.advance(seconds))

    # -- outbound messages and the Canvas app ------------------------------------------------------

    def configure_outbound(self, url: str | None, objects: list[str] | None = None,
                           retry_seconds: float | None = None, retry_max_seconds: float | None = None,
                           ca_bundle: str | None = None) -> dict[str, Any]:
        """Send Outbound Messages for these objects to url (None: off); returns the delivery stats."""
        self.sandbox.outbound.configure(url, objects, retry_seconds, retry_max_seconds, ca_bundle)
        return self.sandbox.outbound.stats()

    def outbound_stats(self) -> dict[str, Any]:
        """Outbound counters: notifications, sent, acked, failed, pending, recent attempts."""
        return self.sandbox.outbound.stats()

    def redeliver_last_outbound(self) -> list[str] | None:
        """Send the last acknowledged message again (same notification ids); None if there is none."""
        return self.sandbox.outbound.redeliver_last()

    def wait_outbound_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every outbound notification is acknowledged; False on timeout."""
        return self.sandbox.outbound.wait_idle(timeout)

    def configure_canvas(self, url: str | None) -> None:
        """Embed the Canvas app at url on record pages (None: no Canvas app)."""
        self.sandbox.settings.canvas_url = url or None
