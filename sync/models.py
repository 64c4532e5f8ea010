"""The normalized store: tenancy, synced common objects, sync state and outputs.

Conventions: every datetime is naive UTC; rows point at each other by remote id within one
connection (``account_remote_id``), because records arrive in any order and a sync never
waits for a parent to exist.
"""
from __future__ import annotations

import secrets
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column


def utcnow() -> datetime:
    """The current time as naive UTC, the store's convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """One OAuth link between an organization and a remote system."""

    __tablename__ = "connection"
    __table_args__ = (UniqueConstraint("provider", "remote_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    remote_org_id: Mapped[str] = mapped_column(String(64))
    # The remote organization's own name (Salesforce Organization.Name, HubSpot's hub domain), read at
    # install; None when the CRM would not say.
    remote_org_name: Mapped[str | None] = mapped_column(String(255))
    # The remote organization's default time zone (an IANA id), the fallback for its users' times.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    instance_url: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[str] = mapped_column(String(512), default="")
    # healthy | syncing | paused_quota | needs_reauth | failing | disconnected
    status: Mapped[str] = mapped_column(String(32), default="healthy")
    status_reason: Mapped[str | None] = mapped_column(Text)
    paused_until: Mapped[datetime | None]
    token_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    token_expires_at: Mapped[datetime | None]
    api_usage_used: Mapped[int | None]
    api_usage_limit: Mapped[int | None]
    # SHA-256 of the secret in the per-connection webhook path (Salesforce outbound messages); the
    # secret itself is shown to the admin once and never stored.
    webhook_secret_hash: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    installed_by: Mapped[str | None] = mapped_column(String(255))
    last_synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncedRecord(Base):
    """Columns every synced row carries."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(64))
    remote_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    remote_modified_at: Mapped[datetime | None]
    remote_created_at: Mapped[datetime | None]
    # Seen as deleted remotely during a run; becomes deleted_at when the run completes.
    remote_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr
    def organization_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)

    @declared_attr
    def connection_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))

    @declared_attr
    def __table_args__(cls):
        return (UniqueConstraint("connection_id", "remote_id"),)


class Account(SyncedRecord):
    __tablename__ = "account"

    name: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(128))
    website: Mapped[str | None] = mapped_column(String(255))
    annual_revenue: Mapped[float | None] = mapped_column(Float)
    employees: Mapped[int | None]
    country: Mapped[str | None] = mapped_column(String(128))
    year_established: Mapped[int | None]
    parent_remote_id: Mapped[str | None] = mapped_column(String(64))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))


class Contact(SyncedRecord):
    __tablename__ = "contact"

    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(255))
    # Normalized email, linking one person across systems.
    email_key: Mapped[str | None] = mapped_column(String(255), index=True)
    title: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    lead_source: Mapped[str | None] = mapped_column(String(128))
    account_remote_id: Mapped[str | None] = mapped_column(String(64))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))


class Lead(SyncedRecord):
    __tablename__ = "lead"

    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(255))
    email_key: Mapped[str | None] = mapped_column(String(255), index=True)
    company: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(128))
    lead_source: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[str | None] = mapped_column(String(32))
    is_converted: Mapped[bool] = mapped_column(Boolean, default=False)
    converted_at: Mapped[datetime | None]
    converted_account_remote_id: Mapped[str | None] = mapped_column(String(64))
    converted_contact_remote_id: Mapped[str | None] = mapped_column(String(64))
    converted_opportunity_remote_id: Mapped[str | None] = mapped_column(String(64))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))


class Opportunity(SyncedRecord):
    __tablename__ = "opportunity"

    name: Mapped[str | None] = mapped_column(String(255))
    account_remote_id: Mapped[str | None] = mapped_column(String(64))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    campaign_remote_id: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(64))
    # In the organization's corporate currency (sync.currency converts it); None when the deal's
    # currency has no rate, so no total ever adds two currencies.
    amount: Mapped[float | None] = mapped_column(Float)
    # The amount as the CRM keeps it, in ``currency`` (None: the CRM has one currency only).
    deal_amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    probability: Mapped[float | None] = mapped_column(Float)
    close_date: Mapped[date | None] = mapped_column(Date)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_source: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(128))


class OpportunityStageChange(SyncedRecord):
    __tablename__ = "opportunity_stage_change"

    opportunity_remote_id: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[float | None] = mapped_column(Float)  # corporate currency, as on Opportunity
    deal_amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    probability: Mapped[float | None] = mapped_column(Float)
    close_date: Mapped[date | None] = mapped_column(Date)
    changed_at: Mapped[datetime | None]


