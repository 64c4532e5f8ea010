"""Keep the panel's rollups equal to the rows they summarise, in the transaction that changes those rows.

Every writer of deals, stage changes and activities calls the hooks: the sync engine's page writer
``before_write`` and ``refresh_written`` around its upsert (an activity moved to another deal leaves
its former deal to recompute, known only before the write), a run's deletes ``before_deletes`` and
``refresh_changed`` with the run's changed ids, new exchange rates ``amounts_converted``. A refresh
deletes the touched deals' rollup rows and inserts them again from the store with one set-based
statement per chunk of deals; activity counts change by the difference the touched activities make
(``sync.activity_counts``), and so do the stage entry months with their deals' facts
(``sync.stage_months``); deal months sum their touched groups again (``sync.deal_months``). All of it happens in
the writer's transaction, so a crash leaves either both or neither.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, case, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from sync import activity_counts, deal_months, deal_state, stage_months
from sync.store import Connection, Opportunity, OpportunityStageChange
from sync.store.rollups import OpportunityStageFact

log = logging.getLogger(__name__)
CHUNK = 500
# The object types whose rows the rollups summarise.
SUMMARISED = ("opportunity", "opportunity_stage_change", "activity")


def _facts(deals) -> "select":
    """The facts of the deals matching the clause ``deals`` (on Opportunity), as one SELECT."""
    change, deal = OpportunityStageChange, Opportunity
    partition = (change.connection_id, change.opportunity_remote_id)
    order = (change.changed_at, change.id)
    live = (select(change.id.label("change_id"), deal.organization_id, change.connection_id,
                   change.opportunity_remote_id, deal.owner_remote_id, deal.stage.label("deal_stage"),
                   deal.is_closed.label("deal_is_closed"), deal.close_date.label("deal_close_date"),
                   deal.remote_created_at.label("deal_created_at"), change.stage, change.changed_at,
                   func.lag(change.stage).over(partition_by=partition, order_by=order).label("previous_stage"),
                   func.lag(change.changed_at).over(partition_by=partition, order_by=order).label("previous_at"))
            .join(deal, and_(deal.connection_id == change.connection_id, deal.remote_id == change.opportunity_remote_id))
            .where(deals, deal.deleted_at.is_(None), change.deleted_at.is_(None), change.stage.is_not(None),
                   change.changed_at.is_not(None))
            .subquery("live"))
    entry = case((or_(live.c.previous_stage.is_(None), live.c.previous_stage != live.c.stage), 1), else_=0)
    deal_of, order = (live.c.connection_id, live.c.opportunity_remote_id), (live.c.changed_at, live.c.change_id)
    flagged = select(live, entry.label("is_entry"),
                     func.sum(entry).over(partition_by=deal_of, order_by=order, rows=(None, 0)).label("stay"),
                     func.lead(live.c.stage).over(partition_by=deal_of, order_by=order).label("after_stage"),
                     func.lead(live.c.changed_at).over(partition_by=deal_of, order_by=order).label("after_at")
                     ).subquery("flagged")
    # A stay is an entry and the same-stage changes after it: the change after its last is the next entry.
    # Window functions only (no self-join), so SQLite needs no index on a subquery to build it.
    stay_of = (flagged.c.connection_id, flagged.c.opportunity_remote_id, flagged.c.stay)
    whole_stay = {"partition_by": stay_of, "order_by": (flagged.c.changed_at, flagged.c.change_id),
                  "rows": (None, None)}
    return select(flagged.c.change_id, flagged.c.organization_id, flagged.c.connection_id,
                  flagged.c.opportunity_remote_id, flagged.c.owner_remote_id, flagged.c.deal_stage,
                  flagged.c.deal_is_closed, flagged.c.deal_close_date, flagged.c.deal_created_at, flagged.c.stage,
                  flagged.c.changed_at, flagged.c.previous_at, flagged.c.is_entry == 1,
                  func.last_value(flagged.c.after_stage).over(**whole_stay),
                  func.last_value(flagged.c.after_at).over(**whole_stay))


FACT_COLUMNS = ("change_id", "organization_id", "connection_id", "opportunity_remote_id", "owner_remote_id",
                "deal_stage", "deal_is_closed", "deal_close_date", "deal_created_at", "stage", "changed_at",
                "previous_at", "is_entry", "next_stage", "next_at")


def _insert(session: Session, deals) -> None:
    session.execute(insert(OpportunityStageFact).from_select(FACT_COLUMNS, _facts(deals)))


def refresh_rollups(session: Session, connection_id: int, deal_ids: Iterable[str]) -> None:
    """Recompute the rollups of these deals of one connection (deleted or moved deals lose theirs)."""
    ids = sorted({d for d in deal_ids if d})
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        fact = OpportunityStageFact
        counted = stage_months.contribution(session, connection_id, chunk)
        session.execute(delete(fact).where(fact.connection_id == connection_id,
                                           fact.opportunity_remote_id.in_(chunk)))
        _insert(session, and_(Opportunity.connection_id == connection_id, Opportunity.remote_id.in_(chunk)))
        stage_months.apply(session, connection_id, counted, stage_months.contribution(session, connection_id, chunk))
    deal_state.refresh(session, connection_id, ids)


def deals_of(session: Session, object_type: str, connection_id: int, remote_ids: list[str]) -> set[str]:
    """The deals whose rollups rows of this type touch: the deals themselves, or a change's deal before and now."""
    if object_type == "opportunity":
        return set(remote_ids)
    if object_type == "activity":
        return deal_state.deals_of_activities(session, connection_id, remote_ids)
    if object_type != "opportunity_stage_change" or not remote_ids:
        return set()
    change, fact = OpportunityStageChange, OpportunityStageFact
    found: set[str] = set()
    for start in range(0, len(remote_ids), CHUNK):
        chunk = remote_ids[start:start + CHUNK]
        found.update(session.scalars(select(change.opportunity_remote_id).where(
            change.connection_id == connection_id, change.remote_id.in_(chunk))))
        # A change moved to another deal (or out of the facts) leaves its former deal to recompute.
        found.update(session.scalars(select(fact.opportunity_remote_id)
                                     .join(change, change.id == fact.change_id)
                                     .where(change.connection_id == connection_id, change.remote_id.in_(chunk))))
    return found


