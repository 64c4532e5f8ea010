"""A multi-currency Salesforce org synced over real HTTPS: amounts keep their currency, and the team
panel's totals are in the corporate currency, computed here independently from the sandbox's records."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select, update

import web
from connectors.salesforce.sandbox.control import SandboxControl
from connectors.salesforce.sandbox.server import SandboxServer
from embed.tokens import mint_manager_token
from scoring.deals_as_of import load_deals, parse_period
from scoring.forecast.snapshots import data_as_of
from scoring.scope import Viewer, owner_names, subject_for
from scoring.team.pipeline import pipeline_health
from sync import currency, jobs
from sync.store import Connection, CurrencyRate, Opportunity
from tests.browser import launch_chromium
from tests.conftest import connect_salesforce
from tests.test_browser_manager import axe_violations
from tests.test_browser_panel import ServedApp

# CurrencyType.ConversionRate is per corporate unit (1 USD = 0.9 EUR); EUR has dated rates as well.
CURRENCIES = {"mode": "advanced", "corporate": "USD", "rates": {"EUR": 0.9, "GBP": 0.8},
              "dated": {"EUR": [["2000-01-01", 0.85], ["2017-07-01", 0.95]]}, "deals": {"EUR": 5, "GBP": 7}}


@pytest.fixture(scope="module")
def sf_multi(tmp_path_factory):
    server = SandboxServer(tmp_path_factory.mktemp("sf-multi"), port=0, seed="small",
                           settings={"currencies": CURRENCIES}).start()
    yield server
    server.stop()


def stamp(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")


def in_usd(deal: dict) -> float | None:
    """The deal's amount in USD, by the rates above: dated for EUR by close date, current for GBP."""
    code, closes = deal["CurrencyIsoCode"], date.fromisoformat(deal["CloseDate"])
    if code == "USD" or deal["Amount"] is None:  # a converted lead's won opportunity has no amount
        return deal["Amount"]
    rate = (0.85 if closes < date(2017, 7, 1) else 0.95) if code == "EUR" else 0.8
    return deal["Amount"] / rate


def synced_org(rt, server) -> tuple[int, int, dict[str, dict], str]:
    """Install and fully sync the org: (connection id, organization id, sandbox deals by id, admin id)."""
    connection_id = connect_salesforce(rt, server)
    assert jobs.sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    control = SandboxControl(server.base_url, server.ca_path)
    with rt.sessions() as session:
        organization_id = session.scalar(select(Connection.organization_id).where(Connection.id == connection_id))
    return (connection_id, organization_id, {d["Id"]: d for d in control.records("Opportunity")},
            control.info()["admin_user_id"])


def team_figures(session, organization_id: int, admin: str):
    """The whole organization's pipeline figures for the quarter of the data's last day, and that period."""
    as_of = data_as_of(session, organization_id)
    period = parse_period(f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}")
    subject = subject_for(session, Viewer(organization_id, admin, "admin"), None)
    return pipeline_health(session, organization_id, subject, period, as_of,
                           owner_names(session, organization_id))["figures"], period


def team_page(rt, organization_id: int, connection_id: int, admin: str) -> str:
    app = web.create_app(rt.config)
    token = mint_manager_token(app.secret_key, organization_id, connection_id, admin, "admin")
    return app.test_client().get(f"/embed/manager/pipeline?pt={token}").get_data(as_text=True)


