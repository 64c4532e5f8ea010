"""A multi-currency HubSpot portal synced over real HTTPS: deals keep deal_currency_code, the team panel's
totals are in the company currency (computed here from the sandbox's records), and a portal that does not
grant its exchange rates gets its foreign-currency deals reported, not summed."""
from __future__ import annotations

from datetime import date

import pytest
import requests
from sqlalchemy import select

from connectors.hubspot import streams
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from sync import currency, jobs
from sync.store import Opportunity, SyncRun
from tests.hubspot_fixtures import connect, hubspot_settings, make_client
from tests.test_multi_currency import team_figures, team_page

# HubSpot's conversionRate runs from the currency into the company currency (Currencies guide).
RATES = {"EUR": 1.1, "GBP": 1.25}
CURRENCIES = {"rates": RATES, "deals": {"EUR": 5, "GBP": 7}}


def portal(tmp_path_factory, name: str, **settings) -> HubSpotSandboxServer:
    return HubSpotSandboxServer(tmp_path_factory.mktemp(name), port=0, seed="small",
                                settings={"currencies": CURRENCIES, **settings}).start()


@pytest.fixture(scope="module")
def hs_multi(tmp_path_factory):
    server = portal(tmp_path_factory, "hs-multi")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hs_multi_without_rates(tmp_path_factory):
    """The same portal where the subscription cannot grant settings.currencies.read."""
    server = portal(tmp_path_factory, "hs-multi-no-rates", unavailable_scopes=("settings.currencies.read",))
    yield server
    server.stop()


def in_usd(deal: dict) -> float:
    props = deal["properties"]
    return float(props["amount"]) * RATES.get(props["deal_currency_code"], 1.0)


def synced(rt, server):
    installed = connect(rt, server)
    assert jobs.sync_connection(installed.connection_id, "full", then_score=False)["status"] == "completed"
    deals = {d["id"]: d for d in server.records("deals") if d["properties"].get("amount")}
    admin = str(next(o["id"] for o in server.sandbox.owners() if o["role"] == "admin"))
    return installed, deals, admin


def open_deals(deals: dict) -> list[dict]:
    return [d for d in deals.values() if d["properties"].get("hs_is_closed") != "true"]


def test_a_multi_currency_portal_is_converted_to_the_company_currency(make_runtime, sqlite_url, hs_multi):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_multi))
    installed, deals, admin = synced(rt, hs_multi)
    assert {d["properties"]["deal_currency_code"] for d in deals.values()} == {"USD", "EUR", "GBP"}
    with rt.sessions() as session:
        stored = {o.remote_id: o for o in session.scalars(select(Opportunity).where(
            Opportunity.connection_id == installed.connection_id))}
        for remote_id, deal in deals.items():
            row = stored[remote_id]
            assert row.currency == deal["properties"]["deal_currency_code"]
            assert row.amount == pytest.approx(in_usd(deal))
        assert currency.corporate_currency(session, installed.organization_id) == "USD"
        figures, period = team_figures(session, installed.organization_id, admin)
    expected = sum(in_usd(d) for d in open_deals(deals))
    assert figures["open_amount"] == pytest.approx(expected)
    assert abs(sum(float(d["properties"]["amount"]) for d in open_deals(deals)) - expected) > 1
    in_period = [d for d in open_deals(deals)
                 if period.start <= date.fromisoformat(d["properties"]["closedate"][:10]) < period.end]
    assert figures["open_in_period"] == pytest.approx(sum(in_usd(d) for d in in_period))
    page = team_page(rt, installed.organization_id, installed.connection_id, admin)
    assert 'data-currency="USD"' in page and "data-currency-missing" not in page


def test_a_portal_without_its_exchange_rates_reports_the_deals_it_cannot_convert(
        make_runtime, sqlite_url, hs_multi_without_rates):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_multi_without_rates))
    installed, deals, admin = synced(rt, hs_multi_without_rates)
    with rt.sessions() as session:
        run = session.scalar(select(SyncRun).where(SyncRun.connection_id == installed.connection_id)
                             .order_by(SyncRun.id.desc()).limit(1))
        # The rates are an optional stream: skipped with a sentence, the sync still completes.
        assert run.status == "completed" and run.streams["exchange_rate"]["skipped"] is True
        assert "settings.currencies.read" in run.streams["exchange_rate"]["note"]
        # Without the company currency no amount can be said to be in it: none is added up.
        by_code: dict[str, int] = {}
        for deal in deals.values():
            code = deal["properties"]["deal_currency_code"]
            by_code[code] = by_code.get(code, 0) + 1
        assert currency.unconverted(session, installed.organization_id) == by_code
        figures, _period = team_figures(session, installed.organization_id, admin)
    assert figures["open_amount"] == 0
    page = team_page(rt, installed.organization_id, installed.connection_id, admin)
    assert "data-currency-missing" in page and "EUR, GBP, USD" in page and "data-currency=" not in page


