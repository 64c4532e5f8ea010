"""An admin installs Dynamics 365 and Pipewise registers its webhook there itself, on a real worker: the
environment then posts a record's update to Pipewise's intake over HTTP, rotation gives the environment a new
secret (the old one is refused from then on), and a registration Dynamics cannot use is shown to the admin."""
from __future__ import annotations

import copy
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from connectors.dynamics import registration
from connectors.dynamics import webhooks as dynamics_webhooks
from connectors.dynamics.webhooks import BY_LOGICAL, SECRET_HEADER
from sync import webhook_registration
from sync.preflight import latest_report
from sync.store import Connection, WebhookEvent
from tests.conftest import wait_for
from tests.test_admin_signin import build_app, csrf
from tests.test_dynamics_install import admin_name, settings, through_consent
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def served():
    """Pipewise's web app on a real port (the environment posts to it); the app is set once it is built."""
    holder: dict = {}
    web = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True,
                      request_handler=Quiet)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    holder["url"] = f"http://127.0.0.1:{web.server_port}"
    yield holder
    web.shutdown()
    thread.join(5)


def install(app, server) -> int:
    client = app.test_client()
    client.get(through_consent(client, server, "/auth/login/dynamics", admin_name(server)))
    answer = client.get(through_consent(client, server, "/install/dynamics", admin_name(server)))
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/progress"), answer.data
    app.extensions["test_client"] = client
    with app.extensions["pipewise"].sessions() as session:
        return session.scalar(select(Connection.id).where(Connection.provider == "dynamics"))


def registration_done(rt, connection_id: int) -> dict | None:
    found = webhook_registration.status(rt.redis, connection_id)
    return found if found and found["status"] in ("ok", "error") else None


def events(rt, connection_id: int) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.connection_id == connection_id))


def test_install_registers_the_webhook_updates_reach_the_intake_and_rotation_replaces_the_secret(
        tmp_path, sqlite_url, redis_url, server, control, start_worker, served):
    app = served["app"] = build_app(tmp_path, sqlite_url, redis_url, None, PUBLIC_URL=served["url"],
                                    **settings(server))
    rt = app.extensions["pipewise"]
    connection_id = install(app, server)
    client = app.extensions["test_client"]
    start_worker(rt.config, queues=("sync", "writeback", "webhooks"))
    outcome = wait_for(lambda: registration_done(rt, connection_id), 120, message="the webhook registration")
    assert outcome["status"] == "ok", outcome

    org = server.sandbox.store.meta("organization_id")
    endpoints, steps = server.sandbox.store.rows("serviceendpoint"), server.sandbox.store.rows("sdkmessageprocessingstep")
    assert [(e["name"], e["url"], e["authtype"]) for e in endpoints] == [
        ("Pipewise", f"{served['url']}/webhooks/dynamics/{org}", 5)]
    assert len(steps) == 3 * len(BY_LOGICAL)
    watched = {s["filteringattributes"] for s in steps if s.get("filteringattributes")}
    assert watched == {registration.watched_columns(stream) for stream in registration.watched_tables().values()}
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "Registered in Dynamics 365 by Pipewise" in page and "Register the webhook again" in page

    lead = server.sandbox.store.rows("lead")[0]["leadid"]
    control.update("lead", lead, {"jobtitle": "Head of Buying"})
    wait_for(lambda: events(rt, connection_id) == 1, 60, message="the update at Pipewise's intake")
    first = control.webhooks(wait=10)[-1]
    assert first["attempts"] == [204] and first["id"] == lead
    old_secret = first["headers"][SECRET_HEADER]

    client.post(f"/admin/webhooks/{connection_id}/rotate", data={"csrf_token": csrf(client)})
    wait_for(lambda: registration_done(rt, connection_id), 120, message="the registration of the new secret")
    assert webhook_registration.status(rt.redis, connection_id)["status"] == "ok"
    assert (len(server.sandbox.store.rows("serviceendpoint")),
            len(server.sandbox.store.rows("sdkmessageprocessingstep"))) == (1, len(steps))  # no duplicates
    control.update("lead", lead, {"jobtitle": "Chief Buyer"})
    wait_for(lambda: events(rt, connection_id) == 2, 60, message="the update sent with the new secret")
    second = control.webhooks(wait=10)[-1]
    assert second["attempts"] == [204] and second["headers"][SECRET_HEADER] != old_secret

    body, headers = dynamics_webhooks.test_delivery(org, "lead", lead, "replayed-1", webhook_secret=old_secret)
    refused = client.post(f"/webhooks/dynamics/{org}", data=body, headers=headers)
    assert refused.status_code == 401 and events(rt, connection_id) == 2


def test_an_address_dynamics_cannot_call_is_shown_to_the_admin_and_the_install_goes_on(
        tmp_path, sqlite_url, redis_url, server, start_worker):
    app = build_app(tmp_path, sqlite_url, redis_url, None, **settings(server))
    rt = app.extensions["pipewise"]
    before = len(server.sandbox.store.rows("serviceendpoint"))
    connection_id = install(app, server)
    # The worker's PIPEWISE_PUBLIC_URL is a plain-http internet address: Dynamics would carry the secret in clear.
    misconfigured = copy.copy(rt.config)
    misconfigured.PUBLIC_URL = "http://pipewise.example.com"
    start_worker(misconfigured, queues=("sync",))
    outcome = wait_for(lambda: registration_done(rt, connection_id), 120, message="the webhook registration")
    assert outcome["status"] == "error" and "PIPEWISE_PUBLIC_URL" in outcome["message"]
    assert len(server.sandbox.store.rows("serviceendpoint")) == before
    wait_for(lambda: latest_report(rt.redis, connection_id), 120, message="the install's preflight")

    def status() -> str:
        with rt.sessions() as session:
            return session.get(Connection, connection_id).status
    # The install goes on: its first sync runs and ends healthy (it may still be running right now).
    wait_for(lambda: status() == "healthy", 120, message="the connection to be healthy after its first sync")
    page = app.extensions["test_client"].get("/admin/webhooks").get_data(as_text=True)
    assert "The webhook is not registered." in page and "is not https" in page