@dataclass
class Before:
    """What rows about to change fed before the change: their deals, and their activities' counts."""

    deals: set[str] = field(default_factory=set)
    activity_counts: dict = field(default_factory=dict)
    # The (owner, close month) groups of deals about to change: a deal moved out leaves its group to sum.
    deal_months: set = field(default_factory=set)


def before_write(session: Session, connection_id: int, object_type: str, remote_ids: list[str]) -> Before:
    """The hook before rows of one type are written (or their deletes applied): what they feed as stored now."""
    if object_type not in SUMMARISED or not remote_ids:
        return Before()
    return Before(deals_of(session, object_type, connection_id, remote_ids),
                  activity_counts.contribution(session, connection_id, remote_ids)
                  if object_type == "activity" else {},
                  deal_months.groups_of(session, connection_id, remote_ids) if object_type == "opportunity" else set())


def refresh_written(session: Session, connection_id: int, object_type: str, remote_ids: list[str],
                    before: Before | None = None) -> None:
    """The hook after rows of one type were written: recompute the rollups those rows feed, then and now."""
    if object_type not in SUMMARISED or not remote_ids:
        return
    before = before or Before()
    deals = before.deals | deals_of(session, object_type, connection_id, remote_ids)
    if object_type == "opportunity":
        deal_months.refresh(session, connection_id,
                            before.deal_months | deal_months.groups_of(session, connection_id, remote_ids))
    if object_type != "activity":
        refresh_rollups(session, connection_id, deals)
        return
    # Activities feed no stage fact: only their deals' state and the counts.
    deal_state.refresh(session, connection_id, deals)
    activity_counts.apply(session, connection_id, before.activity_counts,
                          activity_counts.contribution(session, connection_id, remote_ids))


