"""SandboxControl: a small requests client for the sandbox control API (/_sandbox/), for tests and scripts."""
from __future__ import annotations

import time
from typing import Any

from connectors.sandbox_kit.control_client import ControlClient


class SandboxControl(ControlClient):
    """Calls /_sandbox/ endpoints; raises requests.HTTPError with the sandbox's sentence on failure."""

    def records(self, object_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        params = {"include_deleted": "1"} if include_deleted else None
        return self._call("GET", f"records/{object_name}", params=params)["records"]

    def record(self, object_name: str, record_id: str) -> dict[str, Any]:
        return self._call("GET", f"records/{object_name}/{record_id}")

    def create(self, object_name: str, fields: dict[str, Any], as_user: str | None = None) -> str:
        body = {**fields, **({"as_user": as_user} if as_user else {})}
        return self._call("POST", f"records/{object_name}", json=body)["id"]

    def update(self, object_name: str, record_id: str, fields: dict[str, Any], as_user: str | None = None) -> str:
        body = {**fields, **({"as_user": as_user} if as_user else {})}
        return self._call("PATCH", f"records/{object_name}/{record_id}", json=body)["id"]

    def delete(self, object_name: str, record_id: str) -> str:
        return self._call("DELETE", f"records/{object_name}/{record_id}")["id"]

    def touch(self, object_name: str, record_ids: list[str], modstamp: str | None = None) -> str:
        body = {"type": object_name, "ids": record_ids, **({"modstamp": modstamp} if modstamp else {})}
        return self._call("POST", "touch", json=body)["modstamp"]

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "clock", json={"advance_seconds": seconds})["clock"]

    def outbound(self) -> dict[str, Any]:
        """Outbound configuration and delivery counters."""
        return self._call("GET", "outbound")

    def configure_outbound(self, url: str | None, objects: list[str] | None = None,
                           retry_seconds: float | None = None, retry_max_seconds: float | None = None,
                           ca_bundle: str | None = None, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Send Outbound Messages for these objects to url (None: off); fields: what each message carries."""
        body: dict[str, Any] = {"url": url, "objects": objects, "retry_seconds": retry_seconds,
                                "retry_max_seconds": retry_max_seconds, "ca_bundle": ca_bundle, "fields": fields}
        return self._call("POST", "outbound", json={k: v for k, v in body.items() if v is not None or k == "url"})

    def redeliver_last(self) -> list[str]:
        """Send the last acknowledged message again; returns its notification ids."""
        return self._call("POST", "outbound/redeliver_last")["notification_ids"]

    def wait_outbound_idle(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until nothing is pending; returns the stats, or raises TimeoutError with them."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.outbound()
            if stats["pending"] == 0:
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"Outbound messages still pending after {timeout} s: {stats}")
            time.sleep(0.05)

    def expire_query_locators(self) -> int:
        """Invalidate every open query locator (the next page of a query then fails)."""
        return self._call("POST", "expire_query_locators")["expired"]

    def expire_query_jobs(self) -> int:
        """Delete every Bulk API 2.0 query job (their results and locators are gone with them)."""
        return self._call("POST", "expire_query_jobs")["expired"]

    def configure_canvas(self, canvas_url: str | None, user_canvas_url: str | None = None) -> str | None:
        """Embed the Canvas app at canvas_url on record pages, and user_canvas_url on User pages (None: none)."""
        body = {"canvas_url": canvas_url, "user_canvas_url": user_canvas_url}
        return self._call("POST", "canvas", json=body)["canvas_url"]

    def signed_request(self, object_name: str, record_id: str, as_user: str | None = None) -> dict[str, Any]:
        """A signed request as a record page would POST it: {signed_request, context}."""
        body = {"object": object_name, "record_id": record_id, **({"as_user": as_user} if as_user else {})}
        return self._call("POST", "canvas/signed_request", json=body)