class Activity(SyncedRecord):
    """Calls, emails, meetings, tasks, notes and marketing touches."""

    __tablename__ = "activity"

    # call | email | meeting | task | note | web_visit | form | email_open | email_click
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None]
    duration_minutes: Mapped[int | None]
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    # The person (lead or contact) and the deal or account the activity is about.
    who_remote_id: Mapped[str | None] = mapped_column(String(64), index=True)
    what_remote_id: Mapped[str | None] = mapped_column(String(64), index=True)


class User(SyncedRecord):
    __tablename__ = "crm_user"

    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    # admin | manager | rep
    role: Mapped[str | None] = mapped_column(String(32))
    team: Mapped[str | None] = mapped_column(String(128))
    manager_remote_id: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    crm_role_remote_id: Mapped[str | None] = mapped_column(String(64))
    # The user's own time zone in the CRM (an IANA id); None when the CRM keeps none per user.
    time_zone: Mapped[str | None] = mapped_column(String(64))


class CrmRole(SyncedRecord):
    """A role of the CRM's role hierarchy (Salesforce UserRole)."""

    __tablename__ = "crm_role"

    name: Mapped[str | None] = mapped_column(String(255))
    parent_remote_id: Mapped[str | None] = mapped_column(String(64))


class Campaign(SyncedRecord):
    __tablename__ = "campaign"

    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class CampaignMember(SyncedRecord):
    __tablename__ = "campaign_member"

    campaign_remote_id: Mapped[str | None] = mapped_column(String(64), index=True)
    lead_remote_id: Mapped[str | None] = mapped_column(String(64), index=True)
    contact_remote_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(64))
    has_responded: Mapped[bool] = mapped_column(Boolean, default=False)
    first_responded_at: Mapped[datetime | None]


class CrmQuota(SyncedRecord):
    """A quota per owner and quarter read from the CRM (copied into scoring's quota table)."""

    __tablename__ = "crm_quota"

    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(16))
    period_start: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[float | None] = mapped_column(Float)  # corporate currency, as on Opportunity
    deal_amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))


class CurrencyRate(SyncedRecord):
    """A currency of the organization and its rate to the corporate currency (dated where the CRM dates it)."""

    __tablename__ = "currency_rate"

    iso_code: Mapped[str | None] = mapped_column(String(3))
    is_corporate: Mapped[bool] = mapped_column(Boolean, default=False)
    to_corporate: Mapped[float | None] = mapped_column(Float)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class CrmStage(SyncedRecord):
    """An opportunity stage as the CRM labels and orders it; ``remote_id`` is the value ``Opportunity.stage`` holds."""

    __tablename__ = "crm_stage"

    label: Mapped[str | None] = mapped_column(String(255))
    pipeline_remote_id: Mapped[str | None] = mapped_column(String(64))
    pipeline_label: Mapped[str | None] = mapped_column(String(255))
    pipeline_order: Mapped[int | None]
    display_order: Mapped[int | None]
    probability: Mapped[float | None] = mapped_column(Float)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)


# Indexes the panels' aggregate queries and the scoring clock lean on (measured by `make bench`).
Index("ix_opportunity_org_owner_close", Opportunity.organization_id, Opportunity.owner_remote_id,
      Opportunity.is_closed, Opportunity.close_date)
Index("ix_opportunity_org_close", Opportunity.organization_id, Opportunity.is_closed, Opportunity.close_date)
Index("ix_opportunity_org_modified", Opportunity.organization_id, Opportunity.remote_modified_at)
# Every panel says how many deals lack a rate to the corporate currency: a partial index holds just those few.
_UNCONVERTED = Opportunity.deal_amount.is_not(None) & Opportunity.amount.is_(None)
Index("ix_opportunity_unconverted", Opportunity.organization_id, Opportunity.owner_remote_id, Opportunity.currency,
      postgresql_where=_UNCONVERTED, sqlite_where=_UNCONVERTED)
Index("ix_opportunity_connection_modified", Opportunity.connection_id, Opportunity.remote_modified_at)
Index("ix_stage_change_deal", OpportunityStageChange.connection_id, OpportunityStageChange.opportunity_remote_id,
      OpportunityStageChange.changed_at, OpportunityStageChange.stage, OpportunityStageChange.id,
      postgresql_where=OpportunityStageChange.deleted_at.is_(None),
      sqlite_where=OpportunityStageChange.deleted_at.is_(None))
