"""Seeding the sandbox org from the shared datasets (maven-crm and olist-marketing-funnel).

Rules the datasets leave open, chosen here:
- Setup, as a new org has it: the profiles "System Administrator" (Modify All Data) and "Standard User",
  each with the permission set it owns. A role hierarchy CEO > VP, Sales > "<office> Sales Manager" >
  "<office> Sales Representative" (CEO and VP hold no user, as in many orgs).
- Users: one admin (System Administrator, no role), the maven managers (Standard User, their office's
  manager role, Title "Sales Manager") and agents (Standard User, their office's rep role, Title "Sales
  Representative", ManagerId = their manager); Department = regional office. Each user is assigned
  their profile's permission set, as Salesforce does. TimeZoneSidKey (required on User, an IANA id per
  the Object Reference) is the office's zone (OFFICE_TIME_ZONES), the admin's the org's default.
- Opportunity products: the org has a custom field Product__c (created in Setup, visible to every
  profile) holding the maven product; it is no standard field, so it reaches Pipewise only through
  field mapping.
- Opportunities: Prospecting deals have no dates: CreatedDate is the snapshot day (2017-09-30) minus
  0-29 days picked from a hash of the opportunity id. Open deals (Prospecting, Engaging) close
  15-89 days after the snapshot, picked the same way. Amount is close_value for won deals and the
  product's list price otherwise; history rows: Prospecting and Engaging at engage_date, the closed
  stage at close_date.
- Olist: every date moves by one whole-day shift so that the last one falls the day before the clock
  origin; names, e-mails and companies are generated from the mql_id; owners are maven agents picked
  by hash; converted leads get an Account (Industry = business segment), a Contact and a Closed Won
  Opportunity made from their olist closed deal (CloseDate = won date, no Amount: the data has none), and
  point at all three (ConvertedAccountId, ConvertedContactId, ConvertedOpportunityId), as conversion does.
- Quotas: a ForecastingQuota per sales rep and quarter of 2017, the HubSpot sandbox's rule: 110% of the
  revenue the rep won (Closed Won maven deals by CloseDate, among the seeded ones) the previous quarter, rounded up
  to 1,000, at least 1,000; created two weeks before the quarter opens.
- Currencies: one (the default). A multi-currency org (settings ``currencies``) is the same org with
  CurrencyType rates and a share of its deals in other currencies, amounts unchanged (currencies.py).
- Seeds: "full" is everything, "small" every 20th deal and every 20th lead with their campaigns
  (all users and accounts), "none" nothing.

Over 300 lines because it is one seed: the rules above, applied in the order the org's records depend on
each other (setup, roles and users, the maven deals, quotas, the olist leads).
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.datasets import (SEEDS, SMALL_EVERY, account_agents, account_since, deal_dates,
                                             olist_owner, olist_person, olist_shift_days, read_csv)

from . import currencies as multi_currency
from .clock import format_datetime
from .ids import make_id
from .records import STAGES
from .schema import Field, key_prefix
from .security import grant_to_every_profile
from .store import Store

QUOTA_YEAR = 2017
QUOTA_GROWTH, QUOTA_ROUND_TO = 1.1, 1000
FORECASTING_TYPE_ID = make_id("0Db", 1)  # the one forecast type (opportunity revenue) quotas belong to
# The customer's own field for the product a deal sells (created in Setup, so every profile sees it).
PRODUCT_FIELD = Field("Product__c", "string", "Product", custom=True, length=255)
# Maven's regional offices and the zones their people work in; any other office gets the org default.
OFFICE_TIME_ZONES = {"Central": "America/Chicago", "East": "America/New_York", "West": "America/Los_Angeles"}
DEFAULT_TIME_ZONE, DEFAULT_LOCALE = "America/Los_Angeles", "en_US"


def _stamp(moment: date | datetime) -> str:
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return format_datetime(moment)


class _Rows:
    """Rows per object with sequential ids, inserted in bulk at the end."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, object_name: str, created: date | datetime, modified: date | datetime | None,
            actor: str | None, **values: Any) -> str:
        rows = self.rows[object_name]
        record_id = make_id(key_prefix(object_name), len(rows) + 1)
        stamp, modstamp = _stamp(created), _stamp(modified or created)
        for name in ("FirstName", "LastName"):
            if name in values and object_name in ("User", "Lead", "Contact"):
                values["Name"] = " ".join(p for p in (values.get("FirstName"), values.get("LastName")) if p)
        rows.append({"Id": record_id, "IsDeleted": 0, "CreatedDate": stamp, "CreatedById": actor or record_id,
                     "LastModifiedDate": modstamp, "LastModifiedById": actor or record_id,
                     "SystemModstamp": modstamp, **values})
        return record_id

    def save(self, store: Store) -> dict[str, int]:
        for object_name, rows in self.rows.items():
            store.insert(object_name, rows)
            store.allocate(key_prefix(object_name), len(rows))
        return {name: len(rows) for name, rows in self.rows.items()}


