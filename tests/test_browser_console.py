"""The admin console in a real browser, as a new admin meets it after the install: the webhook
endpoint shown once with a copy button, a test event through Pipewise's own intake, the revoke
confirmation, the audit trail's filters and export, a manager sent to the team panel, and an
axe-core check of every console page at desktop (1280 px) and phone (375 px) widths.

One app, sandbox, worker and browser serve the whole module (the install and first sync run once).
"""
from __future__ import annotations

import csv
import io
import re
from datetime import timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect, sync_playwright
from redis import Redis
from sqlalchemy import select

from sync.store import SyncRun
from tests.browser import SCREENSHOTS, axe_violations, launch_chromium
from tests.conftest import WorkerProcess
from tests.test_admin_signin import MANAGER, build_app
from tests.test_browser_panel import ServedApp

PAGES = {  # screen → path ({id}: the installed connection)
    "connections": "/admin/connections", "connection": "/admin/connections/{id}",
    "progress": "/connections/{id}/progress", "webhooks": "/admin/webhooks", "models": "/admin/models",
    "audit": "/admin/audit", "erasure": "/admin/erasure", "api-keys": "/admin/api-keys",
    "field-mapping": "/admin/connections/{id}/mapping", "writeback": "/admin/connections/{id}/writeback",
    "rotate-confirm": "/admin/webhooks/{id}/rotate", "disconnect-confirm": "/admin/connections/{id}/disconnect",
    "account": "/auth/me",
}
# The navigation link each page marks as the current one (None: none of them).
CURRENT = {"connections": "Connections", "connection": "Connections", "progress": "Connections",
           "webhooks": "Webhooks", "models": "Models", "audit": "Audit trail", "erasure": "Erasure",
           "api-keys": "API keys", "field-mapping": "Connections", "writeback": "Connections",
           "rotate-confirm": "Webhooks", "disconnect-confirm": "Connections", "account": None}


def consent(page, username: str | None = None) -> None:
    """The sandbox's consent page: pick the user when asked, then Allow."""
    if username:
        page.locator("#username").select_option(username)
    page.get_by_role("button", name="Allow").click()


