"""Stalled deals: open deals with no activity for a while, or in their stage longer than 3 in 4 deals stay.

Read from the open deals' state the sync keeps (``sync.deal_state``), not aggregated per request.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Float, and_, case, false, func, literal, or_, select
from sqlalchemy.orm import Session

from scoring.deals_as_of import midnight
from scoring.scope import owner_filter
from scoring.team.stage_stats import stage_p75_days
from scoring.team.views import Table, record_links
from sync.sql_time import days_between
from sync.deal_state import latest_activity, latest_entry
from sync.stages import stage_names
from sync.store import Opportunity, User
from sync.store.rollups import OpenDealState

DEFAULT_IDLE_DAYS = 14
STALLED_LIMIT = 50


def stalled_deals(session: Session, organization_id: int, owners, as_of: date,
                  idle_days: int = DEFAULT_IDLE_DAYS, limit: int = STALLED_LIMIT,
                  p75: dict[str, float] | None = None) -> Table:
    """Open deals with no activity for idle_days, or in their stage longer than its P75 (default:
    the P75 over the same owners' deals; the panel passes the team's).

    Reads the open deals' state the sync keeps (sync.deal_state); a deal whose latest activity or
    stage entry is not before ``as_of`` has the one before it read from the store.
    """
    now = midnight(as_of)
    p75 = stage_p75_days(session, organization_id, as_of, owners) if p75 is None else p75
    state = OpenDealState
    last_at = case((state.last_activity_at < now, state.last_activity_at),
                   (state.last_activity_at.is_not(None),
                    latest_activity(state.connection_id, state.opportunity_remote_id, now)))
    entered_at = case((state.stage_entered_at < now, state.stage_entered_at),
                      (state.stage_entered_at.is_not(None),
                       latest_entry(state.connection_id, state.opportunity_remote_id, state.stage, now)))
    last_touch = func.coalesce(last_at, state.created_at)
    in_stage_since = func.coalesce(entered_at, state.created_at)
    # The filter and the order compare times, not day counts: one scan of the open deals stays cheap.
    too_long = (or_(*(and_(state.stage == stage, in_stage_since < now - timedelta(days=days))
                      for stage, days in p75.items())) if p75 else false())
    stalled = and_(state.organization_id == organization_id, owner_filter(state.owner_remote_id, owners),
                   state.created_at < now, or_(last_touch <= now - timedelta(days=idle_days), too_long))
    total = session.scalar(select(func.count()).select_from(state).where(stalled))
    limit_days = case(p75, value=state.stage, else_=None) if p75 else literal(None, Float)
    found = session.execute(
        select(state.connection_id, state.opportunity_remote_id, days_between(last_touch, literal(now)),
               days_between(in_stage_since, literal(now)), limit_days)
        .where(stalled).order_by(last_touch, state.opportunity_remote_id).limit(limit)).all()
    # Only the deals shown are read with their details, in a statement of their own: joined into the
    # scan above, the planner reads every deal first.
    details = {(row[0], row[1]): row for row in session.execute(
        select(Opportunity.connection_id, Opportunity.remote_id, Opportunity.name, Opportunity.owner_remote_id,
               User.name, Opportunity.stage, Opportunity.amount, Opportunity.close_date)
        .outerjoin(User, and_(User.connection_id == Opportunity.connection_id,
                              User.remote_id == Opportunity.owner_remote_id))
        .where(Opportunity.organization_id == organization_id,
               Opportunity.remote_id.in_(sorted({row[1] for row in found})),
               Opportunity.connection_id.in_(sorted({row[0] for row in found}))))}
    rows = [(*details[key[:2]], *key[2:]) for key in found if key[:2] in details]
    return stalled_table(session, organization_id, rows, idle_days, total)


def stalled_table(session: Session, organization_id: int, rows, idle_days: int, total: int | None) -> Table:
    """The stalled-deals table from its rows: (connection, deal, name, owner, owner's name, stage, amount,
    close date, idle days, days in stage, the stage's P75) each."""
    crm_link = record_links(session, organization_id)
    table = Table("stalled", [("name", "Deal"), ("owner_name", "Owner"), ("stage", "Stage"),
                              ("amount", "Amount"), ("close_date", "Close date"),
                              ("idle_days", "Days without activity"), ("days_in_stage", "Days in stage"),
                              ("stage_p75_days", "Stage P75 (days)"), ("reason", "Why"), ("url", "CRM link")],
                  note=f"No activity for {idle_days} days, or longer in the stage than 3 in 4 deals stay.")
    stages = stage_names(session, organization_id)
    for row in rows:
        reasons, stage = [], stages.label(row[5], row[0])
        if row[8] >= idle_days:
            reasons.append(f"no activity for {row[8]:.0f} days")
        if row[10] is not None and row[9] > row[10]:
            reasons.append(f"{row[9]:.0f} days in {stage} (P75 {row[10]:.0f})")
        table.rows.append({"remote_id": row[1], "name": row[2] or row[1], "owner": row[3],
                           "owner_name": row[4] or row[3], "stage": stage, "amount": row[6],
                           "close_date": row[7], "idle_days": float(row[8]), "days_in_stage": float(row[9]),
                           "stage_p75_days": float(row[10]) if row[10] is not None else None,
                           "reason": "; ".join(reasons),
                           "url": crm_link(row[0], "opportunity", row[1])})
    table.totals = {"count": int(total or 0)}
    return table