Index("ix_stage_change_org_changed", OpportunityStageChange.organization_id, OpportunityStageChange.changed_at)
Index("ix_activity_deal", Activity.connection_id, Activity.what_remote_id, Activity.occurred_at)
Index("ix_activity_org_owner_occurred", Activity.organization_id, Activity.owner_remote_id, Activity.occurred_at)
Index("ix_activity_connection_modified", Activity.connection_id, Activity.remote_modified_at)
Index("ix_lead_org_owner_created", Lead.organization_id, Lead.owner_remote_id, Lead.remote_created_at)
Index("ix_lead_org_created", Lead.organization_id, Lead.remote_created_at)
Index("ix_lead_connection_modified", Lead.connection_id, Lead.remote_modified_at)
Index("ix_crm_user_org_manager", User.organization_id, User.manager_remote_id)
Index("ix_campaign_member_lead", CampaignMember.connection_id, CampaignMember.lead_remote_id)

# The common object name (connectors.common) → its table.
SYNCED_MODELS: dict[str, type[SyncedRecord]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
    "opportunity_stage_change": OpportunityStageChange,
    "activity": Activity,
    "user": User,
    "user_role": CrmRole,
    "campaign": Campaign,
    "campaign_member": CampaignMember,
    "quota": CrmQuota,
    "currency_rate": CurrencyRate,
    "stage": CrmStage,
}


class SyncCursor(Base):
    """How far one stream of one connection has been pulled: a (modified_at, id) checkpoint, or the
    remote's opaque change token for a stream read through its change log."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    # Last committed checkpoint, inside the current run or the last completed one.
    position_modified_at: Mapped[datetime | None]
    position_remote_id: Mapped[str | None] = mapped_column(String(64))
    # The token the next change read starts from (a Dataverse delta link), stored only together with
    # or after the records it covers; None: list the stream whole on the next run.
    change_token: Mapped[str | None] = mapped_column(Text)
    # Lower bound of the run in progress (None when no run is in progress for this stream).
    run_started_from: Mapped[datetime | None]
    run_id: Mapped[int | None]
    completed_at: Mapped[datetime | None]
    # A backfill under way (``Client.read_backfill``): when its first attempt started (the cursor's
    # position once it completes) and the remote's opaque point to resume it from after a crash.
    # Kept apart from change_token, which means "changes since" to a delta stream.
    backfill_started_at: Mapped[datetime | None]
    backfill_token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BackfillSeen(Base):
    """Remote ids a backfill under way has stored, kept across a crash so the deletes found at its end
    (stored records it never listed) count the pages read before the crash as seen."""

    __tablename__ = "sync_backfill_seen"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class SyncRun(Base):
    """The run log: one row per sync of a connection."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="incremental")  # incremental | full | targeted
    # running | completed | failed | paused
    status: Mapped[str] = mapped_column(String(32), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    seen: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float | None] = mapped_column(Float)
    # Per stream: {"account": {"seen": n, "changed": n, "deleted": n, "done": bool}}
    streams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Records changed by this run, per common object: {"lead": ["00Q..."]} (for rescoring).
    changed_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


class WebhookEvent(Base):
    """Inbox of inbound CRM events, unique on the provider's event id."""

    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("connection_id", "event_id"),
                      Index("ix_webhook_event_outbox", "processed_at", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(64))
    remote_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The outbox's work: stream name → remote ids to re-read ({} when nothing needs reading).
    targets: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was last handed to the queue; the sweeper queues it again when that was long ago.
    enqueued_at: Mapped[datetime | None]
    # Set by the job that handled the event (or at intake for an echo); error when it failed.
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The CRM's notification of Pipewise's own write: kept for dedupe, never counted as an event.
    echo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The trace from intake to the CRM field (received_at and enqueued_at above are its first stages):
    # each stage's time is written once per batch of events, never per row.
    verified_at: Mapped[datetime | None]
    sync_started_at: Mapped[datetime | None]
    sync_finished_at: Mapped[datetime | None]
    scoring_started_at: Mapped[datetime | None]
    scoring_finished_at: Mapped[datetime | None]
    writeback_sent_at: Mapped[datetime | None]
    writeback_acked_at: Mapped[datetime | None]


class ModelVersion(Base):
    """A trained scoring model with its card: metrics, calibration, top factors, window."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(32))  # lead | opportunity
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))  # e.g. logistic_regression, gradient_boosting, rules
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)


class Score(Base):
    """The latest score of one record, with the model version that made it."""

    __tablename__ = "score"
    __table_args__ = (UniqueConstraint("connection_id", "object_type", "remote_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))  # lead | opportunity
    remote_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(1))
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_step: Mapped[str | None] = mapped_column(Text)
    limited_history: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreHistory(Base):
    """Every score computed, for the probability-over-time chart."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_record", "connection_id", "object_type", "remote_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))
    remote_id: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WritebackLedger(Base):
    """What Pipewise last wrote (or tried to write) to one field of one remote record."""

    __tablename__ = "writeback_ledger"
    __table_args__ = (UniqueConstraint("connection_id", "object_type", "remote_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(32))
    remote_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | written | rejected | refused (for good)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    written_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
