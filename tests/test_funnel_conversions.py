"""The team panel's funnel counts real conversions: one organization with the Salesforce and the HubSpot sandbox
(small seed), synced over real HTTP, on SQLite and PostgreSQL.

Each olist lead whose mql_id has a closed deal was converted into an account, a contact and a won opportunity
(Salesforce: Lead.Converted*Id; HubSpot: the customer contact's associated company and deal). The expected
numbers are counted here from the published olist files alone.
"""
from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import web
from embed.tokens import mint_manager_token
from scoring.deals_as_of import parse_period
from scoring.scope import Viewer, owner_names, subject_for, viewer_role
from scoring.team.funnel import funnel
from sync import jobs
from sync.store import Account, Connection, Contact, Lead, Opportunity, User
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import connect as connect_hubspot
from tests.hubspot_fixtures import hs_sandbox, hubspot_settings  # noqa: F401  (fixture)

OLIST = Path(__file__).resolve().parent.parent / "datasets" / "olist-marketing-funnel"
SMALL_EVERY = 20  # the small seed keeps every 20th lead
PERIOD = "2017-Q1"
AS_OF = date(2017, 10, 1)


def _rows(name: str) -> list[dict[str, str]]:
    with (OLIST / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _shift() -> timedelta:
    """The last olist date (a first contact or a win) falls on the day before the clock origin, 2017-10-01."""
    last = max([date.fromisoformat(r["first_contact_date"]) for r in _rows("olist_marketing_qualified_leads_dataset.csv")]
               + [datetime.fromisoformat(d["won_date"]).date() for d in _rows("olist_closed_deals_dataset.csv")
                  if d["won_date"]])
    return AS_OF - timedelta(days=1) - last


SHIFT = _shift()


def _converted_in(period: str) -> tuple[int, list[tuple[date, date]]]:
    """The small seed's leads first contacted in the period (shifted dates): their count, and for the converted
    ones (first contact, won day) as olist has them."""
    won = {d["mql_id"]: datetime.fromisoformat(d["won_date"]).date()
           for d in _rows("olist_closed_deals_dataset.csv") if d["won_date"]}
    bounds = parse_period(period)
    chosen = [r for i, r in enumerate(_rows("olist_marketing_qualified_leads_dataset.csv")) if i % SMALL_EVERY == 0
              and bounds.start <= date.fromisoformat(r["first_contact_date"]) + SHIFT < bounds.end]
    return len(chosen), [(date.fromisoformat(r["first_contact_date"]), won[r["mql_id"]])
                         for r in chosen if r["mql_id"] in won]


def expected_funnel(period: str) -> dict[str, int]:
    """Leads, and the converted ones; every olist closed deal is a won one, so opportunities and won are those."""
    leads, converted = _converted_in(period)
    return {"leads": leads, "converted": len(converted), "opportunities": len(converted), "won": len(converted)}


def expected_days_to_convert(period: str) -> float:
    """Mean calendar days from first contact to the won day over the period's converted leads."""
    _leads, converted = _converted_in(period)
    return sum((won - contacted).days for contacted, won in converted) / len(converted)


def one_organization(rt, sf_sandbox, hs_sandbox, tmp_path):  # noqa: F811
    """Salesforce installed first, HubSpot added to its organization, both fully synced: (org, sf, hs)."""
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(Path(sf_sandbox.ca_path).read_bytes() + Path(hs_sandbox.ca_path).read_bytes())
    rt.config.CA_BUNDLE = str(bundle)
    salesforce = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as session:
        organization = session.get(Connection, salesforce).organization_id
    hubspot = connect_hubspot(rt, hs_sandbox, organization_id=organization).connection_id
    for connection in (salesforce, hubspot):
        assert jobs.sync_connection(connection, "full", then_score=False)["status"] == "completed"
    return organization, salesforce, hubspot


@pytest.fixture
def store(make_runtime, db_url, sf_sandbox, hs_sandbox, tmp_path):  # noqa: F811
    rt = make_runtime(db_url, sf_sandbox, **hubspot_settings(hs_sandbox))
    return rt, *one_organization(rt, sf_sandbox, hs_sandbox, tmp_path)


def _totals(session, organization: int, owners) -> dict[str, int]:
    table = funnel(session, organization, owners, parse_period(PERIOD), AS_OF, "source", owner_names(session, organization))
    return {key: table.totals[key] for key in ("leads", "converted", "opportunities", "won")}


def _page(app, organization: int, connection: int, user: str, role: str, period: str = PERIOD) -> str:
    token = mint_manager_token(app.secret_key, organization, connection, user, role)
    answer = app.test_client().get(f"/embed/manager/funnel?pt={token}&period={period}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _chart(html: str) -> dict[str, str]:
    """The funnel chart's bars as the page labels them (label → value)."""
    chart = re.search(r'<svg[^>]*id="chart-funnel".*?</svg>', html, re.S)
    return dict(re.findall(r"<title>([^<:]+): ([^<]+)</title>", chart.group(0))) if chart else {}


def test_the_funnel_counts_leads_conversions_opportunities_and_wins_from_both_crms(store):
    rt, organization, salesforce, hubspot = store
    expected = expected_funnel(PERIOD)
    assert expected["leads"] > 0 and expected["opportunities"] > 0
    with rt.sessions() as session:
        # The whole organization counts both CRMs' copies of the seed; each CRM alone counts it once.
        assert _totals(session, organization, None) == {k: 2 * v for k, v in expected.items()}
        whole = funnel(session, organization, None, parse_period(PERIOD), AS_OF, "source", {}).totals
        # Calendar days: an olist closed deal is converted, made an opportunity and won on one day.
        assert whole["days_to_convert"] == pytest.approx(expected_days_to_convert(PERIOD))
        assert (whole["days_to_opportunity"], whole["days_to_win"]) == (0.0, 0.0)
        for connection in (salesforce, hubspot):
            people = frozenset(session.scalars(select(User.remote_id).where(User.connection_id == connection)))
            assert _totals(session, organization, people) == expected, connection
            # Each converted lead points at its won opportunity, its account and its contact, all in the store.
            opportunities = {o.remote_id: o for o in session.scalars(
                select(Opportunity).where(Opportunity.connection_id == connection))}
            accounts = set(session.scalars(select(Account.remote_id).where(Account.connection_id == connection)))
            contacts = {c.remote_id: c for c in session.scalars(
                select(Contact).where(Contact.connection_id == connection))}
            converted = session.scalars(select(Lead).where(Lead.connection_id == connection,
                                                           Lead.is_converted.is_(True))).all()
            assert len(converted) == 46
            for lead in converted:
                won = opportunities[lead.converted_opportunity_remote_id]
                assert won.is_won and won.owner_remote_id == lead.owner_remote_id
                assert won.account_remote_id == lead.converted_account_remote_id in accounts
                assert contacts[lead.converted_contact_remote_id].account_remote_id == lead.converted_account_remote_id
        # A manager's team, by name, has the same funnel in both CRMs (HubSpot: the team's first manager).
        users = session.scalars(select(User).where(User.organization_id == organization)).all()
        by_name = {(u.connection_id, u.name): u.remote_id for u in users}
        teams = {}
        for connection in (salesforce, hubspot):
            for (conn, name), remote_id in by_name.items():
                if conn == connection and viewer_role(session, organization, remote_id) == "manager":
                    subject = subject_for(session, Viewer(organization, remote_id, "manager"))
                    teams[connection, name] = subject.owners if subject.kind == "team" else None
        led = [name for (conn, name), owners in teams.items() if conn == hubspot and owners]
        assert len(led) == 3
        for name in led:
            assert _totals(session, organization, teams[hubspot, name]) == \
                _totals(session, organization, teams[salesforce, name]) != {k: 0 for k in expected}, name
        alone = next(name for (conn, name), owners in teams.items() if conn == hubspot and not owners)

    # What the admin and the managers see on the panel.
    app = web.create_app(rt.config)
    admin = by_name[salesforce, "Alex Admin"]
    bars = _chart(_page(app, organization, salesforce, admin, "admin"))
    assert bars == {"Leads": f"{2 * expected['leads']:,}", "Converted": f"{2 * expected['converted']:,}",
                    "Opportunities": f"{2 * expected['opportunities']:,}", "Won": f"{2 * expected['won']:,}"}
    # A manager who leads a team sees it, counted: no words about an empty team.
    html = _page(app, organization, hubspot, by_name[hubspot, led[0]], "manager")
    assert f"Funnel: {led[0]}&#39;s team" in html and "lists nobody" not in html
    assert _chart(html)["Opportunities"] != "0"
    # A HubSpot manager whom HubSpot gives nobody to lead is told so in words, in every period, not shown zeros.
    for period in ("2016-Q4", PERIOD, "2017-Q4"):
        html = _page(app, organization, hubspot, by_name[hubspot, alone], "manager", period)
        assert "HubSpot lists nobody who reports to you" in html and "A HubSpot admin sees the whole organization" in html
        assert re.search(r"Your team, (Central|East|West), is on (Cara Losch|Celia Rouche|Dustin Brinkmann)&#39;s panel",
                         html)
        assert _chart(html) == {} and "Nothing to show for this period." in html
