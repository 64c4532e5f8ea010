"""Faithful explanations: base + Σ contributions equals the model's calibrated log-odds, for every model type."""
import numpy as np
import pandas as pd
import pytest

from scoring.records.attribution import contributions
from scoring.records.deal_features import DEAL_KINDS
from scoring.records.explain import LIMITED_HISTORY, describe, reasons
from scoring.records.lead_features import LEAD_KINDS
from scoring.records.models import CANDIDATES, fit_candidate
from scoring.records.rules import RulesModel
from scoring.records.tabular import infer_kinds


def mixed_table(seed: int, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """A table with every column kind, missing values included, and an outcome that depends on several."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 365, n)
    frame = pd.DataFrame({
        "visits": rng.poisson(3, n).astype(float),
        "revenue": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(8, 2, n)),
        "channel": rng.choice(["web", "partner", "event", "cold call"], n),
        "page": [f"p{i}" for i in rng.integers(0, 60, n)],
        "signed_up": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "newsletter": rng.choice(["yes", "no", None], n),
        "notes": rng.choice(["asked for a demo of the product", "no reply yet from them", None], n),
    })
    logit = (-1 + 0.4 * frame["visits"] + (frame["channel"] == "partner") * 1.0 + days / 365
             + (frame["newsletter"] == "yes") * 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


@pytest.mark.parametrize("kind", sorted(CANDIDATES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trained_models_explanations_add_up_to_their_log_odds(kind, seed):
    frame, y = mixed_table(seed)
    model = fit_candidate(kind, frame, y, infer_kinds(frame))
    probe, _ = mixed_table(seed + 100, n=150)  # records the model has not seen, unseen pages included
    base, impacts = contributions(model, probe)

    assert list(impacts.columns) == list(frame.columns)  # grouped back to the original columns
    np.testing.assert_allclose(base + impacts.sum(axis=1).to_numpy(), model.log_odds(probe), atol=1e-6, rtol=0)
    # and the model's log-odds are the estimator's own prediction, calibrated
    raw = model.estimator.decision_function(model.encode(probe))
    np.testing.assert_allclose(model.log_odds(probe), model.platt_a * raw + model.platt_b, atol=1e-9)
    assert impacts.abs().to_numpy().max() > 0


def test_tree_attributions_follow_the_estimators_own_prediction_without_calibration():
    frame, y = mixed_table(7)
    model = fit_candidate("gradient_boosting", frame, y, infer_kinds(frame))
    model.platt_a, model.platt_b = 1.0, 0.0
    base, impacts = contributions(model, frame)
    proba = model.estimator.predict_proba(model.encode(frame))[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-(base + impacts.sum(axis=1).to_numpy()))), proba, atol=1e-9)


def _store_like(kinds: dict, seed: int, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = {}
    for column, kind in kinds.items():
        if kind == "numeric":
            values = rng.poisson(5, n).astype(float)
            frame[column] = np.where(rng.random(n) < 0.2, np.nan, values) if column.startswith("days") else values
        elif kind == "boolean":
            frame[column] = rng.random(n) < 0.5
        else:
            frame[column] = rng.choice(["Prospecting", "Proposal", "paid_search", None], n)
    return pd.DataFrame(frame)


@pytest.mark.parametrize("target,kinds", [("opportunity", DEAL_KINDS), ("lead", LEAD_KINDS)])
def test_rules_explanations_add_up_to_their_log_odds(target, kinds):
    frame = _store_like(kinds, seed=5)
    labels = np.random.default_rng(5).integers(0, 2, len(frame))
    model = RulesModel(target, labels, frame, stage_ranks={"Prospecting": 0, "Proposal": 1})
    base, impacts = contributions(model, frame)
    np.testing.assert_allclose(base + impacts.sum(axis=1).to_numpy(), model.log_odds(frame), atol=1e-6, rtol=0)
    assert impacts.abs().to_numpy().max() > 0


def test_reasons_pick_the_strongest_factors_each_way_in_words():
    row = pd.Series({"meetings_30d": 4.0, "days_since_activity": 32.0, "days_in_stage": 95.0,
                     "stage": "Engaging", "lead_source": "paid_search", "amount": 1200.0, "age_days": 3.0})
    impacts = pd.Series({"meetings_30d": 0.8, "lead_source": 0.3, "amount": 0.05, "age_days": 0.001,
                         "days_since_activity": -0.6, "days_in_stage": -0.4})
    out = reasons(-1.2, impacts, row, "opportunity", limited_history=False)

    assert [r["text"] for r in out["up"]] == ["4 meetings in the last 30 days", "Lead source: paid search",
                                              "Amount: 1,200"]
    assert [r["text"] for r in out["down"]] == ["No activity for 32 days",
                                                "Deal has been in Engaging for 95 days"]
    assert out["base"] == -1.2 and out["limited_history"] is False
    assert out["down"][0] == {"feature": "days_since_activity", "text": "No activity for 32 days", "impact": -0.6}


def test_limited_history_reasons_say_so():
    out = reasons(0.0, pd.Series({"activities_14d": 0.4}), pd.Series({"activities_14d": 2.0}), "opportunity",
                  limited_history=True)
    assert out["limited_history"] is True and out["note"] == LIMITED_HISTORY
    assert out["up"][0]["text"] == "2 activities in the last 14 days"


def test_descriptions_of_missing_and_generic_values():
    assert describe("days_since_activity", np.nan, pd.Series(dtype=object), "lead") == "No activity recorded"
    assert describe("origin", "organic_search", pd.Series(dtype=object), "lead") == "Origin: organic search"
    assert describe("age_days", 1.0, pd.Series(dtype=object), "lead") == "Lead created 1 day ago"


def test_missing_values_read_as_not_known_in_every_sentence():
    import pandas as pd

    from scoring.records.explain import DESCRIBE, describe

    row = pd.Series({name: float("nan") for name in DESCRIBE})
    for feature in DESCRIBE:
        text = describe(feature, float("nan"), row, "opportunity")
        assert isinstance(text, str) and "nan" not in text.lower(), (feature, text)


def test_a_reason_is_shown_only_on_the_side_its_words_read_as():
    # A model can learn that long-quiet deals won (old deals closed long ago); "+ No activity for 285 days"
    # would still read to a rep as the opposite of raising the score, so that line is not shown.
    row = pd.Series({"days_since_activity": 285.0, "close_date_pushes": 0.0, "has_email": False,
                     "meetings_30d": 0.0, "stage_moves_back": 2.0, "lead_source": "web"})
    impacts = pd.Series({"days_since_activity": 0.9, "close_date_pushes": -0.5, "has_email": 0.4,
                         "meetings_30d": 0.3, "stage_moves_back": -0.2, "lead_source": 0.1})
    out = reasons(0.0, impacts, row, "opportunity", limited_history=False)
    assert [r["text"] for r in out["up"]] == ["Lead source: web"]
    assert [r["text"] for r in out["down"]] == ["Moved back to an earlier stage 2 times"]

    flipped = reasons(0.0, -impacts, row, "opportunity", limited_history=False)
    assert [r["text"] for r in flipped["down"]] == ["No activity for 285 days", "No email address",
                                                    "No meetings in the last 30 days"]
    assert [r["text"] for r in flipped["up"]] == ["Close date never pushed back"]
