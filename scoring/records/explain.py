"""Reasons a rep can read: the strongest factors raising and lowering each record's score.

The impacts are the record's exact contributions in calibrated log-odds (scoring.records.attribution);
this module only chooses the top ones and says them in words.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

TOP = 3
MIN_IMPACT = 0.01  # smaller contributions are not worth a line
LIMITED_HISTORY = "Limited history: score from rules, not a trained model"


def _n(value) -> int:
    """A count for a sentence; a missing value (None or NaN) counts as none."""
    number = float(value) if value is not None else 0.0
    return 0 if np.isnan(number) else int(round(number))


PLURALS = {"activity": "activities", "marketing touch": "marketing touches",
           "call, email or meeting": "calls, emails or meetings"}


def _plural(n: int, word: str) -> str:
    """"1 meeting", "4 meetings"."""
    return f"{n} {word}" if n == 1 else f"{n} {PLURALS.get(word, word + 's')}"


def _words(value) -> str:
    """A coded value in words: paid_search → paid search."""
    return str(value).replace("_", " ").strip()


def _count(word: str, window: str):
    """Describe a count of things in a time window."""
    def text(value, row, target):
        n = _n(value)
        return f"{_plural(n, word)} {window}" if n else f"No {PLURALS.get(word, word + 's')} {window}"
    return text


def _days_since_activity(value, row, target):
    if value is None or math.isnan(value):
        return "No activity recorded"
    n = _n(value)
    return f"No activity for {n} days" if n >= 7 else f"Last activity {_plural(n, 'day')} ago"


def stage_words(row) -> str | None:
    """The deal's stage as the rep reads it: its CRM label (``stage_label``), else the stored stage."""
    for key in ("stage_label", "stage"):
        value = row.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _days_in_stage(value, row, target):
    stage = stage_words(row)
    where = f"in {stage}" if stage else "in its current stage"
    return f"Deal has been {where} for {_plural(_n(value), 'day')}"


def _age(value, row, target):
    thing = "Deal opened" if target == "opportunity" else "Lead created"
    return f"{thing} {_plural(_n(value), 'day')} ago"


def _win_rate(whose: str, count_column: str, when: str = ""):
    """Describe an owner's or account's record (over all time, or ``when``)."""
    def text(value, row, target):
        closed = row.get(count_column)
        if value is None or math.isnan(value):
            return f"No {whose} on record"
        if not closed:
            return f"No closed deals for this {whose} yet{when}"
        return f"This {whose} won {value:.0%} of deals{when} (history of {_plural(_n(closed), 'closed deal')})"
    return text


def _velocity(value, row, target):
    days = _n(row.get("days_in_stage"))
    stage = stage_words(row)
    where = f"in {stage}" if stage else "in its stage"
    if value is None:
        return f"Deal has been {where} for {_plural(days, 'day')}"
    return f"Deal has been {where} for {_plural(days, 'day')}, {value:.1f}× the usual stay there"


def _typical_amount(value, row, target):
    if value is None:
        return "No amount to compare"
    return f"Amount is {value:.1f}× the typical deal for this product"


def _pushes(value, row, target):
    n = _n(value)
    return f"Close date pushed back {_plural(n, 'time')}" if n else "Close date never pushed back"


def _moves_back(value, row, target):
    n = _n(value)
    return f"Moved back to an earlier stage {_plural(n, 'time')}" if n else "Never moved back a stage"


def _moves_forward(value, row, target):
    n = _n(value)
    return f"Moved forward {_plural(n, 'stage')}" if n else "Has not moved forward a stage yet"


def _response(value, row, target):
    if value is None or math.isnan(value):
        return "Never responded to a campaign"
    return f"Responded to a campaign {_plural(_n(value), 'day')} ago"


def _flag(yes: str, no: str):
    return lambda value, row, target: yes if bool(value) else no


