"""The panel in a real browser, framed by a Salesforce-like record page on another origin.

The record page here stands in for the Salesforce sandbox's (its Canvas slot does not POST a
signed request yet): it auto-POSTs a freshly signed request into an iframe, as Lightning does.
"""
from __future__ import annotations

import threading
from html import escape
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import web
from tests.conftest import make_config
from tests.test_embed_canvas import LEAD_ID, OPP_ID, SECRET, envelope, seed_store, sign
from tests.browser import SCREENSHOTS, axe_violations, launch_chromium
from web.cli import upgrade_database
from web.extensions import runtime

ROOT = Path(__file__).resolve().parent.parent


class ServedApp:
    """A WSGI app served over real HTTP on 127.0.0.1 in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


def record_page(pipewise_origin: str):
    """A Lightning-like record page whose Canvas frame is POSTed a new signed request on every load."""

    @Request.application
    def app(request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # lightning/r/<Type>/<Id>/view
        if len(parts) != 5 or parts[:2] != ["lightning", "r"]:
            return Response("not found", status=404)
        object_type, record_id = parts[2], parts[3]
        signed = sign(envelope(object_type, record_id))
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(object_type)} | Salesforce</title>
<style>body {{ margin: 0; font-family: sans-serif; background: #f3f3f3; }}
header {{ background: #fff; padding: 12px 16px; border-bottom: 1px solid #ddd; }}
.slot {{ margin: 12px; }} iframe {{ display: block; width: 100%; height: 900px; border: 0; background: #fff; }}</style>
</head><body>
<header><strong>{escape(object_type)}</strong> {escape(record_id)}</header>
<div class="slot"><iframe name="pipewise-canvas" id="pipewise-canvas" title="Pipewise"></iframe></div>
<form id="canvas-post" method="post" action="{pipewise_origin}/embed/salesforce/canvas" target="pipewise-canvas">
<input type="hidden" name="signed_request" value="{escape(signed)}"></form>
<script>document.getElementById("canvas-post").submit();</script>
</body></html>"""
        return Response(page, mimetype="text/html")

    return app


@pytest.fixture
def servers(tmp_path, sqlite_url, redis_url):
    """Pipewise and the record page, each on its own origin, with a scored opportunity in the store."""
    config = make_config(tmp_path, sqlite_url, redis_url, SALESFORCE_CLIENT_SECRET=SECRET)
    upgrade_database(config.DATABASE_URL)
    app = web.create_app(config)
    pipewise = ServedApp(app)
    crm = ServedApp(record_page(pipewise.origin))
    with app.app_context():
        with runtime().sessions() as session:
            seed_store(session, instance_url=crm.origin)
            session.commit()
    yield pipewise, crm
    crm.stop()
    pipewise.stop()
    with app.app_context():
        runtime().engine.dispose()


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def open_record(browser, crm_origin: str, width: int, height: int, record: str = f"Opportunity/{OPP_ID}"):
    """Open a record page at a viewport size; returns (page, panel frame, requested URLs)."""
    # bypass_csp only lets the axe check inject its script; the panel's own requests are unchanged.
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(f"{crm_origin}/lightning/r/{record}/view")
    frame_element = page.wait_for_selector("iframe#pipewise-canvas")
    page.frame_locator("#pipewise-canvas").get_by_role("heading", name="Recent activity").wait_for()
    return page, frame_element.content_frame(), requested


def grow_frame(page, frame) -> None:
    """Size the iframe to its content, as the Canvas SDK's autogrow does, so screenshots show it all."""
    height = frame.evaluate("document.documentElement.scrollHeight")
    page.evaluate("h => { document.getElementById('pipewise-canvas').style.height = h + 'px'; }", height)


def test_the_panel_renders_inside_the_record_page(servers, browser):
    pipewise, crm = servers
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page, frame, requested = open_record(browser, crm.origin, 1280, 900)
    panel = page.frame_locator("#pipewise-canvas")
    assert frame.url.startswith(f"{pipewise.origin}/embed/salesforce/canvas")
    assert panel.locator(".pw-score__value").inner_text() == "87"
    assert panel.locator(".pw-score__band").inner_text() == "Band A"
    assert "72%" in panel.locator(".pw-stat").inner_text()
    assert panel.get_by_text("Champion replied within a day").is_visible()
    assert panel.get_by_text("No meeting booked in 14 days").is_visible()
    assert panel.get_by_text("Book the pricing call with the economic buyer").is_visible()
    assert panel.get_by_role("img", name="Win probability over time: Acme <Renewal> & Co").is_visible()
    # Nothing is fetched from anywhere but the CRM page and Pipewise (no CDN, no fonts).
    assert all(url.startswith((crm.origin, pipewise.origin)) for url in requested), requested
    # The panel's stylesheet applied (a CSP or path mistake would leave the badge unstyled).
    assert panel.locator(".pw-score").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(46, 132, 74)"
    assert axe_violations(frame) == []
    grow_frame(page, frame)
    page.screenshot(path=str(SCREENSHOTS / "panel-opportunity.png"), full_page=True)

    # Keyboard: Tab reaches the refresh link, then the history table's toggle, which Enter opens.
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(frame.evaluate("document.activeElement.textContent.trim()"))
        if focused[-1] == "Show the history as a table":
            break
    assert "Refresh" in focused and focused[-1] == "Show the history as a table", focused
    page.keyboard.press("Enter")
    assert panel.get_by_role("cell", name="2024-05-20 12:00 UTC").is_visible()

    # Refresh stays inside the frame, authorized by the panel token alone (no cookies).
    panel.get_by_role("link", name="Refresh").click()
    # The old page has the same heading: wait for the frame to navigate, not for the heading.
    frame.wait_for_url("**/embed/panel/opportunity/**", timeout=30_000)
    panel.get_by_role("heading", name="Recent activity").wait_for()
    assert "/embed/panel/opportunity/" in frame.url and "pt=" in frame.url
    assert panel.locator(".pw-score__value").inner_text() == "87"
    assert page.context.cookies() == []
    page.close()


def test_the_panel_fits_a_phone(servers, browser):
    _pipewise, crm = servers
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, frame, _requested = open_record(browser, crm.origin, 375, 812)
    overflow = frame.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the panel scrolls sideways by {overflow}px at 375px"
    panel = page.frame_locator("#pipewise-canvas")
    assert panel.locator(".pw-score__value").is_visible()
    assert panel.get_by_text("Champion replied within a day").is_visible()
    assert axe_violations(frame) == []
    grow_frame(page, frame)
    page.screenshot(path=str(SCREENSHOTS / "panel-opportunity-375.png"), full_page=True)
    page.close()

    page, frame, _requested = open_record(browser, crm.origin, 375, 812, record=f"Lead/{LEAD_ID}")
    panel = page.frame_locator("#pipewise-canvas")
    assert panel.get_by_role("note").inner_text().startswith("Limited history.")
    assert "31%" in panel.locator(".pw-stat").inner_text()
    assert axe_violations(frame) == []
    grow_frame(page, frame)
    page.screenshot(path=str(SCREENSHOTS / "panel-lead-375.png"), full_page=True)
    page.close()
