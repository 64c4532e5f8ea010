"""Quotas (synced from the CRM or set by an admin), and the forecast of a team or rep against them.

One table holds both (sync.store.Quota): a CRM's figure for a person and period counts over an admin's,
which stays as the fallback when the CRM has none.

Whose quota counts for a scope: a rep's own; a team's leader's quota when the leader has one
(in Salesforce collaborative forecasting the manager's quota is the team's number), else the sum
of the quotas of the people in the team who have no reports; the organization's is the sum of
the quotas of everyone with no reports. With no quota at all, coverage reads "no quota set".
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from scoring.deals_as_of import Period, parse_period
from scoring.scope import Subject, owner_filter
from scoring.team.deal_totals import closed_totals
from sync.store import Opportunity, Quota, User, utcnow
from sync.store.db import upsert
from sync.store.forecasts import ForecastSnapshot

HISTORY_PERIODS = 4
# Past this many deals a forecast takes seconds: the panel shows saved snapshots only.
LIVE_FORECAST_MAX_DEALS = 20_000
# z of the 10th/90th percentile of a normal: team ranges combine reps' spreads in quadrature.
Z90 = 1.2815515655446004


def set_quotas(session: Session, organization_id: int, rows: Iterable[dict[str, Any]]) -> int:
    """Store admin figures keyed on (owner, period); rows carry owner_remote_id, period and amount.

    An admin's figure belongs to no connection. It is entered in the corporate currency, so the
    CRM's own amount and the corporate one are the same number.
    """
    now = utcnow()
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        period = parse_period(str(row["period"]))
        owner, amount = row["owner_remote_id"], float(row["amount"])
        # The last row for a key wins.
        merged[owner, period.label] = {
            "organization_id": organization_id, "connection_id": None, "remote_id": f"admin:{owner}:{period.label}",
            "remote_data": {}, "content_hash": "admin", "remote_modified_at": now, "remote_deleted": False,
            "deleted_at": None, "synced_at": now, "owner_remote_id": owner, "period": period.label,
            "period_start": period.start, "amount": amount, "deal_amount": amount, "currency": None}
    upsert(session, Quota, list(merged.values()), ["organization_id", "owner_remote_id", "period"],
           where=Quota.connection_id.is_(None))
    return len(merged)


def set_quota(session: Session, organization_id: int, owner_remote_id: str, period: str,
              amount: float) -> None:
    """An admin sets one person's quota for a period; the person must be a user of the organization."""
    if not math.isfinite(amount) or amount < 0:
        raise ValueError("A quota is an amount of zero or more; enter it as a plain number, e.g. 250000.")
    member = session.scalar(select(User.id).where(User.organization_id == organization_id,
                                                  User.remote_id == owner_remote_id, User.deleted_at.is_(None))
                            .limit(1))
    if member is None:
        raise ValueError("That person is not a user of your organization's CRM. Choose someone from the list "
                         "and save the quota again.")
    label = parse_period(period).label
    synced = session.scalar(select(Quota.amount).where(
        *_live(organization_id, label), Quota.owner_remote_id == owner_remote_id, Quota.connection_id.is_not(None))
        .limit(1))
    if synced is not None:
        raise ValueError(f"This person's quota for {label} comes from your CRM ({synced:,.0f}), and the CRM's figure "
                         "counts over one set here. Change it in the CRM; the next sync brings it in.")
    set_quotas(session, organization_id, [{"owner_remote_id": owner_remote_id, "period": period, "amount": amount}])


def _live(organization_id: int, period: str) -> tuple:
    """WHERE clauses: the organization's quotas for the period that count, an amount for someone, not deleted."""
    return (Quota.organization_id == organization_id, Quota.period == period, Quota.deleted_at.is_(None),
            Quota.remote_deleted.is_(False), Quota.owner_remote_id.is_not(None), Quota.amount.is_not(None))


