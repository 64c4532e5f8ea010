"""The period a team panel view opens on: the latest quarter up to the as-of day that has data for it.

A store copied from a CRM whose last deals closed weeks before the as-of day would otherwise open on
an empty quarter ("Nothing to show"), although the quarters before it are full.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import Period, midnight, parse_period
from scoring.scope import owner_filter
from sync.store import Lead, Opportunity

# What each view counts: closed deals (by close date), leads (by creation), or the open pipeline.
VIEW_DATA = {"winloss": "closed", "benchmarks": "closed", "coaching": "closed", "funnel": "leads"}


def quarter_of(day: date) -> Period:
    """The calendar quarter containing the day."""
    return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")


def latest_data_day(session: Session, organization_id: int, owners, kind: str, as_of: date) -> date | None:
    """The last day before as_of with a closed deal or a created lead in the scope, or None."""
    if kind == "closed":
        day = session.scalar(select(func.max(Opportunity.close_date)).where(
            Opportunity.organization_id == organization_id, Opportunity.deleted_at.is_(None),
            Opportunity.is_closed.is_(True), Opportunity.close_date < as_of,
            owner_filter(Opportunity.owner_remote_id, owners)))
    else:
        day = session.scalar(select(func.max(Lead.remote_created_at)).where(
            Lead.organization_id == organization_id, Lead.deleted_at.is_(None),
            Lead.remote_created_at < midnight(as_of),
            owner_filter(Lead.owner_remote_id, owners)))
    if day is None:
        return None
    return day.date() if isinstance(day, datetime) else day


def default_period(session: Session, organization_id: int, owners, view: str, as_of: date) -> Period:
    """The as-of quarter for the pipeline and forecast; for the others the latest quarter with their data."""
    current = quarter_of(as_of)
    kind = VIEW_DATA.get(view)
    if kind is None:
        return current
    day = latest_data_day(session, organization_id, owners, kind, as_of + timedelta(days=1))
    return quarter_of(day) if day is not None and day < current.start else current
