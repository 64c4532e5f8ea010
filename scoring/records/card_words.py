"""The model card in a sales-ops admin's words: a plain verdict first, percentages, field names they know.

The figures behind each sentence stay on the card (AUC, Brier, log loss) for whoever wants them;
these sentences are read first, so each one is derived from the same stored metrics, never typed in.
"""
from __future__ import annotations

from scoring.records.targets import FALLBACK_NAMES, PLURALS, SUCCESS_VERBS

# Feature columns as the CRM's own screens name the facts behind them.
FEATURE_NAMES = {
    "lead_source": "Lead source", "industry": "Industry", "country": "Country", "campaign": "Campaign",
    "title_level": "Job title level", "has_company": "Company filled in", "has_title": "Job title filled in",
    "has_email": "Email filled in", "age_days": "Age of the record", "campaigns": "Number of campaigns",
    "campaign_responses": "Campaign responses", "days_since_response": "Days since last campaign response",
    "amount": "Amount", "amount_vs_typical": "Amount against the usual deal for the product", "stage": "Stage",
    "days_in_stage": "Days in current stage", "stage_velocity": "Time in stage against the usual",
    "stage_moves_forward": "Stages moved forward", "stage_moves_back": "Stages moved back",
    "close_date_pushes": "Close date pushed back", "owner_win_rate": "Owner's win rate",
    "owner_closed_deals": "Owner's closed deals", "owner_recent_win_rate": "Owner's win rate, last 6 months",
    "owner_recent_closed_deals": "Owner's closed deals, last 6 months", "account_win_rate": "Account's win rate",
    "account_closed_deals": "Account's closed deals", "product": "Product", "type": "Deal type",
    "activities_total": "Activities logged", "meetings_30d": "Meetings, last 30 days",
    "marketing_touches_30d": "Marketing touches, last 30 days", "sales_touches_total": "Calls, emails and meetings",
    "calls_total": "Calls logged", "emails_total": "Emails logged", "meetings_total": "Meetings logged",
    "tasks_total": "Tasks logged", "notes_total": "Notes logged", "days_since_activity": "Days since last activity",
}


def feature_name(column: str) -> str:
    """A feature column as an admin knows the field: age_days → "Age of the record"."""
    if column in FEATURE_NAMES:
        return FEATURE_NAMES[column]
    if column.startswith("activities_") and column.endswith("d"):
        return f"Activities, last {column[len('activities_'):-1]} days"
    return column.replace("_", " ").strip().capitalize()


def headline(card: dict, target: str) -> dict:
    """The verdict a sales-ops admin reads first: {"good": bool, "text": str, "detail": str}."""
    things = PLURALS.get(target, "records")
    metrics = card.get("metrics") or {}
    lift = metrics.get("top_decile_lift")
    if card.get("scorer") == "model" and card.get("earns"):
        if lift is not None and lift > 1:
            text = f"Better than guessing: sorts the top 10% of {things} {lift:.1f}× above average"
        else:
            text = f"Better than guessing: its chances are closer to what happened than the average {things[:-1]}'s"
        return {"good": True, "text": text, "detail": _skill_sentence(metrics, target)}
    reason = card.get("verdict") or (f"There are too few closed {things} to learn from yet."
                                     if card.get("limited_history") else "")
    return {"good": False, "text": f"Not good enough yet — Pipewise uses {FALLBACK_NAMES.get(target, 'rules')}",
            "detail": reason}


def _skill_sentence(metrics: dict, target: str) -> str:
    """The held-out result as one sentence of percentages."""
    things, outcome = PLURALS.get(target, "records"), SUCCESS_VERBS.get(target, "succeed")
    parts = []
    if metrics.get("n"):
        parts.append(f"Tested on {metrics['n']:,} recent {things} it had not seen")
    base = metrics.get("base_rate")
    if base is not None:
        parts.append(f"of which {base:.0%} went on to {outcome}")
    sentence = ", ".join(parts)
    skill = metrics.get("brier_skill")
    if skill is not None:
        sentence += (". " if sentence else "") + (f"Its chances are {skill:.0%} closer to what happened than "
                                                   "always guessing the average")
    return sentence + "." if sentence else ""


def factor_shares(factors: list[dict]) -> list[dict]:
    """The top factors with admin names and each one's share of their combined influence."""
    total = sum(f.get("mean_abs_impact") or 0 for f in factors)
    return [{"name": feature_name(f["feature"]), "feature": f["feature"],
             "share": (f.get("mean_abs_impact") or 0) / total if total else None,
             "impact": f.get("mean_abs_impact")} for f in factors]
