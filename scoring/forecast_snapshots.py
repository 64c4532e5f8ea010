"""Saving forecast snapshots, and their accuracy once the period's actual won revenue is in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.forecast import MODEL_VERSION, Figures, Forecast
from scoring.forecast_data import parse_period, won_revenue
from scoring.forecast_models import ForecastSnapshot
from sync.models import utcnow


def save_snapshots(session: Session, result: Forecast) -> list[ForecastSnapshot]:
    """Store the organization's and every group's figures, base and what-if; commits nothing."""
    rows = []
    for forecast in filter(None, (result, result.adjusted)):
        scopes: list[tuple[str, Figures]] = [("org", forecast.total)]
        scopes += [(forecast.by, group) for group in forecast.groups]
        for scope, figures in scopes:
            rows.append(ForecastSnapshot(
                organization_id=forecast.organization_id, period=forecast.period,
                as_of=forecast.as_of, scope=scope, scope_key=figures.key, scope_name=figures.name,
                scenario=forecast.what_if.label if forecast is result.adjusted else "base",
                expected=figures.expected, p10=figures.p10, p50=figures.p50, p90=figures.p90,
                model_version=forecast.model.get("version", MODEL_VERSION)))
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