# The Currencies answers' fields as HubSpot's settings-multicurrency v3 description lists them (the
# installed hubspot-api-client has no Currencies models to check against): name → JSON type.
COMPANY_CURRENCY = {"createdAt": str, "id": str}
EXCHANGE_RATE = {"conversionRate": (int, float), "createdAt": str, "effectiveAt": str, "fromCurrencyCode": str,
                 "id": str, "toCurrencyCode": str, "updatedAt": str, "visibleInUI": bool}


def test_the_currencies_answers_have_the_documented_fields_and_need_their_scope(hs_multi):
    def get(path: str, token: str):
        return requests.get(hs_multi.base_url + path, headers={"Authorization": f"Bearer {token}"},
                            verify=str(hs_multi.ca_path), timeout=30)

    token = hs_multi.issue_token()
    company = get("/settings/v3/currencies/company-currency", token).json()
    assert set(company) == set(COMPANY_CURRENCY) and company["id"] == "USD"
    assert all(isinstance(company[k], t) for k, t in COMPANY_CURRENCY.items())
    rates = get("/settings/v3/currencies/exchange-rates/current", token).json()["results"]
    assert {(r["fromCurrencyCode"], r["toCurrencyCode"], r["conversionRate"]) for r in rates} == {
        ("EUR", "USD", 1.1), ("GBP", "USD", 1.25)}
    for rate in rates:
        assert set(rate) == set(EXCHANGE_RATE) and all(isinstance(rate[k], t) for k, t in EXCHANGE_RATE.items())
    without = hs_multi.issue_token(scope="oauth crm.objects.deals.read")
    refused = get("/settings/v3/currencies/exchange-rates/current", without)
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"
    assert "settings.currencies.read" in refused.text


def test_deals_ask_only_for_properties_the_portal_lists(make_runtime, sqlite_url, hs_multi_without_rates):
    """The portal's own `product` property is asked for while it exists, and no longer once archived."""
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_multi_without_rates))
    installed = connect(rt, hs_multi_without_rates)
    assert "product" in make_client(rt, installed).fields_for(streams.Deals)
    token = hs_multi_without_rates.issue_token()
    archived = requests.delete(f"{hs_multi_without_rates.base_url}/crm/v3/properties/deals/product",
                               headers={"Authorization": f"Bearer {token}"},
                               verify=str(hs_multi_without_rates.ca_path), timeout=30)
    assert archived.status_code == 204, archived.text
    client = make_client(rt, installed)
    asked = client.fields_for(streams.Deals)
    assert "product" not in asked and "deal_currency_code" in asked and "amount" in asked
    # A custom property a portal lacks is no HubSpot property missing: nothing to tell the admin.
    assert client.left_out_fields == {}


def test_the_rep_panel_names_each_deals_currency(make_runtime, sqlite_url, hs_multi):
    """A deal in a foreign currency shows its own amount and the corporate figure; one that names no
    currency is in the company currency and says so (never a bare number)."""
    from embed.panel import panel_context
    from sync.store import Connection

    rt = make_runtime(sqlite_url, **hubspot_settings(hs_multi))
    installed, deals, _ = synced(rt, hs_multi)
    euro = next(i for i, d in deals.items() if d["properties"]["deal_currency_code"] == "EUR")
    dollar = next(i for i, d in deals.items() if d["properties"]["deal_currency_code"] == "USD")
    with rt.sessions() as session:
        # What a single-currency portal sends: no deal_currency_code on the deal.
        session.execute(Opportunity.__table__.update().where(
            Opportunity.connection_id == installed.connection_id, Opportunity.remote_id == dollar).values(currency=None))
        connection = session.get(Connection, installed.connection_id)
        facts = {k: dict(panel_context(session, connection, "opportunity", i)["record_facts"])["Amount"]
                 for k, i in (("euro", euro), ("plain", dollar))}
    euro_amount = float(deals[euro]["properties"]["amount"])
    assert facts["euro"] == f"{euro_amount:,.0f} EUR (≈ {euro_amount * RATES['EUR']:,.0f} in the corporate currency)"
    assert facts["plain"] == f"{float(deals[dollar]['properties']['amount']):,.0f} USD"