@pytest.fixture(scope="module")
def console(tmp_path_factory, redis_server, sf_sandbox):
    """Signed in as the CRM admin, Salesforce connected through the browser, first sync finished."""
    Redis.from_url(redis_server).flushdb()
    tmp = tmp_path_factory.mktemp("console-browser")
    app = build_app(tmp, f"sqlite:///{tmp / 'store.db'}", redis_server, sf_sandbox)
    rt = app.extensions["pipewise"]
    served = ServedApp(app)
    rt.config.PUBLIC_URL = served.origin  # redirect URIs, webhook endpoints and the test event use it
    worker = WorkerProcess(rt.config, queues=("webhooks", "sync", "writeback")).start()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            # axe is injected into the pages; the console's CSP (script-src 'self') is bypassed for it only.
            context = browser.new_context(ignore_https_errors=True, bypass_csp=True,
                                          viewport={"width": 1280, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.origin)
            page = context.new_page()
            page.goto(served.origin + "/admin/connections")
            page.get_by_role("link", name="Sign in with Salesforce").click()
            consent(page)
            page.get_by_role("link", name="Connect Salesforce").click()
            consent(page)
            page.wait_for_url("**/progress")
            # The page right after the install: the endpoint whole, once, with a copy button.
            installed = SimpleNamespace(banner=page.locator(".flash").inner_text(),
                                        endpoint=page.locator("code.secret").inner_text())
            page.get_by_role("button", name="Copy the endpoint").click()
            expect(page.locator(".copy-status")).to_have_text("Copied.")
            installed.clipboard = page.evaluate("navigator.clipboard.readText()")
            page.screenshot(path=str(SCREENSHOTS / "ui16c-progress-endpoint-after.png"), full_page=True)
            page.locator('#summary[data-state="completed"]').wait_for(timeout=90_000)
            connection_id = int(page.url.rstrip("/").split("/")[-2])
            yield SimpleNamespace(base=served.origin, page=page, browser=browser, rt=rt, sandbox=sf_sandbox,
                                  connection_id=connection_id, installed=installed)
            context.close()
            browser.close()
    finally:
        worker.stop()
        served.stop()
        rt.engine.dispose()


def test_the_endpoint_is_shown_whole_once_right_after_install_with_a_copy_button(console):
    installed, page = console.installed, console.page
    prefix = f"{console.base}/webhooks/salesforce/{console.sandbox.org_id}/"
    assert "copy the webhook endpoint below into the CRM now" in installed.banner
    assert installed.endpoint.startswith(prefix) and len(installed.endpoint) > len(prefix) + 30
    assert installed.clipboard == installed.endpoint
    # Shown once: not on a reload, not on the Webhooks page.
    page.reload()
    assert page.locator("code.secret").count() == 0
    page.goto(console.base + "/admin/webhooks")
    expect(page.locator("code.secret")).to_have_text(prefix + "•" * 16)
    assert installed.endpoint not in page.content()


def test_a_test_event_is_delivered_to_the_intake_and_listed_among_the_events(console):
    page = console.page
    page.goto(console.base + "/admin/webhooks")
    card = page.locator(f"#webhooks-{console.connection_id}")
    field = card.get_by_label("The endpoint you pasted into Salesforce")
    # An endpoint with a wrong secret is refused by the intake, as the CRM's deliveries would be.
    field.fill(console.installed.endpoint[:-4] + "AAAA")
    card.get_by_role("button", name=re.compile("Send a test event")).click()
    expect(page.locator(".flash-error")).to_contain_text("The test event was refused (403)")
    card = page.locator(f"#webhooks-{console.connection_id}")
    assert card.locator(".recent-events").count() == 0
    card.get_by_label("The endpoint you pasted into Salesforce").fill(console.installed.endpoint)
    card.get_by_role("button", name=re.compile("Send a test event")).click()
    expect(page.locator(".flash-info")).to_contain_text("The test event arrived")
    card = page.locator(f"#webhooks-{console.connection_id}")
    row = card.locator(".recent-events tbody tr.test-event-row")
    expect(row).to_have_count(1)
    assert "outbound message, lead" in row.inner_text() and "test event" in row.inner_text()
    assert card.locator("dd.today").inner_text() == "1"
    page.screenshot(path=str(SCREENSHOTS / "ui16c-webhooks-test-event-after.png"), full_page=True)
    # The worker re-reads the named record, as for any change the CRM reports.
    for _ in range(50):
        if row.locator("td.state").inner_text() == "processed":
            break
        page.wait_for_timeout(200)
        page.reload()
        row = page.locator(f"#webhooks-{console.connection_id} .recent-events tbody tr.test-event-row")
    assert row.locator("td.state").inner_text() == "processed"
    # Each stage the event passed on its way shows how long it took, in the order it passed them.
    header = page.locator(f"#webhooks-{console.connection_id} .recent-events thead th").last
    assert header.inner_text() == "Time per stage, to the CRM field"
    stages = row.locator(".stage-times li").all_inner_texts()
    names = [text.rsplit(" ", 2)[0] for text in stages]
    assert names[:4] == ["verify", "store and enqueue", "queue wait", "sync"], stages
    assert all(re.fullmatch(r"[a-z ]+ \d+\.\d\d s", text) for text in stages), stages


def test_revoking_an_api_key_asks_first(console):
    page = console.page
    page.goto(console.base + "/admin/api-keys")
    page.get_by_label("Name (who or what uses it)").fill("Reporting")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("link", name="Revoke… the key Reporting").click()
    expect(page.get_by_role("heading", name="Revoke the key “Reporting”?")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "ui16c-api-key-revoke-confirm-after.png"), full_page=True)
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#keys tbody tr").first).to_contain_text("active")
    page.get_by_role("link", name="Revoke… the key Reporting").click()
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.locator(".flash")).to_contain_text("The key “Reporting” is revoked")
    expect(page.locator("#keys tbody tr").first).to_contain_text("revoked")


