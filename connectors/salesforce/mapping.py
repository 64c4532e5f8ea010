"""Salesforce records → the common model (naive UTC datetimes, typed values, remote ids)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import Any

from connectors import common
from connectors.base import Stream
from connectors.common import to_float as sf_float, to_int as sf_int  # noqa: F401



def sf_datetime(value: Any) -> datetime | None:
    """``2017-03-01T00:00:00.000+0000`` (or a date) as naive UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime.combine(value, time())
    else:
        text = str(value).strip()
        parsed = datetime.fromisoformat(text) if "T" in text else datetime.combine(
            date.fromisoformat(text), time())
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def sf_date(value: Any) -> date | None:
    """``2017-03-01`` as a date (a datetime keeps only its date)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


def sf_bool(value: Any) -> bool:
    """JSON booleans, and the "true"/"false" strings of outbound messages."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def user_role(raw: dict[str, Any]) -> str:
    """admin when the user's profile grants Modify All Data, else rep.

    Whether someone leads a team is not in their own record: it follows from the reporting line
    (ManagerId) and the role hierarchy, which the team panel reads from the synced users and roles.
    """
    profile = raw.get("Profile")
    if isinstance(profile, dict) and sf_bool(profile.get("PermissionsModifyAllData")):
        return "admin"
    return "rep"


def _remote(raw: dict[str, Any]) -> dict[str, Any]:
    """The Remote columns every common record carries."""
    data = {k: v for k, v in raw.items() if k != "attributes"}
    return {
        "remote_id": raw["Id"],
        "remote_modified_at": sf_datetime(raw.get("SystemModstamp") or raw.get("LastModifiedDate")),
        "remote_created_at": sf_datetime(raw.get("CreatedDate")),
        "remote_deleted": sf_bool(raw.get("IsDeleted", False)),
        "remote_data": data,
    }


def _user(r: dict[str, Any]) -> common.User:
    name = r.get("Name") or " ".join(p for p in (r.get("FirstName"), r.get("LastName")) if p) or None
    return common.User(**_remote(r), name=name, email=r.get("Email"), username=r.get("Username"),
                       title=r.get("Title"), role=user_role(r), team=r.get("Department"),
                       manager_remote_id=r.get("ManagerId"), is_active=sf_bool(r.get("IsActive", True)),
                       crm_role_remote_id=r.get("UserRoleId"), time_zone=r.get("TimeZoneSidKey"))


def _user_role(r: dict[str, Any]) -> common.UserRole:
    return common.UserRole(**_remote(r), name=r.get("Name"), parent_remote_id=r.get("ParentRoleId"))


def _account(r: dict[str, Any]) -> common.Account:
    return common.Account(**_remote(r), name=r.get("Name"), industry=r.get("Industry"),
                          website=r.get("Website"), annual_revenue=sf_float(r.get("AnnualRevenue")),
                          employees=sf_int(r.get("NumberOfEmployees")), country=r.get("BillingCountry"),
                          year_established=sf_int(r.get("YearStarted")),
                          parent_remote_id=r.get("ParentId"), owner_remote_id=r.get("OwnerId"))


def _contact(r: dict[str, Any]) -> common.Contact:
    return common.Contact(**_remote(r), first_name=r.get("FirstName"), last_name=r.get("LastName"),
                          email=r.get("Email"), email_key=common.email_key(r.get("Email")),
                          title=r.get("Title"), phone=r.get("Phone"), lead_source=r.get("LeadSource"),
                          account_remote_id=r.get("AccountId"), owner_remote_id=r.get("OwnerId"))


def _lead(r: dict[str, Any]) -> common.Lead:
    return common.Lead(
        **_remote(r), first_name=r.get("FirstName"), last_name=r.get("LastName"),
        email=r.get("Email"), email_key=common.email_key(r.get("Email")), company=r.get("Company"),
        title=r.get("Title"), industry=r.get("Industry"), country=r.get("Country"),
        lead_source=r.get("LeadSource"), status=r.get("Status"), rating=r.get("Rating"),
        is_converted=sf_bool(r.get("IsConverted")), converted_at=sf_datetime(r.get("ConvertedDate")),
        converted_account_remote_id=r.get("ConvertedAccountId"),
        converted_contact_remote_id=r.get("ConvertedContactId"),
        converted_opportunity_remote_id=r.get("ConvertedOpportunityId"), owner_remote_id=r.get("OwnerId"))


def _opportunity(r: dict[str, Any]) -> common.Opportunity:
    return common.Opportunity(
        **_remote(r), name=r.get("Name"), account_remote_id=r.get("AccountId"),
        owner_remote_id=r.get("OwnerId"), campaign_remote_id=r.get("CampaignId"),
        stage=r.get("StageName"), amount=sf_float(r.get("Amount")), currency=r.get("CurrencyIsoCode") or None,
        probability=sf_float(r.get("Probability")), close_date=sf_date(r.get("CloseDate")),
        is_closed=sf_bool(r.get("IsClosed")), is_won=sf_bool(r.get("IsWon")),
        lead_source=r.get("LeadSource"), type=r.get("Type"))