DESCRIBE = {
    "activities_14d": _count("activity", "in the last 14 days"),
    "activities_30d": _count("activity", "in the last 30 days"),
    "activities_90d": _count("activity", "in the last 90 days"),
    "activities_total": _count("activity", "so far"),
    "meetings_30d": _count("meeting", "in the last 30 days"),
    "marketing_touches_30d": _count("marketing touch", "in the last 30 days"),
    "sales_touches_total": _count("call, email or meeting", "so far"),
    "days_since_activity": _days_since_activity,
    "days_in_stage": _days_in_stage,
    "age_days": _age,
    "owner_win_rate": _win_rate("owner", "owner_closed_deals"),
    "account_win_rate": _win_rate("account", "account_closed_deals"),
    "owner_closed_deals": lambda v, r, t: f"Owner has closed {_plural(_n(v or 0), 'deal')}",
    "owner_recent_win_rate": _win_rate("owner", "owner_recent_closed_deals", " in the last 6 months"),
    "owner_recent_closed_deals": lambda v, r, t: (f"Owner closed {_plural(_n(v or 0), 'deal')} "
                                                  "in the last 6 months"),
    "stage_velocity": _velocity,
    "amount_vs_typical": _typical_amount,
    "calls_total": _count("call", "so far"),
    "emails_total": _count("email", "so far"),
    "meetings_total": _count("meeting", "so far"),
    "account_closed_deals": lambda v, r, t: f"Account has {_plural(_n(v or 0), 'closed deal')} with us",
    "close_date_pushes": _pushes,
    "stage_moves_back": _moves_back,
    "stage_moves_forward": _moves_forward,
    "campaign_responses": lambda v, r, t: (f"Responded to {_plural(_n(v), 'campaign')}" if _n(v)
                                           else "No campaign responses"),
    "campaigns": lambda v, r, t: f"Member of {_plural(_n(v), 'campaign')}" if _n(v) else "In no campaign",
    "days_since_response": _response,
    "has_company": _flag("Company is known", "No company given"),
    "has_title": _flag("Job title is known", "No job title given"),
    "has_email": _flag("Email address is known", "No email address"),
    "amount": lambda v, r, t: f"Amount: {float(v):,.0f}" if v is not None and not math.isnan(v) else "No amount",
    "stage": lambda v, r, t: f"Stage: {stage_words(r)}" if stage_words(r) else "No stage given",
}


def _sign_of_count(value, row) -> int:
    """None of something a rep is told to do reads as a minus; some of it says nothing by itself."""
    return -1 if _n(value) == 0 else 0


def _sign_of_quiet(value, row) -> int:
    if value is None:
        return -1
    return -1 if _n(value) >= 30 else 1 if _n(value) < 7 else 0


def _sign_of_setbacks(value, row) -> int:
    return -1 if _n(value) else 1


def _sign_of_stay(value, row) -> int:
    if value is None:
        return 0
    return -1 if value >= 1.5 else 1 if value <= 0.75 else 0


# How a rep reads each sentence: +1 good news, -1 bad news, 0 either way. A reason is shown on the
# side its words read as (or on either side when they read as neither): the model may find that
# "No activity for 285 days" goes with winning (old deals that were won long ago, say), but a line
# "+ No activity for 285 days" says the opposite of what it means to a rep, so it is not shown.
READS_AS = {
    **{f: _sign_of_count for f in ("activities_14d", "activities_30d", "activities_90d", "activities_total",
                                   "meetings_30d", "marketing_touches_30d", "sales_touches_total", "calls_total",
                                   "emails_total", "meetings_total", "campaign_responses", "campaigns")},
    "days_since_activity": _sign_of_quiet,
    "days_since_response": lambda v, r: -1 if v is None else 0,
    "close_date_pushes": _sign_of_setbacks,
    "stage_moves_back": _sign_of_setbacks,
    "stage_moves_forward": lambda v, r: -1 if _n(v) == 0 else 1,
    "stage_velocity": _sign_of_stay,
    "has_company": lambda v, r: 1 if bool(v) else -1,
    "has_title": lambda v, r: 1 if bool(v) else -1,
    "has_email": lambda v, r: 1 if bool(v) else -1,
}


