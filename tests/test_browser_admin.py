"""In a real browser: sign in with the CRM, install, watch the backfill, then disconnect and delete the data."""
from __future__ import annotations

from sqlalchemy import func, select

from sync.store import SYNCED_MODELS, Connection
from tests.browser import SCREENSHOTS, launch_chromium, serve, sign_in_with_salesforce
from tests.test_admin_signin import build_app


def test_an_admin_installs_watches_and_disconnects_in_a_browser(tmp_path, sqlite_url, redis_url, sf_sandbox,
                                                               start_worker):
    from playwright.sync_api import expect, sync_playwright

    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    server, base = serve(app)
    start_worker(rt.config, queues=("sync", "writeback"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            sign_in_with_salesforce(page, base)
            expect(page.get_by_text("No CRM is connected yet")).to_be_visible()
            expect(page.locator(".who")).to_contain_text("Alex Admin")

            page.get_by_role("link", name="Connect Salesforce").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url("**/progress")
            page.locator('#summary[data-state="completed"]').wait_for(timeout=60_000)
            connection_id = int(page.url.rstrip("/").split("/")[-2])

            page.goto(f"{base}/admin/connections/{connection_id}")
            for _ in range(50):  # the worker marks the connection healthy right after the run
                if page.locator("#status").inner_text() == "Healthy":
                    break
                page.wait_for_timeout(200)
                page.reload()
            expect(page.locator("#status")).to_have_text("Healthy")
            leads = int(page.locator('td[data-object="lead"]').inner_text())
            page.screenshot(path=str(SCREENSHOTS / "admin-connection.png"), full_page=True)

            # Feed the leads' job title from another CRM field, as an admin would.
            page.get_by_role("link", name="Field mapping").click()
            page.locator("#lead-title").select_option("Company")
            page.get_by_role("button", name="Save lead mapping").click()
            expect(page.get_by_text("Saved. The next sync re-reads every lead")).to_be_visible()
            expect(page.locator("#lead-title")).to_have_value("Company")
            page.screenshot(path=str(SCREENSHOTS / "admin-field-mapping.png"), full_page=True)
            page.goto(f"{base}/admin/connections/{connection_id}")
            page.get_by_role("link", name="Disconnect…").click()
            expect(page.get_by_role("heading", name="Disconnect this CRM?")).to_be_visible()
            page.get_by_role("button", name="Disconnect").click()
            expect(page.get_by_role("heading", name="Delete the data Pipewise kept?")).to_be_visible()
            total = int(page.locator("#purge-total").inner_text())
            page.screenshot(path=str(SCREENSHOTS / "admin-purge-confirm.png"), full_page=True)
            page.get_by_role("button", name=f"Delete {total} rows").click()
            # A worker deletes the rows; the progress page reloads itself until it is done.
            expect(page.get_by_role("heading", name="Deleting the data Pipewise kept for a connection")).to_be_visible()
            page.locator('#job-status[data-status="finished"]').wait_for(timeout=60_000)
            expect(page.locator("#job-summary")).to_have_text(f"Deleted {total} rows that Pipewise kept for this connection.")
            page.screenshot(path=str(SCREENSHOTS / "admin-purge-done.png"), full_page=True)
            page.goto(f"{base}/admin/connections/{connection_id}")
            expect(page.locator("#status")).to_have_text("Disconnected")
            browser.close()
    finally:
        server.shutdown()
    assert leads == len(sf_sandbox.records("Lead"))
    assert total > leads
    with rt.sessions() as session:
        assert session.get(Connection, connection_id).status == "disconnected"
        for model in SYNCED_MODELS.values():
            assert session.scalar(select(func.count()).select_from(model).where(
                model.connection_id == connection_id)) == 0
