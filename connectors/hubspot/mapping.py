"""HubSpot records → the common model (naive UTC datetimes, typed values, remote ids).

A HubSpot contact is one record through its whole life, where Salesforce has a lead that is
converted into a contact. Pipewise maps it the Salesforce way, so scoring sees the same shapes:

- the Lead row is always live: ``is_converted`` once the contact reached a customer-side
  lifecycle stage (opportunity, customer, evangelist), with ``converted_at`` from that stage's
  date, ``converted_contact_remote_id`` pointing at the contact itself and
  ``converted_opportunity_remote_id`` at its associated deal (the first, when it has several);
- the Contact row exists only for contacts that reached such a stage: live while they are there,
  a tombstone (``remote_deleted``) if the stage is later moved back (HubSpot keeps the
  ``hs_lifecyclestage_<stage>_date`` of a stage once reached), so a contact moving back and forth
  never leaves a stale live row, and plain leads do not double the store with tombstones.

Deals come with their stage history: each entry of ``dealstage``'s history becomes a stage
change ``<dealId>-<epoch ms>``, with the amount, probability and close date as of that moment.

Over 300 lines because it is one concern for every HubSpot object: reading HubSpot's values and
association links is part of mapping them, as each connector's mapping.py parses its own values.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from connectors import common
from connectors.base import Stream
from connectors.common import to_float as hs_float, to_int as hs_int  # noqa: F401

LEAD_STAGES = frozenset({"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "other"})
CONVERTED_STAGES = ("opportunity", "customer", "evangelist")
CONVERTED_DATES = tuple(f"hs_lifecyclestage_{stage}_date" for stage in CONVERTED_STAGES)
CLOSED_WON_STAGES = frozenset({"closedwon", "won", "closed won"})
CLOSED_LOST_STAGES = frozenset({"closedlost", "lost", "closed lost"})


def hs_datetime(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch milliseconds (both occur in HubSpot) as naive UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc).replace(tzinfo=None)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text) if "T" in text else datetime.fromisoformat(text[:10])
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def hs_date(value: Any) -> date | None:
    """A HubSpot date or datetime property as a date."""
    parsed = hs_datetime(value)
    return parsed.date() if parsed else None


def epoch_ms(value: datetime) -> int:
    """A naive-UTC datetime as epoch milliseconds, the form HubSpot filters take."""
    return int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)


def hs_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _blank(value: Any) -> Any:
    return None if value in ("", None) else value


def modified_at(stream: type[Stream], raw: dict[str, Any]) -> datetime | None:
    """The record's cursor value: archivedAt for an archived record, else the cursor property."""
    if raw.get("archived") and raw.get("archivedAt"):
        return hs_datetime(raw["archivedAt"])
    props = raw.get("properties") or {}
    return hs_datetime(props.get(stream.cursor_field) or raw.get("updatedAt"))


def _remote(stream: type[Stream], raw: dict[str, Any], **overrides) -> dict[str, Any]:
    """The Remote columns every common record carries."""
    props = raw.get("properties") or {}
    values = {
        "remote_id": str(raw["id"]),
        "remote_modified_at": modified_at(stream, raw),
        "remote_created_at": hs_datetime(props.get("createdate") or raw.get("createdAt")),
        "remote_deleted": hs_bool(raw.get("archived", False)),
        "remote_data": raw,
    }
    values.update(overrides)
    return values


def associated_ids(raw: dict[str, Any], to_type: str) -> list[str]:
    """Ids of the associated records of one type, in HubSpot's list-endpoint shape."""
    block = (raw.get("associations") or {}).get(to_type) or {}
    results = block.get("results") if isinstance(block, dict) else block
    return list(dict.fromkeys(str(r["id"]) for r in results or [] if isinstance(r, dict) and r.get("id") is not None))


def _first(ids: list[str]) -> str | None:
    return ids[0] if ids else None


# The HUBSPOT_DEFINED association types labelled "Primary" (HubSpot's Associations v4 guide lists the
# type ids): a deal's or a contact's primary company.
PRIMARY_TYPE_IDS = {("deals", "companies"): 5, ("contacts", "companies"): 1}


def is_primary_type(from_type: str, to_type: str, kind: dict[str, Any]) -> bool:
    """Whether one associationTypes entry of a v4 answer is the Primary label."""
    if kind.get("category") not in (None, "HUBSPOT_DEFINED"):
        return False
    return kind.get("typeId") == PRIMARY_TYPE_IDS.get((from_type, to_type)) or kind.get("label") == "Primary"


