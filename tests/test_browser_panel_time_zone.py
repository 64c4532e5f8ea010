"""The rep panel in a real browser shows its times on the rep's own clock (their CRM user's zone)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from sync.store import Connection, User
from tests.browser import SCREENSHOTS
from tests.test_browser_panel import browser, open_record, servers  # noqa: F401 (fixtures)
from tests.test_embed_canvas import envelope
from web.extensions import runtime

REP_ID = envelope("Opportunity", "x")["context"]["user"]["userId"]


@pytest.fixture
def panel(servers):  # noqa: F811
    """The panel's servers, its viewer a rep in Los Angeles of a company that keeps New York time."""
    pipewise, crm = servers
    app = pipewise.server.app
    with app.app_context():
        with runtime().sessions() as session:
            connection = session.scalar(select(Connection))
            connection.time_zone = "America/New_York"
            session.add(User(organization_id=connection.organization_id, connection_id=connection.id,
                             remote_id=REP_ID, remote_data={}, content_hash="h", name="Rita Rep",
                             role="rep", time_zone="America/Los_Angeles"))
            session.commit()
    return app, crm


def test_the_panel_shows_the_reps_times_in_the_reps_zone_and_falls_back_to_the_orgs(panel, browser):  # noqa: F811
    app, crm = panel
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, _frame, _requested = open_record(browser, crm.origin, 1280, 900)
    panel = page.frame_locator("#pipewise-canvas")
    # Scored 2024-05-20 12:00 UTC: 05:00 on a Pacific clock in May.
    assert panel.locator(".pw-footer time").inner_text() == "2024-05-20 05:00 PDT"
    assert panel.get_by_text("2024-05-20 04:00 PDT").first.is_visible()  # the email an hour earlier
    panel.get_by_text("Show the history as a table").click()
    assert panel.get_by_role("cell", name="2024-05-20 05:00 PDT").is_visible()
    assert panel.get_by_role("cell", name="2024-05-12 05:00 PDT").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "panel-time-zone-after.png"), full_page=True)
    page.close()

    # A CRM user without a zone of their own sees the organization's.
    with app.app_context():
        with runtime().sessions() as session:
            session.scalar(select(User).where(User.remote_id == REP_ID)).time_zone = None
            session.commit()
    page, _frame, _requested = open_record(browser, crm.origin, 1280, 900)
    panel = page.frame_locator("#pipewise-canvas")
    panel.get_by_text("Show the history as a table").click()
    assert panel.get_by_role("cell", name="2024-05-20 08:00 EDT").is_visible()
    page.close()
