"""Features of opportunities (deals) from the store, as of a point in each deal's life.

An open deal is described as of ``now``. A mature deal (created at least one outcome window ago,
scoring.records.maturity) is learnt from, labelled won when it was won within the window, and described
at a moment of its open life drawn from a hash of its id, as an open deal is seen when scored:

- ``stage`` is the stage it was in at that moment from the stage history, never a closed stage;
- ``age_days`` is its age then (exposure: used, never shown as a reason), ``days_in_stage`` the
  time in that stage and ``stage_velocity`` that time against the organization's median stay;
- activities (their recency and mix), stage moves and close-date pushes count only changes
  before that moment;
- ``amount`` is taken from the last history row before that moment when there is one (amounts
  are often corrected or zeroed at the close), and ``amount_vs_typical`` against the median of
  its product; the leakage guard still checks both;
- the owner's (all-time and recent) and the account's win rates count only deals closed before
  that moment (scoring.records.track_records).

Never used: ``close_date`` (for a closed deal it is the closing date), ``probability`` (the CRM sets
it from the stage, 0 or 100 once closed) and ``is_closed``/``is_won`` (the outcome).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.orm import Session

from scoring.records import deal_context
from scoring.records.deal_context import DealContext
from scoring.records.deal_stages import closed_stages, stage_norms, stage_ranks
from scoring.records.features import (ENGAGEMENT_KINDS, FeatureSet, ScoringScope, activity_engagement, as_of_table,
                                      as_times, day_start, described, drop_table, empty_feature_set, existing_at,
                                      merge_engagement, open_time, raw_time, resolve_now, snapshot_moments,
                                      whole_days_between)
from scoring.records.maturity import Window, outcome_window
from scoring.records.track_records import add_win_rate, running_totals, track_record
from sync.store import Activity, Opportunity, OpportunityStageChange

DEAL_KINDS = {"amount": "numeric", "amount_vs_typical": "numeric", "stage": "categorical", "age_days": "numeric",
              "days_in_stage": "numeric", "stage_velocity": "numeric", "stage_moves_forward": "numeric",
              "stage_moves_back": "numeric", "close_date_pushes": "numeric", **ENGAGEMENT_KINDS,
              "owner_win_rate": "numeric", "owner_closed_deals": "numeric", "owner_recent_win_rate": "numeric",
              "owner_recent_closed_deals": "numeric", "account_win_rate": "numeric",
              "account_closed_deals": "numeric", "product": "categorical", "lead_source": "categorical",
              "type": "categorical"}

LEAKAGE_NOTES = {
    "close_date": "not a feature: for a closed deal it is the day it closed",
    "probability": "not a feature: the CRM sets it from the stage, 0 or 100 once closed",
    "stage": "the stage the deal was in at the moment it is described, never the closed stage",
    "activities": "only activities before the moment the deal is described",
    "amount": "as recorded at the last stage change before that moment when the history has it",
}


def _deals(session: Session, organization_id: int, only: ScoringScope | None = None) -> pd.DataFrame:
    """The organization's deals (or only those named by a scope), with the time each closed deal entered
    its closed stage."""
    o, h = Opportunity, OpportunityStageChange
    first_change = raw_time(func.min(h.changed_at).label("closed_at"))
    named_changes = named_deals = true()
    if only is not None:
        named_changes = and_(h.connection_id == only.connection_id, h.opportunity_remote_id.in_(only.remote_ids))
        named_deals = and_(o.connection_id == only.connection_id, o.remote_id.in_(only.remote_ids))
    entered = (select(h.connection_id, h.opportunity_remote_id, h.stage, first_change)
               .where(h.organization_id == organization_id, h.deleted_at.is_(None), named_changes)
               .group_by(h.connection_id, h.opportunity_remote_id, h.stage).subquery())
    stmt = (select(o.connection_id, o.remote_id, o.stage.label("current_stage"), o.amount.label("current_amount"),
                   o.close_date, o.is_closed, o.is_won, o.owner_remote_id, o.account_remote_id, o.product,
                   o.lead_source, o.type, raw_time(o.remote_created_at), raw_time(o.remote_modified_at),
                   entered.c.closed_at)
            .outerjoin(entered, and_(entered.c.connection_id == o.connection_id,
                                     entered.c.opportunity_remote_id == o.remote_id, entered.c.stage == o.stage,
                                     o.is_closed.is_(True)))
            .where(o.organization_id == organization_id, o.deleted_at.is_(None), named_deals))
    deals = pd.DataFrame(session.execute(stmt).all(),
                         columns=["connection_id", "remote_id", "current_stage", "current_amount", "close_date",
                                  "is_closed", "is_won", "owner_remote_id", "account_remote_id", "product",
                                  "lead_source", "type", "remote_created_at", "remote_modified_at", "closed_at"])
    for column in ("remote_created_at", "remote_modified_at", "closed_at"):
        deals[column] = as_times(deals[column])
    return deals


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
    moves_df = pd.DataFrame(session.execute(moves).all(),
                            columns=["row_id", "stage_moves_forward", "stage_moves_back",
                                     "close_date_pushes", "stage_entered_at"])
    last_df = pd.DataFrame(session.execute(last).all(),
                           columns=["row_id", "history_stage", "history_amount"])
    return moves_df.merge(last_df, on="row_id", how="outer")


def _closed_time(deals: pd.DataFrame) -> pd.Series:
    """When each deal closed: entering its closed stage, else its close date, else its last change."""
    closed_time = pd.to_datetime(deals["closed_at"])
    closed_time = closed_time.fillna(pd.to_datetime(deals["close_date"].map(day_start)))
    return closed_time.fillna(pd.to_datetime(deals["remote_modified_at"]))


def _rows(deals: pd.DataFrame, now: datetime, scope: ScoringScope | None,
          window: Window | None = None) -> tuple[pd.DataFrame, Window]:
    """One row per moment a deal is described: learnt from (mature, seen mid-life), scored (open, now), or context.

    Every deal keeps one row as context for owners' and accounts' track records (its real close
    time and outcome); an open deal older than the window also gets a labelled row, without them.
    ``window``, when given, is the organization's (the deals given are then only some of them).
    """
    created = pd.to_datetime(deals["remote_created_at"])
    closed_time = _closed_time(deals)
    closed_by_now = deals["is_closed"].astype(bool) & closed_time.notna() & (closed_time <= now)
    if window is None:
        window = outcome_window(((closed_time - created).dt.total_seconds() / 86400.0)[closed_by_now],
                                "opportunity", "closed")
    span = timedelta(days=window.days)
    mature = created.notna() & (created <= now - span)
    in_time = closed_by_now & (closed_time <= created + span)
    won = in_time & deals["is_won"].astype(bool)
    end = (created + span).where(~in_time, closed_time)
    learnable = mature & (end > created)
    keys = deals["connection_id"].astype(str) + ":" + deals["remote_id"].astype(str)
    snapshot = snapshot_moments(keys, created, end)
    base = deals.assign(closed_at=closed_time.where(closed_by_now), won=(closed_by_now & deals["is_won"]
                                                                          .astype(bool)).astype(int),
                        weight=open_time(created, end))
    # A closed deal's one row is its labelled row when mature, else context only.
    closed_rows = base[closed_by_now].assign(as_of=snapshot[closed_by_now], is_open=False,
                                             label=won[closed_by_now].astype(float).where(learnable[closed_by_now]),
                                             known_at=closed_time[closed_by_now].where(in_time[closed_by_now],
                                                                                       created + span))
    open_rows = base[~closed_by_now].assign(as_of=pd.Timestamp(now), is_open=True, label=np.nan, known_at=pd.NaT,
                                            weight=1.0)
    stale = ~closed_by_now & learnable  # open past its window: a negative, seen mid-window
    stale_rows = base[stale].assign(as_of=snapshot[stale], is_open=False, label=0.0, known_at=(created + span)[stale],
                                    closed_at=pd.NaT, won=0)
    rows = pd.concat([closed_rows, open_rows, stale_rows], ignore_index=True)
    wanted = rows["is_open"] | rows["label"].notna()
    if scope is not None:
        wanted = rows["is_open"] & scope.mask(rows)
    rows["wanted"] = wanted.astype(int)
    rows["row_id"] = np.arange(len(rows))
    return rows, window


def deal_features(session: Session, organization_id: int, now: datetime | None = None,
                  scope: ScoringScope | None = None, context: DealContext | None = None) -> FeatureSet:
    """Features, labels and as-of times of the organization's deals that existed at ``now`` (or those in scope).

    With a ``context`` (``deal_context``, covering ``now``) and a scope naming its deals, only those
    deals are read: the rest of the organization comes from the context.
    """
    now = resolve_now(now)
    targeted = context is not None and scope is not None and scope.remote_ids is not None
    deals = existing_at(_deals(session, organization_id, scope if targeted else None), now)
    if deals.empty:
        return empty_feature_set("opportunity", DEAL_KINDS, LEAKAGE_NOTES)
    deals, window = _rows(deals, now, scope, context.window if targeted else None)
    if not targeted:
        context = _context_of(session, organization_id, deals, window, now)
    return _wanted_features(session, organization_id, deals, context)


def build_context(session: Session, organization_id: int, now: datetime) -> DealContext:
    """The organization-wide part of deal features as of ``now`` (see scoring.records.deal_context)."""
    deals = existing_at(_deals(session, organization_id), now)
    nobody = ScoringScope(-1, frozenset())
    rows, window = _rows(deals, now, nobody)
    return _context_of(session, organization_id, rows, window, now, _next_moment(deals, now, window))


def targeted_context(session: Session, organization_id: int, now: datetime | None = None) -> DealContext:
    """The process's kept context for the organization, rebuilt when its deals changed or ``now`` passed it."""
    return deal_context.CACHE.get(session, organization_id, resolve_now(now), build_context)


