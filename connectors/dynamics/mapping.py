"""Dataverse rows → the common model (naive UTC datetimes, choice labels, lookups as remote ids)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from connectors import common
from connectors.base import Stream
from connectors.common import to_float, to_int

# The annotation the client asks for (Prefer: odata.include-annotations) that carries a choice's label
# (query-data-web-api.md, "Formatted values").
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
# The annotation naming a lookup's table (Microsoft.Dynamics.CRM.lookuplogicalname), asked for with the others.
LOOKUP_TABLE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
# statecode values (lead.md, opportunity.md, activitypointer: 1 Completed)
LEAD_QUALIFIED, OPPORTUNITY_WON, OPPORTUNITY_LOST = 1, 1, 2
# goal.md: amountdatatype 0 Money; statuscode 2 Discarded
MONEY, GOAL_DISCARDED = 0, 2
ACTIVITY_STATUS = {0: "open", 1: "completed", 2: "canceled", 3: "scheduled"}


def to_datetime(value: Any) -> datetime | None:
    """An Edm.DateTimeOffset (``2017-03-01T08:00:00Z``) or a DateOnly value as naive UTC."""
    if value in (None, ""):
        return None
    text = str(value)
    if "T" not in text:
        return datetime.fromisoformat(text[:10])
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def to_date(value: Any) -> date | None:
    """A DateOnly value (``2017-10-15``) or the date of a DateTimeOffset."""
    return None if value in (None, "") else date.fromisoformat(str(value)[:10])


def to_bool(value: Any) -> bool:
    """JSON booleans, and the "true"/"false" strings some payloads carry."""
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def label(raw: dict[str, Any], name: str) -> str | None:
    """A choice's label when the row carries it, else its value as text."""
    value = raw.get(name)
    if value is None:
        return None
    return raw.get(name + FORMATTED) or str(value)


def _remote(stream: type[Stream], raw: dict[str, Any]) -> dict[str, Any]:
    return {"remote_id": raw[stream.primary_key], "remote_modified_at": to_datetime(raw.get("modifiedon")),
            "remote_created_at": to_datetime(raw.get("createdon")), "remote_deleted": bool(raw.get("@removed")),
            "remote_data": {k: v for k, v in raw.items() if not k.startswith("@")}}


def _account(s, r):
    return common.Account(**_remote(s, r), name=r.get("name"), website=r.get("websiteurl"),
                          annual_revenue=to_float(r.get("revenue")), employees=to_int(r.get("numberofemployees")),
                          country=r.get("address1_country"), parent_remote_id=r.get("_parentaccountid_value"),
                          owner_remote_id=r.get("_ownerid_value"))


def _contact(s, r):
    email = r.get("emailaddress1")
    return common.Contact(**_remote(s, r), first_name=r.get("firstname"), last_name=r.get("lastname"), email=email,
                          email_key=common.email_key(email), title=r.get("jobtitle"), phone=r.get("telephone1"),
                          account_remote_id=r.get("_parentcustomerid_value"), owner_remote_id=r.get("_ownerid_value"))


def _lead(s, r):
    email = r.get("emailaddress1")
    qualified = r.get("statecode") == LEAD_QUALIFIED
    return common.Lead(**_remote(s, r), first_name=r.get("firstname"), last_name=r.get("lastname"), email=email,
                       email_key=common.email_key(email), company=r.get("companyname"), title=r.get("jobtitle"),
                       country=r.get("address1_country"), lead_source=label(r, "leadsourcecode"),
                       status=label(r, "statuscode"), is_converted=qualified,
                       # Qualifying stamps the lead; its modifiedon is when it was qualified.
                       converted_at=to_datetime(r.get("modifiedon")) if qualified else None,
                       converted_account_remote_id=r.get("_parentaccountid_value") if qualified else None,
                       converted_contact_remote_id=r.get("_parentcontactid_value") if qualified else None,
                       converted_opportunity_remote_id=r.get("_qualifyingopportunityid_value"),
                       owner_remote_id=r.get("_ownerid_value"))


