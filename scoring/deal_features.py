"""Features of opportunities (deals) from the store, as of a point in each deal's life.

An open deal is described as of ``now``. A closed deal (the training data) is described as of
the moment it closed, so its features are what a rep could have seen just before the outcome:

- ``stage`` is the last OPEN stage from the stage history, never the closed stage itself;
- ``age_days`` is its age at closing, ``days_in_stage`` the time spent in that last open stage;
- activities, stage moves and close-date pushes count only changes strictly before closing;
- ``amount`` is taken from the last open history row when there is one (closed-lost deals are
  often zeroed), and the leakage guard still checks it;
- the owner's and the account's win rates count only deals closed before this one's as-of time.

Never used: ``close_date`` (for a closed deal it is the closing date), ``probability`` (the CRM sets
it from the stage, 0 or 100 once closed) and ``is_closed``/``is_won`` (the outcome).
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Column, DateTime, Integer, String, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from scoring.features import (ENGAGEMENT_KINDS, FeatureSet, ScoringScope, activity_engagement, as_of_table,
                              day_start, days_between, drop_table, empty_feature_set, merge_engagement,
                              resolve_now)
from sync.models import Activity, Opportunity, OpportunityStageChange

# Pseudo-deals pulling an owner's or account's win rate toward the organization's.
WIN_RATE_SMOOTHING = 5.0

DEAL_KINDS = {"amount": "numeric", "stage": "categorical", "age_days": "numeric", "days_in_stage": "numeric",
              "stage_moves_forward": "numeric", "stage_moves_back": "numeric", "close_date_pushes": "numeric",
              **ENGAGEMENT_KINDS, "owner_win_rate": "numeric", "owner_closed_deals": "numeric",
              "account_win_rate": "numeric", "account_closed_deals": "numeric", "product": "categorical",
              "lead_source": "categorical", "type": "categorical"}

LEAKAGE_NOTES = {
    "close_date": "not a feature: for a closed deal it is the day it closed",
    "probability": "not a feature: the CRM sets it from the stage, 0 or 100 once closed",
    "stage": "the last open stage before closing, never the closed stage",
    "activities": "only activities before the deal closed",
    "amount": "as recorded at the last open stage change when the history has it",
}


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


def _deals(session: Session, organization_id: int) -> pd.DataFrame:
    """The organization's deals, with the time each closed deal entered its closed stage."""
    o, h = Opportunity, OpportunityStageChange
    first_change = func.min(h.changed_at).label("closed_at")
    entered = (select(h.connection_id, h.opportunity_remote_id, h.stage, first_change)
               .where(h.organization_id == organization_id, h.deleted_at.is_(None))
               .group_by(h.connection_id, h.opportunity_remote_id, h.stage).subquery())
    stmt = (select(o.connection_id, o.remote_id, o.stage.label("current_stage"), o.amount.label("current_amount"),
                   o.close_date, o.is_closed, o.is_won, o.owner_remote_id, o.account_remote_id, o.product,
                   o.lead_source, o.type, o.remote_created_at, o.remote_modified_at, entered.c.closed_at)
            .outerjoin(entered, and_(entered.c.connection_id == o.connection_id,
                                     entered.c.opportunity_remote_id == o.remote_id, entered.c.stage == o.stage,
                                     o.is_closed.is_(True)))
            .where(o.organization_id == organization_id, o.deleted_at.is_(None)))
    return pd.DataFrame(session.execute(stmt).mappings().all(),
                        columns=["connection_id", "remote_id", "current_stage", "current_amount", "close_date",
                                 "is_closed", "is_won", "owner_remote_id", "account_remote_id", "product",
                                 "lead_source", "type", "remote_created_at", "remote_modified_at", "closed_at"])


