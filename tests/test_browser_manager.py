"""The team panel in a real browser, framed by a Salesforce-like app page on another origin,
at desktop (1280 px) and phone (375 px) widths, with an axe-core accessibility check of every view.

axe-core comes from the npm registry into tests/js/node_modules (`npm ci --prefix tests/js`).
"""
from __future__ import annotations

import csv
from datetime import datetime
from html import escape

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.wrappers import Request, Response

import web
from tests.browser import AXE, SCREENSHOTS, axe_violations, launch_chromium
from tests.conftest import make_config
from tests.test_browser_panel import ServedApp
from tests.test_embed_canvas import ORG_ID, SECRET, envelope, sign
from tests.test_manager_scope import TEAM_SECRET
from tests.test_manager_seed import M1, R1, R2, build_seed, prepare_store, seed_team
from web.extensions import runtime

VIEWS = [("pipeline", "Pipeline health"), ("forecast", "Forecast"), ("benchmarks", "Benchmarks"),
         ("winloss", "Win/loss"), ("funnel", "Funnel"), ("coaching", "Coaching")]


def crm_page(pipewise_origin: str):
    """A Lightning-like app page whose Canvas frame is POSTed a fresh signed request for the viewer."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path != "/lightning/n/Pipewise_Team":
            return Response("not found", status=404)
        context = envelope("User", "005000000000009AAA")
        context["context"]["user"]["userId"] = request.args.get("viewer", M1)
        context["context"]["environment"]["record"] = {}
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Team | Salesforce</title>
<style>body {{ margin: 0; font-family: sans-serif; background: #f3f3f3; }}
header {{ background: #fff; padding: 12px 16px; border-bottom: 1px solid #ddd; }}
.slot {{ margin: 12px; }} iframe {{ display: block; width: 100%; height: 900px; border: 0; background: #fff; }}</style>
</head><body><header><strong>Pipewise team</strong></header>
<div class="slot"><iframe name="pipewise-team" id="pipewise-team" title="Pipewise team panel"></iframe></div>
<form id="canvas-post" method="post" action="{pipewise_origin}/embed/salesforce/manager" target="pipewise-team">
<input type="hidden" name="signed_request" value="{escape(sign(context, secret=TEAM_SECRET))}"></form>
<script>document.getElementById("canvas-post").submit();</script>
</body></html>"""
        return Response(page, mimetype="text/html")

    return app


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis_server):
    """Pipewise and the CRM page on their own origins, with the seeded team in the store."""
    tmp = tmp_path_factory.mktemp("manager-browser")
    url = f"sqlite:///{tmp / 'store.db'}"
    engine, _ = prepare_store(url)
    engine.dispose()
    app = web.create_app(make_config(tmp, url, redis_server, SALESFORCE_CLIENT_SECRET=SECRET,
                                     SALESFORCE_TEAM_CLIENT_SECRET=TEAM_SECRET))
    pipewise = ServedApp(app)
    crm = ServedApp(crm_page(pipewise.origin))
    with app.app_context(), runtime().sessions() as session:
        seed_team(session, instance_url=crm.origin, remote_org_id=ORG_ID)
    yield pipewise, crm
    crm.stop()
    pipewise.stop()
    with app.app_context():
        runtime().engine.dispose()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def open_panel(browser, crm_origin: str, width: int):
    """The CRM app page at a width; returns (page, frame locator, frame, requested URLs)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci --prefix tests/js` (make test does).")
    # The panel's CSP (script-src 'self') would block the injected axe script; bypass it for the check only.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(f"{crm_origin}/lightning/n/Pipewise_Team")
    panel = page.frame_locator("#pipewise-team")
    panel.get_by_role("heading", name="Pipeline health: User 0M1's team").wait_for()
    return page, panel, page.wait_for_selector("iframe#pipewise-team").content_frame(), requested


def snapshot(page, frame, name: str) -> None:
    """Grow the frame to its content (as Canvas autogrow does) and keep a screenshot."""
    height = frame.evaluate("document.documentElement.scrollHeight")
    page.evaluate("h => { document.getElementById('pipewise-team').style.height = h + 'px'; }", height)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"manager-{name}.png"), full_page=True)


def test_every_view_renders_inside_the_crm_at_desktop_width(servers, browser):
    pipewise, crm = servers
    page, panel, frame, requested = open_panel(browser, crm.origin, 1280)
    assert frame.url.startswith(f"{pipewise.origin}/embed/salesforce/manager")
    for view, label in VIEWS:
        if view != "pipeline":
            panel.get_by_role("link", name=label, exact=True).click()
            panel.get_by_role("heading", name=f"{label}: User 0M1's team").wait_for()
            frame = page.frame(name="pipewise-team")
        assert panel.locator(f'.pw-tab[aria-current="page"]').inner_text() == label
        assert panel.locator("table.pw-data").first.is_visible(), view
        if view != "coaching":
            assert panel.locator("svg.chart").first.is_visible(), view
        assert axe_violations(frame) == [], view
        snapshot(page, frame, view)
        page.evaluate("() => { document.getElementById('pipewise-team').style.height = '900px'; }")

    # The stylesheet applied, the drill-down goes team → rep → deal inside the frame, with no cookie.
    assert panel.locator(".pw-tab[aria-current='page']").evaluate(
        "e => getComputedStyle(e).borderBottomColor") == "rgb(11, 92, 171)"
    panel.get_by_role("link", name="Pipeline health", exact=True).click()
    panel.locator("table[data-table='owners']").get_by_role("link", name="User 0R1").click()
    panel.get_by_role("heading", name="Pipeline health: User 0R1").wait_for()
    deal = panel.locator("table[data-table='stalled'] tbody a").first
    assert deal.get_attribute("href").startswith(f"{crm.origin}/lightning/r/Opportunity/006")
    assert deal.get_attribute("target") == "_blank"
    assert panel.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="User 0M1").is_visible()
    assert page.context.cookies() == []
    assert all(url.startswith((crm.origin, pipewise.origin)) for url in requested), requested
    page.context.close()


def each_view(page, panel, frame):
    """(view, frame) for each tab in turn, opened by clicking it, starting from the pipeline."""
    for view, label in VIEWS:
        if view != "pipeline":
            panel.get_by_role("link", name=label, exact=True).click()
            panel.get_by_role("heading", name=f"{label}: User 0M1's team").wait_for()
            frame = page.frame(name="pipewise-team")
        frame.wait_for_load_state("load")  # the stylesheets applied before anything is measured
        yield view, frame


def test_the_panel_fits_a_phone_and_works_from_the_keyboard(servers, browser):
    _pipewise, crm = servers
    page, panel, frame, _requested = open_panel(browser, crm.origin, 375)
    for view, frame in each_view(page, panel, frame):
        overflow = frame.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{view} scrolls sideways by {overflow}px at 375px"
        snapshot(page, frame, f"{view}-375")
        page.evaluate("() => { document.getElementById('pipewise-team').style.height = '900px'; }")
    assert axe_violations(frame) == []

    # Keyboard only: Tab from the top of the frame reaches the Forecast tab, Enter opens it.
    frame.evaluate("document.activeElement && document.activeElement.blur()")
    panel.locator(".pw-skip").focus()
    for _ in range(15):
        if frame.evaluate("document.activeElement.textContent.trim()") == "Forecast":
            break
        page.keyboard.press("Tab")
    assert frame.evaluate("document.activeElement.textContent.trim()") == "Forecast"
    page.keyboard.press("Enter")
    panel.get_by_role("heading", name="Forecast: User 0M1's team").wait_for()
    page.context.close()



def test_a_manager_makes_the_teams_call_in_the_browser(servers, browser):
    _pipewise, crm = servers
    page, panel, frame, _requested = open_panel(browser, crm.origin, 1280)
    panel.get_by_role("link", name="Forecast", exact=True).click()
    panel.get_by_role("heading", name="Forecast: User 0M1's team").wait_for()
    call = panel.get_by_role("form", name="The team's call")
    call.get_by_label("Commit").fill("120,000")
    call.get_by_label("Best case").fill("150000")
    call.get_by_role("button", name="Make the call").click()
    # The reason is required: the browser keeps the form until it is given.
    assert panel.locator("#pw-call-reason:invalid").count() == 1
    call.get_by_label("Why this differs from the roll-up").fill("Two renewals signed early")
    call.get_by_role("button", name="Make the call").click()
    panel.get_by_text("The team's call for 2024-Q2 was saved (version 1).").wait_for()
    assert "Two renewals signed early" in panel.locator("[data-kpi='manager-call']").locator("..").inner_text()
    frame = page.frame(name="pipewise-team")
    assert axe_violations(frame) == []
    snapshot(page, frame, "forecast-call")
    page.context.close()


def _frame_goto(page, panel, view_label: str, **params) -> None:
    """Open a view inside the frame with extra query parameters (as a bookmarked link would)."""
    href = panel.get_by_role("link", name=view_label, exact=True).evaluate("a => a.href")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page.frame(name="pipewise-team").goto(f"{href}&{query}")


def test_each_view_opens_on_the_latest_quarter_with_data(servers, browser):
    """An as-of day in a quarter with nothing closed yet: Win/loss and Funnel open on the quarter before."""
    _pipewise, crm = servers
    page, panel, _frame, _requested = open_panel(browser, crm.origin, 1280)
    _frame_goto(page, panel, "Win/loss", as_of="2024-08-20")
    panel.get_by_role("heading", name="Win/loss: User 0M1's team").wait_for()
    assert panel.get_by_role("status").first.inner_text() == (
        "2024-Q3 has no closed deals yet, so the panel shows 2024-Q2, the latest quarter with data.")
    assert panel.get_by_label("Period").input_value() == "2024-Q2"
    assert panel.locator("table[data-table='winloss-product'] tbody tr").count() > 0

    # The funnel counts the team's leads created in that quarter, as the seed made them.
    panel.get_by_role("link", name="Funnel", exact=True).click()
    panel.get_by_role("heading", name="Funnel: User 0M1's team").wait_for()
    team_leads = [lead for lead in build_seed(0, 0, 7).leads if lead["owner_remote_id"] in (R1, R2)
                  and datetime(2024, 4, 1) <= lead["remote_created_at"] < datetime(2024, 7, 1)]
    assert team_leads, "the seed has leads in 2024-Q2"
    totals = panel.locator("table[data-table='funnel-source'] tfoot td[data-key='leads']")
    assert totals.inner_text() == str(len(team_leads))
    converted = panel.locator("table[data-table='funnel-source'] tfoot td[data-key='converted']")
    assert converted.inner_text() == str(sum(1 for lead in team_leads if lead["is_converted"]))

    # A period the manager picks follows them to the next tab.
    panel.get_by_label("Period").select_option("2024-Q1")
    panel.get_by_role("button", name="Show").click()
    # The Funnel page comes back under the same heading: wait for it, not the one it replaces.
    page.frame(name="pipewise-team").wait_for_url("**period=2024-Q1**")
    panel.get_by_role("link", name="Coaching", exact=True).click()
    panel.get_by_role("heading", name="Coaching: User 0M1's team").wait_for()
    assert panel.get_by_label("Period").input_value() == "2024-Q1"
    page.context.close()


def test_a_334px_frame_wraps_the_tabs_and_shows_tables_as_cards(servers, browser):
    """The Salesforce User page's narrow column: every tab in view, no sideways scrolling, rows as cards."""
    _pipewise, crm = servers
    page, panel, frame, _requested = open_panel(browser, crm.origin, 334 + 24)  # the frame sits in 12px margins
    assert frame.evaluate("document.documentElement.clientWidth") == 334
    for view, frame in each_view(page, panel, frame):
        overflow = frame.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        wide = frame.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 334.5)
            .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40))""")
        assert overflow <= 0, f"{view} scrolls sideways by {overflow}px in a 334px frame: {wide}"
        tabs = frame.evaluate("""() => [...document.querySelectorAll('.pw-tab')].map(t => {
            const r = t.getBoundingClientRect(); return [t.textContent.trim(), r.left >= 0 && r.right <= 334]; })""")
        assert all(inside for _name, inside in tabs), tabs
        first_cell = panel.locator("table.pw-data tbody td").first
        assert first_cell.evaluate("e => getComputedStyle(e).display") == "flex", view
        label_shown = first_cell.evaluate("e => getComputedStyle(e, '::before').content")
        column = first_cell.get_attribute("data-label")
        assert label_shown == f'"{column}"', (view, label_shown, column)
        assert axe_violations(frame) == [], view
    snapshot(page, frame, "coaching-334")
    page.context.close()


def test_a_downloaded_table_writes_whole_numbers_without_a_decimal_point(servers, browser):
    _pipewise, crm = servers
    page, panel, _frame, _requested = open_panel(browser, crm.origin, 1280)
    with page.expect_download() as download:
        panel.get_by_role("link", name="Download CSV of by owner").click()
    rows = list(csv.reader(open(download.value.path(), newline="")))
    assert rows[0][0] == "Owner" and len(rows) > 2
    numbers = [cell for row in rows[1:] for cell in row[1:] if cell and cell[0].isdigit()]
    assert numbers and not [n for n in numbers if n.endswith(".0")], numbers
    page.context.close()
