"""A sandbox CRM served by a process of its own (``python -m connectors.<crm>.sandbox``).

In the demo's own process, the sandboxes, the web app and the demo's checks share one interpreter
lock: three first syncs at once then wait on each other's pages. Each sandbox in its own process
serves its CRM's pages on whichever core is free. It offers what the demo reads of an in-process
server: ``base_url``, ``ca_path``, ``info()``, ``portal_id``, ``stop()``.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from connectors.sandbox_kit.certs import CA_FILE
from sync.runtime.config import PROJECT_ROOT

# Seeding the full data set takes a while on a busy machine; past this the sandbox is stuck.
START_SECONDS = 600


class SandboxProcess:
    """Starts, reads and stops one sandbox CRM process."""

    def __init__(self, crm: str, data_dir: Path, port: int, seed: str, log_path: Path):
        self.crm, self.data_dir, self.port, self.seed, self.log_path = crm, Path(data_dir), port, seed, log_path
        self.base_url = f"https://127.0.0.1:{port}"
        self.ca_path = self.data_dir / "certs" / CA_FILE
        self.proc: subprocess.Popen | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # the sandbox's own CA, not REQUESTS_CA_BUNDLE

    def start(self) -> "SandboxProcess":
        """Start the process (it seeds a new data dir first); ``wait()`` until it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"connectors.{self.crm}.sandbox", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--seed", self.seed],
            cwd=PROJECT_ROOT, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait(self) -> "SandboxProcess":
        """Block until the sandbox answers over HTTPS; fail with its log's last words when it ended."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"The {self.crm} sandbox stopped while starting (see {self.log_path}):\n{tail}")
            if self.ca_path.exists():
                try:
                    self.info()
                    return self
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"The {self.crm} sandbox did not answer within {START_SECONDS} s; see {self.log_path}.")

    def info(self) -> dict:
        """Facts about the sandbox, from its GET /_sandbox/info."""
        answer = self.session.get(f"{self.base_url}/_sandbox/info", verify=str(self.ca_path), timeout=30)
        answer.raise_for_status()
        return answer.json()

    @property
    def portal_id(self) -> int:
        """The HubSpot portal's hub id."""
        return self.info()["portal_id"]

    def stop(self) -> None:
        """Stop as Ctrl-C would (the sandbox closes its store), then for good."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
