"""Forecasts on maven-crm: ranges, groups, scenarios, as-of discipline, snapshots and accuracy."""
from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import sessionmaker

from scoring.deals_as_of import load_deals, parse_period
from scoring.forecast.revenue import WhatIf, forecast
from scoring.forecast.snapshots import accuracy, save_snapshots
from sync.store import Base, Connection, Opportunity, OpportunityStageChange, Organization
from sync.store.db import make_engine
from tests.forecast_fixtures import copy_store, maven_store, synced_columns

AS_OF = date(2017, 8, 15)
SIMS = 1000


@pytest.fixture(scope="module")
def maven(tmp_path_factory):
    """maven-crm loaded once per module: (session factory, organization id, database path)."""
    path = tmp_path_factory.mktemp("maven") / "store.db"
    sessions, organization_id = maven_store(path)
    return sessions, organization_id, path


def test_periods_parse_months_and_quarters():
    assert parse_period("2017-10").start == date(2017, 10, 1)
    assert parse_period("2017-10").end == date(2017, 11, 1)
    quarter = parse_period("2017-q4")
    assert (quarter.label, quarter.start, quarter.end) == ("2017-Q4", date(2017, 10, 1), date(2018, 1, 1))
    assert parse_period("2017-Q1").previous().label == "2016-Q4"
    with pytest.raises(ValueError, match="2017-10"):
        parse_period("October")


def test_range_is_ordered_and_groups_add_up_to_the_organization(maven):
    sessions, org, _ = maven
    with sessions() as session:
        whole = forecast(session, org, AS_OF, "2017-Q3", simulations=SIMS)
        by_team = forecast(session, org, AS_OF, "2017-Q3", by="team", simulations=SIMS)
        by_rep = forecast(session, org, AS_OF, "2017-Q3", by="rep", simulations=SIMS)
    for result in (whole, by_team, by_rep):
        assert 0 < result.total.p10 <= result.total.p50 <= result.total.p90
        for group in result.groups:
            assert group.p10 <= group.p50 <= group.p90
    # Already won revenue (Jul 1 – Aug 14) is certain, so the whole range sits above it.
    assert whole.total.won_to_date > 0 and whole.total.p10 >= whole.total.won_to_date
    assert {group.key for group in by_team.groups} == {"Central", "East", "West"}
    assert len(by_rep.groups) > 20
    for grouped in (by_team, by_rep):
        assert sum(group.expected for group in grouped.groups) == pytest.approx(whole.total.expected, rel=1e-9)
        assert sum(group.won_to_date for group in grouped.groups) == pytest.approx(whole.total.won_to_date)
        assert sum(group.open_deals for group in grouped.groups) == whole.total.open_deals
        assert grouped.total.p50 == pytest.approx(whole.total.p50, rel=0.02)


def test_scenarios_and_what_if_are_ordered(maven):
    sessions, org, _ = maven
    with sessions() as session:
        base = forecast(session, org, date(2017, 9, 1), "2017-09", simulations=SIMS)
        better = forecast(session, org, date(2017, 9, 1), "2017-09", simulations=SIMS,
                          what_if=WhatIf(win_rate=1.2, new_pipeline=50_000))
        worse = forecast(session, org, date(2017, 9, 1), "2017-09", simulations=SIMS,
                         what_if=WhatIf(win_rate=0.8, slip_days=30))
    scenarios = base.scenarios
    assert scenarios["pessimistic"] <= scenarios["realistic"] <= scenarios["optimistic"]
    assert better.total.expected == pytest.approx(base.total.expected)  # the base stays beside it
    assert worse.adjusted.total.expected < base.total.expected < better.adjusted.total.expected
    # Slipping every open deal past the month's end leaves only deals not yet created.
    assert worse.adjusted.total.open_expected == 0
    assert better.to_dict()["what_if"]["win_rate"] == 1.2


def test_nothing_after_the_as_of_date_changes_the_forecast(maven, tmp_path):
    _, org, path = maven
    sessions = copy_store(path, tmp_path / "changed.db")
    moment = datetime(AS_OF.year, AS_OF.month, AS_OF.day)
    with sessions() as session:
        before = forecast(session, org, AS_OF, "2017-09", by="team", simulations=SIMS).to_dict()
        deals_before = load_deals(session, org, AS_OF)
        later = select(Opportunity.remote_id).where(Opportunity.remote_modified_at >= moment)
        # Deals that closed after the date: flip their outcome, amount and close date…
        session.execute(update(Opportunity).where(Opportunity.remote_id.in_(later))
                        .values(is_won=True, is_closed=True, stage="Closed Won", amount=99_999,
                                close_date=date(2017, 8, 20)))
        session.execute(update(OpportunityStageChange)
                        .where(OpportunityStageChange.changed_at >= moment).values(amount=1.0))
        # …and add a deal created after it, won at once.
        session.add(Opportunity(organization_id=org, connection_id=1, remote_id="LATE0001",
                                remote_data={}, content_hash="x", stage="Closed Won", amount=10**6,
                                is_won=True, is_closed=True, close_date=date(2017, 8, 16),
                                remote_created_at=moment, remote_modified_at=moment))
        session.commit()
        after = forecast(session, org, AS_OF, "2017-09", by="team", simulations=SIMS).to_dict()
        deals_after = load_deals(session, org, AS_OF)
    assert after == before
    assert deals_after.remote_ids == deals_before.remote_ids
    assert (deals_after.amount == deals_before.amount).all()
    # Deals that closed after the date were open on it.
    assert deals_before.open.sum() > 1000