def primary_id(raw: dict[str, Any], to_type: str) -> str | None:
    """The associated record labelled Primary, else the first associated one (lowest id).

    The client's v4 reads flag it (``primary``); in the v3 objects API's block the primary entry keeps the
    plain type name while the default one is named ``<type>_unlabeled``.
    """
    block = (raw.get("associations") or {}).get(to_type) or {}
    results = [r for r in (block.get("results") if isinstance(block, dict) else block) or []
               if isinstance(r, dict) and r.get("id") is not None]
    labelled = any(str(r.get("type") or "").endswith("_unlabeled") for r in results)
    chosen = next((r for r in results if r.get("primary")
                   or (labelled and not str(r.get("type") or "").endswith("_unlabeled"))), None)
    return str(chosen["id"]) if chosen else _first(associated_ids(raw, to_type))


# Words in a user's role name that decide their Pipewise role, checked in this order.
ROLE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admin", ("admin", "administrator")),
    ("manager", ("manager", "director", "head of", "vp", "vice president", "chief")),
)


def _primary(r: dict[str, Any]) -> dict[str, Any] | None:
    teams = r.get("teams") or []
    return next((t for t in teams if t.get("primary")), teams[0] if teams else None)


def owner_primary_team(r: dict[str, Any]) -> str | None:
    """The id of an owner's primary team."""
    team = _primary(r)
    return str(team["id"]) if team and team.get("id") is not None else None


def owner_role(r: dict[str, Any]) -> str:
    """admin, manager or rep, from the owner's settings user (super admin, role name)."""
    user = r.get("user") or {}
    if user.get("superAdmin"):
        return "admin"
    text = str(user.get("roleName") or "").lower()
    for name, words in ROLE_WORDS:
        if any(re.search(rf"\b{re.escape(word)}\b", text) for word in words):
            return name
    return "rep"


def _owner(r: dict[str, Any]) -> common.User:
    primary = _primary(r)
    name = " ".join(p for p in (r.get("firstName"), r.get("lastName")) if p) or None
    created = hs_datetime(r.get("createdAt"))
    return common.User(remote_id=str(r["id"]), remote_modified_at=hs_datetime(r.get("updatedAt")) or created,
                       remote_created_at=created, remote_deleted=False, remote_data=r, name=name,
                       email=_blank(r.get("email")), username=_blank(r.get("email")),
                       title=(r.get("user") or {}).get("roleName"),
                       role=owner_role(r), team=primary.get("name") if primary else None,
                       manager_remote_id=_blank(r.get("managerOwnerId")), is_active=not hs_bool(r.get("archived", False)),
                       time_zone=_blank(r.get("timeZone")))


def _company(stream: type[Stream], r: dict[str, Any]) -> common.Account:
    p = r.get("properties") or {}
    return common.Account(
        **_remote(stream, r), name=_blank(p.get("name")), industry=_blank(p.get("industry")),
        website=_blank(p.get("website")) or _blank(p.get("domain")),
        annual_revenue=hs_float(p.get("annualrevenue")), employees=hs_int(p.get("numberofemployees")),
        country=_blank(p.get("country")), year_established=hs_int(p.get("founded_year")),
        parent_remote_id=_blank(p.get("hs_parent_company_id")), owner_remote_id=_blank(p.get("hubspot_owner_id")))


def is_converted_stage(stage: str | None) -> bool:
    """Whether a lifecycle stage is on the customer side of the funnel."""
    return (stage or "").strip().lower() in CONVERTED_STAGES