def _stage_change(r: dict[str, Any]) -> common.OpportunityStageChange:
    return common.OpportunityStageChange(
        **_remote(r), opportunity_remote_id=r.get("OpportunityId") or "", stage=r.get("StageName"),
        amount=sf_float(r.get("Amount")), currency=r.get("CurrencyIsoCode") or None,
        probability=sf_float(r.get("Probability")),
        close_date=sf_date(r.get("CloseDate")), changed_at=sf_datetime(r.get("CreatedDate")))


def _currency_type(r: dict[str, Any]) -> common.CurrencyRate:
    # ConversionRate is per corporate unit (Object Reference, CurrencyType): corporate = amount / rate.
    rate = sf_float(r.get("ConversionRate"))
    return common.CurrencyRate(**_remote(r), iso_code=r.get("IsoCode"), is_corporate=sf_bool(r.get("IsCorporate")),
                               to_corporate=1 / rate if rate else None)


def _dated_rate(r: dict[str, Any]) -> common.CurrencyRate:
    rate = sf_float(r.get("ConversionRate"))
    return common.CurrencyRate(**_remote(r), iso_code=r.get("IsoCode"), to_corporate=1 / rate if rate else None,
                               start_date=sf_date(r.get("StartDate")), end_date=sf_date(r.get("NextStartDate")))


def _task(r: dict[str, Any]) -> common.Activity:
    kind = {"Call": "call", "Email": "email"}.get(r.get("TaskSubtype") or "", "task")
    seconds = sf_float(r.get("CallDurationInSeconds"))
    occurred = (sf_datetime(r.get("CompletedDateTime")) or sf_datetime(r.get("ActivityDate"))
                or sf_datetime(r.get("CreatedDate")))
    return common.Activity(**_remote(r), kind=kind, subject=r.get("Subject"), status=r.get("Status"),
                           occurred_at=occurred,
                           duration_minutes=None if seconds is None else int(round(seconds / 60)),
                           owner_remote_id=r.get("OwnerId"), who_remote_id=r.get("WhoId"),
                           what_remote_id=r.get("WhatId"))


def _event(r: dict[str, Any]) -> common.Activity:
    occurred = (sf_datetime(r.get("ActivityDateTime")) or sf_datetime(r.get("StartDateTime"))
                or sf_datetime(r.get("ActivityDate")))
    return common.Activity(**_remote(r), kind="meeting", subject=r.get("Subject"), status=None,
                           occurred_at=occurred, duration_minutes=sf_int(r.get("DurationInMinutes")),
                           owner_remote_id=r.get("OwnerId"), who_remote_id=r.get("WhoId"),
                           what_remote_id=r.get("WhatId"))


def _campaign(r: dict[str, Any]) -> common.Campaign:
    return common.Campaign(**_remote(r), name=r.get("Name"), type=r.get("Type"), status=r.get("Status"),
                           start_date=sf_date(r.get("StartDate")), end_date=sf_date(r.get("EndDate")))


def _campaign_member(r: dict[str, Any]) -> common.CampaignMember:
    return common.CampaignMember(
        **_remote(r), campaign_remote_id=r.get("CampaignId"), lead_remote_id=r.get("LeadId"),
        contact_remote_id=r.get("ContactId"), status=r.get("Status"),
        has_responded=sf_bool(r.get("HasResponded")),
        first_responded_at=sf_datetime(r.get("FirstRespondedDate")))


def _quota(r: dict[str, Any]) -> common.Quota:
    start = sf_date(r.get("StartDate"))
    return common.Quota(**_remote(r), owner_remote_id=r.get("QuotaOwnerId"),
                        period=common.quarter_label(start) if start else None, period_start=start,
                        amount=sf_float(r.get("QuotaAmount")), currency=r.get("CurrencyIsoCode") or None)


MAPPERS: dict[str, Callable[[dict[str, Any]], common.Remote]] = {
    "user": _user, "user_role": _user_role, "account": _account, "contact": _contact, "lead": _lead,
    "opportunity": _opportunity, "opportunity_history": _stage_change, "task": _task,
    "event": _event, "campaign": _campaign, "campaign_member": _campaign_member,
    "forecasting_quota": _quota, "currency_type": _currency_type, "dated_conversion_rate": _dated_rate,
}


def to_common(stream: type[Stream], raw: dict[str, Any]) -> common.Remote:
    """The common record for one raw record of ``stream``."""
    try:
        mapper = MAPPERS[stream.name]
    except KeyError:
        raise KeyError(f"Salesforce has no mapping for stream {stream.name!r}") from None
    return mapper(raw)
