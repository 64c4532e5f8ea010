"""The `forecast` command group through click's runner, and through a Flask app as `flask forecast`."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from flask import Flask

from scoring.forecast.cli import forecast_group
from sync import runtime as runtime_module
from sync.runtime import Runtime
from tests.conftest import make_config
from tests.forecast_fixtures import copy_store, maven_store


@pytest.fixture(scope="module")
def maven(tmp_path_factory):
    path = tmp_path_factory.mktemp("maven-cli") / "store.db"
    sessions, organization_id = maven_store(path)
    return sessions, organization_id, path


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_forecast_json_for_the_organization_and_its_teams(maven):
    sessions, org, _ = maven
    runner = CliRunner()
    result = runner.invoke(forecast_group, ["--as-of", "2017-09-01", "--period", "2017-Q3", "--json"],
                           obj={"sessions": sessions})
    assert result.exit_code == 0, result.output
    data = last_json(result.output)
    assert {"period", "as_of", "p10", "p50", "p90"} <= set(data)
    assert (data["period"], data["as_of"]) == ("2017-Q3", "2017-09-01")
    assert data["p10"] <= data["p50"] <= data["p90"]
    assert "groups" not in data
    assert "P10" in result.output and "pessimistic" in result.output

    result = runner.invoke(forecast_group, ["--as-of", "2017-09-01", "--period", "2017-09", "--by", "rep",
                                            "--organization", str(org), "--json"], obj={"sessions": sessions})
    assert result.exit_code == 0, result.output
    groups = last_json(result.output)["groups"]
    assert len(groups) > 20
    assert all({"key", "name", "p10", "p50", "p90"} <= set(group) for group in groups)


def test_what_if_options_are_shown_beside_the_base(maven):
    sessions, _, _ = maven
    result = CliRunner().invoke(forecast_group, [
        "--as-of", "2017-09-01", "--period", "2017-09", "--by", "team", "--win-rate", "1.1",
        "--slip-days", "30", "--new-pipeline", "50000", "--json"], obj={"sessions": sessions})
    assert result.exit_code == 0, result.output
    data = last_json(result.output)
    what_if = data["what_if"]
    assert (what_if["win_rate"], what_if["slip_days"], what_if["new_pipeline"]) == (1.1, 30, 50000)
    assert what_if["p50"] != data["p50"] and len(what_if["groups"]) == 3
    assert "what-if win_rate=1.1 slip_days=30 new_pipeline=50000" in result.output


def test_bad_input_is_explained(maven):
    sessions, _, _ = maven
    runner = CliRunner()
    result = runner.invoke(forecast_group, ["--as-of", "2017-09-01", "--period", "Q4"], obj={"sessions": sessions})
    assert result.exit_code != 0 and "2017-Q4" in result.output
    result = runner.invoke(forecast_group, ["--period", "2017-09"], obj={"sessions": sessions})
    assert result.exit_code != 0 and "--as-of" in result.output
    result = runner.invoke(forecast_group, ["--as-of", "2017-09-01", "--period", "2017-09", "--organization", "9"],
                           obj={"sessions": sessions})
    assert result.exit_code != 0 and "no organization 9" in result.output


def test_backtest_json_names_the_winner(maven):
    sessions, _, _ = maven
    result = CliRunner().invoke(forecast_group, ["backtest", "--from", "2017-08-01", "--to", "2017-09-30", "--json"],
                                obj={"sessions": sessions})
    assert result.exit_code == 0, result.output
    data = last_json(result.output)
    assert [origin["period"] for origin in data["origins"]] == ["2017-08", "2017-09"]
    assert set(data["wape"]) == {"pipewise", "naive", "seasonal_naive", "stage_weighted"}
    assert data["winner"] in data["wape"] and data["verdict"] in result.output
    assert "a quarter earlier" in data["seasonal_rule"]


def test_flask_forecast_uses_the_installed_runtime(maven, tmp_path, redis_url):
    """Registered on an app as `flask forecast`, both the group and `backtest` find the runtime's store."""
    _, _, path = maven
    copy_store(path, tmp_path / "runtime.db")
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'runtime.db'}", redis_url)
    runtime_module.use(Runtime.from_config(config))
    try:
        app = Flask(__name__)
        app.cli.add_command(forecast_group)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["forecast", "--as-of", "2017-09-15", "--period", "2017-09", "--save", "--json"])
        assert result.exit_code == 0, result.output
        assert last_json(result.output)["as_of"] == "2017-09-15"
        result = runner.invoke(args=["forecast", "backtest", "--from", "2017-09-01", "--to", "2017-09-01", "--json"])
        assert result.exit_code == 0, result.output
        assert len(last_json(result.output)["origins"]) == 1
        result = runner.invoke(args=["forecast", "accuracy", "--today", "2017-10-01", "--json"])
        assert result.exit_code == 0, result.output
        assert last_json(result.output)["accuracy"][0]["period"] == "2017-09"
    finally:
        runtime_module.current().engine.dispose()
        runtime_module.use(None)
