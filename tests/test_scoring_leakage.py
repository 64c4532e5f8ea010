"""The leakage guard finds columns filled after the outcome or giving it away, whatever their names."""
import numpy as np
import pandas as pd

from scoring.leakage import find_leaks
from scoring.tabular import infer_kinds


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
    assert "'Closed - Converted' occurs only in won records" in leaks["col_g"]
    assert "filled only for lost records" in leaks["col_h"]
    assert "single-column AUC" in leaks["col_i"]


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