def _history(session: Session, organization_id: int, asof, closed: list[str], ranks: dict) -> pd.DataFrame:
    """Per deal, from its stage history before its as-of time: moves, pushes, last open stage and since when."""
    h = OpportunityStageChange
    rank = case(ranks, value=h.stage, else_=None) if ranks else literal(None)
    window = {"partition_by": asof.c.row_id, "order_by": (h.changed_at, h.id)}
    inner = (select(asof.c.row_id, h.stage, h.amount, h.close_date, h.changed_at,
                    rank.label("rank"), func.lag(rank).over(**window).label("prev_rank"),
                    func.lag(h.close_date).over(**window).label("prev_close"),
                    func.lag(h.stage).over(**window).label("prev_stage"),
                    func.row_number().over(partition_by=window["partition_by"],
                                           order_by=(h.changed_at.desc(), h.id.desc())).label("recency"))
             .join(h, and_(h.connection_id == asof.c.connection_id, h.opportunity_remote_id == asof.c.remote_id))
             .where(h.organization_id == organization_id, h.deleted_at.is_(None), h.changed_at.is_not(None),
                    h.changed_at < asof.c.as_of, or_(h.stage.is_(None), h.stage.not_in(closed)),
                    asof.c.wanted == 1)
             .subquery())
    i = inner.c
    moves = (select(i.row_id,
                    func.sum(case((i.rank > i.prev_rank, 1), else_=0)).label("stage_moves_forward"),
                    func.sum(case((i.rank < i.prev_rank, 1), else_=0)).label("stage_moves_back"),
                    func.sum(case((i.close_date > i.prev_close, 1), else_=0)).label("close_date_pushes"),
                    func.max(case((or_(i.prev_stage.is_(None), i.stage != i.prev_stage), i.changed_at),
                                  else_=None)).label("stage_entered_at"))
             .group_by(i.row_id))
    last = select(i.row_id, i.stage.label("history_stage"),
                  i.amount.label("history_amount")).where(i.recency == 1)
    moves_df = pd.DataFrame(session.execute(moves).mappings().all(),
                            columns=["row_id", "stage_moves_forward", "stage_moves_back",
                                     "close_date_pushes", "stage_entered_at"])
    last_df = pd.DataFrame(session.execute(last).mappings().all(),
                           columns=["row_id", "history_stage", "history_amount"])
    return moves_df.merge(last_df, on="row_id", how="outer")


def _track_record(session: Session, asof, key: str) -> pd.DataFrame:
    """Per deal: deals of the same owner (or account) closed before its as-of time, and how many were won."""
    mine, other = asof, asof.alias("earlier")
    stmt = (select(mine.c.row_id, func.count(other.c.remote_id).label("closed"),
                   func.sum(other.c.won).label("won"))
            .join(other, and_(other.c.connection_id == mine.c.connection_id, other.c[key] == mine.c[key],
                              other.c.closed_at.is_not(None), other.c.closed_at < mine.c.as_of))
            .where(mine.c.wanted == 1)
            .group_by(mine.c.row_id))
    return pd.DataFrame(session.execute(stmt).mappings().all(), columns=["row_id", "closed", "won"])


def _win_rate(deals: pd.DataFrame, record: pd.DataFrame, key: str, prior: float, name: str) -> pd.DataFrame:
    """Add a smoothed win rate and closed-deal count per deal (missing without an owner/account)."""
    merged = deals[["row_id"]].merge(record, on="row_id", how="left")
    closed = merged["closed"].fillna(0).astype(float).to_numpy()
    won = merged["won"].fillna(0).astype(float).to_numpy()
    rate = (won + WIN_RATE_SMOOTHING * prior) / (closed + WIN_RATE_SMOOTHING)
    known = deals[key].notna().to_numpy()
    deals[f"{name}_win_rate"] = np.where(known, rate, np.nan)
    deals[f"{name}_closed_deals"] = np.where(known, closed, np.nan)
    return deals


