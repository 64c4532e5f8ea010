"""The team panel's Funnel in a real browser, on a store synced from both sandboxes into one organization: it
opens on a period with leads and opportunities, and a manager whom the CRM gives nobody to lead reads why."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

import web
from embed.tokens import mint_manager_token
from scoring.scope import reports_of, viewer_role
from sync.store import User
from tests.browser import SCREENSHOTS, axe_violations, launch_chromium
from tests.hubspot_fixtures import hs_sandbox, hubspot_settings  # noqa: F401
from tests.test_browser_panel import ServedApp
from tests.test_funnel_conversions import one_organization


@pytest.fixture
def panel(make_runtime, sqlite_url, sf_sandbox, hs_sandbox, tmp_path):  # noqa: F811
    """The app served over HTTP with the synced organization: (origin, app, organization, users by connection)."""
    rt = make_runtime(sqlite_url, sf_sandbox, **hubspot_settings(hs_sandbox))
    organization, salesforce, hubspot = one_organization(rt, sf_sandbox, hs_sandbox, tmp_path)
    with rt.sessions() as session:
        users = session.scalars(select(User).where(User.organization_id == organization)).all()
        admin = next(u.remote_id for u in users if u.connection_id == salesforce and u.role == "admin")
        alone = next(u for u in users if u.connection_id == hubspot
                     and viewer_role(session, organization, u.remote_id) == "manager"
                     and not reports_of(session, organization, u.remote_id))
        alone = (alone.remote_id, alone.name)
    app = web.create_app(rt.config)
    served = ServedApp(app)
    yield served.origin, app, organization, {"salesforce": salesforce, "hubspot": hubspot}, admin, alone
    served.stop()


def _bars(page) -> dict[str, int]:
    titles = page.locator("#chart-funnel rect title").all_text_contents()
    return {label: int(value.replace(",", "")) for label, value in (t.split(": ") for t in titles)}


def test_the_funnel_opens_on_a_period_with_leads_and_opportunities(panel):
    origin, app, organization, connections, admin, (alone, alone_name) = panel
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            token = mint_manager_token(app.secret_key, organization, connections["salesforce"], admin, "admin")
            page.goto(f"{origin}/embed/manager?pt={token}")
            page.get_by_role("link", name="Funnel", exact=True).click()
            page.get_by_role("heading", name="Funnel: Whole organization").wait_for()
            bars = _bars(page)
            assert bars["Leads"] > 0 and bars["Opportunities"] > 0 and bars["Won"] > 0, bars
            # The period it opened on is named, and the table by lead source repeats the chart's totals.
            notice = page.get_by_role("status").first.inner_text()
            assert re.search(r"so the panel shows 20\d\d-Q\d, the latest quarter with data", notice), notice
            total = page.locator('table[data-table="funnel-source"] tfoot')
            assert total.locator('[data-key="leads"]').inner_text() == f"{bars['Leads']:,}"
            assert total.locator('[data-key="opportunities"]').inner_text() == f"{bars['Opportunities']:,}"
            assert axe_violations(page) == []
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "manager-funnel-conversions.png"), full_page=True)

            token = mint_manager_token(app.secret_key, organization, connections["hubspot"], alone, "manager")
            page.goto(f"{origin}/embed/manager/funnel?pt={token}")
            page.get_by_role("heading", name=f"Funnel: {alone_name}").wait_for()
            assert "HubSpot lists nobody who reports to you" in page.get_by_role("status").first.inner_text()
            assert page.locator("#chart-funnel").count() == 0
            assert axe_violations(page) == []
            page.screenshot(path=str(SCREENSHOTS / "manager-funnel-leads-nobody.png"), full_page=True)
        finally:
            browser.close()
