"""The rep's panel as data: one function any CRM's embedding (Canvas, HubSpot card) renders."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from embed.charts import line_chart_svg
from sync.currency import corporate_currency
from sync.stages import StageNames, stage_names
from sync.store import Activity, Connection, Lead, Opportunity, Score, ScoreHistory

OBJECT_MODELS = {"lead": Lead, "opportunity": Opportunity}
OBJECT_LABELS = {"lead": "Lead", "opportunity": "Opportunity"}
PROBABILITY_LABELS = {"lead": "Convert probability", "opportunity": "Win probability"}
MAX_REASONS = 3
MAX_ACTIVITIES = 10
MAX_HISTORY_POINTS = 200


def panel_context(session: Session, connection: Connection, object_type: str, remote_id: str) -> dict[str, Any]:
    """Everything the panel shows for one record, as a template context."""
    record = _record(session, connection.id, object_type, remote_id)
    score = session.scalar(select(Score).where(Score.connection_id == connection.id,
                                               Score.object_type == object_type,
                                               Score.remote_id == remote_id))
    context: dict[str, Any] = {
        "object_type": object_type,
        "object_label": OBJECT_LABELS[object_type],
        "probability_label": PROBABILITY_LABELS[object_type],
        "remote_id": remote_id,
        "record_title": _title(record, object_type, remote_id),
        "record_facts": _facts(record, stage_names(session, connection.organization_id),
                               corporate_currency(session, connection.organization_id)),
        "score": None,
        "activities": recent_activities(session, connection.id, remote_id),
        "history": [],
        "chart_svg": None,
    }
    if score is not None:
        reasons = score.reasons or {}
        context["score"] = {
            "value": score.score,
            "band": score.band,
            "probability": score.probability,
            "probability_percent": f"{score.probability:.0%}",
            "up": [_reason_text(r) for r in (reasons.get("up") or [])[:MAX_REASONS]],
            "down": [_reason_text(r) for r in (reasons.get("down") or [])[:MAX_REASONS]],
            "next_step": score.next_step,
            "limited_history": bool(score.limited_history or reasons.get("limited_history")),
            "note": reasons.get("note"),
            "model_version": score.model_version,
            "scored_at": score.computed_at,
        }
    if object_type == "opportunity":
        history = score_history(session, connection.id, object_type, remote_id)
        context["history"] = history
        context["chart_svg"] = Markup(history_chart(history, context["record_title"]))
    return context


def score_history(session: Session, connection_id: int, object_type: str,
                  remote_id: str) -> list[tuple[datetime, float]]:
    """The record's probabilities over time, oldest first (the latest MAX_HISTORY_POINTS)."""
    rows = session.execute(
        select(ScoreHistory.computed_at, ScoreHistory.probability)
        .where(ScoreHistory.connection_id == connection_id, ScoreHistory.object_type == object_type,
               ScoreHistory.remote_id == remote_id)
        .order_by(ScoreHistory.computed_at.desc(), ScoreHistory.id.desc())
        .limit(MAX_HISTORY_POINTS)).all()
    return [(when, probability) for when, probability in reversed(rows)]


def history_chart(history: list[tuple[datetime, float]], record_title: str,
                  label_time: Callable[[datetime], str] | None = None) -> str:
    """The win-probability chart of an opportunity as SVG, its points' times labelled by ``label_time``."""
    if history:
        first, last = history[0], history[-1]
        desc = (f"{len(history)} scores from {first[0]:%Y-%m-%d} ({first[1]:.0%}) "
                f"to {last[0]:%Y-%m-%d} ({last[1]:.0%}).")
    else:
        desc = "No scores recorded yet."
    return line_chart_svg(history, title=f"Win probability over time: {record_title}", desc=desc,
                          chart_id="win-probability", label_time=label_time)


def recent_activities(session: Session, connection_id: int, remote_id: str) -> list[dict[str, Any]]:
    """The last activities about the record (as the person or as the deal), newest first."""
    rows = session.scalars(
        select(Activity)
        .where(Activity.connection_id == connection_id, Activity.deleted_at.is_(None),
               or_(Activity.who_remote_id == remote_id, Activity.what_remote_id == remote_id))
        .order_by(Activity.occurred_at.desc().nulls_last(), Activity.id.desc())
        .limit(MAX_ACTIVITIES))
    # A CRM activity kept only by its day (Salesforce Task.ActivityDate) is stored at midnight UTC: it is
    # a calendar day, shown as such, never shifted into the viewer's zone (the day before, in the Americas).
    return [{"kind": a.kind.replace("_", " "), "subject": a.subject or "(no subject)",
             "status": a.status, "occurred_at": a.occurred_at,
             "day_only": a.occurred_at is not None and a.occurred_at.time() == time.min} for a in rows]


def record_title(session: Session, connection_id: int, object_type: str, remote_id: str) -> str:
    """The name the rep knows the record by."""
    return _title(_record(session, connection_id, object_type, remote_id), object_type, remote_id)


def _record(session: Session, connection_id: int, object_type: str, remote_id: str) -> Lead | Opportunity | None:
    model = OBJECT_MODELS[object_type]
    return session.scalar(select(model).where(model.connection_id == connection_id, model.remote_id == remote_id,
                                              model.deleted_at.is_(None)))


def _reason_text(reason: Any) -> str:
    return str(reason.get("text", "")) if isinstance(reason, dict) else str(reason)


def _title(record: Lead | Opportunity | None, object_type: str, remote_id: str) -> str:
    if isinstance(record, Opportunity) and record.name:
        return record.name
    if isinstance(record, Lead):
        name = " ".join(p for p in (record.first_name, record.last_name) if p)
        if name:
            return name
    return f"{OBJECT_LABELS[object_type]} {remote_id}"


def _amount(deal: Opportunity, corporate: str | None) -> str | None:
    """The deal's amount in its own currency, with the corporate figure beside it when they differ.

    A deal that names no currency is in the organization's corporate currency (a single-currency
    Salesforce org has no CurrencyIsoCode field; HubSpot leaves deal_currency_code empty for the
    company currency).
    """
    own = deal.deal_amount if deal.deal_amount is not None else deal.amount
    if own is None:
        return None
    if not deal.currency:
        return f"{own:,.0f} {corporate}" if corporate else f"{own:,.0f}"
    text = f"{own:,.0f} {deal.currency}"
    if deal.amount is None:
        return text + " (no rate to the corporate currency)"
    return text if deal.amount == own else f"{text} (≈ {deal.amount:,.0f} in the corporate currency)"


def _facts(record: Lead | Opportunity | None, stages: StageNames, corporate: str | None) -> list[tuple[str, str]]:
    """A few label/value pairs that tell the rep which record this is."""
    if isinstance(record, Opportunity):
        facts = [("Stage", stages.label(record.stage, record.connection_id)),
                 ("Amount", _amount(record, corporate)),
                 ("Close date", record.close_date.isoformat() if record.close_date else None)]
    elif isinstance(record, Lead):
        facts = [("Company", record.company), ("Status", record.status), ("Source", record.lead_source)]
    else:
        facts = []
    return [(label, value) for label, value in facts if value]
