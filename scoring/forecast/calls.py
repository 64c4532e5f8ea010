"""The forecast call: reps submit commit and best case per period, managers roll up and may override.

A rep's number is theirs alone; a manager's call covers their team (an admin's, the whole
organization, keyed "org") and must say why it differs from the roll-up. Every submission is a
new version, recorded in the audit trail. Once the period is over, the call view says which
number came closest: the model's P50, the reps' roll-up or the manager's call.
"""
from __future__ import annotations

import math
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period, parse_period
from scoring.scope import Subject, owner_filter
from sync.store import audit_log as audit
from sync.store.forecasts import ForecastCall

KINDS = ("rep", "manager")
ORG_KEY = "org"


class CallError(ValueError):
    """A submission that cannot be stored; the message says what to change."""


def _amount(value, label: str) -> float:
    """A typed amount: digits with optional separators, zero or more."""
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        cleaned = str(value or "").replace(",", "").replace(" ", "").replace("_", "")
        try:
            number = float(cleaned)
        except ValueError:
            raise CallError(f"The {label} {value!r} is not an amount; enter a plain number such as 250000.") from None
    if not math.isfinite(number) or number < 0:
        raise CallError(f"The {label} must be zero or more; enter a plain number such as 250000.")
    return number


def submit(session: Session, organization_id: int, period: str, owner: str, kind: str, commit, best_case,
           submitted_by: str, actor: str, reason: str | None = None) -> ForecastCall:
    """Store a new version of a rep's number or a manager's call, and record it in the audit trail."""
    label = parse_period(period).label
    if kind not in KINDS:
        raise CallError(f"A forecast call is a rep's number or a manager's call, not {kind!r}.")
    commit_amount, best = _amount(commit, "commit"), _amount(best_case, "best case")
    if best < commit_amount:
        raise CallError("The best case is what could close if things go well: make it at least the commit.")
    reason = (reason or "").strip() or None
    if kind == "manager" and reason is None:
        raise CallError("Say why your call differs from the reps' roll-up: the reason is required.")
    last = session.scalar(select(func.max(ForecastCall.version)).where(
        ForecastCall.organization_id == organization_id, ForecastCall.period == label,
        ForecastCall.owner_remote_id == owner, ForecastCall.kind == kind)) or 0
    call = ForecastCall(organization_id=organization_id, period=label, owner_remote_id=owner, kind=kind,
                        commit=commit_amount, best_case=best, reason=reason, submitted_by=submitted_by,
                        version=last + 1)
    session.add(call)
    session.flush()
    audit.record(session, actor=actor, action="forecast.call" if kind == "manager" else "forecast.submit",
                 organization_id=organization_id, target=f"forecast:{label}:{owner}",
                 details={"kind": kind, "version": call.version, "commit": commit_amount, "best_case": best,
                          "reason_given": reason is not None})
    return call


def latest_calls(session: Session, organization_id: int, period: str, kind: str,
                 owners=None) -> dict[str, ForecastCall]:
    """The newest version per owner of one kind of call for the period (within the owners when given)."""
    newest = (select(ForecastCall.owner_remote_id, func.max(ForecastCall.version).label("version"))
              .where(ForecastCall.organization_id == organization_id, ForecastCall.period == period,
                     ForecastCall.kind == kind, owner_filter(ForecastCall.owner_remote_id, owners))
              .group_by(ForecastCall.owner_remote_id).subquery())
    rows = session.scalars(select(ForecastCall).join(
        newest, (ForecastCall.owner_remote_id == newest.c.owner_remote_id) & (ForecastCall.version == newest.c.version))
        .where(ForecastCall.organization_id == organization_id, ForecastCall.period == period,
               ForecastCall.kind == kind))
    return {row.owner_remote_id: row for row in rows}


def versions(session: Session, organization_id: int, period: str, owners=None) -> list[ForecastCall]:
    """Every submission of the period (within the owners when given), newest first."""
    return list(session.scalars(select(ForecastCall).where(
        ForecastCall.organization_id == organization_id, ForecastCall.period == period,
        owner_filter(ForecastCall.owner_remote_id, owners))
        .order_by(ForecastCall.submitted_at.desc(), ForecastCall.id.desc())))


def call_owner(subject: Subject) -> str:
    """Whose call a manager's call for this subject is: the team leader's, or the organization's."""
    return subject.remote_id if subject.kind != "org" else ORG_KEY


def closest(won: float, candidates: dict[str, float | None]) -> str | None:
    """Which of the numbers came nearest to what was won (None when none was given)."""
    given = {name: value for name, value in candidates.items() if value is not None}
    return min(given, key=lambda name: abs(given[name] - won)) if given else None


def call_summary(session: Session, organization_id: int, subject: Subject, period: Period, as_of: date,
                 names: dict[str, str], model: dict, won: float | None) -> dict:
    """The forecast call of a subject: reps' numbers, their roll-up, the manager's call, and after the period the closest."""
    reps = latest_calls(session, organization_id, period.label, "rep", subject.owners)
    rows = [{"owner": owner, "name": names.get(owner, owner), "commit": call.commit, "best_case": call.best_case,
             "version": call.version, "submitted_at": call.submitted_at}
            for owner, call in sorted(reps.items(), key=lambda item: names.get(item[0], item[0]))]
    rollup = ({"commit": sum(r["commit"] for r in rows), "best_case": sum(r["best_case"] for r in rows)}
              if rows else None)
    manager = latest_calls(session, organization_id, period.label, "manager", {call_owner(subject)})
    call = manager.get(call_owner(subject))
    summary = {"reps": rows, "rollup": rollup,
               "manager": None if call is None else {
                   "commit": call.commit, "best_case": call.best_case, "reason": call.reason,
                   "by": names.get(call.submitted_by, call.submitted_by), "version": call.version,
                   "submitted_at": call.submitted_at},
               "model": model, "ended": period.end <= as_of, "won": won, "closest": None}
    if summary["ended"] and won is not None:
        summary["closest"] = closest(won, {"model P50": model.get("p50"),
                                           "reps' roll-up": rollup["commit"] if rollup else None,
                                           "manager's call": call.commit if call else None})
    return summary
