"""Running a Dataverse sandbox over HTTPS in a background thread (tests, the demo) or in the foreground."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sandbox_kit.https_server import HttpsServer

from .app import create_app
from .core import DynamicsSandbox
from .settings import DynamicsSandboxSettings


class DynamicsSandboxServer(HttpsServer):
    """A Dataverse environment and its Entra ID tenant on https://127.0.0.1:PORT; a fresh data_dir is seeded."""

    thread_prefix = "dynamics-sandbox"

    def __init__(self, data_dir: Path | str, port: int = 0, seed: str = "small",
                 settings: DynamicsSandboxSettings | dict | None = None, reset: bool = False,
                 host: str = "127.0.0.1", quiet: bool = True):
        self.data_dir = Path(data_dir)
        self.sandbox = DynamicsSandbox(self.data_dir, seed, settings, reset=reset)
        self._listen(create_app(self.sandbox), self.data_dir, host, port, quiet)
        self.sandbox.base_url = self.base_url

    @property
    def settings(self) -> DynamicsSandboxSettings:
        return self.sandbox.settings

    @property
    def web_api(self) -> str:
        """The service root, [Organization URI]/api/data/v9.2."""
        return f"{self.base_url}/api/data/v9.2"

    @property
    def authority(self) -> str:
        """The tenant's authority URL (MSAL's authority; authorize and token endpoints are under it)."""
        return f"{self.base_url}/{self.settings.tenant_id}"

    @property
    def scope(self) -> str:
        """The delegated Dataverse scope, <environment URL>/user_impersonation."""
        return f"{self.base_url}/user_impersonation"

    def reset_knobs(self) -> dict[str, Any]:
        return self.knobs(reset=True)

    def reset_usage(self) -> None:
        self.sandbox.limits.reset()

    def issue_token(self, user: str | None = None, ttl_seconds: float | None = None) -> str:
        """An access token for a user (sign-in name or id; the admin by default) without the sign-in pages."""
        box = self.sandbox
        found = box.user(user or box.store.meta("admin_id"))
        if found is None:
            raise ValueError(f"No user of this environment is {user!r}.")
        ttl = ttl_seconds if ttl_seconds is not None else self.settings.token_ttl_seconds
        return box.tokens.issue(found["systemuserid"], self.settings.client_id, self.scope, ttl, False)[0]

    def advance_clock(self, seconds: float) -> str:
        return self.sandbox.clock.advance(seconds).isoformat() + "Z"

    def wait_webhooks_idle(self, timeout: float = 10.0) -> bool:
        return self.sandbox.sender.wait_idle(timeout)