def _next_moment(deals: pd.DataFrame, now: datetime, window: Window) -> pd.Timestamp | None:
    """The first moment after ``now`` at which a deal is created, closes or matures: the context changes there."""
    created = pd.to_datetime(deals["remote_created_at"])
    closed_time = _closed_time(deals).where(deals["is_closed"].astype(bool))
    moments = pd.concat([created, closed_time, created + timedelta(days=window.days)])
    later = moments[moments > pd.Timestamp(now)]
    return later.min() if not later.empty else None


def _context_of(session: Session, organization_id: int, deals: pd.DataFrame, window: Window, now: datetime,
                valid_until: pd.Timestamp | None = None) -> DealContext:
    """The organization-wide figures deal features use, from every deal's rows."""
    closed = closed_stages(session, organization_id)
    context = deals["closed_at"].notna()
    product = deals["product"].fillna("(none)")
    typical = pd.to_numeric(deals["current_amount"], errors="coerce").groupby(product).median()
    return DealContext(window=window, closed=closed, ranks=stage_ranks(session, organization_id, closed),
                       norms=stage_norms(session, organization_id, closed), typical=typical.to_dict(),
                       prior=float(deals.loc[context, "won"].mean()) if context.any() else 0.5,
                       totals={"owner_key": running_totals(deals.assign(owner_key=deals["owner_remote_id"]),
                                                           "owner_key"),
                               "account_key": running_totals(deals.assign(account_key=deals["account_remote_id"]),
                                                             "account_key")},
                       built_at=pd.Timestamp(now), valid_until=valid_until)


