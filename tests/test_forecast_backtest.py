"""The monthly backtest on maven-crm, 2017-06 to 2017-09: Pipewise against three baselines."""
from __future__ import annotations

from datetime import date

import pytest

from scoring import forecast_runrate
from scoring.backtest import METHODS, backtest, month_starts
from tests.forecast_fixtures import maven_store

ACTUALS = {"2017-06": 1_338_466.0, "2017-07": 696_932.0, "2017-08": 1_050_059.0, "2017-09": 1_235_264.0}


@pytest.fixture(scope="module")
def maven(tmp_path_factory):
    path = tmp_path_factory.mktemp("maven-backtest") / "store.db"
    return maven_store(path)


@pytest.fixture(scope="module")
def report(maven):
    sessions, organization_id = maven
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


def test_pipewise_beats_every_baseline(report):
    wape = {method: report.wape(method) for method in METHODS}
    # Measured: Pipewise 4.6%, seasonal naive 8.2%, naive 34.5%, stage-weighted pipeline 38.1%.
    assert wape["pipewise"] < 0.06
    assert wape["seasonal_naive"] == pytest.approx(0.0825, abs=0.001)
    assert all(wape["pipewise"] < wape[method] for method in METHODS[1:])
    assert report.pipewise_is_best and report.winner == "pipewise"
    assert report.verdict().startswith("Pipewise won: WAPE 4.")
    assert report.coverage >= 0.5


def test_the_report_says_by_how_much_the_timing_model_alone_misses(maven, monkeypatch):
    """Without the capacity anchor the timing model loses to seasonal naive, and the report says so."""
    monkeypatch.setattr(forecast_runrate, "CAPACITY_WEIGHT", 0.0)
    sessions, organization_id = maven
    with sessions() as session:
        alone = backtest(session, organization_id, date(2017, 6, 1), date(2017, 9, 30), simulations=200)
    ours, seasonal = alone.wape("pipewise"), alone.wape("seasonal_naive")
    assert seasonal < ours < 0.12
    assert not alone.pipewise_is_best and alone.winner == "seasonal_naive"
    assert alone.verdict() == (f"Seasonal naive won with WAPE {seasonal:.1%}; Pipewise missed it by "
                               f"{100 * (ours - seasonal):.1f} percentage points (WAPE {ours:.1%}).")
    assert alone.to_dict()["margin"] == pytest.approx(seasonal - ours, abs=1e-4)