def test_deals_closed_later_are_open_as_of_the_date(maven):
    sessions, org, _ = maven
    with sessions() as session:
        deals = load_deals(session, org, date(2017, 6, 1))
        closed_in_june = set(session.scalars(select(Opportunity.remote_id).where(
            Opportunity.close_date >= date(2017, 6, 1), Opportunity.remote_created_at < datetime(2017, 6, 1))))
    index = {remote_id: i for i, remote_id in enumerate(deals.remote_ids)}
    assert closed_in_june and all(deals.open[index[remote_id]] for remote_id in closed_in_june)
    assert max(deals.created) < date(2017, 6, 1).toordinal()
    assert max(deals.closed) < date(2017, 6, 1).toordinal()


def test_a_deal_without_an_amount_takes_the_typical_size_only_while_open(maven, tmp_path):
    """An open deal's missing amount is not known yet; a won deal that never had one booked nothing
    and is left out of the revenue history."""
    _, org, path = maven
    sessions = copy_store(path, tmp_path / "amounts.db")
    as_of = date(2017, 6, 1)
    with sessions() as session:
        before = load_deals(session, org, as_of)
        index = {remote_id: i for i, remote_id in enumerate(before.remote_ids)}
        won = next(r for r, i in index.items() if before.won[i] and not before.open[i] and before.amount[i] > 0)
        still_open = next(r for r, i in index.items() if before.open[i] and before.amount[i] > 0)
        session.execute(update(Opportunity).where(Opportunity.remote_id.in_((won, still_open)))
                        .values(amount=None, deal_amount=None))
        session.execute(update(OpportunityStageChange)
                        .where(OpportunityStageChange.opportunity_remote_id.in_((won, still_open)))
                        .values(amount=None))
        session.commit()
        after = load_deals(session, org, as_of)
    assert won not in after.remote_ids and len(after.remote_ids) == len(before.remote_ids) - 1
    assert len(after.amount) == len(after.created) == len(after.stages) == len(after.remote_ids)
    known = np.array([a for r, a in zip(before.remote_ids, before.amount) if r not in (won, still_open)])
    assert after.amount[after.remote_ids.index(still_open)] > 0.1 * float(np.median(known))


def test_snapshots_track_accuracy_once_the_period_ends(maven, tmp_path):
    _, org, path = maven
    sessions = copy_store(path, tmp_path / "snapshots.db")
    with sessions() as session:
        for day in (date(2017, 8, 1), date(2017, 8, 15)):
            save_snapshots(session, forecast(session, org, day, "2017-08", by="team", simulations=SIMS,
                                             what_if=WhatIf(win_rate=1.1)))
        save_snapshots(session, forecast(session, org, date(2017, 9, 15), "2017-10", simulations=SIMS))
        session.commit()
        results = accuracy(session, org, today=date(2017, 10, 1))
    by_scope = {(item.period, item.scope): item for item in results}
    # October has not ended on Oct 1, so only August is scored; what-if rows are not scored.
    assert set(by_scope) == {("2017-08", "org"), ("2017-08", "team")}
    org_accuracy = by_scope["2017-08", "org"]
    assert org_accuracy.snapshots == 2 and by_scope["2017-08", "team"].snapshots == 6
    actual = 1_050_059.0
    assert org_accuracy.mae >= abs(org_accuracy.bias) > 0
    assert org_accuracy.mape == pytest.approx(org_accuracy.mae / actual)


def test_postgresql_and_sqlite_give_the_same_forecast(maven, db_url):
    sessions, org, _ = maven
    other_sessions, other_org = maven_store(db_url)
    with sessions() as session, other_sessions() as other:
        here = forecast(session, org, AS_OF, "2017-09", by="rep", simulations=SIMS).to_dict()
        there = forecast(other, other_org, AS_OF, "2017-09", by="rep", simulations=SIMS).to_dict()
    here.pop("organization_id"), there.pop("organization_id")
    assert there == here


