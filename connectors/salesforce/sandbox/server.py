"""Running a sandbox org over HTTPS in a background thread (tests, the demo) or in the foreground."""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .certs import ensure_certificates, server_context
from .clock import format_datetime, parse_datetime
from .core import Sandbox
from .settings import SandboxSettings


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class SandboxServer:
    """A Salesforce sandbox on https://127.0.0.1:PORT; a fresh data_dir is seeded, an old one reused."""

    def __init__(self, data_dir: Path | str, port: int = 0, seed: str = "small",
                 settings: SandboxSettings | dict | None = None, reset: bool = False, host: str = "127.0.0.1",
                 quiet: bool = True):
        self.data_dir = Path(data_dir)
        self.sandbox = Sandbox(self.data_dir, seed, settings, reset=reset)
        self.app = create_app(self.sandbox)
        self.cert_dir = self.data_dir / "certs"
        self.ca_path = ensure_certificates(self.cert_dir)
        self._server = make_server(host, port, self.app, threaded=True, ssl_context=server_context(self.cert_dir),
                                   request_handler=_QuietHandler if quiet else None)
        self.port = self._server.server_port
        self.base_url = f"https://{host}:{self.port}"
        self.sandbox.outbound.instance_url = self.base_url
        self._thread: threading.Thread | None = None

    @property
    def org_id(self) -> str:
        return self.sandbox.org_id

    @property
    def settings(self) -> SandboxSettings:
        return self.sandbox.settings

    def start(self) -> "SandboxServer":
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sf-sandbox-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the SQLite file."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.sandbox.close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the same handles as the control API, in-process -----------------------------------------

    def info(self) -> dict[str, Any]:
        """Facts about the org (as GET /_sandbox/info)."""
        return self.sandbox.info(self.base_url)

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Set fault knobs by name (see faults.Knobs); returns them all."""
        return asdict(self.sandbox.faults.update(changes))

    def expire_tokens(self) -> int:
        """Every access token expires now."""
        return self.sandbox.tokens.expire_access_tokens()

    def revoke_tokens(self) -> int:
        """Every token is revoked."""
        return self.sandbox.tokens.revoke_all()

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
