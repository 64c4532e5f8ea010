"""In a real browser, the sandbox CRMs' own record pages show Pipewise as a rep sees it: the
Salesforce Canvas panel inside its iframe, and the HubSpot card opening the panel."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from connectors.hubspot.sandbox.pipelines import DEFAULT_PIPELINE
from connectors.salesforce.provider import SalesforceProvider
from embed.tokens import mint_manager_token
from scoring.jobs import crm_now
from scoring.records.score import score_connection
from sync import jobs
from sync.connections import open_client
from sync.store import Connection, Opportunity, Score
from sync.writeback import write
from sync.writeback_jobs import provision_job
from tests.browser import SCREENSHOTS, axe_violations, launch_chromium
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import LiveApp, hs_sandbox, hubspot_settings  # noqa: F401
from tests.hubspot_fixtures import connect as connect_hubspot
from web import create_app


def _score(rt, connection_id: int) -> None:
    with rt.sessions() as session:
        score_connection(session, connection_id, now=crm_now(session, connection_id))


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


# HubSpot's stage ids, which no person reads: the screens show the stages' labels.
STAGE_IDS = re.compile(r"\b(" + "|".join(s.id for s in DEFAULT_PIPELINE.stages) + r")\b")
STAGE_LABELS = {s.id: s.label for s in DEFAULT_PIPELINE.stages}


BAD_NEWS = re.compile(r"No activity|Never |No (calls|emails|meetings|activities|email address|job title|company)"
                      r"|Close date pushed back|Moved back|Has not moved forward")


def test_the_salesforce_record_page_shows_the_panel_inside_its_canvas_frame(
        make_runtime, sqlite_url, sf_sandbox, sf_control, browser):
    rt = make_runtime(sqlite_url, sf_sandbox)
    rt.config.runtime = rt
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)
    jobs.sync_connection(connection_id, "full", then_score=False)
    _score(rt, connection_id)
    with rt.sessions() as session:
        client = open_client(rt.config, rt.sessions, rt.cipher, session.get(Connection, connection_id))
        write(session, client, SalesforceProvider, connection_id)
        score = session.scalars(select(Score).where(Score.connection_id == connection_id,
                                                    Score.object_type == "opportunity")
                                .order_by(Score.score.desc())).first()
    with LiveApp(create_app(rt.config)) as live:
        sf_control.configure_canvas(f"{live.url}/embed/salesforce/canvas")
        try:
            for width in (1280, 375):
                page = browser.new_page(ignore_https_errors=True, viewport={"width": width, "height": 1000},
                                        bypass_csp=True)  # only so the axe check can inject its script
                page.goto(f"{sf_sandbox.base_url}/lightning/r/Opportunity/{score.remote_id}/view")
                field = page.get_by_text(re.compile(r"Pipewise_Score__c|Pipewise Score")).first
                assert field.is_visible()
                # Written back as a whole number, and shown as Salesforce shows a Number(18, 0): "3", not "3.0".
                assert page.locator("[data-field='Pipewise_Score__c']").inner_text() == str(score.score)
                frame = page.frame_locator("iframe[title='Pipewise']")
                frame.get_by_text(str(score.score), exact=True).first.wait_for(timeout=30_000)
                first_reason = (score.reasons.get("up") or score.reasons.get("down"))[0]["text"]
                assert frame.get_by_text(first_reason).first.is_visible()
                # No line that raises the score reads as bad news ("+ No activity for 285 days").
                raising = frame.locator(".pw-reason--up").all_inner_texts()
                assert not [r for r in raising if BAD_NEWS.search(r)], raising
                panel = page.wait_for_selector("iframe[title='Pipewise']").content_frame()
                assert axe_violations(panel) == [], width
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"salesforce-record-page-{width}.png"), full_page=True)
                page.close()
        finally:
            sf_control.configure_canvas(None)


def test_the_hubspot_deal_page_shows_the_card_and_opens_the_panel(make_runtime, sqlite_url, hs_sandbox, browser):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_sandbox))
    rt.config.runtime = rt
    installed = connect_hubspot(rt, hs_sandbox)
    jobs.sync_connection(installed.connection_id, "full", then_score=False)
    _score(rt, installed.connection_id)
    with rt.sessions() as session:
        score = session.scalars(select(Score).where(Score.connection_id == installed.connection_id,
                                                    Score.object_type == "opportunity")
                                .order_by(Score.score.desc())).first()
        stage = session.scalar(select(Opportunity.stage).where(Opportunity.connection_id == installed.connection_id,
                                                               Opportunity.remote_id == score.remote_id))
        # Reasons and next steps are written in the stages' labels (they are written back to HubSpot too).
        worded = session.execute(select(Score.reasons, Score.next_step).where(
            Score.connection_id == installed.connection_id, Score.object_type == "opportunity")).all()
    assert stage in STAGE_LABELS and not STAGE_IDS.search(repr(worded))
    assert any(STAGE_LABELS["qualifiedtobuy"] in repr(row) for row in worded)
    admin = str(next(o["id"] for o in hs_sandbox.sandbox.owners() if o["role"] == "admin"))
    app = create_app(rt.config)
    team_token = mint_manager_token(app.secret_key, installed.organization_id, installed.connection_id, admin, "admin")
    live = LiveApp(app)
    rt.config.PUBLIC_URL = live.url  # the card's panel link is absolute, as HubSpot needs
    with live:
        hs_sandbox.configure_card(f"{live.url}/embed/hubspot/card")
        try:
            for width in (1280, 375):
                page = browser.new_page(ignore_https_errors=True, viewport={"width": width, "height": 1000},
                                        bypass_csp=True)  # only so the axe check can inject its script
                page.goto(f"{hs_sandbox.base_url}/contacts/{hs_sandbox.portal_id}/record/0-3/{score.remote_id}")
                assert page.get_by_text(re.compile(rf"\b{score.score}\b")).first.is_visible()
                page.get_by_role("button", name=re.compile("Open Pipewise panel")).click()
                frame = page.frame_locator("iframe").last
                frame.get_by_text(str(score.score), exact=True).first.wait_for(timeout=30_000)
                assert frame.get_by_text(STAGE_LABELS[stage], exact=True).first.is_visible()
                assert not STAGE_IDS.search(frame.locator("body").inner_text())
                # The card's panel, as HubSpot frames it: no WCAG A/AA violations at either width.
                panel = page.locator("iframe").last.element_handle().content_frame()
                assert axe_violations(panel) == [], width
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                suffix = "" if width == 1280 else "-375"
                page.screenshot(path=str(SCREENSHOTS / f"hubspot-deal-page{suffix}.png"), full_page=True)
                page.close()
            # The team panel of the same portal: stages by label, in the pipeline board's order.
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{live.url}/embed/manager/pipeline?pt={team_token}")
            shown = [cell.strip() for cell in page.locator('table[data-table="stages"] tbody th').all_inner_texts()]
            board = [s.label for s in DEFAULT_PIPELINE.stages]
            assert len(shown) >= 2 and shown == sorted(shown, key=board.index), shown
            assert not STAGE_IDS.search(page.locator("body").inner_text())
            # The CSV a manager downloads names the stages as the panel does.
            csv_link = page.locator('section:has(table[data-table="stages"]) a.pw-csv').get_attribute("href")
            download = page.request.get(live.url + csv_link)
            exported = download.text()
            assert download.headers["content-type"].startswith("text/csv")
            assert exported.splitlines()[1].startswith(shown[0]) and not STAGE_IDS.search(exported)
            page.close()
        finally:
            hs_sandbox.configure_card(None)
