"""What scoring one deal needs from the rest of its organization, kept per worker process.

A targeted rescoring (a webhook's few deals) needs, beside the deals themselves, the organization's
outcome window, win-rate prior, owners' and accounts' track records, stage order and norms and
typical amounts. Those come from every deal, so they are computed once per process and reused while
they are exactly what a full rescoring would compute: the deal and stage-history tables are
unchanged (``fingerprint``, one aggregate query) and ``now`` has not passed a moment at which a deal
was created, closed or matured (``DealContext.valid_until``). The model version plays no part: the
context is data, the same for every model that scores it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.records.maturity import Window
from sync.store import Opportunity, OpportunityStageChange

log = logging.getLogger(__name__)
# Organizations whose context a worker keeps; the oldest is dropped past this.
KEPT_LIMIT = 16


@dataclass(frozen=True)
class DealContext:
    """The organization-wide part of deal features as of ``built_at``, exact for any now in [built_at, valid_until)."""

    window: Window
    closed: list[str]
    ranks: dict[str, float]
    norms: dict[str, float]
    typical: dict[str, float]
    prior: float
    totals: dict[str, pd.DataFrame]
    built_at: pd.Timestamp
    valid_until: pd.Timestamp | None
    fingerprint: tuple = field(default=())

    def covers(self, now: datetime) -> bool:
        """Whether features as of ``now`` see the same organization as at ``built_at``."""
        moment = pd.Timestamp(now)
        return self.built_at <= moment and (self.valid_until is None or moment < self.valid_until)


def fingerprint(session: Session, organization_id: int) -> tuple:
    """A cheap version of the rows the context summarises: counts, last writes and deletions, summed amounts."""
    def summary(model):
        return (select(func.count(model.id).filter(model.deleted_at.is_(None)), func.max(model.synced_at),
                       func.max(model.deleted_at), func.sum(model.amount).filter(model.deleted_at.is_(None)))
                .where(model.organization_id == organization_id))
    deals = session.execute(summary(Opportunity)).one()
    history = session.execute(summary(OpportunityStageChange)).one()
    return tuple(deals) + tuple(history)


class ContextCache:
    """Deal contexts by organization, rebuilt when the fingerprint changes or ``now`` leaves their range."""

    def __init__(self, limit: int = KEPT_LIMIT):
        self.limit = limit
        self.builds = 0
        self._kept: dict[tuple[str, int], DealContext] = {}

    def get(self, session: Session, organization_id: int, now: datetime, build) -> DealContext:
        """The organization's context for ``now``; ``build(session, organization_id, now)`` makes a new one."""
        version = fingerprint(session, organization_id)
        key = (str(session.get_bind().url), organization_id)  # a process may serve more than one store
        kept = self._kept.get(key)
        if kept is not None and kept.fingerprint == version and kept.covers(now):
            return kept
        context = build(session, organization_id, now)
        context = DealContext(**{**context.__dict__, "fingerprint": version})
        self.builds += 1
        self._kept.pop(key, None)
        if len(self._kept) >= self.limit:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = context
        log.info("scoring.deal-context.built organization=%s valid_until=%s", organization_id, context.valid_until)
        return context

    def clear(self) -> None:
        """Forget every kept context (the next targeted scoring builds afresh)."""
        self._kept.clear()


# The worker process's cache: one per process, like the loaded models (scoring.records.registry).
CACHE = ContextCache()
