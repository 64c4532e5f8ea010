"""The monthly backtest on maven-crm, 2017-06 to 2017-09: Pipewise against three baselines."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select, update

from scoring.forecast.backtest import METHODS, backtest, month_starts
from sync.store import Opportunity, OpportunityStageChange
from tests.forecast_fixtures import copy_store, maven_store

ACTUALS = {"2017-06": 1_338_466.0, "2017-07": 696_932.0, "2017-08": 1_050_059.0, "2017-09": 1_235_264.0}


@pytest.fixture(scope="module")
def maven(tmp_path_factory):
    """maven-crm loaded once: (session factory, organization id, database path)."""
    path = tmp_path_factory.mktemp("maven-backtest") / "store.db"
    return (*maven_store(path), path)


@pytest.fixture(scope="module")
def report(maven):
    sessions, organization_id, _ = maven
    with sessions() as session:
        return backtest(session, organization_id, date(2017, 6, 1), date(2017, 9, 30), simulations=1000)


def test_origins_are_the_first_of_each_month():
    assert month_starts(date(2017, 6, 1), date(2017, 9, 30)) == [
        date(2017, 6, 1), date(2017, 7, 1), date(2017, 8, 1), date(2017, 9, 1)]
    assert month_starts(date(2017, 6, 2), date(2017, 8, 1)) == [date(2017, 7, 1), date(2017, 8, 1)]


def test_baselines_are_computed_from_what_was_known(report):
    assert {origin.period: origin.actual for origin in report.origins} == ACTUALS
    by_period = {origin.period: origin.forecasts for origin in report.origins}
    # Naive: last month's won revenue; seasonal naive: the same month a quarter earlier (the
    # history starts in March 2017, so a year earlier is not on record).
    assert by_period["2017-07"]["naive"] == ACTUALS["2017-06"]
    assert by_period["2017-09"]["seasonal_naive"] == ACTUALS["2017-06"]
    assert by_period["2017-06"]["seasonal_naive"] == pytest.approx(1_134_672.0)
    assert all(origin.seasonal_source.endswith("(a quarter earlier)") for origin in report.origins)
    assert all(forecasts["stage_weighted"] > 0 for forecasts in by_period.values())


def test_pipewise_beats_every_baseline_with_choices_fixed_before_each_month(report):
    wape = {method: report.wape(method) for method in METHODS}
    # Measured with the held-out procedure: Pipewise 3.2%, seasonal naive 8.2%, naive 34.5%,
    # stage-weighted pipeline 38.1%.
    assert wape["pipewise"] < 0.05
    assert wape["seasonal_naive"] == pytest.approx(0.0825, abs=0.001)
    assert all(wape["pipewise"] < wape[method] for method in METHODS[1:])
    assert report.pipewise_is_best and report.winner == "pipewise"
    assert report.verdict().startswith("Pipewise won: WAPE 3.")
    # each month calibrated on the months that had ended by its first day (closes start in March)
    assert [origin.calibrated_on for origin in report.origins] == [2, 3, 4, 5]
    assert report.coverage >= 0.75 and "of 4 months" in report.coverage_sentence()
    assert all(origin.p10 < origin.p90 for origin in report.origins)


def test_no_figure_is_tuned_on_the_month_it_reports(maven, tmp_path):
    """September's forecast, range and weight stay the same whatever September turned out to be."""
    sessions, organization_id, path = maven
    with sessions() as session:
        before = backtest(session, organization_id, date(2017, 9, 1), date(2017, 9, 30), simulations=200)
    with copy_store(path, tmp_path / "changed.db")() as session:
        september = select(Opportunity.remote_id).where(Opportunity.close_date >= date(2017, 9, 1))
        session.execute(update(Opportunity).where(Opportunity.remote_id.in_(september))
                        .values(amount=Opportunity.amount * 3))
        session.execute(update(OpportunityStageChange).where(OpportunityStageChange.changed_at >= datetime(2017, 9, 1))
                        .values(amount=OpportunityStageChange.amount * 3))
        session.commit()
        after = backtest(session, organization_id, date(2017, 9, 1), date(2017, 9, 30), simulations=200)
    [b], [a] = before.origins, after.origins
    assert a.actual > 2 * b.actual  # September itself changed…
    # …and nothing Pipewise reported for it moved
    assert (a.forecasts["pipewise"], a.p10, a.p90, a.capacity_weight) == (
        b.forecasts["pipewise"], b.p10, b.p90, b.capacity_weight)


def test_the_report_says_when_a_baseline_wins(maven):
    """April 2017, a month after closes start: the stage-weighted pipeline wins, and the report says so."""
    sessions, organization_id, _ = maven
    with sessions() as session:
        early = backtest(session, organization_id, date(2017, 4, 1), date(2017, 4, 30), simulations=200)
    ours, best = early.wape("pipewise"), early.wape("stage_weighted")
    assert not early.pipewise_is_best and early.winner == "stage_weighted" and best < ours
    assert early.verdict() == (f"Stage-weighted pipeline won with WAPE {best:.1%}; Pipewise missed it by "
                               f"{100 * (ours - best):.1f} percentage points (WAPE {ours:.1%}). "
                               "Use the stage-weighted pipeline figure for these months.")
    assert early.to_dict()["margin"] == pytest.approx(best - ours, abs=1e-4)
    assert [origin.calibrated_on for origin in early.origins] == [0]  # too early to calibrate


def test_a_method_that_produced_no_number_never_wins():
    from scoring.forecast.backtest import BacktestReport, Origin

    origins = [Origin(period=f"2017-0{m}", as_of=date(2017, m, 1), actual=100.0,
                      forecasts={"pipewise": float("nan"), "naive": 150.0, "seasonal_naive": 120.0,
                                 "stage_weighted": 90.0}, p10=0.0, p90=0.0, seasonal_source="")
               for m in (4, 5)]
    report = BacktestReport(origins)
    assert report.winner == "stage_weighted" and not report.pipewise_is_best
    assert "no figure" in report.verdict() and "nan" not in report.verdict()