def before_deletes(session: Session, connection_id: int, changed_ids: dict | None) -> Before | None:
    """The hook before a run's deletes are applied: what its listed activities count for (None: too many to list)."""
    listed = (changed_ids or {}).get("activity")
    if listed == "all":
        return None
    return before_write(session, connection_id, "activity", list(listed or []))


def refresh_changed(session: Session, connection_id: int, changed_ids: dict | None,
                    before: Before | None = None) -> None:
    """The hook after a run's deletes were applied: its changed (and deleted) ids, or "all" of a type,
    and what ``before_deletes`` read of them."""
    changed = changed_ids or {}
    if before is None or changed.get("activity") == "all":
        activity_counts.rebuild_connection(session, connection_id)
    else:
        activity_counts.apply(session, connection_id, before.activity_counts, activity_counts.contribution(
            session, connection_id, list(changed.get("activity") or [])))
    if changed.get("opportunity") == "all":
        deal_months.rebuild_connection(session, connection_id)
    else:  # a delete or a restore keeps a deal in its group: the groups are read after
        deal_months.refresh(session, connection_id,
                            deal_months.groups_of(session, connection_id, list(changed.get("opportunity") or [])))
    if any(changed.get(t) == "all" for t in SUMMARISED):
        # Too many ids to list: the facts find their deleted and restored deals themselves; the open
        # deals' state (one row per open deal, cheap to rebuild) is rebuilt whole.
        refresh_rollups(session, connection_id, deleted_or_restored(session, connection_id))
        deal_state.rebuild_connection(session, connection_id)
        return
    deals: set[str] = set()
    for object_type in SUMMARISED:
        deals |= deals_of(session, object_type, connection_id, list(changed.get(object_type) or []))
    refresh_rollups(session, connection_id, deals)


def deleted_or_restored(session: Session, connection_id: int) -> set[str]:
    """Deals whose rollup disagrees with the rows on being deleted: the pages kept everything else current."""
    fact, change, deal = OpportunityStageFact, OpportunityStageChange, Opportunity
    gone_deals = (select(fact.opportunity_remote_id)
                  .join(deal, and_(deal.connection_id == fact.connection_id,
                                   deal.remote_id == fact.opportunity_remote_id))
                  .where(fact.connection_id == connection_id, deal.deleted_at.is_not(None)))
    gone_changes = (select(fact.opportunity_remote_id).join(change, change.id == fact.change_id)
                    .where(fact.connection_id == connection_id, change.deleted_at.is_not(None)))
    missing = (select(change.opportunity_remote_id)
               .join(deal, and_(deal.connection_id == change.connection_id,
                                deal.remote_id == change.opportunity_remote_id))
               .where(change.connection_id == connection_id, change.deleted_at.is_(None), deal.deleted_at.is_(None),
                      change.stage.is_not(None), change.changed_at.is_not(None),
                      ~select(fact.change_id).where(fact.change_id == change.id).exists()))
    return set(session.scalars(gone_deals.union(gone_changes, missing)))


def rebuild_connection(session: Session, connection_id: int) -> None:
    """Recompute every rollup row of one connection."""
    session.execute(delete(OpportunityStageFact).where(OpportunityStageFact.connection_id == connection_id))
    _insert(session, Opportunity.connection_id == connection_id)
    stage_months.rebuild_connection(session, connection_id)
    deal_state.rebuild_connection(session, connection_id)
    activity_counts.rebuild_connection(session, connection_id)
    deal_months.rebuild_connection(session, connection_id)


def amounts_converted(session: Session, organization_id: int) -> None:
    """The hook after every amount of an organization was converted again (new exchange rates)."""
    deal_months.rebuild_organization(session, organization_id)


def rebuild_organization(session: Session, organization_id: int) -> None:
    """Recompute every rollup row of an organization (the migration's backfill, a bulk load)."""
    for connection_id in session.scalars(select(Connection.id).where(Connection.organization_id == organization_id)):
        rebuild_connection(session, connection_id)
    log.info("sync.rollups.rebuilt organization=%s", organization_id)
