"""The organization's deal stages as deal features see them: which ones close a deal, in what order the
open ones come, and how long a deal usually stays in each."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.records.features import as_times, raw_time
from sync.store import Opportunity, OpportunityStageChange


def closed_stages(session: Session, organization_id: int) -> list[str]:
    """The stage names the organization's closed deals are in (Closed Won, Closed Lost, …)."""
    o = Opportunity
    stmt = select(o.stage).where(o.organization_id == organization_id, o.deleted_at.is_(None),
                                 o.is_closed.is_(True), o.stage.is_not(None)).distinct()
    return sorted(session.scalars(stmt).all())


def stage_ranks(session: Session, organization_id: int, closed: list[str]) -> dict[str, float]:
    """Order of the open stages: by their typical probability, else by where they come in deals' histories."""
    h = OpportunityStageChange
    position = func.row_number().over(partition_by=(h.connection_id, h.opportunity_remote_id),
                                      order_by=(h.changed_at, h.id)).label("position")
    inner = (select(h.stage, h.probability, position)
             .where(h.organization_id == organization_id, h.deleted_at.is_(None), h.stage.is_not(None),
                    h.changed_at.is_not(None)).subquery())
    rows = session.execute(select(inner.c.stage, func.avg(inner.c.probability), func.avg(inner.c.position))
                           .group_by(inner.c.stage)).all()
    stats = [(stage, p, pos) for stage, p, pos in rows if stage not in closed]
    use_probability = bool(stats) and all(p is not None for _, p, _ in stats)
    ordered = sorted(stats, key=lambda s: ((s[1] if use_probability else 0.0), s[2]))
    return {stage: float(rank) for rank, (stage, _, _) in enumerate(ordered)}


def stage_norms(session: Session, organization_id: int, closed: list[str]) -> dict[str, float]:
    """The organization's median days spent in each open stage, over the stays that ended."""
    h = OpportunityStageChange
    rows = pd.DataFrame(session.execute(
        select(h.connection_id, h.opportunity_remote_id, h.stage, raw_time(h.changed_at))
        .where(h.organization_id == organization_id, h.deleted_at.is_(None), h.changed_at.is_not(None))
        .order_by(h.connection_id, h.opportunity_remote_id, h.changed_at, h.id)).all(),
        columns=["connection_id", "deal", "stage", "changed_at"])
    if rows.empty:
        return {}
    rows["changed_at"] = as_times(rows["changed_at"])
    following = rows.groupby(["connection_id", "deal"])["changed_at"].shift(-1)
    stays = rows.assign(days=(following - rows["changed_at"]).dt.total_seconds() / 86400.0)
    stays = stays[stays["days"].notna() & stays["stage"].notna() & ~stays["stage"].isin(closed)]
    return stays.groupby("stage")["days"].median().to_dict()