def _counted(organization_id: int, period: str):
    """Each person's quota for the period, one row per owner: the newest live CRM figure, else the admin's."""
    ranked = (select(Quota.owner_remote_id, Quota.amount,
                     func.row_number().over(partition_by=Quota.owner_remote_id,
                                            order_by=(Quota.connection_id.is_(None),
                                                      Quota.remote_modified_at.desc().nulls_last(),
                                                      Quota.id.desc())).label("rank"))
              .where(*_live(organization_id, period))
              .subquery())
    return select(ranked.c.owner_remote_id, ranked.c.amount).where(ranked.c.rank == 1).subquery("counted_quota")


def quotas_by_owner(session: Session, organization_id: int, period: str, owners) -> dict[str, float]:
    """Each owner's own quota for the period."""
    counted = _counted(organization_id, period)
    rows = session.execute(select(counted.c.owner_remote_id, counted.c.amount)
                           .where(owner_filter(counted.c.owner_remote_id, owners)))
    return {owner: float(amount) for owner, amount in rows}


def quota_for(session: Session, organization_id: int, period: str, subject: Subject) -> float | None:
    """The quota the subject is measured against (see the module docstring), or None."""
    counted = _counted(organization_id, period)
    if subject.kind in ("rep", "team"):
        own = session.scalar(select(counted.c.amount).where(counted.c.owner_remote_id == subject.remote_id))
        if own is not None or subject.kind == "rep":
            return float(own) if own is not None else None
    report = aliased(User)
    has_reports = exists().where(report.organization_id == organization_id,
                                 report.manager_remote_id == counted.c.owner_remote_id)
    total, count = session.execute(
        select(func.sum(counted.c.amount), func.count())
        .where(~has_reports, owner_filter(counted.c.owner_remote_id, subject.owners))).one()
    return float(total) if count else None


def won_by_owner(session: Session, organization_id: int, period: Period, owners) -> dict[str, float]:
    """Revenue won inside the period per owner with a won deal, from the deal rollup (sync.deal_months)."""
    return {owner: totals.won_amount for owner, totals in
            closed_totals(session, organization_id, owners, period.start, period.end).items() if totals.won}


def combine(ranges: list[dict[str, float]]) -> dict[str, float]:
    """A team's range from its reps': medians add, spreads add in quadrature (reps independent)."""
    p50 = sum(r["p50"] for r in ranges)
    low = math.sqrt(sum((r["p50"] - r["p10"]) ** 2 for r in ranges))
    high = math.sqrt(sum((r["p90"] - r["p50"]) ** 2 for r in ranges))
    return {"expected": sum(r["expected"] for r in ranges), "p10": max(p50 - low, 0.0), "p50": p50,
            "p90": p50 + high}


def latest_snapshots(session: Session, organization_id: int, period: str, as_of: date, scope: str,
                     keys=None) -> dict[str, ForecastSnapshot]:
    """The newest base snapshot per scope key of a period made on or before as_of."""
    snap = ForecastSnapshot
    newest = (select(snap.scope_key, func.max(snap.as_of).label("as_of"))
              .where(snap.organization_id == organization_id, snap.period == period, snap.scope == scope,
                     snap.scenario == "base", snap.as_of <= as_of, owner_filter(snap.scope_key, keys))
              .group_by(snap.scope_key).subquery())
    rows = session.scalars(
        select(snap).join(newest, and_(snap.scope_key == newest.c.scope_key, snap.as_of == newest.c.as_of))
        .where(snap.organization_id == organization_id, snap.period == period, snap.scope == scope,
               snap.scenario == "base").order_by(snap.id))
    return {row.scope_key: row for row in rows}


def _figures(snapshot) -> dict[str, float]:
    return {"expected": snapshot.expected, "p10": snapshot.p10, "p50": snapshot.p50, "p90": snapshot.p90}