PROFILES = {"System Administrator": dict(PermissionsApiEnabled=1, PermissionsViewSetup=1, PermissionsModifyAllData=1,
                                          PermissionsViewAllData=1, PermissionsCustomizeApplication=1),
            "Standard User": dict(PermissionsApiEnabled=1, PermissionsViewSetup=0, PermissionsModifyAllData=0,
                                  PermissionsViewAllData=0, PermissionsCustomizeApplication=0)}
ADMIN_PROFILE, USER_PROFILE = "System Administrator", "Standard User"


def setup_objects(rows: "_Rows", created: date) -> dict[str, tuple[str, str]]:
    """The org's profiles with the permission sets they own: profile name → (profile id, permission set id)."""
    found = {}
    for name, permissions in PROFILES.items():
        profile = rows.add("Profile", created, None, None, Name=name, UserType="Standard", **permissions)
        owned = rows.add("PermissionSet", created, None, None, Name=f"X{profile[:15]}", Label=name,
                         IsOwnedByProfile=1, ProfileId=profile, **permissions)
        found[name] = (profile, owned)
    return found


def _roles(rows: "_Rows", offices: list[str], created: date) -> dict[str, tuple[str, str]]:
    """The role hierarchy: office → (manager role id, rep role id)."""
    ceo = rows.add("UserRole", created, None, None, Name="CEO", DeveloperName="CEO")
    vp = rows.add("UserRole", created, None, None, Name="VP, Sales", DeveloperName="VP_Sales", ParentRoleId=ceo)
    found = {}
    for office in offices:
        key = office.replace(" ", "_")
        manager = rows.add("UserRole", created, None, None, Name=f"{office} Sales Manager",
                           DeveloperName=f"{key}_Sales_Manager", ParentRoleId=vp)
        rep = rows.add("UserRole", created, None, None, Name=f"{office} Sales Representative",
                       DeveloperName=f"{key}_Sales_Representative", ParentRoleId=manager)
        found[office] = (manager, rep)
    return found


def _users(rows: _Rows, teams: list[dict[str, str]], created: date) -> tuple[str, dict[str, str]]:
    profiles = setup_objects(rows, created)
    offices = sorted({t["regional_office"] for t in teams})
    roles = _roles(rows, offices, created)

    def person(full_name: str, title: str, department: str, manager: str | None, profile: str,
               role: str | None) -> str:
        first, _, last = full_name.partition(" ")
        username = f"{first}.{last}".lower().replace(" ", "") + "@maven-sandbox.example"
        user = rows.add("User", created, None, None, FirstName=first, LastName=last, Username=username,
                        Email=username, Title=title, Department=department, ManagerId=manager, IsActive=1,
                        ProfileId=profiles[profile][0], UserRoleId=role, UserType="Standard",
                        TimeZoneSidKey=OFFICE_TIME_ZONES.get(department, DEFAULT_TIME_ZONE),
                        LocaleSidKey=DEFAULT_LOCALE)
        rows.add("PermissionSetAssignment", created, None, None, AssigneeId=user,
                 PermissionSetId=profiles[profile][1])
        return user

    admin = person("Alex Admin", "System Administrator", "Sales Operations", None, ADMIN_PROFILE, None)
    office_of = {t["manager"]: t["regional_office"] for t in teams}
    users = {name: person(name, "Sales Manager", office_of[name], None, USER_PROFILE, roles[office_of[name]][0])
             for name in sorted(office_of)}
    for team in sorted(teams, key=lambda t: t["sales_agent"]):
        office = team["regional_office"]
        users[team["sales_agent"]] = person(team["sales_agent"], "Sales Representative", office,
                                            users[team["manager"]], USER_PROFILE, roles[office][1])
    return admin, users