def _opportunity(s, r):
    state = r.get("statecode")
    closed = state in (OPPORTUNITY_WON, OPPORTUNITY_LOST)
    amount = r.get("actualvalue") if closed and r.get("actualvalue") is not None else r.get("estimatedvalue")
    close = r.get("actualclosedate") if closed and r.get("actualclosedate") else r.get("estimatedclosedate")
    return common.Opportunity(**_remote(s, r), name=r.get("name"),
                              account_remote_id=r.get("_parentaccountid_value") or r.get("_customerid_value"),
                              owner_remote_id=r.get("_ownerid_value"), campaign_remote_id=r.get("_campaignid_value"),
                              stage=r.get("stepname") or label(r, "statuscode"), amount=to_float(amount),
                              probability=to_float(r.get("closeprobability")), close_date=to_date(close),
                              is_closed=closed, is_won=state == OPPORTUNITY_WON)


def _activity(s, r):
    regarding = r.get("_regardingobjectid_value")
    kind = r.get("_regardingobjectid_value" + LOOKUP_TABLE)
    who = regarding if kind in ("contact", "lead") else None
    what = regarding if kind not in ("contact", "lead") else None
    return common.Activity(**_remote(s, r), kind=s.kind or "task", subject=r.get("subject"),
                           status=ACTIVITY_STATUS.get(r.get("statecode"), label(r, "statecode")),
                           occurred_at=to_datetime(r.get("actualend") or r.get("scheduledstart")
                                                   or r.get("createdon")),
                           owner_remote_id=r.get("_ownerid_value"), who_remote_id=who, what_remote_id=what)


def _user(s, r):
    return common.User(**_remote(s, r), name=r.get("fullname"), email=r.get("internalemailaddress"),
                       username=r.get("domainname"), title=r.get("title"), role="rep",
                       manager_remote_id=r.get("_parentsystemuserid_value"), is_active=not to_bool(r.get("isdisabled")))


def _campaign(s, r):
    return common.Campaign(**_remote(s, r), name=r.get("name"), type=label(r, "typecode"),
                           status=label(r, "statuscode"), start_date=to_date(r.get("actualstart")),
                           end_date=to_date(r.get("actualend")))


def _quota(s, r):
    """A user's money goal for one quarter as their quota; any other goal is no one's quota (a tombstone).

    A team's goal is not a person's quota (HubSpot's team goals are left out the same way), a count goal
    (isamount false) or one tracked in decimals or integers is not revenue, a discarded goal no longer
    counts, and a goal spanning more than a quarter has no quarter to be the quota of.
    """
    start, end = to_date(r.get("goalstartdate")), to_date(r.get("goalenddate"))
    owner_table = r.get("_goalownerid_value" + LOOKUP_TABLE)
    quota = (owner_table == "systemuser" and to_bool(r.get("isamount")) and r.get("amountdatatype") == MONEY
             and r.get("statuscode") != GOAL_DISCARDED and start is not None
             and (end is None or common.quarter_label(end) == common.quarter_label(start)))
    remote = _remote(s, r)
    remote["remote_deleted"] = remote["remote_deleted"] or not quota
    return common.Quota(**remote, owner_remote_id=r.get("_goalownerid_value") if quota else None,
                        period=common.quarter_label(start) if start else None, period_start=start,
                        amount=to_float(r.get("targetmoney")))


MAPPERS: dict[str, Callable[[type[Stream], dict[str, Any]], common.Remote]] = {
    "account": _account, "contact": _contact, "lead": _lead, "opportunity": _opportunity, "activity": _activity,
    "user": _user, "campaign": _campaign, "quota": _quota}


def to_common(stream: type[Stream], raw: dict[str, Any]) -> common.Remote:
    """The common record for one raw row of ``stream``."""
    return MAPPERS[stream.object_type](stream, raw)
