"""In Debian's chromium: the sandbox's lead form frames Pipewise's web resource; the rep signs in once in Entra ID's
popup, sees the score in the frame, is signed in silently on reload, and a record of another organization is refused.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.browser import SCREENSHOTS, axe_violations, serve
from tests.test_browser_panel import browser  # noqa: F401 - fixture
from tests.test_dynamics_panel import OTHER_ORG, PANEL, best_score, form_params, pipewise, rep_of  # noqa: F401
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures

FRAME = "#WebResource_pipewise"


@pytest.fixture
def live(pipewise, control):
    """Pipewise over HTTP, and the sandbox's lead, opportunity and user forms framing its panel URL."""
    served, base = serve(pipewise.app)
    control.set_web_resource(f"{base}{PANEL}")
    yield base
    control.set_web_resource(None)
    served.shutdown()


def test_a_rep_signs_in_once_then_silently_and_another_organizations_record_is_refused(pipewise, server, live,
                                                                                       browser):
    lead = best_score(pipewise, "lead")
    rep = rep_of(server)
    # bypass_csp only lets the axe check inject its script; Pipewise's answers are unchanged.
    page = browser.new_page(ignore_https_errors=True, viewport={"width": 1280, "height": 1000}, bypass_csp=True)
    authorize_requests: list[str] = []
    page.context.on("request", lambda r: authorize_requests.append(r.url) if "/oauth2/v2.0/authorize" in r.url
                    else None)
    page.goto(f"{server.base_url}/main.aspx?etn=lead&id={lead.remote_id}&pagetype=entityrecord")
    frame = page.frame_locator(FRAME)
    button = frame.get_by_role("button", name="Sign in with Microsoft")
    button.wait_for()
    assert not axe_violations(page.wait_for_selector(FRAME).content_frame())

    with page.expect_popup() as opened:
        button.click()
    popup = opened.value
    popup.get_by_role("heading", name="Permissions requested").wait_for()
    popup.select_option("#user", rep["domainname"])
    popup.get_by_role("button", name="Accept").click()
    frame.locator(".pw-score__value").wait_for(timeout=30_000)
    assert frame.locator(".pw-score__value").inner_text() == str(lead.score)
    assert frame.get_by_text(lead.next_step).first.is_visible()
    assert popup.is_closed(), "the sign-in window closes itself"
    assert page.wait_for_selector(FRAME).content_frame().url.startswith(f"{live}/embed/panel/lead/{lead.remote_id}?pt=")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dynamics-lead-form-panel.png"), full_page=True)

    authorize_requests.clear()
    with _no_popup(page):
        page.reload()
        frame.locator(".pw-score__value").wait_for(timeout=30_000)
    assert frame.locator(".pw-score__value").inner_text() == str(lead.score)
    assert authorize_requests and all("prompt=none" in url for url in authorize_requests), authorize_requests

    # The form's script points the web resource at another organization's record (formContext's setSrc).
    tampered = f"{live}{PANEL}?{urlencode(form_params(server, 'lead', pipewise.foreign_lead, OTHER_ORG))}"
    page.evaluate("([id, src]) => { document.getElementById(id).src = src; }", [FRAME[1:], tampered])
    frame.get_by_role("heading", name="This form belongs to another organization").wait_for(timeout=30_000)
    assert frame.get_by_text("Open the record from your own organization").is_visible()
    assert not frame.locator(".pw-score__value").count()


class _no_popup:
    """Fails when the page opens a window (a consent popup) inside the block."""

    def __init__(self, page):
        self.page, self.opened = page, []

    def _opened(self, page) -> None:
        self.opened.append(page)

    def __enter__(self):
        self.page.context.on("page", self._opened)
        return self

    def __exit__(self, *exc):
        self.page.context.remove_listener("page", self._opened)
        assert not self.opened, "a silent sign-in opens no window"
        return False


def test_a_frame_with_cross_frame_scripting_restricted_says_what_the_admin_must_change(pipewise, server, control,
                                                                                       live, browser):
    control.set_web_resource(f"{live}{PANEL}", restricted=True)
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/main.aspx?etn=lead&id={best_score(pipewise, 'lead').remote_id}"
                  "&pagetype=entityrecord")
        assert page.get_attribute(FRAME, "sandbox") == ""
        frame = page.frame_locator(FRAME)
        notice = frame.locator("noscript .pw-notice")
        notice.wait_for(timeout=30_000)
        assert 'uncheck "Restrict cross-frame scripting"' in notice.inner_text()
    finally:
        context.close()