def deal_features(session: Session, organization_id: int, now: datetime | None = None,
                  scope: ScoringScope | None = None) -> FeatureSet:
    """Features, labels and as-of times of the organization's deals that existed at ``now`` (or those in scope).

    Every deal still goes into the as-of table, as context for owners' and accounts' track records.
    """
    now = resolve_now(now)
    deals = _deals(session, organization_id)
    created = pd.to_datetime(deals["remote_created_at"])
    deals = deals[created.isna() | (created <= now)].reset_index(drop=True)
    if deals.empty:
        return empty_feature_set("opportunity", DEAL_KINDS, LEAKAGE_NOTES)
    deals["row_id"] = np.arange(len(deals))
    closed_time = pd.to_datetime(deals["closed_at"])
    closed_time = closed_time.fillna(pd.to_datetime(deals["close_date"].map(day_start)))
    closed_time = closed_time.fillna(pd.to_datetime(deals["remote_modified_at"]))
    closed_by_now = deals["is_closed"].astype(bool) & closed_time.notna() & (closed_time <= now)
    deals["as_of"] = closed_time.where(closed_by_now, pd.Timestamp(now))
    deals["closed_at"] = closed_time.where(closed_by_now)
    deals["won"] = (closed_by_now & deals["is_won"].astype(bool)).astype(int)
    deals["wanted"] = 1 if scope is None else (scope.mask(deals) & ~closed_by_now).astype(int)
    deals["owner_key"] = deals["owner_remote_id"]
    deals["account_key"] = deals["account_remote_id"]

    closed = closed_stages(session, organization_id)
    ranks = stage_ranks(session, organization_id, closed)
    asof = as_of_table(session, deals, "scoring_deal_asof",
                       (Column("owner_key", String(64)), Column("account_key", String(64)),
                        Column("closed_at", DateTime), Column("won", Integer)))
    try:
        engagement = activity_engagement(session, organization_id, asof, Activity.what_remote_id)
        history = _history(session, organization_id, asof, closed, ranks)
        owners = _track_record(session, asof, "owner_key")
        accounts = _track_record(session, asof, "account_key")
    finally:
        drop_table(session, asof)

    deals = merge_engagement(deals, engagement).merge(history, on="row_id", how="left")
    still_open = ~deals["is_closed"].astype(bool) & deals["current_stage"].notna()
    deals["stage"] = deals["current_stage"].where(still_open, deals["history_stage"])
    deals["stage"] = deals["stage"].where(~deals["stage"].isin(closed))
    entered = pd.to_datetime(deals["stage_entered_at"]).where(deals["stage"] == deals["history_stage"])
    entered = entered.fillna(pd.to_datetime(deals["remote_created_at"]))
    deals["days_in_stage"] = days_between(entered, deals["as_of"])
    deals["age_days"] = days_between(deals["remote_created_at"], deals["as_of"])
    amount = deals["current_amount"].where(still_open, deals["history_amount"].fillna(deals["current_amount"]))
    deals["amount"] = pd.to_numeric(amount, errors="coerce")
    for column in ("stage_moves_forward", "stage_moves_back", "close_date_pushes"):
        deals[column] = deals[column].fillna(0).astype(float)
    closed_deals = deals["closed_at"].notna()
    prior = float(deals.loc[closed_deals, "won"].mean()) if closed_deals.any() else 0.5
    deals = _win_rate(deals, owners, "owner_key", prior, "owner")
    deals = _win_rate(deals, accounts, "account_key", prior, "account")

    meta = pd.DataFrame({"connection_id": deals["connection_id"], "remote_id": deals["remote_id"],
                         "as_of": deals["as_of"], "label": deals["won"].astype(float).where(closed_by_now),
                         "is_open": ~closed_by_now, "known_at": pd.to_datetime(deals["closed_at"])})
    frame = deals[list(DEAL_KINDS)].copy()
    if scope is not None:
        keep = (deals["wanted"] == 1).to_numpy()
        frame, meta = frame[keep], meta[keep]
    return FeatureSet("opportunity", frame, meta, dict(DEAL_KINDS), dict(LEAKAGE_NOTES))
