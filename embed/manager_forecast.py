"""The team panel's forecast view: the model's range against quota, the forecast call and its accuracy.

The call: a rep submits commit and best case for the period; a manager (an admin for the whole
organization) rolls the reps' numbers up and may override with a reason. The view shows the
model's P50 and range beside them and, once the period is over, which number came closest.
When a large organization has no forecast saved for the period yet, the view asks a worker to
compute one and says so, rather than staying empty.
"""
from __future__ import annotations

import logging
from datetime import date

from embed.app_runtime import runtime
from scoring.deals_as_of import Period
from scoring.forecast.calls import CallError, call_owner, call_summary, submit
from scoring.forecast.quotas import forecast_against_quota, won_by_owner
from scoring.scope import Subject, Viewer, may_view
from scoring.team.pipeline import deals_closing
from scoring.team.views import Table
from sync.job_chain import FORECAST_SNAPSHOT

log = logging.getLogger(__name__)
# One panel-requested snapshot per (organization, period, day) at a time.
REQUEST_SECONDS = 15 * 60


def _request_snapshot(organization_id: int, period: Period, as_of: date) -> bool:
    """Ask a worker to save this period's forecast (once); True when it was asked now."""
    rt = runtime()
    key = f"pipewise:forecast-requested:{organization_id}:{period.label}:{as_of.isoformat()}"
    if not rt.redis.set(key, "1", nx=True, ex=REQUEST_SECONDS):
        return False
    FORECAST_SNAPSHOT.enqueue(rt.queues, organization_id, period.label, as_of.isoformat())
    log.info("embed.manager.forecast-requested organization=%s period=%s", organization_id, period.label)
    return True


def accuracy_sentence(history: list[dict]) -> str:
    """MAPE, bias and range coverage of the last forecasts of earlier periods."""
    scored = [row for row in history if row["won"]]
    if not scored:
        return ("No earlier period has a saved forecast to check yet; the scheduler saves one every week, so "
                "this fills in by itself.")
    mape = sum(abs(row["expected"] - row["won"]) / row["won"] for row in scored) / len(scored)
    bias = sum(row["expected"] - row["won"] for row in scored) / len(scored)
    inside = sum(bool(row["inside_p10_p90"]) for row in scored)
    return (f"Over the last {len(scored)} period(s): MAPE {mape:.0%}, bias {bias:+,.0f} "
            f"({'too high' if bias > 0 else 'too low'} on average), actual inside P10 to P90 in {inside} of "
            f"{len(scored)}.")


def forecast_view(session, organization_id, subject, period: Period, as_of: date, names) -> dict:
    """The forecast against quota, the forecast call, and earlier periods against what closed."""
    data = forecast_against_quota(session, organization_id, subject, period.label, as_of, names)
    money = [("p10", "P10"), ("p50", "P50"), ("p90", "P90"), ("expected", "Expected"), ("quota", "Quota")]
    if data["source"] == "none":
        asked = _request_snapshot(organization_id, period, as_of)
        note = ("Pipewise is computing this period's forecast now" if asked else
                "Pipewise is still computing this period's forecast") + "; reload the panel in a minute or two."
    else:
        note = f"Forecast source: {data['source']}."
    reps = Table("forecast", [("name", "Rep"), *money, ("attainment_p50", "P50 of quota")], data["rows"],
                 {"name": "Team" if subject.kind != "rep" else "Total", **data["totals"]}, note=note)
    history = Table("history", [("period", "Period"), ("p10", "P10"), ("p50", "P50"), ("p90", "P90"),
                                ("won", "Won"), ("inside_p10_p90", "Inside P10 to P90")], data["history"],
                    note="The last forecast made for each earlier period, against the revenue won in it. "
                         + accuracy_sentence(data["history"]))
    ended = period.end <= as_of
    won = sum(won_by_owner(session, organization_id, period, subject.owners).values()) if ended else None
    totals = data["totals"]
    call = call_summary(session, organization_id, subject, period, as_of, names,
                        {key: totals.get(key) for key in ("p10", "p50", "p90")}, won)
    model_by_rep = {row["owner"]: row.get("p50") for row in data["rows"]}
    call_rows = [{**row, "p50": model_by_rep.get(row["owner"])} for row in call["reps"]]
    numbers = Table("call", [("name", "Rep"), ("p50", "Model P50"), ("commit", "Commit"), ("best_case", "Best case"),
                             ("version", "Version"), ("submitted_at", "Submitted")], call_rows,
                    {"name": "Roll-up", **(call["rollup"] or {})} if call["rollup"] else {},
                    note="Each rep's latest commit and best case for the period; every submission is kept as a "
                         "new version.")
    tables = [reps, numbers, history]
    if subject.kind == "rep":  # the deals the rep's forecast rests on
        tables.append(deals_closing(session, organization_id, subject.owners, period, names))
    return {"tables": tables, "figures": data["totals"], "source": data["source"], "call": call}


def may_call(viewer: Viewer, subject: Subject, session) -> bool:
    """Whether the viewer may make the manager's call for this subject (their team, or the org for an admin)."""
    if subject.kind == "org":
        return viewer.role == "admin"
    if subject.kind != "team" or viewer.role not in ("manager", "admin"):
        return False
    return viewer.role == "admin" or subject.remote_id == viewer.user_remote_id or may_view(
        session, viewer, subject.remote_id)


def may_submit(viewer: Viewer, subject: Subject) -> bool:
    """Whether the viewer may submit their own number on this subject's page (their own page)."""
    return subject.kind == "rep" and subject.remote_id == viewer.user_remote_id


def submit_call(session, provider: str, viewer: Viewer, subject: Subject, form) -> str:
    """Store the submitted number (a rep's own, or a manager's call); returns what was saved, in words."""
    kind = form.get("kind", "")
    if kind == "rep" and not may_submit(viewer, subject):
        raise CallError("You can submit your own number only, from your own page of the team panel.")
    if kind == "manager" and not may_call(viewer, subject, session):
        raise CallError("Only the team's manager (or an admin) can make the call for this team.")
    owner = viewer.user_remote_id if kind == "rep" else call_owner(subject)
    call = submit(session, viewer.organization_id, form.get("period", ""), owner, kind, form.get("commit"),
                  form.get("best_case"), viewer.user_remote_id, f"{provider}:{viewer.user_remote_id}",
                  form.get("reason"))
    what = "Your number" if kind == "rep" else "The team's call"
    return f"{what} for {call.period} was saved (version {call.version})."
