"""Scores, bands and the recommended next step for each record.

Score: round(100·p) clipped to 1..99. Band, by the record's odds relative to the base rate's
odds (so a band means the same in a 10%-conversion lead funnel and a 60%-win deal pipeline):
A at least twice the odds, B at least the base odds, C at least half, D below half.

Next step: the first rule of the table that matches the record's factors.

Deals
  1. Close date pushed back 2+ times            → "Confirm the close date with the buyer"
  2. Band A/B and no activity for 14+ days      → "Book a follow-up meeting"
  3. Moved back a stage                         → "Re-qualify: confirm need, budget and timeline"
  4. In the same stage for 60+ days             → "Agree the step that moves the deal out of {stage}"
  5. Band D and no activity for 30+ days        → "Decide whether to close this deal as lost"
  6. Band A/B                                   → "Keep momentum: confirm the next meeting date"
  7. otherwise                                  → "Schedule a call to find what would move this deal"
Leads
  1. Band A/B and no call, email or meeting yet → "Call within 24 hours"
  2. Campaign response in the last 7 days       → "Follow up on the campaign response today"
  3. Band A/B and no activity for 14+ days      → "Re-engage with a personal email this week"
  4. Band D and no activity for 30+ days        → "Move to a nurture campaign"
  5. Band A/B                                   → "Book a discovery meeting"
  6. otherwise                                  → "Send relevant content and watch for engagement"
"""
from __future__ import annotations

import math

import numpy as np

from scoring.records.explain import stage_words


def to_score(probability: float) -> int:
    """A 1-99 score from a probability."""
    return int(min(99, max(1, round(100 * float(probability)))))


def band(probability: float, base_rate: float) -> str:
    """A–D by the record's odds over the base rate's odds."""
    p = min(max(float(probability), 1e-6), 1 - 1e-6)
    base = min(max(float(base_rate), 1e-6), 1 - 1e-6)
    ratio = (p / (1 - p)) / (base / (1 - base))
    return "A" if ratio >= 2 else "B" if ratio >= 1 else "C" if ratio >= 0.5 else "D"


def _num(row, key, default=0.0) -> float:
    """A numeric factor of the row, the default when missing."""
    value = row.get(key)
    if value is None:
        return default
    value = float(value)
    return default if math.isnan(value) else value


def _silent_days(row) -> float:
    """Days without activity; a record never touched counts as silent since it was created."""
    value = row.get("days_since_activity")
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return _num(row, "age_days", default=math.inf)
    return float(value)


def deal_step(row, grade: str) -> str:
    """The next step for a deal."""
    good = grade in ("A", "B")
    if _num(row, "close_date_pushes") >= 2:
        return "Confirm the close date with the buyer"
    if good and _silent_days(row) >= 14:
        return "Book a follow-up meeting"
    if _num(row, "stage_moves_back") >= 1:
        return "Re-qualify: confirm need, budget and timeline"
    if _num(row, "days_in_stage") >= 60:
        stage = stage_words(row)
        return f"Agree the step that moves the deal out of {stage}" if stage else \
            "Agree the step that moves the deal to the next stage"
    if grade == "D" and _silent_days(row) >= 30:
        return "Decide whether to close this deal as lost"
    if good:
        return "Keep momentum: confirm the next meeting date"
    return "Schedule a call to find what would move this deal"


def lead_step(row, grade: str) -> str:
    """The next step for a lead."""
    good = grade in ("A", "B")
    if good and _num(row, "sales_touches_total") == 0:
        return "Call within 24 hours"
    if _num(row, "days_since_response", default=math.inf) <= 7:
        return "Follow up on the campaign response today"
    if good and _silent_days(row) >= 14:
        return "Re-engage with a personal email this week"
    if grade == "D" and _silent_days(row) >= 30:
        return "Move to a nurture campaign"
    if good:
        return "Book a discovery meeting"
    return "Send relevant content and watch for engagement"


def next_step(target: str, row, grade: str) -> str:
    """The recommended next step for a record of the target type."""
    return deal_step(row, grade) if target == "opportunity" else lead_step(row, grade)