def test_the_audit_trail_reads_filters_and_exports_in_the_browser(console):
    page = console.page
    page.goto(console.base + "/admin/audit")
    expect(page.locator("#chain")).to_contain_text("The trail is intact")
    assert "Connected a CRM" in page.locator("#audit").inner_text()
    page.get_by_label("Action").select_option(label="Connected a CRM")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(1)
    assert "Alex Admin" in rows.inner_text() and "Salesforce connection (" in rows.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these entries as CSV").click()
    exported = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [r["action"] for r in exported] == ["Connected a CRM"] and exported[0]["who"] == "Alex Admin"
    page.get_by_role("link", name="Clear the filters").click()
    assert rows.count() > 1


def test_a_manager_who_opens_the_console_is_sent_to_the_team_panel(console):
    context = console.browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(console.base + "/admin/connections")
    page.get_by_role("link", name="Sign in with Salesforce").click()
    consent(page, MANAGER)
    page.wait_for_url(re.compile(r".*/embed/manager\?pt="))
    expect(page.get_by_role("heading", name=re.compile("^Pipeline health"))).to_be_visible()
    page.goto(console.base + "/admin/webhooks")  # a bookmark to an admin page: the team panel, not a 403
    page.wait_for_url(re.compile(r".*/embed/manager\?pt="))
    expect(page.get_by_role("heading", name=re.compile("^Pipeline health"))).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "ui16c-manager-landing-after.png"), full_page=True)
    context.close()


def test_the_console_names_the_crm_organization_and_shows_times_on_the_admins_clock(console):
    """The organization is called what Salesforce calls it; times follow the admin's Salesforce user."""
    page, name = console.page, console.sandbox.info()["org_name"]
    page.goto(console.base + "/admin/connections")
    expect(page.locator("#org-name")).to_have_text(name)
    assert console.sandbox.org_id not in page.locator("main").inner_text()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.locator("#remote-org")).to_contain_text(name)
    # Alex Admin's Salesforce user keeps America/Los_Angeles, so the first run starts on Pacific time.
    with console.rt.sessions() as db:
        started = db.scalar(select(SyncRun.started_at).where(SyncRun.connection_id == console.connection_id)
                            .order_by(SyncRun.id))
    pacific = started.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("America/Los_Angeles"))
    first_run = page.locator("#runs tbody tr").last.locator('td[data-label="Started"]')
    expect(first_run).to_have_text(f"{pacific:%Y-%m-%d %H:%M} {pacific.tzname()}")
    page.screenshot(path=str(SCREENSHOTS / "ui16c-connection-org-name-after.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 375])
def test_every_console_page_passes_axe_has_a_skip_link_and_marks_the_current_page(console, width):
    page = console.page
    page.set_viewport_size({"width": width, "height": 900})
    found = {}
    try:
        for screen, path in PAGES.items():
            page.goto(console.base + path.format(id=console.connection_id))
            problems = axe_violations(page.main_frame)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 0:
                problems.append(f"scrolls sideways by {overflow}px")
            current = page.locator('.nav a[aria-current="page"]')
            marked = current.inner_text() if current.count() == 1 else None
            if marked != CURRENT[screen]:
                problems.append(f"marks {marked!r} as the current page, not {CURRENT[screen]!r}")
            page.locator("body").focus()
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") != "Skip to main content":
                problems.append("the first Tab does not reach the skip link")
            page.keyboard.press("Enter")
            if page.evaluate("document.activeElement.id") != "main":
                problems.append("the skip link does not move focus to the main content")
            if problems:
                found[screen] = problems
            suffix = "" if width == 1280 else "-375"
            page.screenshot(path=str(SCREENSHOTS / f"ui16c-{screen}{suffix}-after.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert found == {}