def _maven(rows: _Rows, folder: Path, small: bool, created: date) -> tuple[str, list[str]]:
    teams = read_csv(folder / "sales_teams.csv")
    admin, users = _users(rows, teams, created)
    prices = {p["product"].replace(" ", ""): float(p["sales_price"]) for p in read_csv(folder / "products.csv")}
    deals = read_csv(folder / "sales_pipeline.csv")
    accounts = read_csv(folder / "accounts.csv")
    agents, since_of = account_agents(deals, accounts), account_since(deals)
    account_ids: dict[str, str] = {}
    for account in accounts:
        name = account["account"]
        owner = users[agents[name]] if name in agents else admin
        since = since_of.get(name, created)
        account_ids[name] = rows.add(
            "Account", since, None, owner, OwnerId=owner, Name=name, Industry=account["sector"],
            Website="www." + "".join(c for c in name.lower() if c.isalnum()) + ".com",
            AnnualRevenue=round(float(account["revenue"]) * 1_000_000, 2),
            NumberOfEmployees=int(account["employees"]), BillingCountry=account["office_location"],
            YearStarted=account["year_established"])
    for row, account in zip(rows.rows["Account"], accounts):
        row["ParentId"] = account_ids.get(account["subsidiary_of"] or "")
    stage_names = {"Prospecting": "Prospecting", "Engaging": "Engaging", "Won": "Closed Won", "Lost": "Closed Lost"}
    for index, deal in enumerate(deals):
        if small and index % SMALL_EVERY:
            continue
        owner = users[deal["sales_agent"]]
        stage = stage_names[deal["deal_stage"]]
        engaged, created_on, closed, close_date = deal_dates(deal)
        list_price = prices[deal["product"].replace(" ", "")]
        amount = float(deal["close_value"]) if stage == "Closed Won" else list_price
        probability, is_closed, is_won = STAGES[stage]
        label = deal["account"] or "New customer"
        opportunity = rows.add(
            "Opportunity", created_on, closed or created_on, owner, OwnerId=owner,
            Name=f"{label} {deal['product']} ({deal['opportunity_id']})", AccountId=account_ids.get(deal["account"]),
            StageName=stage, Amount=amount, Probability=float(probability), CloseDate=close_date.isoformat(),
            IsClosed=int(is_closed), IsWon=int(is_won), Type="New Business", Product__c=deal["product"])
        steps = [(created_on, "Prospecting", list_price)]
        if engaged:
            steps.append((engaged, "Engaging", list_price))
            moment = datetime(engaged.year, engaged.month, engaged.day, 10)
            rows.add("Event", engaged, None, owner, OwnerId=owner, Subject="Engagement meeting",
                     ActivityDate=engaged.isoformat(), ActivityDateTime=_stamp(moment), DurationInMinutes=60,
                     EndDateTime=_stamp(moment + timedelta(hours=1)), WhatId=opportunity, EventSubtype="Event")
        if closed:
            steps.append((closed, stage, amount))
        for when, step_stage, step_amount in steps:
            rows.add("OpportunityHistory", when, None, owner, OpportunityId=opportunity, StageName=step_stage,
                     Amount=step_amount, Probability=float(STAGES[step_stage][0]), CloseDate=close_date.isoformat())
    agents = [users[t["sales_agent"]] for t in sorted(teams, key=lambda t: t["sales_agent"])]
    return admin, agents


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quotas(rows: _Rows, agents: list[str], admin: str) -> None:
    """One ForecastingQuota per rep and quarter of QUOTA_YEAR (see the module docstring)."""
    won: dict[tuple[str, tuple[int, int]], float] = defaultdict(float)
    for deal in rows.rows["Opportunity"]:
        if deal["IsWon"]:
            won[deal["OwnerId"], _quarter(date.fromisoformat(deal["CloseDate"]))] += float(deal["Amount"])
    for quarter in range(1, 5):
        start = date(QUOTA_YEAR, 3 * quarter - 2, 1)
        previous = (QUOTA_YEAR, quarter - 1) if quarter > 1 else (QUOTA_YEAR - 1, 4)
        for agent in agents:
            target = max(QUOTA_ROUND_TO, math.ceil(won[agent, previous] * QUOTA_GROWTH / QUOTA_ROUND_TO)
                         * QUOTA_ROUND_TO)
            rows.add("ForecastingQuota", start - timedelta(days=14), None, admin, QuotaOwnerId=agent,
                     StartDate=start.isoformat(), QuotaAmount=float(target),
                     ForecastingTypeId=FORECASTING_TYPE_ID)