def test_stage_amount_and_close_date_are_rebuilt_from_history(tmp_path):
    """A deal's stage, amount and close date as of a date come from its history before that date."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tiny.db'}")
    Base.metadata.create_all(engine)
    day = lambda month, number: datetime(2017, month, number)  # noqa: E731
    with sessionmaker(engine)() as session:
        session.add(Organization(id=1, name="Tiny"))
        session.flush()
        session.add(Connection(id=1, organization_id=1, provider="salesforce", remote_org_id="00Dtiny",
                               instance_url="https://tiny.test", token_ciphertext=b"x"))
        session.flush()
        session.execute(insert(Opportunity), [
            {**synced_columns("A", {}, 1, 1, day(1, 1), day(3, 10)), "stage": "Closed Won", "amount": 140.0,
             "close_date": date(2017, 3, 10), "is_closed": True, "is_won": True, "owner_remote_id": "U1"},
            # Known as it stands since January 20, with no history rows.
            {**synced_columns("B", {}, 1, 1, day(1, 5), day(1, 20)), "stage": "Closed Lost", "amount": 90.0,
             "close_date": None, "is_closed": True, "is_won": False},
            {**synced_columns("C", {}, 1, 1, day(2, 10), day(2, 10)), "stage": "Prospecting", "amount": 70.0}])
        session.execute(insert(OpportunityStageChange), [
            {**synced_columns(f"A-{n}", {}, 1, 1, at, at), "opportunity_remote_id": "A", "stage": stage,
             "amount": amount, "close_date": close, "changed_at": at}
            for n, (at, stage, amount, close) in enumerate([
                (day(1, 1), "Prospecting", 100.0, None),
                (day(2, 1), "Negotiation", 150.0, date(2017, 3, 15)),
                (day(3, 10), "Closed Won", 140.0, date(2017, 3, 10))])])
        session.commit()
        february = load_deals(session, 1, date(2017, 2, 1))
        march = load_deals(session, 1, date(2017, 3, 1))
        april = load_deals(session, 1, date(2017, 4, 1))
    assert february.remote_ids == ["A", "B"]  # C was created later
    assert (february.stages[0], february.amount[0], bool(february.open[0])) == ("Prospecting", 100.0, True)
    assert february.closed[1] == date(2017, 1, 20).toordinal() and not february.won[1]
    assert (march.stages[0], march.amount[0], march.close_date[0]) == (
        "Negotiation", 150.0, date(2017, 3, 15).toordinal())
    assert march.open[0] and march.stage_reached[0] == {"Prospecting", "Negotiation"}
    assert (april.won[0], april.amount[0], april.closed[0]) == (True, 140.0, date(2017, 3, 10).toordinal())



def test_an_organization_without_history_gets_a_zero_forecast(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    Base.metadata.create_all(engine)
    with sessionmaker(engine)() as session:
        session.add(Organization(id=1, name="New"))
        session.commit()
        result = forecast(session, 1, date(2017, 10, 1), "2017-Q4", by="team", simulations=SIMS,
                          what_if=WhatIf(win_rate=1.2, new_pipeline=10_000))
    data = result.to_dict()
    assert (data["p10"], data["p50"], data["p90"], data["expected"]) == (0.0, 0.0, 0.0, 0.0)
    assert data["model"]["capacity"].startswith("no analog window")
    assert [group["key"] for group in data["groups"]] == ["No team"]


def test_ranges_come_from_earlier_windows_and_widen_with_what_is_still_open(maven):
    sessions, org, _ = maven
    with sessions() as session:
        quarter = forecast(session, org, date(2017, 9, 30), "2017-Q4", simulations=SIMS)
        mid = forecast(session, org, AS_OF, "2017-Q3", simulations=SIMS)
        plain = forecast(session, org, date(2017, 9, 30), "2017-Q4", simulations=SIMS, calibrated=False)
    ranges = quarter.model["ranges"]
    assert ranges["method"] == "rolling-origin" and len(ranges["analogs"]) == 3
    # every analog window had ended, and was forecast from before it, by the as-of date
    assert all(a["to"] <= "2017-09-30" and a["as_of"] < a["from"] for a in ranges["analogs"])
    assert str(ranges["capacity_weight"]) in ranges["wape_by_weight"]

    def width(result):
        return (result.total.p90 - result.total.p10) / result.total.expected

    # the simulation alone is overconfident; the calibrated range is much wider
    assert width(quarter) > 2 * width(plain)
    # the range spans the still-open part of the expectation times the spread of past errors: half-way
    # through a quarter the revenue already won is certain, and only the rest is uncertain
    low, _, high = mid.model["ranges"]["error_quantiles"]
    still_open = mid.total.expected - mid.total.won_to_date
    assert mid.total.won_to_date > 0 and mid.total.p10 >= mid.total.won_to_date
    assert mid.total.p90 - mid.total.p10 == pytest.approx(still_open * (high - low), rel=1e-3)
