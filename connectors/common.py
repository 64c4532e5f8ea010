"""The common model as plain dataclasses: what every connector maps remote records to.

Datetimes are naive UTC. References between records are remote ids of the same connection.

This is the model's one declaration: each field states its name and Python type, and where the store
needs more (a string's longest length, an index, a default for rows written without it) it says so in
its metadata through ``text``, ``reference`` and ``flag``. The store derives its record tables' columns
from these fields (``sync.store.common_columns``) and declares only the columns it keeps for itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# The field metadata key under which a common field states what the store needs to know.
STORE = "store"
# Remote ids of every CRM fit in this many characters (Salesforce: 18, Dynamics: a 36-character GUID).
REMOTE_ID_LENGTH = 64


@dataclass(frozen=True)
class Stored:
    """What the store needs to know about a common field beyond its Python type."""

    length: int | None = None  # a string's longest length, the width of its column
    indexed: bool = False      # looked up on its own, so the column is indexed
    default: Any = None        # what a row written without the field holds (None: no default)


def text(length: int, default: str | None = None, *, indexed: bool = False) -> Any:
    """A string field of at most ``length`` characters."""
    return field(default=default, metadata={STORE: Stored(length=length, indexed=indexed)})


def reference(default: str | None = None, *, indexed: bool = False) -> Any:
    """Another record's remote id, of the same connection."""
    return text(REMOTE_ID_LENGTH, default, indexed=indexed)


def flag(default: bool) -> Any:
    """A yes/no field; a row the store writes without it holds ``default`` too."""
    return field(default=default, metadata={STORE: Stored(default=default)})


@dataclass
class Remote:
    """What every synced record carries besides its common fields."""

    remote_id: str = field(metadata={STORE: Stored(length=REMOTE_ID_LENGTH)})
    remote_modified_at: datetime | None = None
    remote_created_at: datetime | None = None
    remote_deleted: bool = flag(False)
    remote_data: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Account(Remote):
    name: str | None = text(255)
    industry: str | None = text(128)
    website: str | None = text(255)
    annual_revenue: float | None = None
    employees: int | None = None
    country: str | None = text(128)
    year_established: int | None = None
    parent_remote_id: str | None = reference()
    owner_remote_id: str | None = reference()


@dataclass
class Contact(Remote):
    first_name: str | None = text(128)
    last_name: str | None = text(128)
    email: str | None = text(255)
    # The normalized email (see ``email_key`` below), linking one person across systems.
    email_key: str | None = text(255, indexed=True)
    title: str | None = text(255)
    phone: str | None = text(64)
    lead_source: str | None = text(128)
    account_remote_id: str | None = reference()
    owner_remote_id: str | None = reference()


@dataclass
class Lead(Remote):
    first_name: str | None = text(128)
    last_name: str | None = text(128)
    email: str | None = text(255)
    email_key: str | None = text(255, indexed=True)
    company: str | None = text(255)
    title: str | None = text(255)
    industry: str | None = text(128)
    country: str | None = text(128)
    lead_source: str | None = text(128)
    status: str | None = text(64)
    rating: str | None = text(32)
    is_converted: bool = flag(False)
    converted_at: datetime | None = None
    converted_account_remote_id: str | None = reference()
    converted_contact_remote_id: str | None = reference()
    converted_opportunity_remote_id: str | None = reference()
    owner_remote_id: str | None = reference()


@dataclass
class Opportunity(Remote):
    name: str | None = text(255)
    account_remote_id: str | None = reference()
    owner_remote_id: str | None = reference()
    campaign_remote_id: str | None = reference()
    stage: str | None = text(64)
    # The amount as the CRM keeps it, in ``currency``. The store keeps this one as ``deal_amount`` and
    # holds in ``amount`` the amount in the corporate currency (sync.currency converts it).
    amount: float | None = None
    # The amount's ISO currency code where the CRM keeps one per record (multi-currency orgs); None
    # when the CRM has one currency only.
    currency: str | None = text(3)
    probability: float | None = None
    close_date: date | None = None
    is_closed: bool = flag(False)
    is_won: bool = flag(False)
    lead_source: str | None = text(128)
    type: str | None = text(64)
    product: str | None = text(128)


@dataclass
class OpportunityStageChange(Remote):
    opportunity_remote_id: str = reference("", indexed=True)
    stage: str | None = text(64)
    amount: float | None = None  # in ``currency``, converted as on Opportunity
    currency: str | None = text(3)
    probability: float | None = None
    close_date: date | None = None
    changed_at: datetime | None = None


@dataclass
class Activity(Remote):
    """Calls, emails, meetings, tasks, notes and marketing touches."""

    # call | email | meeting | task | note | web_visit | form | email_open | email_click
    kind: str = text(32, "task")
    subject: str | None = text(255)
    status: str | None = text(64)
    occurred_at: datetime | None = None
    duration_minutes: int | None = None
    owner_remote_id: str | None = reference()
    # The person (lead or contact) and the deal or account the activity is about.
    who_remote_id: str | None = reference(indexed=True)
    what_remote_id: str | None = reference(indexed=True)


@dataclass
class User(Remote):
    name: str | None = text(255)
    email: str | None = text(255)
    username: str | None = text(255)
    title: str | None = text(255)
    role: str | None = text(32)  # admin | manager | rep
    team: str | None = text(128)
    manager_remote_id: str | None = reference()
    is_active: bool = flag(True)
    # The user's place in the CRM's role hierarchy (a UserRole), when the CRM has one.
    crm_role_remote_id: str | None = reference()
    # The user's time zone as the CRM keeps it (an IANA id such as America/Los_Angeles); None when the
    # CRM keeps none per user.
    time_zone: str | None = text(64)


@dataclass
class UserRole(Remote):
    """A role of the CRM's role hierarchy: whoever holds a role leads the roles below it."""

    name: str | None = text(255)
    parent_remote_id: str | None = reference()


@dataclass
class Campaign(Remote):
    name: str | None = text(255)
    type: str | None = text(64)
    status: str | None = text(64)
    start_date: date | None = None
    end_date: date | None = None


@dataclass
class CampaignMember(Remote):
    campaign_remote_id: str | None = reference(indexed=True)
    lead_remote_id: str | None = reference(indexed=True)
    contact_remote_id: str | None = reference()
    status: str | None = text(64)
    has_responded: bool = flag(False)
    first_responded_at: datetime | None = None


@dataclass
class Quota(Remote):
    """One person's revenue quota for one quarter, as the CRM keeps it."""

    owner_remote_id: str | None = reference()
    period: str | None = text(16)  # "2017-Q4" or "2017-10"
    period_start: date | None = None
    amount: float | None = None
    currency: str | None = text(3)


@dataclass
class CurrencyRate(Remote):
    """One currency's rate against the organization's corporate currency, dated where the CRM dates it."""

    iso_code: str | None = text(3)
    is_corporate: bool = flag(False)
    # A corporate amount is the amount times this (CRMs state rates in either direction).
    to_corporate: float | None = None
    start_date: date | None = None  # None: the currency's current rate, for any date
    end_date: date | None = None    # the first day it no longer applies; None: still applies


@dataclass
class Stage(Remote):
    """One stage of an opportunity pipeline as the CRM shows it; ``remote_id`` is the value deals carry."""

    label: str | None = text(255)
    pipeline_remote_id: str | None = reference()
    pipeline_label: str | None = text(255)
    pipeline_order: int | None = None  # the pipeline's place among the pipelines
    display_order: int | None = None   # the stage's place in its pipeline
    probability: float | None = None   # percent, as on Opportunity
    is_closed: bool = flag(False)
    is_won: bool = flag(False)


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
