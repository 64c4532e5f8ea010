"""The base of the sandbox control clients: a requests session calling /_sandbox/ endpoints."""
from __future__ import annotations

from typing import Any

import requests


class ControlClient:
    """Calls /_sandbox/ endpoints; raises requests.HTTPError with the sandbox's sentence on failure."""

    timeout = 30  # seconds per control call

    def __init__(self, base_url: str, ca_path: str | bool = True, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.verify = str(ca_path) if not isinstance(ca_path, bool) else ca_path
        # requests lets REQUESTS_CA_BUNDLE override session.verify unless the environment is ignored.
        self.session.trust_env = False

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/_sandbox/{path}", timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise requests.HTTPError(f"Sandbox control {method} {path} failed ({response.status_code}): {detail}",
                                     response=response)
        return response.json()

    def info(self) -> dict[str, Any]:
        return self._call("GET", "info")

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Set knobs by name (no arguments: read them)."""
        return self._call("POST", "knobs", json=changes) if changes else self._call("GET", "knobs")

    def reset_knobs(self) -> dict[str, Any]:
        return self._call("POST", "knobs", json={"reset": True})

    def expire_tokens(self) -> dict[str, Any]:
        return self._call("POST", "expire_tokens")

    def revoke_tokens(self) -> dict[str, Any]:
        return self._call("POST", "revoke_tokens")

    def reset_usage(self) -> dict[str, Any]:
        return self._call("POST", "reset_usage")
