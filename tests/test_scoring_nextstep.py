"""Scores, bands and the next-step rule table."""
import math

import pytest

from scoring.records.nextstep import band, next_step, to_score


def deal(**values):
    row = {"close_date_pushes": 0.0, "days_since_activity": 2.0, "stage_moves_back": 0.0, "days_in_stage": 10.0,
           "stage": "Proposal", "age_days": 40.0}
    return {**row, **values}


def lead(**values):
    row = {"sales_touches_total": 2.0, "days_since_response": math.nan, "days_since_activity": 3.0,
           "age_days": 10.0}
    return {**row, **values}


def test_score_is_a_rounded_percentage_kept_within_1_to_99():
    assert [to_score(p) for p in (0.0, 0.004, 0.126, 0.5, 0.995, 1.0)] == [1, 1, 13, 50, 99, 99]


def test_bands_compare_the_odds_with_the_base_rate():
    # leads converting 10% of the time: twice the odds is about 18%
    assert [band(p, 0.10) for p in (0.20, 0.12, 0.06, 0.04)] == ["A", "B", "C", "D"]
    # deals winning 60% of the time: the same odds ratios sit elsewhere
    assert [band(p, 0.60) for p in (0.80, 0.65, 0.50, 0.35)] == ["A", "B", "C", "D"]


@pytest.mark.parametrize("row,grade,step", [
    (deal(close_date_pushes=2.0), "A", "Confirm the close date with the buyer"),
    (deal(days_since_activity=14.0), "A", "Book a follow-up meeting"),
    (deal(days_since_activity=math.nan, age_days=20.0), "B", "Book a follow-up meeting"),
    (deal(days_since_activity=14.0), "C", "Schedule a call to find what would move this deal"),
    (deal(stage_moves_back=1.0), "B", "Re-qualify: confirm need, budget and timeline"),
    (deal(days_in_stage=95.0, stage="Engaging"), "C", "Agree the step that moves the deal out of Engaging"),
    (deal(days_since_activity=45.0), "D", "Decide whether to close this deal as lost"),
    (deal(), "A", "Keep momentum: confirm the next meeting date"),
])
def test_deal_next_steps_follow_the_rule_table(row, grade, step):
    assert next_step("opportunity", row, grade) == step


@pytest.mark.parametrize("row,grade,step", [
    (lead(sales_touches_total=0.0), "A", "Call within 24 hours"),
    (lead(sales_touches_total=0.0), "C", "Send relevant content and watch for engagement"),
    (lead(days_since_response=2.0), "C", "Follow up on the campaign response today"),
    (lead(days_since_activity=20.0), "B", "Re-engage with a personal email this week"),
    (lead(days_since_activity=math.nan, age_days=60.0), "D", "Move to a nurture campaign"),
    (lead(), "A", "Book a discovery meeting"),
])
def test_lead_next_steps_follow_the_rule_table(row, grade, step):
    assert next_step("lead", row, grade) == step
