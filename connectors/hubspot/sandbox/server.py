"""Running a HubSpot sandbox portal over HTTPS in a background thread (tests, the demo) or in the foreground."""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from connectors.salesforce.sandbox.certs import ensure_certificates, server_context

from .app import create_app
from .clock import iso
from .core import HubSpotSandbox
from .records import UI
from .settings import HubSpotSandboxSettings


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class HubSpotSandboxServer:
    """A HubSpot sandbox on https://127.0.0.1:PORT; a fresh data_dir is seeded, an old one reused."""

    def __init__(self, data_dir: Path | str, port: int = 0, seed: str = "small",
                 settings: HubSpotSandboxSettings | dict | None = None, reset: bool = False,
                 host: str = "127.0.0.1", quiet: bool = True):
        self.data_dir = Path(data_dir)
        self.sandbox = HubSpotSandbox(self.data_dir, seed, settings, reset=reset)
        self.app = create_app(self.sandbox)
        self.cert_dir = self.data_dir / "certs"
        self.ca_path = ensure_certificates(self.cert_dir)
        self._server = make_server(host, port, self.app, threaded=True, ssl_context=server_context(self.cert_dir),
                                   request_handler=_QuietHandler if quiet else None)
        self.port = self._server.server_port
        self.base_url = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def portal_id(self) -> int:
        return self.sandbox.portal_id

    @property
    def settings(self) -> HubSpotSandboxSettings:
        return self.sandbox.settings

    def start(self) -> "HubSpotSandboxServer":
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"hubspot-sandbox-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving, stop webhook delivery and close the SQLite file."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.sandbox.close()

    def __enter__(self) -> "HubSpotSandboxServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the same handles as the control API, in-process -----------------------------------------

    def info(self) -> dict[str, Any]:
        """Facts about the portal (as GET /_sandbox/info)."""
        return self.sandbox.info(self.base_url)

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Set fault knobs by name (see faults.Knobs; reset=True clears them); returns them all."""
        return asdict(self.sandbox.faults.update(changes))

    def reset_knobs(self) -> dict[str, Any]:
        """Back to no faults."""
        return self.knobs(reset=True)

    def expire_tokens(self) -> int:
        """Every access token expires now."""
        return self.sandbox.tokens.expire_access_tokens()

    def revoke_tokens(self) -> int:
        """Every token is revoked."""
        return self.sandbox.tokens.revoke_all()

    def reset_usage(self) -> None:
        """Rate-limit windows and the daily counter start again."""
        self.sandbox.limits.reset()

    def issue_token(self, user: str | None = None, scope: str = "oauth", ttl_seconds: float | None = None) -> str:
        """An access token for a user (e-mail; the admin by default) without the OAuth dance, for tests."""
        owner = self.sandbox.user(user)
        ttl = ttl_seconds if ttl_seconds is not None else self.sandbox.faults.knobs.token_ttl_seconds
        return self.sandbox.tokens.issue_access(owner["user_id"], self.settings.client_id, scope, ttl)

    def records(self, type_name: str, archived: bool | None = False) -> list[dict[str, Any]]:
        """Every record of a type with all properties (archived: True only, False live, None both)."""
        return self.sandbox.records(type_name, archived)

    def create(self, type_name: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        """Create a record as a UI user would; returns its id."""
        owner = self.sandbox.user(as_user)
        return str(self.sandbox.writer.create(type_name, properties, UI, f"userId:{owner['user_id']}",
                                              system=True)["id"])

    def update(self, type_name: str, record_id: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        """Update a record as a UI user would."""
        owner = self.sandbox.user(as_user)
        return str(self.sandbox.writer.update(type_name, record_id, properties, UI, f"userId:{owner['user_id']}",
                                              system=True)["id"])

    def archive(self, type_name: str, record_id: str, as_user: str | None = None) -> None:
        """Archive a record as a UI user would."""
        owner = self.sandbox.user(as_user)
        self.sandbox.writer.archive(type_name, record_id, UI, f"userId:{owner['user_id']}")

    def touch(self, type_name: str, record_ids: list[str], modified_at: str | None = None) -> str:
        """Give records one hs_lastmodifieddate; returns it."""
        return self.sandbox.writer.touch(type_name, record_ids, modified_at)

    def bulk_create(self, type_name: str, count: int, properties: dict[str, Any] | None = None,
                    modified_at: str | None = None) -> list[str]:
        """Create count records at once; returns their ids."""
        return [str(i) for i in self.sandbox.writer.bulk_create(type_name, count, properties or {}, modified_at)]

    def advance_clock(self, seconds: float) -> str:
        """Move the sandbox clock forward."""
        return iso(self.sandbox.clock.advance(seconds))

    def configure_webhooks(self, url: str | None, subscriptions: list | None = None, app_id: int | None = None,
                           retry_seconds: float | None = None, max_attempts: int | None = None) -> dict[str, Any]:
        """Send webhook events of these subscriptions to url (None: off); returns the stats."""
        self.sandbox.webhooks.configure(url, subscriptions, app_id, retry_seconds, max_attempts)
        return self.sandbox.webhooks.stats()

    def webhook_stats(self) -> dict[str, Any]:
        """Webhook counters and recent attempts."""
        return self.sandbox.webhooks.stats()

    def redeliver_last_webhook(self) -> list[int] | None:
        """Send the last acknowledged POST again; returns its event ids."""
        return self.sandbox.webhooks.redeliver_last()

    def wait_webhooks_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every event is acknowledged; False on timeout."""
        return self.sandbox.webhooks.wait_idle(timeout)

    def configure_card(self, fetch_url: str | None, title: str | None = None,
                       properties: dict | None = None) -> None:
        """Show the CRM card fetched from fetch_url on record pages (None: no card)."""
        self.settings.card_fetch_url = fetch_url or None
        if title:
            self.settings.card_title = title
        if properties is not None:
            self.settings.card_properties = properties or None
