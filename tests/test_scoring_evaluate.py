"""`flask model evaluate`: any CSV through the production pipeline, and the measured targets on real data."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from connectors.sandbox_kit.settings import datasets_dir
from scoring.cli import model as model_group


def datasets() -> Path:
    """The seed data: the project's datasets/, or $PIPEWISE_DATASETS."""
    try:
        return datasets_dir()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def run_evaluate(*args) -> tuple[str, dict]:
    result = CliRunner().invoke(model_group, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def olist(tmp_path_factory) -> dict[str, Path]:
    """Olist leads as a CSV (converted: it became a closed deal), and again with the deal columns joined."""
    folder = datasets() / "olist-marketing-funnel"
    leads = pd.read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(folder / "olist_closed_deals_dataset.csv")
    leads["converted"] = leads["mql_id"].isin(deals["mql_id"]).astype(int)
    out = tmp_path_factory.mktemp("olist")
    leads.to_csv(out / "leads.csv", index=False)
    leads.merge(deals, on="mql_id", how="left").to_csv(out / "leads_with_deals.csv", index=False)
    return {"leads": out / "leads.csv", "leaky": out / "leads_with_deals.csv"}


def test_olist_lead_scoring_beats_the_published_baseline(olist):
    output, result = run_evaluate("--csv", str(olist["leads"]), "--target", "converted", "--id", "mql_id")

    assert result["auc"] >= 0.72
    assert result["brier"] <= 0.089
    assert result["brier"] < result["base_rate_brier"]
    assert result["top_decile_lift"] > 1.5
    assert result["excluded"] == []
    assert "ROC AUC" in output and "Calibration by decile" in output and "Model chosen" in output


def test_olist_closed_deal_columns_are_excluded_as_leaking(olist):
    output, result = run_evaluate("--csv", str(olist["leaky"]), "--target", "converted")

    for column in ("won_date", "business_segment", "lead_type", "seller_id", "sr_id", "sdr_id",
                   "declared_monthly_revenue"):
        assert column in result["excluded"], column
        assert "filled only for positive records" in result["excluded_reasons"][column]
    assert {"origin", "landing_page_id", "first_contact_date"} <= set(result["features"])
    assert result["auc"] < 0.9  # nothing that gives the answer away got through
    assert "won_date: filled only for positive records" in output


def test_maven_deal_model_is_calibrated_and_finds_timing(tmp_path):
    folder = datasets() / "maven-crm"
    pipeline = pd.read_csv(folder / "sales_pipeline.csv")
    closed = pipeline[pipeline["deal_stage"].isin(["Won", "Lost"])].copy()
    closed = closed.merge(pd.read_csv(folder / "accounts.csv"), on="account", how="left")
    closed = closed.merge(pd.read_csv(folder / "sales_teams.csv"), on="sales_agent", how="left")
    age = pd.to_datetime(closed["close_date"]) - pd.to_datetime(closed["engage_date"])
    closed["deal_age_days"] = age.dt.days
    closed.to_csv(tmp_path / "deals.csv", index=False)

    _, result = run_evaluate("--csv", str(tmp_path / "deals.csv"), "--target", "deal_stage", "--positive", "Won",
                             "--id", "opportunity_id")

    assert result["brier"] <= result["base_rate_brier"]
    assert "close_value" in result["excluded"]  # Lost deals have 0
    assert "is 0 for almost exactly the negative records" in result["excluded_reasons"]["close_value"]
    top = [row["feature"] for row in result["top_factors"][:3]]
    assert {"deal_age_days", "engage_date", "close_date"} & set(top), top
    predicted = [row["predicted"] for row in result["calibration"]]
    observed = [row["observed"] for row in result["calibration"]]
    assert abs(np.mean(predicted) - np.mean(observed)) < 0.03


def test_cli_json_shape_on_any_columns(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "Ticket Size": rng.lognormal(5, 1, n).round(2),
        "Region": rng.choice(["EMEA", "NA", "APAC"], n),
        "Opened": (pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")).astype(str),
        "Partner?": rng.choice(["Yes", "No"], n),
        "Comment": [" ".join(rng.choice(["call", "budget", "next", "week", "demo", "asked", "price", "team"], 4))
                    for _ in range(n)],
        "Result": rng.choice(["Success", "Fail"], n, p=[0.3, 0.7]),
    })
    frame.to_csv(tmp_path / "any.csv", index=False)

    output, result = run_evaluate("--csv", str(tmp_path / "any.csv"), "--target", "Result",
                                  "--positive", "success")

    for key in ("auc", "brier", "log_loss", "base_rate", "top_decile_lift", "model", "excluded",
                "excluded_reasons", "calibration", "n_train", "n_test"):
        assert key in result, key
    assert result["model"] in ("logistic_regression", "gradient_boosting")
    assert (result["n_train"], result["n_test"]) == (225, 75)
    assert result["features"] == {"Ticket Size": "numeric", "Region": "categorical", "Opened": "date",
                                  "Partner?": "boolean", "Comment": "text"}
    assert abs(result["base_rate"] - 0.3) < 0.1 and len(result["calibration"]) == 10
    assert result["split"] == "random: stratified 75% / 25%, random_state=0"

    _, by_time = run_evaluate("--csv", str(tmp_path / "any.csv"), "--target", "Result", "--positive", "success",
                              "--time-split")
    assert by_time["split"] == "time: earliest 75% / latest 25% by Opened"
    assert (by_time["n_train"], by_time["n_test"]) == (225, 75)


def test_cli_explains_a_target_it_cannot_read(tmp_path):
    pd.DataFrame({"x": range(40), "outcome": ["maybe", "never"] * 20}).to_csv(tmp_path / "bad.csv", index=False)
    bad = str(tmp_path / "bad.csv")
    result = CliRunner().invoke(model_group, ["evaluate", "--csv", bad, "--target", "outcome"])
    assert result.exit_code != 0
    assert "Pass --positive with the value that counts as a success" in result.output

    result = CliRunner().invoke(model_group, ["evaluate", "--csv", bad, "--target", "nope"])
    assert result.exit_code != 0 and "The file has no column 'nope'" in result.output
