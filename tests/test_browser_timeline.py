"""In a real browser: one admin connects Salesforce, then HubSpot into the same organization, and
watches each connection's timeline from install to first scores."""
from __future__ import annotations

import io
import re
import threading
from pathlib import Path

from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from demo.narrate import narrator
from sync.store import Connection
from tests.browser import SCREENSHOTS, launch_chromium
from tests.hubspot_fixtures import hs_sandbox, hubspot_settings  # noqa: F401 (fixture)
from tests.test_admin_signin import ADMIN, REP, build_app

STEPS = ("sync", "training", "scoring", "writeback", "ready")


def _serve(tmp_path, sqlite_url, redis_url, sf_sandbox, hs_sandbox):
    bundle = tmp_path / "ca-bundle.pem"  # one CA file trusting both sandboxes, as the demo builds it
    bundle.write_bytes(b"".join(Path(s.ca_path).read_bytes() for s in (sf_sandbox, hs_sandbox)))
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, **hubspot_settings(hs_sandbox))
    rt = app.extensions["pipewise"]
    rt.config.CA_BUNDLE = str(bundle)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rt.config.PUBLIC_URL = f"http://127.0.0.1:{server.server_port}"  # the OAuth redirect URIs
    return rt, server


def _watch_to_first_scores(page, crm_base: str) -> dict[str, str]:
    """Wait on the progress page until the timeline reaches first scores; return each step's text."""
    timeline = page.locator("#timeline")
    seen_running = set()
    for _ in range(600):
        current = timeline.get_attribute("data-current")
        seen_running.add(current)
        # The heading says Syncing only while the sync is the current step.
        heading = page.locator("#heading").inner_text()
        assert current == "sync" or not heading.startswith("Syncing"), (heading, current)
        for bar in page.locator("#timeline progress").all():
            assert 0 <= float(bar.get_attribute("value") or 0) <= 100
        if page.locator('#timeline li[data-step="ready"][data-state="done"]').count():
            break
        page.wait_for_timeout(200)
    expect(page.locator('#timeline li[data-step="ready"]')).to_have_attribute("data-state", "done")
    link = page.locator("#scored-record")
    expect(link).to_have_text(re.compile(r"Open a scored (lead|deal) \(score \d+\) in the CRM"))
    assert link.get_attribute("href").startswith(crm_base)
    return {step: page.locator(f'#timeline li[data-step="{step}"] .step-detail').inner_text() for step in STEPS}


def test_two_systems_join_one_organization_and_each_timeline_reaches_first_scores(
        tmp_path, sqlite_url, redis_url, sf_sandbox, hs_sandbox, start_worker):
    hs_sandbox.reset_knobs()
    rt, server = _serve(tmp_path, sqlite_url, redis_url, sf_sandbox, hs_sandbox)
    base = rt.config.PUBLIC_URL
    start_worker(rt.config)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            page.goto(base + "/admin/connections")
            page.get_by_role("link", name="Sign in with Salesforce").click()
            page.get_by_role("button", name="Allow").click()
            expect(page.get_by_text("No CRM is connected yet")).to_be_visible()

            page.get_by_role("link", name=re.compile("Connect Salesforce", re.I)).click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url("**/progress")
            salesforce_id = int(page.url.rstrip("/").split("/")[-2])
            expect(page.locator("#timeline li")).to_have_count(5)
            page.locator('#timeline li[data-step="sync"]:not([data-state="waiting"])').wait_for(timeout=60_000)
            page.screenshot(path=str(SCREENSHOTS / "ui16a-progress-after-running.png"), full_page=True)
            sf_steps = _watch_to_first_scores(page, sf_sandbox.base_url)
            page.screenshot(path=str(SCREENSHOTS / "ui16a-progress-after.png"), full_page=True)
            assert re.fullmatch(r"[\d,]+ records read, [\d,]+ stored or updated in [\d.]+ s\.", sf_steps["sync"])
            assert re.fullmatch(r"[\d,]+ of [\d,]+ records scored \(100%\)", sf_steps["scoring"])
            assert re.fullmatch(r"[\d,]+ values written to the CRM\.", sf_steps["writeback"])
            expect(page.locator("#heading")).to_have_text("Salesforce is ready")

            # HubSpot next: a HubSpot user who is not an admin there cannot add it.
            page.goto(base + "/")
            page.get_by_role("link", name=re.compile("Connect HubSpot", re.I)).click()
            page.locator("#user").select_option(REP)
            page.get_by_role("button", name="Connect app").click()
            expect(page.get_by_role("alert")).to_contain_text("not an admin")
            page.goto(base + "/")
            page.get_by_role("link", name=re.compile("Connect HubSpot", re.I)).click()
            page.locator("#user").select_option(ADMIN)
            page.get_by_role("button", name="Connect app").click()
            page.wait_for_url("**/progress")
            hubspot_id = int(page.url.rstrip("/").split("/")[-2])
            hs_steps = _watch_to_first_scores(page, hs_sandbox.base_url)
            expect(page.locator("#heading")).to_have_text("HubSpot is ready")
            # HubSpot's counters never run past the remote's own totals.
            for row in page.locator("#streams tr").all():
                read = row.locator("td").nth(1).inner_text().replace(",", "")
                if " of " in read:
                    done, total = map(int, read.split(" of "))
                    assert done <= total, read

            page.goto(base + "/admin/connections")
            rows = page.locator("table tbody tr")
            expect(rows).to_have_count(2)
            expect(page.locator("table")).to_contain_text("Salesforce")
            expect(page.locator("table")).to_contain_text(re.compile("HubSpot", re.I))
            page.screenshot(path=str(SCREENSHOTS / "ui16a-connections-after.png"), full_page=True)
            for connection_id in (salesforce_id, hubspot_id):
                page.goto(f"{base}/admin/connections/{connection_id}")
                expect(page.locator('#timeline li[data-step="ready"]')).to_have_attribute("data-state", "done")
            page.screenshot(path=str(SCREENSHOTS / "ui16a-connection-after.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
    assert "records scored" in hs_steps["scoring"]
    # `make demo` prints the same steps to the terminal.
    told = io.StringIO()
    narrator(rt, {"salesforce": salesforce_id, "hubspot": hubspot_id}, told)()
    lines = told.getvalue().splitlines()
    for name in ("Salesforce", "HubSpot"):
        mine = [line for line in lines if line.startswith(name)]
        assert [line.split("  ")[0] for line in mine] == [name] * 5, lines
        assert re.search(r"First scores ready +[\d,]+ leads and deals scored; open one: https://", mine[-1]), mine
    with rt.sessions() as session:
        organizations = set(session.scalars(select(Connection.organization_id)))
    assert len(organizations) == 1, "both systems belong to the admin's one organization"