def reads_as(feature: str, value, row: pd.Series) -> int:
    """Whether a factor's sentence reads as good (+1) or bad (-1) news to a rep, or neither (0)."""
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        value = None
    judge = READS_AS.get(feature)
    return judge(value, row) if judge else 0


def describe(feature: str, value, row: pd.Series, target: str) -> str:
    """One factor in words, e.g. 'No activity for 32 days' or 'Lead source: paid search'."""
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        value = None  # every describer reads None as "not known"
    if feature in DESCRIBE:
        return DESCRIBE[feature](value, row, target)
    label = _words(feature).capitalize()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{label}: not given"
    if isinstance(value, float):
        return f"{label}: {value:,.2f}".rstrip("0").rstrip(".")
    return f"{label}: {_words(value)}"


def reasons(base: float, impacts: pd.Series, row, target: str, limited_history: bool) -> dict:
    """Top factors raising and lowering one record's score, with their exact impacts."""
    return reasons_table([base], impacts.to_frame().T, [row], target, limited_history)[0]


def _signs(feature: str, rows: list) -> np.ndarray:
    """reads_as for every record's value of one factor, judged once per distinct value."""
    values = [row.get(feature) for row in rows]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    judged = np.array([reads_as(feature, value, None) for value in uniques] + [reads_as(feature, None, None)],
                      dtype=int)
    return judged[codes]  # a missing value (code -1) takes the last entry, the judgement of None


def _chosen(ok_sorted: np.ndarray) -> list[list[int]]:
    """Per row, the first TOP positions (in sorted order) where ok_sorted holds."""
    chosen = ok_sorted & (np.cumsum(ok_sorted, axis=1) <= TOP)
    rows, positions = np.nonzero(chosen)
    out: list[list[int]] = [[] for _ in range(len(ok_sorted))]
    for row, position in zip(rows.tolist(), positions.tolist()):
        out[row].append(position)
    return out


def reasons_table(bases, impacts: pd.DataFrame, rows: list, target: str, limited_history: bool) -> list[dict]:
    """reasons() for many records at once: impacts has one row per record, ``rows`` their factor values.

    The ordering is a stable sort of each record's impacts (ties keep the column order, reversed for
    the raising side), and each side keeps the first TOP factors that are large enough and read the
    right way; only those are put in words.
    """
    features = list(impacts.columns)
    values = impacts.to_numpy(dtype=float)
    if not features:
        values = values.reshape(len(rows), 0)
    signs = np.column_stack([_signs(f, rows) for f in features]) if features else np.zeros(values.shape, int)
    ascending = np.argsort(values, axis=1, kind="stable")
    descending = ascending[:, ::-1]
    up_ok = np.take_along_axis((values >= MIN_IMPACT) & (signs >= 0), descending, axis=1)
    down_ok = np.take_along_axis((values <= -MIN_IMPACT) & (signs <= 0), ascending, axis=1)
    ups, downs = _chosen(up_ok), _chosen(down_ok)

    def pick(i: int, order: np.ndarray, positions: list[int]) -> list[dict]:
        row = rows[i]
        picked = []
        for position in positions:
            column = order[i, position]
            feature = features[column]
            picked.append({"feature": feature, "text": describe(feature, row.get(feature), row, target),
                           "impact": round(float(values[i, column]), 4)})
        return picked

    out = []
    for i in range(len(rows)):
        explained = {"up": pick(i, descending, ups[i]), "down": pick(i, ascending, downs[i]),
                     "base": round(float(bases[i]), 4), "limited_history": limited_history}
        if limited_history:
            explained["note"] = LIMITED_HISTORY
        out.append(explained)
    return out