def forecast_against_quota(session: Session, organization_id: int, subject: Subject, period: str,
                           as_of: date, names: dict[str, str]) -> dict[str, Any]:
    """P10/P50/P90 of the period per rep and for the subject, against quota, with past periods."""
    label = parse_period(period).label
    reps = latest_snapshots(session, organization_id, label, as_of, "rep", subject.owners)
    source = "snapshot"
    if not reps and _small(session, organization_id):
        reps, source = _live_forecast(session, organization_id, label, as_of, subject.owners), "computed now"
    elif not reps:
        source = "none"
    quotas = quotas_by_owner(session, organization_id, label, subject.owners)
    rows = []
    for key, snapshot in sorted(reps.items(), key=lambda item: names.get(item[0], item[0])):
        figures = _figures(snapshot)
        quota = quotas.get(key)
        rows.append({"owner": key, "name": names.get(key, getattr(snapshot, "scope_name", None) or key),
                     **figures, "quota": quota,
                     "attainment_p50": figures["p50"] / quota if quota else None,
                     "as_of": snapshot.as_of})
    total = None
    if subject.kind == "org":
        org = latest_snapshots(session, organization_id, label, as_of, "org").get("org")
        total = _figures(org) if org is not None else None
    if total is None and rows:
        total = combine(rows)
    quota = quota_for(session, organization_id, label, subject)
    totals = {**(total or {}), "quota": quota,
              "attainment_p50": total["p50"] / quota if total and quota else None}
    return {"rows": rows, "totals": totals, "source": source,
            "history": forecast_history(session, organization_id, subject, parse_period(label), as_of)}


def forecast_history(session: Session, organization_id: int, subject: Subject, period: Period,
                     as_of: date) -> list[dict[str, Any]]:
    """The last forecast made for each of the previous periods, against what was won in it."""
    history, current = [], period
    for _ in range(HISTORY_PERIODS):
        current = current.previous()
        end_day = min(as_of, current.end)
        if subject.kind == "org":
            org = latest_snapshots(session, organization_id, current.label, end_day, "org").get("org")
            figures = _figures(org) if org is not None else None
        else:
            reps = latest_snapshots(session, organization_id, current.label, end_day, "rep", subject.owners)
            figures = combine([_figures(s) for s in reps.values()]) if reps else None
        if figures is None:
            continue
        won = sum(won_by_owner(session, organization_id, current, subject.owners).values())
        history.append({"period": current.label, **figures, "won": won,
                        "inside_p10_p90": figures["p10"] <= won <= figures["p90"],
                        "error": figures["expected"] - won})
    return history


class _LiveFigures:
    """A snapshot-shaped row for a forecast computed on the spot."""

    def __init__(self, figures, as_of: date):
        self.expected, self.p10, self.p50, self.p90 = figures.expected, figures.p10, figures.p50, figures.p90
        self.scope_name, self.as_of = figures.name, as_of


def _small(session: Session, organization_id: int) -> bool:
    """Whether the organization is small enough to forecast while the page waits."""
    deals = session.scalar(select(func.count()).select_from(
        select(Opportunity.id).where(Opportunity.organization_id == organization_id)
        .limit(LIVE_FORECAST_MAX_DEALS + 1).subquery()))
    return deals <= LIVE_FORECAST_MAX_DEALS


def _live_forecast(session: Session, organization_id: int, period: str, as_of: date, owners):
    """Per-rep figures from scoring.forecast.revenue when no snapshot was stored yet (a small organization)."""
    from scoring.forecast.revenue import forecast

    result = forecast(session, organization_id, as_of, period, by="rep", simulations=1000)
    return {g.key: _LiveFigures(g, as_of) for g in result.groups
            if g.key != "unassigned" and (owners is None or g.key in owners)}


def parse_amount(text: str) -> float:
    """An amount typed by an admin: digits with optional separators."""
    cleaned = (text or "").replace(",", "").replace(" ", "").replace("_", "")
    try:
        return float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an amount; enter a plain number such as 250000.") from None


__all__ = ["Quota", "set_quotas", "set_quota", "quota_for", "quotas_by_owner", "forecast_against_quota",
           "parse_amount"]
