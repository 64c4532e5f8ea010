"""In Debian's chromium: a Dynamics 365 admin connects Pipewise through Entra ID's consent page, and the Webhooks
page shows that Pipewise registered its webhook in the environment itself, and queues it again on request."""
from __future__ import annotations

from tests.browser import SCREENSHOTS, axe_violations, launch_chromium, serve
from tests.test_admin_signin import build_app
from tests.test_dynamics_install import settings
from tests.test_dynamics_sandbox import server  # noqa: F401 - fixture


def wait_registered(page, url: str) -> None:
    """Reload the Webhooks page until the worker's registration shows (it runs beside the backfill)."""
    for _ in range(300):
        page.goto(url)
        if page.locator('.registration[data-status="ok"], .registration[data-status="error"]').count():
            return
        page.wait_for_timeout(300)


def test_the_admin_sees_pipewise_register_its_webhook_and_asks_for_it_again(tmp_path, sqlite_url, redis_url,
                                                                            server, start_worker):
    from playwright.sync_api import expect, sync_playwright

    app = build_app(tmp_path, sqlite_url, redis_url, None, **settings(server))
    rt = app.extensions["pipewise"]
    web, base = serve(app)  # before the worker starts: it registers the webhook at this address
    start_worker(rt.config, queues=("sync", "writeback"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900},
                                    bypass_csp=True)
            page.goto(base + "/admin/connections")
            page.get_by_role("link", name="Sign in with Dynamics 365").click()
            page.get_by_role("button", name="Accept").click()
            page.get_by_role("link", name="Connect Dynamics 365").click()
            page.get_by_role("button", name="Accept").click()
            page.wait_for_url("**/progress")
            expect(page.get_by_text("Pipewise registers its webhook in the CRM itself")).to_be_visible()

            wait_registered(page, base + "/admin/webhooks")
            registration = page.locator(".registration")
            expect(registration).to_have_attribute("data-status", "ok")
            expect(registration).to_contain_text("Registered in Dynamics 365 by Pipewise")
            assert "copy the webhook endpoint" not in page.content()  # nothing for the admin to paste
            assert axe_violations(page) == []
            page.screenshot(path=str(SCREENSHOTS / "admin-webhooks-dynamics.png"), full_page=True)
            endpoint = server.sandbox.store.rows("serviceendpoint")
            assert [e["url"] for e in endpoint] == [
                f"{base}/webhooks/dynamics/{server.sandbox.store.meta('organization_id')}"]

            # Registering again is queued for the worker (test_dynamics_webhook_install.py follows it to the end).
            page.get_by_role("button", name="Register the webhook again in Dynamics 365").click()
            expect(page.get_by_text("Pipewise is giving the CRM a new webhook secret")).to_be_visible()
            expect(page.locator(".registration")).to_have_attribute("data-status", "pending")
            expect(page.locator(".registration")).to_contain_text("Pipewise is registering its webhook in the CRM")
            browser.close()
    finally:
        web.shutdown()
