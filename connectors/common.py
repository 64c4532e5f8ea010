"""The common model as plain dataclasses: what every connector maps remote records to.

Datetimes are naive UTC. References between records are remote ids of the same connection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass
class Remote:
    """What every synced record carries besides its common fields."""

    remote_id: str
    remote_modified_at: datetime | None = None
    remote_created_at: datetime | None = None
    remote_deleted: bool = False
    remote_data: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Account(Remote):
    name: str | None = None
    industry: str | None = None
    website: str | None = None
    annual_revenue: float | None = None
    employees: int | None = None
    country: str | None = None
    year_established: int | None = None
    parent_remote_id: str | None = None
    owner_remote_id: str | None = None


@dataclass
class Contact(Remote):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    email_key: str | None = None
    title: str | None = None
    phone: str | None = None
    lead_source: str | None = None
    account_remote_id: str | None = None
    owner_remote_id: str | None = None


@dataclass
class Lead(Remote):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    email_key: str | None = None
    company: str | None = None
    title: str | None = None
    industry: str | None = None
    country: str | None = None
    lead_source: str | None = None
    status: str | None = None
    rating: str | None = None
    is_converted: bool = False
    converted_at: datetime | None = None
    converted_account_remote_id: str | None = None
    converted_contact_remote_id: str | None = None
    converted_opportunity_remote_id: str | None = None
    owner_remote_id: str | None = None


@dataclass
class Opportunity(Remote):
    name: str | None = None
    account_remote_id: str | None = None
    owner_remote_id: str | None = None
    campaign_remote_id: str | None = None
    stage: str | None = None
    amount: float | None = None
    # The amount's ISO currency code where the CRM keeps one per record (multi-currency orgs); None
    # when the CRM has one currency only.
    currency: str | None = None
    probability: float | None = None
    close_date: date | None = None
    is_closed: bool = False
    is_won: bool = False
    lead_source: str | None = None
    type: str | None = None
    product: str | None = None


@dataclass
class OpportunityStageChange(Remote):
    opportunity_remote_id: str = ""
    stage: str | None = None
    amount: float | None = None
    currency: str | None = None
    probability: float | None = None
    close_date: date | None = None
    changed_at: datetime | None = None


@dataclass
class Activity(Remote):
    kind: str = "task"  # call | email | meeting | task | note | web_visit | form | email_open | email_click
    subject: str | None = None
    status: str | None = None
    occurred_at: datetime | None = None
    duration_minutes: int | None = None
    owner_remote_id: str | None = None
    who_remote_id: str | None = None
    what_remote_id: str | None = None


@dataclass
class User(Remote):
    name: str | None = None
    email: str | None = None
    username: str | None = None
    title: str | None = None
    role: str | None = None  # admin | manager | rep
    team: str | None = None
    manager_remote_id: str | None = None
    is_active: bool = True
    # The user's place in the CRM's role hierarchy (a UserRole), when the CRM has one.
    crm_role_remote_id: str | None = None
    # The user's time zone as the CRM keeps it (an IANA id such as America/Los_Angeles).
    time_zone: str | None = None


@dataclass
class UserRole(Remote):
    """A role of the CRM's role hierarchy: whoever holds a role leads the roles below it."""

    name: str | None = None
    parent_remote_id: str | None = None


@dataclass
class Campaign(Remote):
    name: str | None = None
    type: str | None = None
    status: str | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass
class CampaignMember(Remote):
    campaign_remote_id: str | None = None
    lead_remote_id: str | None = None
    contact_remote_id: str | None = None
    status: str | None = None
    has_responded: bool = False
    first_responded_at: datetime | None = None


@dataclass
class Quota(Remote):
    """One person's revenue quota for one quarter, as the CRM keeps it."""

    owner_remote_id: str | None = None
    period: str | None = None  # "2017-Q4"
    period_start: date | None = None
    amount: float | None = None
    currency: str | None = None


@dataclass
class CurrencyRate(Remote):
    """One currency's rate against the organization's corporate currency, dated where the CRM dates it."""

    iso_code: str | None = None
    is_corporate: bool = False
    # A corporate amount is the amount times this (CRMs state rates in either direction).
    to_corporate: float | None = None
    start_date: date | None = None  # None: the currency's current rate, for any date
    end_date: date | None = None    # the first day it no longer applies; None: still applies


@dataclass
class Stage(Remote):
    """One stage of an opportunity pipeline as the CRM shows it; ``remote_id`` is the value deals carry."""

    label: str | None = None
    pipeline_remote_id: str | None = None
    pipeline_label: str | None = None
    pipeline_order: int | None = None  # the pipeline's place among the pipelines
    display_order: int | None = None   # the stage's place in its pipeline
    probability: float | None = None   # percent, as on Opportunity
    is_closed: bool = False
    is_won: bool = False


COMMON_TYPES: dict[str, type[Remote]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
    "opportunity_stage_change": OpportunityStageChange,
    "activity": Activity,
    "user": User,
    "user_role": UserRole,
    "campaign": Campaign,
    "campaign_member": CampaignMember,
    "quota": Quota,
    "currency_rate": CurrencyRate,
    "stage": Stage,
}


def to_float(value: Any) -> float | None:
    """A remote number (CRMs send numbers, numeric strings and empty strings) as a float, or None."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def to_int(value: Any) -> int | None:
    """A remote number rounded to an int, or None."""
    number = to_float(value)
    return None if number is None else int(round(number))


def email_key(email: str | None) -> str | None:
    """Normalize an email so one person links across systems."""
    if not email or "@" not in email:
        return None
    return email.strip().lower()


def quarter_label(day: date) -> str:
    """The calendar quarter containing a date, as "2017-Q4"."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
