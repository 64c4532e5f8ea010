"""HubSpotSandboxControl: a small requests client for the sandbox control API (/_sandbox/), for tests and scripts."""
from __future__ import annotations

import time
from typing import Any

from connectors.sandbox_kit.control_client import ControlClient


class HubSpotSandboxControl(ControlClient):
    """Calls /_sandbox/ endpoints; raises requests.HTTPError with the sandbox's sentence on failure."""

    timeout = 60

    def owners(self) -> list[dict[str, Any]]:
        return self._call("GET", "owners")["results"]

    def records(self, type_name: str, archived: bool | None = False) -> list[dict[str, Any]]:
        """Records with every property (archived: True only, False live, None both)."""
        flag = "all" if archived is None else str(bool(archived)).lower()
        return self._call("GET", f"records/{type_name}", params={"archived": flag})["results"]

    def record(self, type_name: str, record_id: str) -> dict[str, Any]:
        return self._call("GET", f"records/{type_name}/{record_id}")

    def create(self, type_name: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        body = {"properties": properties, **({"as_user": as_user} if as_user else {})}
        return self._call("POST", f"records/{type_name}", json=body)["id"]

    def update(self, type_name: str, record_id: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        body = {"properties": properties, **({"as_user": as_user} if as_user else {})}
        return self._call("PATCH", f"records/{type_name}/{record_id}", json=body)["id"]

    def archive(self, type_name: str, record_id: str) -> str:
        return self._call("DELETE", f"records/{type_name}/{record_id}")["id"]

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self._call("POST", "associations", json={"from_type": from_type, "from_id": from_id, "to_type": to_type,
                                                 "to_id": to_id})

    def touch(self, type_name: str, record_ids: list[str], modified_at: str | None = None) -> str:
        body = {"type": type_name, "ids": record_ids, **({"modified_at": modified_at} if modified_at else {})}
        return self._call("POST", "touch", json=body)["modified_at"]

    def bulk_create(self, type_name: str, count: int, properties: dict[str, Any] | None = None,
                    modified_at: str | None = None) -> dict[str, Any]:
        """Create count records at once; returns {count, first_id, last_id}."""
        body = {"type": type_name, "count": count, "properties": properties or {},
                **({"modified_at": modified_at} if modified_at else {})}
        return self._call("POST", "bulk_create", json=body)

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "clock", json={"advance_seconds": seconds})["clock"]

    def webhooks(self) -> dict[str, Any]:
        """Webhook configuration, counters and recent attempts."""
        return self._call("GET", "webhooks")

    def configure_webhooks(self, url: str | None, subscriptions: list | None = None, app_id: int | None = None,
                           retry_seconds: float | None = None, max_attempts: int | None = None) -> dict[str, Any]:
        """Send events of these subscriptions to url (None: off)."""
        body = {"url": url, "subscriptions": subscriptions, "app_id": app_id, "retry_seconds": retry_seconds,
                "max_attempts": max_attempts}
        return self._call("POST", "webhooks", json={k: v for k, v in body.items() if v is not None or k == "url"})

    def redeliver_last(self) -> list[int]:
        """Send the last acknowledged POST again; returns its event ids."""
        return self._call("POST", "webhooks/redeliver_last")["event_ids"]

    def wait_webhooks_idle(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until nothing is pending; returns the stats, or raises TimeoutError with them."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.webhooks()
            if stats["pending"] == 0:
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"Webhook events still pending after {timeout} s: {stats}")
            time.sleep(0.05)

    def configure_card(self, fetch_url: str | None, title: str | None = None) -> dict[str, Any]:
        """Show the app card fetching from fetch_url on record pages (None: none)."""
        body: dict[str, Any] = {"fetch_url": fetch_url, **({"title": title} if title else {})}
        return self._call("POST", "card", json=body)