def test_a_multi_currency_org_is_converted_to_the_corporate_currency(sqlite_url, make_runtime, sf_multi):
    rt = make_runtime(sqlite_url, sf_multi)
    connection_id, organization_id, deals, admin = synced_org(rt, sf_multi)
    assert {d["CurrencyIsoCode"] for d in deals.values()} == {"USD", "EUR", "GBP"}
    with rt.sessions() as session:
        stored = session.scalars(select(Opportunity).where(Opportunity.connection_id == connection_id)).all()
        for row in stored:
            deal = deals[row.remote_id]
            assert (row.deal_amount, row.currency) == (deal["Amount"], deal["CurrencyIsoCode"])
            assert row.amount == pytest.approx(in_usd(deal))
        assert currency.corporate_currency(session, organization_id) == "USD"
        assert currency.unconverted(session, organization_id) == {}
        figures, period = team_figures(session, organization_id, admin)
    open_deals = [d for d in deals.values() if not d["IsClosed"]]
    expected_open = sum(in_usd(d) for d in open_deals)
    assert figures["open_amount"] == pytest.approx(expected_open)
    # The sum in mixed currencies is a different number: the panel did not add them up as they are.
    assert abs(sum(d["Amount"] for d in open_deals) - expected_open) > 1
    in_period = [d for d in open_deals if period.start <= date.fromisoformat(d["CloseDate"]) < period.end]
    assert figures["open_in_period"] == pytest.approx(sum(in_usd(d) for d in in_period))
    page = team_page(rt, organization_id, connection_id, admin)
    assert 'data-currency="USD"' in page and "data-currency-missing" not in page
    # The forecast starts from the deals as they stood: in USD as well.
    with rt.sessions() as session:
        as_of = data_as_of(session, organization_id)
        start = load_deals(session, organization_id, as_of)
    moment = datetime.combine(as_of, datetime.min.time())
    # Deals without an amount (a converted lead's won opportunity) get the typical deal size there instead.
    settled = [d for d in deals.values() if stamp(d["SystemModstamp"]) < moment and d["Amount"] is not None]
    assert len(settled) > 10
    amounts = dict(zip(start.remote_ids, start.amount))
    for deal in settled:
        assert amounts[deal["Id"]] == pytest.approx(in_usd(deal))


def test_a_currency_without_a_rate_is_reported_and_left_out(sqlite_url, make_runtime, sf_multi):
    rt = make_runtime(sqlite_url, sf_multi)
    connection_id, organization_id, deals, admin = synced_org(rt, sf_multi)
    with rt.sessions() as session:
        # The GBP rate disappears from the store (as when a CRM stops granting its rates).
        session.execute(update(CurrencyRate).where(CurrencyRate.iso_code == "GBP")
                        .values(deleted_at=CurrencyRate.synced_at))
        currency.reconvert(session, organization_id)
        session.commit()
        gbp = [d for d in deals.values() if d["CurrencyIsoCode"] == "GBP" and d["Amount"] is not None]
        assert currency.unconverted(session, organization_id) == {"GBP": len(gbp)}
        figures, _period = team_figures(session, organization_id, admin)
    open_deals = [d for d in deals.values() if not d["IsClosed"] and d["CurrencyIsoCode"] != "GBP"]
    assert figures["open_amount"] == pytest.approx(sum(in_usd(d) for d in open_deals))
    with rt.sessions() as session:
        start = load_deals(session, organization_id, data_as_of(session, organization_id))
    assert not {d["Id"] for d in gbp} & set(start.remote_ids)  # the forecast leaves them out too
    page = team_page(rt, organization_id, connection_id, admin)
    assert "data-currency-missing" in page and f"{len(gbp)} deals in GBP are left out" in page
    # What the manager sees in a browser: the sentence, announced as a status, readable (WCAG 2.1 AA).
    app = web.create_app(rt.config)
    token = mint_manager_token(app.secret_key, organization_id, connection_id, admin, "admin")
    served = ServedApp(app)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            shown = browser.new_page(viewport={"width": 420, "height": 900}, bypass_csp=True)
            shown.goto(f"{served.origin}/embed/manager/pipeline?pt={token}")
            note = shown.get_by_role("status").filter(has_text="left out of these totals")
            assert note.is_visible() and "GBP" in note.inner_text()
            assert axe_violations(shown.main_frame) == []
            browser.close()
    finally:
        served.stop()
