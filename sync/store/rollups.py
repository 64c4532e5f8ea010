"""Rollups of synced rows that the team panel reads instead of recomputing them per request.

``OpportunityStageFact`` holds, for every live stage change of a live deal, what the panel's
stage views used to derive with window functions over the whole change history: whether the
change enters a new stage, when the change before it was made, the next stage entry, and the
deal's own fields the views filter on. ``sync.rollups`` keeps it equal to the rows it summarises.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, String, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from sync.sql_time import day_start, days_between
from sync.store.base import Base


class OpportunityStageFact(Base):
    """One live stage change of a live deal, with its neighbours (see the module docstring)."""

    __tablename__ = "opportunity_stage_fact"

    # The change's own id (opportunity_stage_change.id): ties in changed_at are ordered by it.
    change_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    opportunity_remote_id: Mapped[str] = mapped_column(String(64))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    deal_stage: Mapped[str | None] = mapped_column(String(64))
    deal_is_closed: Mapped[bool] = mapped_column(Boolean)
    deal_close_date: Mapped[date | None]
    deal_created_at: Mapped[datetime | None]
    stage: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    # The deal's change just before this one (any stage), None for its first.
    previous_at: Mapped[datetime | None]
    # The stage differs from the change before (or there is none).
    is_entry: Mapped[bool] = mapped_column(Boolean)
    # The deal's next stage entry after this change, None while the stay goes on.
    next_stage: Mapped[str | None] = mapped_column(String(64))
    next_at: Mapped[datetime | None]


# On PostgreSQL the window scan of the stage views reads this index alone (an index-only scan): it
# carries every column they read.
WINDOW_COLUMNS = ("owner_remote_id", "stage", "is_entry", "previous_at", "deal_created_at", "deal_is_closed",
                  "deal_close_date", "next_stage", "next_at", "connection_id", "opportunity_remote_id", "deal_stage")
Index("ix_stage_fact_org_changed", OpportunityStageFact.organization_id, OpportunityStageFact.changed_at,
      postgresql_include=list(WINDOW_COLUMNS))
Index("ix_stage_fact_org_owner_changed", OpportunityStageFact.organization_id, OpportunityStageFact.owner_remote_id,
      OpportunityStageFact.changed_at)
Index("ix_stage_fact_deal", OpportunityStageFact.connection_id, OpportunityStageFact.opportunity_remote_id)


class OpenDealState(Base):
    """One live open deal with what its stalled check reads: its latest activity and its current stage's entry.

    Both times are the latest overall; a reader asking about an earlier moment reads the base rows for
    the few deals whose latest is not before that moment.
    """

    __tablename__ = "open_deal_state"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    opportunity_remote_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime | None]
    # The deal's latest live activity (None: none logged).
    last_activity_at: Mapped[datetime | None]
    # The latest stage entry (see OpportunityStageFact.is_entry) into the stage the deal is in now.
    stage_entered_at: Mapped[datetime | None]


Index("ix_open_deal_state_org_owner", OpenDealState.organization_id, OpenDealState.owner_remote_id)


class _ActivityCount:
    """How many live activities of one kind an owner logged in one month or day (by occurred_at).

    '' stands for no owner or no kind (key columns are never NULL); activities without a time are not counted.
    """

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The first day of the month (or the day) counted.
    starts_on: Mapped[date] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    activities: Mapped[int]


class ActivityMonthCount(_ActivityCount, Base):
    """Activities per owner, kind and calendar month: what whole months of a window read."""

    __tablename__ = "activity_month_count"


class ActivityDayCount(_ActivityCount, Base):
    """Activities per owner, kind and day: what the days of a window's cut-short month read."""

    __tablename__ = "activity_day_count"


# Readers sum a window of counts from the index alone on PostgreSQL (an index-only scan).
COUNT_COLUMNS = ("owner_key", "kind_key", "activities")
Index("ix_activity_month_count_org_starts", ActivityMonthCount.organization_id, ActivityMonthCount.starts_on,
      postgresql_include=list(COUNT_COLUMNS))
Index("ix_activity_day_count_org_starts", ActivityDayCount.organization_id, ActivityDayCount.starts_on,
      postgresql_include=list(COUNT_COLUMNS))


# The close month of deals without a close date (key columns are never NULL).
NO_CLOSE_DATE = date(1, 1, 1)


