"""Keep ``open_deal_state`` (one row per live open deal: latest activity, current stage's entry) equal to the rows.

Called by ``sync.rollups`` after the stage facts of the same deals were refreshed, in the same
transaction: a deal's row is deleted and inserted again from the store with one set-based
statement per chunk of deals.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session

from sync.store import Activity, Opportunity
from sync.store.rollups import OpenDealState, OpportunityStageFact

CHUNK = 500
COLUMNS = ("connection_id", "opportunity_remote_id", "organization_id", "owner_remote_id", "stage", "created_at",
           "last_activity_at", "stage_entered_at")


def latest_activity(connection_id, deal_id, before=None):
    """The latest live activity's time on a deal (before a moment, if given), as a scalar subquery."""
    query = select(func.max(Activity.occurred_at)).where(
        Activity.connection_id == connection_id, Activity.what_remote_id == deal_id, Activity.deleted_at.is_(None))
    if before is not None:
        query = query.where(Activity.occurred_at < before)
    return query.scalar_subquery()


def latest_entry(connection_id, deal_id, stage, before=None):
    """The latest entry of a deal into a stage (before a moment, if given), as a scalar subquery."""
    fact = OpportunityStageFact
    query = select(func.max(fact.changed_at)).where(
        fact.connection_id == connection_id, fact.opportunity_remote_id == deal_id, fact.is_entry.is_(True),
        fact.stage == stage)
    if before is not None:
        query = query.where(fact.changed_at < before)
    return query.scalar_subquery()


def _states(deals):
    deal = Opportunity
    return (select(deal.connection_id, deal.remote_id, deal.organization_id, deal.owner_remote_id, deal.stage,
                   deal.remote_created_at, latest_activity(deal.connection_id, deal.remote_id),
                   latest_entry(deal.connection_id, deal.remote_id, deal.stage))
            .where(deals, deal.deleted_at.is_(None), deal.is_closed.is_(False)))


def refresh(session: Session, connection_id: int, deal_ids: Iterable[str]) -> None:
    """Recompute the rows of these deals of one connection (closed, deleted or moved deals lose theirs)."""
    ids = sorted({d for d in deal_ids if d})
    state = OpenDealState
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(delete(state).where(state.connection_id == connection_id,
                                            state.opportunity_remote_id.in_(chunk)))
        session.execute(insert(state).from_select(COLUMNS, _states(
            and_(Opportunity.connection_id == connection_id, Opportunity.remote_id.in_(chunk)))))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Recompute every row of one connection."""
    session.execute(delete(OpenDealState).where(OpenDealState.connection_id == connection_id))
    session.execute(insert(OpenDealState).from_select(COLUMNS, _states(Opportunity.connection_id == connection_id)))


def deals_of_activities(session: Session, connection_id: int, remote_ids: list[str]) -> set[str]:
    """The deals these activities are logged on now (called before a write too, for the deals they leave)."""
    found: set[str] = set()
    for start in range(0, len(remote_ids), CHUNK):
        found.update(d for d in session.scalars(select(Activity.what_remote_id).where(
            Activity.connection_id == connection_id, Activity.remote_id.in_(remote_ids[start:start + CHUNK]))) if d)
    return found