def _contact(stream: type[Stream], r: dict[str, Any]) -> list[common.Remote]:
    """The Lead, and the Contact once the person ever reached a customer-side stage."""
    p = r.get("properties") or {}
    stage = (p.get("lifecyclestage") or "").strip().lower() or None
    converted = is_converted_stage(stage)
    reached = [d for d in (hs_datetime(p.get(name)) for name in CONVERTED_DATES) if d is not None]
    converted_at = min(reached) if converted and reached else None
    email = _blank(p.get("email"))
    company_id = _blank(p.get("associatedcompanyid"))
    owner = _blank(p.get("hubspot_owner_id"))
    lead = common.Lead(
        **_remote(stream, r), first_name=_blank(p.get("firstname")), last_name=_blank(p.get("lastname")),
        email=email, email_key=common.email_key(email), company=_blank(p.get("company")),
        title=_blank(p.get("jobtitle")), industry=_blank(p.get("industry")), country=_blank(p.get("country")),
        lead_source=_blank(p.get("hs_analytics_source")), status=_blank(p.get("hs_lead_status")) or stage,
        rating=None, is_converted=converted, converted_at=converted_at,
        converted_account_remote_id=company_id if converted else None,
        converted_contact_remote_id=str(r["id"]) if converted else None,
        converted_opportunity_remote_id=_first(associated_ids(r, "deals")) if converted else None,
        owner_remote_id=owner)
    if not converted and not reached:
        return [lead]
    contact_deleted = hs_bool(r.get("archived", False)) or not converted
    contact = common.Contact(
        **_remote(stream, r, remote_deleted=contact_deleted), first_name=lead.first_name,
        last_name=lead.last_name, email=email, email_key=lead.email_key, title=lead.title,
        phone=_blank(p.get("phone")), lead_source=lead.lead_source, account_remote_id=company_id,
        owner_remote_id=owner)
    # The engine checkpoints on the first record of the list: the lead carries the contact's cursor.
    return [lead, contact]


def _history(r: dict[str, Any], name: str) -> list[tuple[datetime, Any]]:
    """A property's history as (when, value), oldest first."""
    entries = (r.get("propertiesWithHistory") or {}).get(name) or []
    timed = [(hs_datetime(e.get("timestamp")), e.get("value")) for e in entries if isinstance(e, dict)]
    return sorted((t, v) for t, v in timed if t is not None)


def _as_of(history: list[tuple[datetime, Any]], when: datetime, fallback: Any) -> Any:
    """The value a property had at ``when`` (its latest change at or before then)."""
    value = None
    for changed_at, changed_value in history:
        if changed_at > when:
            break
        value = changed_value
    return fallback if value is None and not history else value


def _deal(stream: type[Stream], r: dict[str, Any]) -> list[common.Remote]:
    """The Opportunity, then one stage change per entry of the deal's stage history."""
    p = r.get("properties") or {}
    stage = _blank(p.get("dealstage"))
    lowered = (stage or "").lower()
    won = hs_bool(p.get("hs_is_closed_won")) or lowered in CLOSED_WON_STAGES
    closed = hs_bool(p.get("hs_is_closed")) or won or lowered in CLOSED_LOST_STAGES
    probability = hs_float(p.get("hs_deal_stage_probability"))
    deal = common.Opportunity(
        **_remote(stream, r), name=_blank(p.get("dealname")),
        account_remote_id=primary_id(r, "companies"), owner_remote_id=_blank(p.get("hubspot_owner_id")),
        campaign_remote_id=None, stage=stage, amount=hs_float(p.get("amount")),
        currency=_blank(p.get("deal_currency_code")),
        # HubSpot keeps probabilities as 0-1; the common model (like Salesforce) as percent.
        probability=None if probability is None else round(probability * 100, 4),
        close_date=hs_date(p.get("closedate")), is_closed=closed, is_won=won,
        lead_source=_blank(p.get("hs_analytics_source")), type=_blank(p.get("dealtype")),
        product=_blank(p.get("product")))
    records: list[common.Remote] = [deal]
    amounts, closes, chances = (_history(r, "amount"), _history(r, "closedate"),
                                _history(r, "hs_deal_stage_probability"))
    for changed_at, value in _history(r, "dealstage"):
        chance = hs_float(_as_of(chances, changed_at, p.get("hs_deal_stage_probability")))
        records.append(common.OpportunityStageChange(
            remote_id=f"{deal.remote_id}-{epoch_ms(changed_at)}", remote_modified_at=changed_at,
            remote_created_at=changed_at, remote_deleted=deal.remote_deleted,
            remote_data={"dealId": deal.remote_id, "dealstage": value, "timestamp": changed_at.isoformat()},
            opportunity_remote_id=deal.remote_id, stage=value,
            amount=hs_float(_as_of(amounts, changed_at, p.get("amount"))), currency=deal.currency,
            probability=None if chance is None else round(chance * 100, 4),
            close_date=hs_date(_as_of(closes, changed_at, p.get("closedate"))), changed_at=changed_at))
    return records


ENGAGEMENT_SUBJECTS = {"call": "hs_call_title", "email": "hs_email_subject", "meeting": "hs_meeting_title",
                       "note": "hs_note_body", "task": "hs_task_subject"}
ENGAGEMENT_STATUSES = {"call": "hs_call_status", "email": "hs_email_status", "meeting": "hs_meeting_outcome",
                       "task": "hs_task_status"}


