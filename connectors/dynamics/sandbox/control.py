"""DynamicsSandboxControl: a small requests client for the sandbox control API (/_sandbox/)."""
from __future__ import annotations

from typing import Any

from connectors.sandbox_kit.control_client import ControlClient


class DynamicsSandboxControl(ControlClient):
    """Calls /_sandbox/ endpoints; raises requests.HTTPError with the sandbox's sentence on failure."""

    def token(self, user: str | None = None, refresh: bool = False) -> dict[str, Any]:
        return self._call("POST", "token", json={"user": user, "refresh": refresh})

    def create(self, table: str, values: dict[str, Any], as_user: str | None = None) -> str:
        return self._call("POST", f"records/{table}", json={"values": values, "as_user": as_user})["id"]

    def update(self, table: str, record_id: str, values: dict[str, Any], as_user: str | None = None) -> str:
        return self._call("PATCH", f"records/{table}/{record_id}", json={"values": values, "as_user": as_user})["id"]

    def delete(self, table: str, record_id: str) -> str:
        return self._call("DELETE", f"records/{table}/{record_id}")["id"]

    def advance_clock(self, seconds: float) -> str:
        return self._call("POST", "clock", json={"advance_seconds": seconds})["clock"]

    def webhooks(self, wait: float = 0) -> list[dict[str, Any]]:
        """Every webhook request so far (waiting up to `wait` seconds for retries to finish)."""
        return self._call("GET", "webhooks", params={"wait": wait})["posts"]

    def set_web_resource(self, url: str | None, restricted: bool = False) -> None:
        self._call("POST", "web_resource", json={"url": url, "restricted": restricted})

    def enable_change_tracking(self, table: str) -> None:
        self._call("POST", "change_tracking", json={"table": table})
