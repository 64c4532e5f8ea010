"""The synced common objects, one table each, and the common object name → table map."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, UniqueConstraint, case
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from sync.store.base import Base, utcnow


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


class Quota(SyncedRecord):
    """One person's quota for one period (`2017-Q4` or `2017-10`): the only quota table.

    Synced from a CRM (Salesforce ForecastingQuota, HubSpot goal targets, Dynamics goals) with its
    connection, or set by an admin in Pipewise with none. Where both exist for a person and period
    the CRM's figure counts (scoring.forecast.quotas); the admin's stays as the fallback.
    """

    __tablename__ = "quota"

    # None: an admin's figure, which belongs to the organization, not to one CRM connection.
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    owner_remote_id: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(16))
    period_start: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[float | None] = mapped_column(Float)  # corporate currency, as on Opportunity
    deal_amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))

    @hybrid_property
    def source(self) -> str:
        """crm (synced) or admin (set in Pipewise)."""
        return "admin" if self.connection_id is None else "crm"

    @source.inplace.expression
    @classmethod
    def _source_expression(cls):
        return case((cls.connection_id.is_(None), "admin"), else_="crm")


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
# An admin keeps one figure per person and period (a CRM's rows are unique on their remote id).
_ADMIN_QUOTA = Quota.connection_id.is_(None)
Index("uq_quota_admin_owner_period", Quota.organization_id, Quota.owner_remote_id, Quota.period, unique=True,
      postgresql_where=_ADMIN_QUOTA, sqlite_where=_ADMIN_QUOTA)

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
    "quota": Quota,
    "currency_rate": CurrencyRate,
    "stage": CrmStage,
}