def _wanted_features(session: Session, organization_id: int, deals: pd.DataFrame,
                     context: DealContext) -> FeatureSet:
    """The feature rows of the wanted deals, against the organization's context."""
    deals["owner_key"] = deals["owner_remote_id"]
    deals["account_key"] = deals["account_remote_id"]
    closed = context.closed
    # Only the rows described need SQL; the others are context for the track records, counted in memory.
    asof = as_of_table(session, deals[deals["wanted"] == 1], "scoring_deal_asof")
    try:
        engagement = activity_engagement(session, organization_id, asof, Activity.what_remote_id)
        history = _history(session, organization_id, asof, closed, context.ranks)
    finally:
        drop_table(session, asof)
    owners = track_record(deals, context.totals["owner_key"], "owner_key")
    recent = track_record(deals, context.totals["owner_key"], "owner_key", recent=True)
    accounts = track_record(deals, context.totals["account_key"], "account_key")

    deals = merge_engagement(deals, engagement).merge(history, on="row_id", how="left")
    scored = deals["is_open"].astype(bool) & deals["current_stage"].notna()
    deals["stage"] = deals["current_stage"].where(scored, deals["history_stage"])
    deals["stage"] = deals["stage"].where(~deals["stage"].isin(closed))
    entered = pd.to_datetime(deals["stage_entered_at"]).where(deals["stage"] == deals["history_stage"])
    entered = entered.fillna(pd.to_datetime(deals["remote_created_at"]))
    deals["days_in_stage"] = whole_days_between(entered, deals["as_of"])
    deals["age_days"] = whole_days_between(deals["remote_created_at"], deals["as_of"])
    amount = deals["current_amount"].where(scored, deals["history_amount"].fillna(deals["current_amount"]))
    deals["amount"] = pd.to_numeric(amount, errors="coerce")
    for column in ("stage_moves_forward", "stage_moves_back", "close_date_pushes"):
        deals[column] = deals[column].fillna(0).astype(float)
    deals = _against_norms(deals, context.norms, context.typical)
    deals = add_win_rate(deals, owners, "owner_key", context.prior, "owner")
    deals = add_win_rate(deals, recent, "owner_key", context.prior, "owner_recent")
    deals = add_win_rate(deals, accounts, "account_key", context.prior, "account")

    deals = deals[deals["wanted"] == 1]
    return described("opportunity", deals, DEAL_KINDS, LEAKAGE_NOTES, context.window)


def _against_norms(deals: pd.DataFrame, norms: dict[str, float], typical: dict[str, float]) -> pd.DataFrame:
    """Time in stage against the organization's median stay in that stage; amount against its product's median."""
    stage_norm = deals["stage"].map(norms).astype(float)
    deals["stage_velocity"] = deals["days_in_stage"] / stage_norm.clip(lower=1.0)
    product = deals["product"].fillna("(none)")
    typical = product.map(typical).astype(float)
    deals["amount_vs_typical"] = deals["amount"] / typical.where(typical > 0)
    return deals