def _duration_minutes(kind: str, p: dict[str, Any]) -> int | None:
    if kind == "call":
        millis = hs_float(p.get("hs_call_duration"))
        return None if millis is None else int(round(millis / 60000))
    if kind == "meeting":
        start, end = hs_datetime(p.get("hs_meeting_start_time")), hs_datetime(p.get("hs_meeting_end_time"))
        return int((end - start).total_seconds() // 60) if start and end and end >= start else None
    return None


def _engagement(stream: type[Stream], r: dict[str, Any]) -> common.Activity:
    kind = stream.kind or "task"
    p = r.get("properties") or {}
    subject = _blank(p.get(ENGAGEMENT_SUBJECTS[kind]))
    if subject and len(subject) > 255:
        subject = subject[:254] + "…"
    what = _first(associated_ids(r, "deals")) or _first(associated_ids(r, "companies"))
    return common.Activity(
        **_remote(stream, r), kind=kind, subject=subject, status=_blank(p.get(ENGAGEMENT_STATUSES.get(kind, ""))),
        occurred_at=hs_datetime(p.get("hs_timestamp")) or hs_datetime(p.get("createdate")),
        duration_minutes=_duration_minutes(kind, p), owner_remote_id=_blank(p.get("hubspot_owner_id")),
        who_remote_id=_first(associated_ids(r, "contacts")), what_remote_id=what)


def _goal_target(stream: type[Stream], r: dict[str, Any]) -> common.Quota:
    """A per-owner goal as a quota; a team goal is no one's quota, so it lands as a tombstone."""
    p = r.get("properties") or {}
    start = hs_date(p.get("hs_start_datetime"))
    owner = _blank(r.get("ownerId"))
    team_goal = not _blank(p.get("hs_assignee_user_id"))
    return common.Quota(
        **_remote(stream, r, remote_deleted=hs_bool(r.get("archived", False)) or team_goal),
        owner_remote_id=None if owner is None else str(owner),
        period=common.quarter_label(start) if start else None, period_start=start,
        amount=hs_float(p.get("hs_target_amount")))


def _exchange_rate(stream: type[Stream], r: dict[str, Any]) -> common.CurrencyRate:
    """The company currency (rate 1) or one currency's current rate into it."""
    return common.CurrencyRate(
        remote_id=str(r["id"]), remote_modified_at=hs_datetime(r.get("updatedAt")),
        remote_created_at=hs_datetime(r.get("createdAt")), remote_data=dict(r),
        iso_code=r.get("currencyCode"), is_corporate=bool(r.get("isCorporate")),
        to_corporate=1.0 if r.get("isCorporate") else hs_float(r.get("toCompany")))


def _deal_stage(stream: type[Stream], r: dict[str, Any]) -> common.Stage:
    """One stage of a deal pipeline: its label, its place on the board, and whether it closes or wins."""
    metadata = r.get("metadata") or {}
    closed = hs_bool(metadata.get("isClosed", False))
    probability = hs_float(metadata.get("probability"))  # 0.0-1.0; stored in percent, as on deals
    return common.Stage(
        remote_id=str(r["id"]), remote_modified_at=hs_datetime(r.get("updatedAt")),
        remote_created_at=hs_datetime(r.get("createdAt")), remote_data=dict(r),
        label=r.get("label"), pipeline_remote_id=_blank(r.get("pipelineId")), pipeline_label=r.get("pipelineLabel"),
        pipeline_order=common.to_int(r.get("pipelineDisplayOrder")), display_order=common.to_int(r.get("displayOrder")),
        probability=None if probability is None else round(probability * 100, 4), is_closed=closed,
        is_won=closed and probability is not None and probability >= 1.0)


MAPPERS: dict[str, Callable[[type[Stream], dict[str, Any]], common.Remote | list[common.Remote]]] = {
    "owner": lambda stream, raw: _owner(raw), "company": _company, "contact": _contact, "deal": _deal,
    "call": _engagement, "email": _engagement, "meeting": _engagement, "note": _engagement, "task": _engagement,
    "goal_target": _goal_target, "exchange_rate": _exchange_rate, "deal_stage": _deal_stage,
}


def to_common(stream: type[Stream], raw: dict[str, Any]) -> common.Remote | list[common.Remote]:
    """The common record(s) for one raw record of ``stream`` (contacts and deals give several)."""
    try:
        mapper = MAPPERS[stream.name]
    except KeyError:
        raise KeyError(f"HubSpot has no mapping for stream {stream.name!r}") from None
    return mapper(stream, raw)
