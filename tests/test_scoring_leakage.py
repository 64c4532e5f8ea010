"""The leakage guard finds columns filled after the outcome, giving it away or recording a judgement."""
import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scoring.cli import model as model_group
from scoring.records.leakage import find_leaks, guard
from scoring.records.tabular import infer_kinds
from tests.leak_fixtures import HONEST, LEAKS, constructed_leads


def deals(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    start = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    frame = pd.DataFrame({
        # honest columns, mildly related to the outcome
        "col_a": rng.normal(0, 1, n) + 0.5 * y,
        "col_b": rng.choice(["north", "south", "east"], n),
        "col_c": start.strftime("%Y-%m-%d"),
        "col_d": [f"acct{i}" for i in rng.integers(0, 80, n)],
        # a value zeroed for lost deals (Maven's close_value)
        "col_e": np.where(y == 1, rng.integers(500, 5000, n), 0).astype(float),
        # a date filled only once the deal was won
        "col_f": np.where(y == 1, (start + pd.Timedelta(days=40)).strftime("%Y-%m-%d"), None),
        # a status that states the result for most records
        "col_g": np.where(y == 1, "Closed - Converted", rng.choice(
            ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"], n)),
        # a reason filled only for lost deals
        "col_h": np.where(y == 0, rng.choice(["price", "timing", "competitor"], n), None),
        # a score another tool derived from the outcome, with a little noise
        "col_i": y * 10 + rng.normal(0, 1, n),
    })
    return frame, y


def test_leaking_columns_are_found_with_a_reason_each():
    frame, y = deals()
    leaks = find_leaks(frame, y, infer_kinds(frame), names=("lost", "won"))

    assert set(leaks) == {"col_e", "col_f", "col_g", "col_h", "col_i"}
    assert "is 0 for almost exactly the lost records" in leaks["col_e"]
    assert "filled only for won records" in leaks["col_f"]
    assert "'Closed - Converted' (100% won" in leaks["col_g"]  # named by value
    assert "filled only for lost records" in leaks["col_h"]
    assert "cross-validated AUC" in leaks["col_i"]


def test_honest_columns_survive_even_when_predictive():
    frame, y = deals(seed=3)
    frame = frame[["col_a", "col_b", "col_c", "col_d"]].copy()
    frame["col_j"] = np.where(y == 1, np.random.default_rng(1).normal(1.0, 1, len(y)), 0.0)
    frame.loc[np.random.default_rng(2).random(len(y)) < 0.5, "col_j"] = 0.0  # zero is common in both classes
    assert find_leaks(frame, y, infer_kinds(frame)) == {}


def test_unique_identifiers_are_not_mistaken_for_a_pattern():
    frame, y = deals(seed=4)
    frame = pd.DataFrame({"record": [f"r{i}" for i in range(len(y))], "col_a": frame["col_a"]})
    assert find_leaks(frame, y, infer_kinds(frame)) == {}


def test_a_column_restating_exposure_is_judged_among_records_of_the_same_age():
    rng = np.random.default_rng(5)
    n = 1500
    age = rng.integers(0, 200, n).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp((age - 40) / 4))).astype(int)  # young records convert more
    frame = pd.DataFrame({"age_days": age, "days_since_touch": age, "spend": rng.normal(0, 1, n) + y})
    kinds = infer_kinds(frame)

    plain = guard(frame, y, kinds, measure=False)
    assert {f.column for f in plain.findings} == {"age_days", "days_since_touch"}  # both look telling alone

    exposed = guard(frame, y, kinds, exposure=("age_days",), measure=False)
    assert exposed.findings == []  # the same age says nothing more about the outcome
    assert "moves with age_days" in exposed.notes["days_since_touch"]
    assert "exposure" in exposed.notes["age_days"]


def _evaluate(path, *args) -> tuple[str, dict]:
    result = CliRunner().invoke(model_group, ["evaluate", "--csv", str(path), "--target", "Converted",
                                              "--id", "Prospect ID", *args, "--json"])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(result.output.strip().splitlines()[-1])


def test_every_kind_of_leak_in_a_constructed_export_is_excluded_and_explained(tmp_path):
    constructed_leads().to_csv(tmp_path / "leads.csv", index=False)

    output, result = _evaluate(tmp_path / "leads.csv")

    findings = {f["column"]: f for f in result["findings"]}
    assert {column: findings[column]["test"] for column in LEAKS} == LEAKS
    assert set(result["excluded"]) == set(LEAKS)
    # the status column is named by the values that give the outcome away
    assert "'Closed by Horizzon' (100% positive" in result["excluded_reasons"]["Tags"]
    assert "person's judgement recorded after contact" in result["excluded_reasons"]["Lead Quality"]
    assert "what happened last" in result["excluded_reasons"]["Last Notable Activity"]
    assert "rewritten when a record becomes positive" in result["excluded_reasons"]["Deal Amount"]
    for column in LEAKS:  # each with what it is worth to a model
        assert findings[column]["auc_with"] > findings[column]["auc_without"], column
        assert "AUC with it" in result["excluded_reasons"][column]
    assert set(HONEST) == set(result["features"])  # honest columns all stay in
    assert result["open_rows"] == 400 and result["auc"] < 0.9
    assert "Columns excluded by the leakage guard:" in output and "Tags: its values name the outcome" in output


def test_keep_overrides_the_guard_and_the_report_records_it(tmp_path):
    constructed_leads().to_csv(tmp_path / "leads.csv", index=False)

    output, result = _evaluate(tmp_path / "leads.csv", "--keep", "Lead Quality")

    assert "Lead Quality" in result["features"] and "Lead Quality" not in result["excluded"]
    [override] = result["overrides"]
    assert override["column"] == "Lead Quality" and override["kept_by"] == "--keep"
    assert "judgement" in override["guard_found"] and override["auc_with"] > override["auc_without"]
    assert "Columns kept on your word (--keep), against the guard:" in output

    result = CliRunner().invoke(model_group, ["evaluate", "--csv", str(tmp_path / "leads.csv"), "--target",
                                              "Converted", "--keep", "Lead Qualty"])
    assert result.exit_code != 0 and "--keep names 'Lead Qualty'" in result.output


def test_a_column_that_leaks_in_one_source_is_left_out_of_the_mix():
    # Two CRMs in one organization: one zeroes lost deals' amounts, the other keeps the list price.
    frame, y = deals(n=1200, seed=5)
    rng = np.random.default_rng(6)
    second = np.arange(len(y)) >= len(y) // 2
    amount = rng.integers(500, 5000, len(y)).astype(float)
    amount[~second & (y == 0)] = 0.0
    amount[second & (rng.random(len(y)) < 0.45)] = 0.0  # honest zeros in the second CRM, either class
    mixed = pd.DataFrame({"col_a": frame["col_a"], "amount": amount})
    sources = np.where(second, "HubSpot (connection 2)", "Salesforce (connection 1)")

    assert "amount" not in find_leaks(mixed, y, infer_kinds(mixed))  # diluted: the mix alone hides it
    report = guard(mixed, y, infer_kinds(mixed), ("lost", "won"), sources=sources, measure=False)
    assert set(report.excluded) == {"amount"}
    assert "Salesforce (connection 1)'s records" in next(f.reason for f in report.findings if f.column == "amount")