def _converted_opportunity(rows: _Rows, company: str, mql: str, won: datetime, owner: str, account: str,
                           source: str | None, campaign: str) -> str:
    """The Closed Won opportunity a converted olist lead became (its closed deal), with its one history row.

    Conversion creates the opportunity on the lead's account, copies LeadSource and sets the Primary Campaign
    Source to the lead's campaign (Salesforce Help, "Lead Conversion Field Mapping"). The olist deal has no
    value, so Amount stays empty rather than taking the seller's declared monthly revenue.
    """
    opportunity = rows.add("Opportunity", won, won, owner, OwnerId=owner, Name=f"{company} seller ({mql[:8]})",
                           AccountId=account, StageName="Closed Won", Probability=100.0,
                           CloseDate=won.date().isoformat(), IsClosed=1, IsWon=1, Type="New Business",
                           LeadSource=source, CampaignId=campaign)
    rows.add("OpportunityHistory", won, None, owner, OpportunityId=opportunity, StageName="Closed Won",
             Probability=100.0, CloseDate=won.date().isoformat())
    return opportunity


def _olist(rows: _Rows, folder: Path, small: bool, shift_days: int, admin: str, agents: list[str]) -> None:
    shift = timedelta(days=shift_days)
    leads = read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
    won = {d["mql_id"]: d for d in read_csv(folder / "olist_closed_deals_dataset.csv")}
    chosen = [lead for index, lead in enumerate(leads) if not small or index % SMALL_EVERY == 0]
    pages: dict[str, list[date]] = defaultdict(list)
    for lead in chosen:
        pages[lead["landing_page_id"]].append(date.fromisoformat(lead["first_contact_date"]) + shift)
    last_day = max(day for days in pages.values() for day in days)
    campaigns = {}
    for page, days in pages.items():
        active = max(days) > last_day - timedelta(days=30)
        campaigns[page] = rows.add(
            "Campaign", min(days), max(days), admin, OwnerId=admin, Name=f"Landing page {page[:8]}", Type="Web",
            Status="In Progress" if active else "Completed", StartDate=min(days).isoformat(),
            EndDate=max(days).isoformat(), IsActive=int(active), Description=f"Olist landing page {page}")
    for lead in chosen:
        mql = lead["mql_id"]
        first, last, company, email, _job_title = olist_person(mql)
        owner = olist_owner(mql, agents)
        contacted = date.fromisoformat(lead["first_contact_date"]) + shift
        source = lead["origin"] or None
        values: dict[str, Any] = dict(OwnerId=owner, FirstName=first, LastName=last, Email=email, Company=company,
                                      Country="Brazil", LeadSource=source, Status="Working - Contacted",
                                      IsConverted=0)
        modified: datetime | date = contacted
        deal = won.get(mql)
        if deal and deal["won_date"]:
            modified = datetime.fromisoformat(deal["won_date"]) + shift
            account = rows.add("Account", modified, None, owner, OwnerId=owner, Name=company,
                               Industry=deal["business_segment"] or None, BillingCountry="Brazil",
                               Description=f"Olist seller {deal['seller_id']}")
            contact = rows.add("Contact", modified, None, owner, OwnerId=owner, AccountId=account, FirstName=first,
                               LastName=last, Email=email, LeadSource=source, MailingCountry="Brazil")
            opportunity = _converted_opportunity(rows, company, mql, modified, owner, account, source,
                                                 campaigns[lead["landing_page_id"]])
            values.update(Status="Closed - Converted", IsConverted=1, ConvertedDate=modified.date().isoformat(),
                          ConvertedAccountId=account, ConvertedContactId=contact,
                          ConvertedOpportunityId=opportunity)
        lead_id = rows.add("Lead", contacted, modified, owner, **values)
        rows.add("CampaignMember", contacted, None, owner, CampaignId=campaigns[lead["landing_page_id"]],
                 LeadId=lead_id, Status="Responded", HasResponded=1, FirstRespondedDate=contacted.isoformat())
        rows.add("Task", contacted, None, owner, OwnerId=owner, Subject="First contact", Status="Completed",
                 Priority="Normal", ActivityDate=contacted.isoformat(), WhoId=lead_id,
                 TaskSubtype="Email" if source == "email" else "Call")