class OpportunityMonthRollup(Base):
    """Live deals per owner, stage, outcome and calendar month of their close date: what the period
    figures, open pipeline by stage, velocity and benchmarks add up over whole months (``sync.deal_months``).

    '' stands for no owner or no stage; sums leave deals without an amount (or a cycle) out and count
    the ones they hold, so an average is a sum over a count.
    """

    __tablename__ = "opportunity_month_rollup"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_closed: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    is_won: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    # The first day of the close date's month; NO_CLOSE_DATE for none.
    close_month: Mapped[date] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    deals: Mapped[int]
    amount_sum: Mapped[float] = mapped_column(Float)
    amounts: Mapped[int]
    # Days from creation to close date, summed over the deals that have both.
    cycle_days_sum: Mapped[float] = mapped_column(Float)
    cycles: Mapped[int]


Index("ix_opportunity_month_rollup_org_month", OpportunityMonthRollup.organization_id,
      OpportunityMonthRollup.close_month)


class StageEntryMonth(Base):
    """Regular stage entries (``sync.stage_months``) per stage, calendar month, next stage, the next entry's
    month and whole days in the stage: what a window's whole months add to the stage views.

    '' and NO_CLOSE_DATE stand for no next entry, whose day bucket is -1.
    """

    __tablename__ = "stage_entry_month"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    changed_month: Mapped[date] = mapped_column(primary_key=True)
    next_stage_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_month: Mapped[date] = mapped_column(primary_key=True)
    day_bucket: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    entries: Mapped[int]
    # Microseconds from each entry to its next, summed (0 while the stays go on).
    stay_us: Mapped[int] = mapped_column(BigInteger)


Index("ix_stage_entry_month_org_month", StageEntryMonth.organization_id, StageEntryMonth.changed_month,
      postgresql_include=["stage", "next_stage_key", "next_month", "day_bucket", "entries", "stay_us"])


def irregular(fact=OpportunityStageFact):
    """Facts a whole month of a window may not count as they stand (the readers take them from the facts)."""
    return or_(fact.is_entry.is_(False), fact.deal_created_at.is_(None), fact.deal_created_at > fact.changed_at,
               and_(fact.deal_is_closed.is_(True),
                    or_(fact.deal_close_date.is_(None), fact.deal_close_date < day_start(fact.changed_at))))


# The stage readers' ways into the facts: the irregular ones of a window, the entries whose next entry
# falls in a month a window cuts short, and (PostgreSQL) one stage's stays of a given length.
Index("ix_stage_fact_org_irregular", OpportunityStageFact.organization_id, OpportunityStageFact.changed_at,
      postgresql_where=irregular(), sqlite_where=irregular())
# Both carry what the window's conditions read, so PostgreSQL answers from the index alone.
ENTRY_COLUMNS = ["owner_remote_id", "stage", "changed_at", "next_at", "next_stage", "is_entry", "previous_at",
                 "deal_created_at", "deal_is_closed", "deal_close_date"]
Index("ix_stage_fact_org_next", OpportunityStageFact.organization_id, OpportunityStageFact.next_at,
      postgresql_include=ENTRY_COLUMNS)
Index("ix_stage_fact_org_stage_days", OpportunityStageFact.organization_id, OpportunityStageFact.stage,
      days_between(OpportunityStageFact.changed_at, OpportunityStageFact.next_at),
      postgresql_include=ENTRY_COLUMNS).ddl_if(dialect="postgresql")


class StageEntryOwnerMonth(Base):
    """Regular stage entries per owner, stage, calendar month, next stage and the next entry's month
    (``sync.stage_months``): what a window's whole months add to each rep's stage conversion.

    '' stands for no owner, and with NO_CLOSE_DATE for no next entry.
    """

    __tablename__ = "stage_entry_owner_month"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    changed_month: Mapped[date] = mapped_column(primary_key=True)
    next_stage_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_month: Mapped[date] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    entries: Mapped[int]
    stay_us: Mapped[int] = mapped_column(BigInteger)


Index("ix_stage_entry_owner_month_org_month", StageEntryOwnerMonth.organization_id,
      StageEntryOwnerMonth.changed_month,
      postgresql_include=["owner_key", "stage", "next_stage_key", "next_month", "entries", "stay_us"])
