"""The synced common objects, one table each, and the common object name → table map.

Every column a connectors.common dataclass declares comes from that dataclass (``common_columns``);
a class here declares only what the store keeps for itself, each with the reason.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint, case
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from connectors import common
from sync.store.base import Base, utcnow
from sync.store.common_columns import common_columns


class SyncedRecord(Base, common_columns(common.Remote)):
    """Columns every synced row carries: ``Remote``'s fields and the store's own bookkeeping."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    # The mapped fields' hash, volatile ones left out: an unchanged record is not written again.
    content_hash: Mapped[str] = mapped_column(String(64))
    # Set when a run that saw the record deleted remotely (``remote_deleted``) completes.
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


class Account(SyncedRecord, common_columns(common.Account)):
    __tablename__ = "account"


class Contact(SyncedRecord, common_columns(common.Contact)):
    __tablename__ = "contact"


class Lead(SyncedRecord, common_columns(common.Lead)):
    __tablename__ = "lead"


class Opportunity(SyncedRecord, common_columns(common.Opportunity)):
    __tablename__ = "opportunity"

    # The common model's ``amount`` is the CRM's; sync.currency moves it here, in ``currency`` (None:
    # the CRM has one currency only), and puts in ``amount`` the amount in the organization's corporate
    # currency, None when the deal's currency has no rate, so no total ever adds two currencies.
    deal_amount: Mapped[float | None] = mapped_column(Float)


class OpportunityStageChange(SyncedRecord, common_columns(common.OpportunityStageChange)):
    __tablename__ = "opportunity_stage_change"

    # The CRM's amount; ``amount`` is corporate, as on Opportunity.
    deal_amount: Mapped[float | None] = mapped_column(Float)


class Activity(SyncedRecord, common_columns(common.Activity)):
    """Calls, emails, meetings, tasks, notes and marketing touches."""

    __tablename__ = "activity"


class User(SyncedRecord, common_columns(common.User)):
    __tablename__ = "crm_user"


class CrmRole(SyncedRecord, common_columns(common.UserRole)):
    """A role of the CRM's role hierarchy (Salesforce UserRole)."""

    __tablename__ = "crm_role"


class Campaign(SyncedRecord, common_columns(common.Campaign)):
    __tablename__ = "campaign"


class CampaignMember(SyncedRecord, common_columns(common.CampaignMember)):
    __tablename__ = "campaign_member"


class Quota(SyncedRecord, common_columns(common.Quota)):
    """One person's quota for one period (`2017-Q4` or `2017-10`): the only quota table.

    Synced from a CRM (Salesforce ForecastingQuota, HubSpot goal targets, Dynamics goals) with its
    connection, or set by an admin in Pipewise with none. Where both exist for a person and period
    the CRM's figure counts (scoring.forecast.quotas); the admin's stays as the fallback.
    """

    __tablename__ = "quota"

    # None: an admin's figure, which belongs to the organization, not to one CRM connection.
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    # The CRM's amount; ``amount`` is corporate, as on Opportunity (an admin enters it corporate).
    deal_amount: Mapped[float | None] = mapped_column(Float)

    @hybrid_property
    def source(self) -> str:
        """crm (synced) or admin (set in Pipewise)."""
        return "admin" if self.connection_id is None else "crm"

    @source.inplace.expression
    @classmethod
    def _source_expression(cls):
        return case((cls.connection_id.is_(None), "admin"), else_="crm")


class CurrencyRate(SyncedRecord, common_columns(common.CurrencyRate)):
    """A currency of the organization and its rate to the corporate currency (dated where the CRM dates it)."""

    __tablename__ = "currency_rate"


class CrmStage(SyncedRecord, common_columns(common.Stage)):
    """An opportunity stage as the CRM labels and orders it; ``remote_id`` is the value ``Opportunity.stage`` holds."""

    __tablename__ = "crm_stage"


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
def _common_of(table: type[SyncedRecord]) -> type[common.Remote]:
    """The dataclass whose columns the table took (its own mixin's, not SyncedRecord's ``Remote``)."""
    return next(vars(base)["__common__"] for base in table.__bases__ if "__common__" in vars(base))


SYNCED_MODELS: dict[str, type[SyncedRecord]] = {
    name: next(table for table in SyncedRecord.__subclasses__() if _common_of(table) is record)
    for name, record in common.COMMON_TYPES.items()}
