"""A WSGI app served over HTTPS with the sandbox certificates, in a background thread or the foreground."""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .certs import ensure_certificates, server_context


class QuietHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class HttpsServer:
    """Serves self.app on https://host:PORT; subclasses set sandbox (closed on stop) and thread_prefix."""

    thread_prefix = "sandbox"

    def _listen(self, app: Any, data_dir: Path, host: str, port: int, quiet: bool) -> None:
        """Make the certificates under data_dir/certs and bind the port (0: any free one)."""
        self.app = app
        self.cert_dir = Path(data_dir) / "certs"
        self.ca_path = ensure_certificates(self.cert_dir)
        self._server = make_server(host, port, app, threaded=True, ssl_context=server_context(self.cert_dir),
                                   request_handler=QuietHandler if quiet else None)
        self.port = self._server.server_port
        self.base_url = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self):
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{self.thread_prefix}-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the sandbox (its SQLite file, its delivery thread)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.sandbox.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- handles both sandboxes offer in-process, as their control APIs do -------------------------

    def info(self) -> dict[str, Any]:
        """Facts about the sandbox (as GET /_sandbox/info)."""
        return self.sandbox.info(self.base_url)

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Set fault knobs by name (see faults.Knobs; reset=True clears them); returns them all."""
        return asdict(self.sandbox.faults.update(changes))

    def expire_tokens(self) -> int:
        """Every access token expires now."""
        return self.sandbox.tokens.expire_access_tokens()

    def revoke_tokens(self) -> int:
        """Every token is revoked."""
        return self.sandbox.tokens.revoke_all()
