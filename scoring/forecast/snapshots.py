"""Saving forecast snapshots (on demand, and weekly by the scheduler), and their accuracy once the period is in.

The scheduler saves, once a week per organization, the forecast of the current quarter and month
by rep and by team (the organization's total with them), as of the CRM's own clock. So the
accuracy history (MAPE, bias, range coverage) grows without anyone running a command, and the
team panel has a forecast to show however large the organization is.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import parse_period, won_revenue
from scoring.forecast.revenue import MODEL_VERSION, Figures, Forecast, forecast
from sync.store import Opportunity, Organization, utcnow
from sync.store.forecasts import ForecastSnapshot

SNAPSHOT_EVERY = timedelta(days=7)


def save_snapshots(session: Session, result: Forecast, source: str = "manual",
                   with_total: bool = True) -> list[ForecastSnapshot]:
    """Store the organization's and every group's figures, base and what-if; commits nothing."""
    rows = []
    for forecast in filter(None, (result, result.adjusted)):
        scopes: list[tuple[str, Figures]] = [("org", forecast.total)] if with_total else []
        scopes += [(forecast.by, group) for group in forecast.groups]
        for scope, figures in scopes:
            rows.append(ForecastSnapshot(
                organization_id=forecast.organization_id, period=forecast.period,
                as_of=forecast.as_of, scope=scope, scope_key=figures.key, scope_name=figures.name,
                scenario=forecast.what_if.label if forecast is result.adjusted else "base",
                expected=figures.expected, p10=figures.p10, p50=figures.p50, p90=figures.p90,
                model_version=forecast.model.get("version", MODEL_VERSION), source=source))
    session.add_all(rows)
    session.flush()
    return rows


@dataclass
class Accuracy:
    """How one period's base snapshots of one scope compared with what was won."""

    period: str
    scope: str
    snapshots: int
    mae: float
    mape: float | None
    bias: float
    inside_p10_p90: float

    def to_dict(self) -> dict:
        return {"period": self.period, "scope": self.scope, "snapshots": self.snapshots,
                "mae": round(self.mae, 2), "mape": None if self.mape is None else round(self.mape, 4),
                "bias": round(self.bias, 2), "inside_p10_p90": round(self.inside_p10_p90, 4)}


def accuracy(session: Session, organization_id: int, today: date | None = None,
             period: str | None = None) -> list[Accuracy]:
    """MAE, MAPE and bias (forecast − actual; positive means too high) per ended period and scope.

    The forecast figure scored is the expected value; MAPE leaves out groups that won nothing.
    """
    today = today or utcnow().date()
    query = select(ForecastSnapshot).where(ForecastSnapshot.organization_id == organization_id,
                                           ForecastSnapshot.scenario == "base")
    if period:
        query = query.where(ForecastSnapshot.period == parse_period(period).label)
    grouped: dict[tuple[str, str], list[ForecastSnapshot]] = {}
    for snapshot in session.scalars(query.order_by(ForecastSnapshot.period, ForecastSnapshot.id)):
        grouped.setdefault((snapshot.period, snapshot.scope), []).append(snapshot)
    results, actuals = [], {}
    for (label, scope), snapshots in grouped.items():
        period_range = parse_period(label)
        if period_range.end > today:
            continue  # the actuals are not all in yet
        if (label, scope) not in actuals:
            actuals[label, scope] = won_revenue(session, organization_id, period_range, scope)
        won = actuals[label, scope]
        errors = [(s.expected - won.get(s.scope_key, 0.0), won.get(s.scope_key, 0.0), s)
                  for s in snapshots]
        ratios = [abs(error) / actual for error, actual, _ in errors if actual > 0]
        results.append(Accuracy(
            period=label, scope=scope, snapshots=len(errors),
            mae=sum(abs(error) for error, _, _ in errors) / len(errors),
            mape=sum(ratios) / len(ratios) if ratios else None,
            bias=sum(error for error, _, _ in errors) / len(errors),
            inside_p10_p90=sum(s.p10 <= actual <= s.p90 for _, actual, s in errors) / len(errors)))
    return results


def data_as_of(session: Session, organization_id: int) -> date:
    """Today, or the day after the store's last change when the data stops earlier (a stale copy)."""
    latest = session.scalar(select(func.max(Opportunity.remote_modified_at))
                            .where(Opportunity.organization_id == organization_id))
    today = utcnow().date()
    return min(today, latest.date() + timedelta(days=1)) if latest else today


def current_periods(as_of: date) -> list[str]:
    """The quarter and the month the as-of day falls in."""
    return [f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}", f"{as_of.year}-{as_of.month:02d}"]


def period_forecasts(session: Session, organization_id: int, period: str, as_of: date) -> list[tuple[Forecast, bool]]:
    """The period's forecast by rep (saved with the organization's total) and by team: (forecast, with total)."""
    return [(forecast(session, organization_id, as_of, period, by="rep"), True),
            (forecast(session, organization_id, as_of, period, by="team"), False)]


def save_forecasts(session: Session, forecasts: list[tuple[Forecast, bool]], source: str = "scheduled") -> int:
    """Store forecasts computed beforehand (see period_forecasts); commits nothing."""
    return sum(len(save_snapshots(session, result, source, with_total=total)) for result, total in forecasts)


def save_period(session: Session, organization_id: int, period: str, as_of: date,
                source: str = "scheduled") -> int:
    """Save the period's forecast by rep (with the organization's total) and by team; commits nothing."""
    return save_forecasts(session, period_forecasts(session, organization_id, period, as_of), source)


def due_organizations(session: Session, now: datetime | None = None) -> list[int]:
    """Organizations with deals whose last scheduled snapshot is a week old, or that have none."""
    now = now or utcnow()
    last = (select(ForecastSnapshot.organization_id, func.max(ForecastSnapshot.created_at).label("at"))
            .where(ForecastSnapshot.source == "scheduled").group_by(ForecastSnapshot.organization_id).subquery())
    with_deals = select(Opportunity.organization_id).where(Opportunity.organization_id == Organization.id).exists()
    rows = session.execute(select(Organization.id, last.c.at).outerjoin(last, last.c.organization_id == Organization.id)
                           .where(with_deals).order_by(Organization.id)).all()
    return [org for org, at in rows if at is None or now - at >= SNAPSHOT_EVERY]


def weekly_forecasts(session: Session, organization_id: int) -> list[tuple[Forecast, bool]]:
    """The scheduler's weekly forecasts of one organization: current quarter and month, by rep and team."""
    as_of = data_as_of(session, organization_id)
    return [f for period in current_periods(as_of) for f in period_forecasts(session, organization_id, period, as_of)]


def save_weekly(session: Session, organization_id: int) -> int:
    """The scheduler's weekly snapshot of one organization; commits nothing."""
    return save_forecasts(session, weekly_forecasts(session, organization_id))