def seed_organization(store: Store, org_id: str, name: str, time_zone: str, created: datetime) -> None:
    """The org's one Organization row (its Id is the org id), unless it has one already."""
    if store.count("Organization"):
        return
    stamp = _stamp(created)
    store.insert("Organization", [{
        "Id": org_id, "IsDeleted": 0, "CreatedDate": stamp, "CreatedById": None, "LastModifiedDate": stamp,
        "LastModifiedById": None, "SystemModstamp": stamp, "Name": name, "Country": "US",
        "DefaultLocaleSidKey": DEFAULT_LOCALE, "LanguageLocaleKey": DEFAULT_LOCALE, "TimeZoneSidKey": time_zone,
        "OrganizationType": "Enterprise Edition", "IsSandbox": 0, "InstanceName": "NA1"}])


def seed(store: Store, datasets: Path | None, kind: str, origin: datetime,
         currencies: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill an empty store; returns the date shift and the counts per object."""
    if kind not in SEEDS:
        raise ValueError(f"Unknown seed {kind!r}: use one of {', '.join(SEEDS)}.")
    if kind == "none":
        rows = _Rows()
        setup_objects(rows, origin.date())
        with store.transaction():
            counts = rows.save(store)
        return {"date_shift_days": 0, "counts": counts}
    olist_folder = datasets / "olist-marketing-funnel"
    shift_days = olist_shift_days(olist_folder, origin)
    users_created = min(date(2016, 1, 1), date(2017, 6, 1) + timedelta(days=shift_days))
    rows = _Rows()
    admin, agents = _maven(rows, datasets / "maven-crm", kind == "small", users_created)
    _quotas(rows, agents, admin)
    _olist(rows, olist_folder, kind == "small", shift_days, admin, agents)
    if currencies:
        multi_currency.apply(rows, currencies, users_created, admin)
        store.set_currency_mode(currencies.get("mode", "multi"))
    with store.transaction():
        store.add_custom_field("Opportunity", PRODUCT_FIELD, make_id("00N", store.allocate("00N")))
        counts = rows.save(store)
        grant_to_every_profile(store, "Opportunity", PRODUCT_FIELD.name, editable=True)
    return {"date_shift_days": shift_days, "counts": counts}
