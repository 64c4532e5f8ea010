"""The admin's install: Pipewise → the CRM's consent page → back, then the first backfill, live."""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from connectors.salesforce.provider import SalesforceProvider
from demo.stack import give_consent
from sync.store import Connection
from tests.browser import SCREENSHOTS as ARTIFACTS
from tests.browser import launch_chromium
from tests.conftest import wait_for
from tests.test_admin_signin import build_app, sign_in


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, sf_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)


def test_only_a_signed_in_admin_may_install(app):
    answer = app.test_client().get("/install/salesforce")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/login")


def test_a_stale_or_foreign_state_is_refused_before_anything_else(app, sf_sandbox):
    client = app.test_client()
    sign_in(client, sf_sandbox)
    answer = client.get("/install/salesforce/callback?code=anything&state=forged")
    assert answer.status_code == 400
    assert b"Start the connection again" in answer.data
    with app.extensions["pipewise"].sessions() as session:
        assert session.query(Connection).count() == 0


def test_install_creates_the_connection_and_the_backfill_runs_on_a_worker(app, sf_sandbox, start_worker):
    rt = app.extensions["pipewise"]
    client = app.test_client()
    sign_in(client, sf_sandbox)
    to_crm = client.get("/install/salesforce")
    assert to_crm.status_code == 302 and to_crm.headers["Location"].startswith(sf_sandbox.base_url)

    back = urlsplit(give_consent(sf_sandbox.base_url, str(sf_sandbox.ca_path), to_crm.headers["Location"]))
    landed = client.get(f"{back.path}?{back.query}")
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/progress")
    with rt.sessions() as session:
        connection = session.query(Connection).one()
        assert connection.remote_org_id == sf_sandbox.org_id
        assert connection.instance_url.startswith("https://127.0.0.1")

    start_worker(rt.config, queues=("sync", "writeback"))
    url = f"/connections/{connection.id}/progress.json"
    wait_for(lambda: (client.get(url).json["run"] or {}).get("status") == "completed", 120,
             message="the first backfill")
    progress = client.get(url).json
    assert all(stream["done"] for stream in progress["run"]["streams"].values())
    # The preflight ran after the fields were provisioned and before the backfill started.
    check = progress["check"]
    assert check and all(f["status"] == "ok" for f in check["findings"] if f["check"].startswith("field:"))
    assert check["checked_at"] <= progress_started(rt, connection.id)
    assert progress["stored"]["lead"] == len(sf_sandbox.records("Lead"))
    assert progress["stored"]["opportunity"] == len(sf_sandbox.records("Opportunity"))


def progress_started(rt, connection_id: int) -> str:
    from sqlalchemy import select

    from sync.store import SyncRun
    with rt.sessions() as session:
        started = session.scalar(select(SyncRun.started_at).where(SyncRun.connection_id == connection_id,
                                                                  SyncRun.kind == "full"))
    return started.isoformat(timespec="seconds")


def test_the_admin_watches_the_backfill_in_a_browser(app, sf_sandbox, sf_control, start_worker):
    """A real browser: connect, consent on the sandbox page, watch the progress table fill in."""
    from playwright.sync_api import sync_playwright


    rt = app.extensions["pipewise"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    rt.config.PUBLIC_URL = base  # the OAuth redirect URIs come from the public URL
    sf_control.knobs(delay_ms=150)  # slow enough to see the table fill in
    start_worker(rt.config, queues=("sync", "writeback"))
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            page.goto(base + "/")
            page.get_by_role("link", name="Sign in with Salesforce").click()
            page.get_by_role("button", name="Allow").click()  # signs in as the sandbox's admin
            page.get_by_role("link", name="Connect Salesforce").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url("**/progress")
            page.wait_for_selector("#streams tr")
            page.locator('#summary[data-state="completed"]').wait_for(timeout=120_000)
            rows = page.locator("#streams tr").count()
            summary = page.locator("#summary").inner_text()
            page.locator("#check-findings li").first.wait_for(timeout=30_000)
            notes = page.locator("#check-findings li").all_inner_texts()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "install-progress.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
    assert rows == len(SalesforceProvider.streams)
    assert summary.startswith("Sync complete")
    # The check before the backfill says, in a sentence, what is still to set up.
    assert any(note.startswith("Note: No change notification from Salesforce") for note in notes)
