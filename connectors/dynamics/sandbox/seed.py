"""Seeding the environment from the shared datasets (maven-crm and olist-marketing-funnel).

The rules follow the Salesforce and HubSpot sandboxes where they overlap, so one maven account, one deal and
one olist lead carry the same names, e-mails, owners and (shifted) dates in all three CRMs:
- Users: Alex Admin (System Administrator), the maven managers and agents; an agent's parentsystemuserid is
  their manager (the user hierarchy). Sign-in names are first.last@<tenant domain>, internalemailaddress the
  first.last@maven-sandbox.example the other sandboxes use.
- Accounts: the maven accounts, owned by the agent with most deals on them, parentaccountid from subsidiary_of.
- Opportunities (maven deals): statecode Open/Won/Lost; stepname 1-Qualify (Prospecting) or 2-Develop
  (Engaging); closeprobability as the Salesforce stages; estimatedvalue the close value of won deals, else the
  product's list price; dates as the other sandboxes (open deals close 15-89 days after the 2017-09-30
  snapshot, picked from a hash of the opportunity id). Engaged deals have an "Engagement meeting" appointment;
  prospecting deals a "Schedule first meeting" task.
- Leads (olist): dates shifted so the last falls the day before the clock origin; converted leads are
  Qualified with an account, a contact (originatingleadid) and the won opportunity their closed deal made
  (qualifyingopportunityid ↔ originatingleadid; no value: the data has none, as in the other sandboxes);
  each lead has a "First contact" e-mail (origin email) or phone call, and a campaign per landing page
  (as the Salesforce sandbox's campaigns).
- Goals (quotas): see goals.py.
- Seeds: "full" everything, "small" every 20th deal and lead (all users and accounts), "none" only the admin.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.salesforce.sandbox.records import STAGES
from connectors.sandbox_kit.datasets import (SMALL_EVERY, account_agents, account_since, deal_dates, olist_owner,
                                             olist_person, olist_shift_days, read_csv)

from .goals import seed_goals
from .schema import DATA_TABLES

IDS = uuid.UUID("6b0e3c8a-95f4-4d51-8a7e-2f8c1d9b4e60")
STATE = {"Prospecting": (0, 1, "1-Qualify", "Prospecting"), "Engaging": (0, 1, "2-Develop", "Engaging"),
         "Won": (1, 3, "3-Close", "Closed Won"), "Lost": (2, 4, "3-Close", "Closed Lost")}
LEAD_SOURCE = {"paid_search": 1, "display": 1, "other_publicities": 1, "referral": 3, "organic_search": 8,
               "direct_traffic": 8, "social": 8, "email": 8}


def guid(kind: str, key: str) -> str:
    """A stable id per record of the datasets."""
    return str(uuid.uuid5(IDS, f"{kind}:{key}"))


def _at(day: date, hour: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def _ref(table: str, record_id: str | None) -> dict | None:
    return {"id": record_id, "table": table} if record_id else None


class Rows:
    """Rows per table gathered in memory and written with one statement per table."""

    def __init__(self, tables: dict) -> None:
        self.tables = tables
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, logical: str, key: str, created: str, modified: str | None = None, *,
            record_id: str | None = None, **values: Any) -> str:
        table = self.tables[logical]
        record_id = record_id or guid(logical, key)
        row: dict[str, Any] = {name: None for name in table.columns if name != "versionnumber"}
        if "statecode" in table.columns:
            row["statecode"], row["statuscode"] = 0, min(table.columns["statuscode"].options)
        row.update(values)
        row.update({table.pk: record_id, "createdon": created, "modifiedon": modified or created})
        if logical in ("contact", "lead", "systemuser"):
            row["fullname"] = f"{row.get('firstname') or ''} {row.get('lastname') or ''}".strip()
        self.rows[logical].append(row)
        return record_id

    def save(self, store) -> dict[str, int]:
        with store.transaction():
            for logical, rows in self.rows.items():
                store.put_many(logical, rows, self.tables[logical].pk)
        return {logical: len(rows) for logical, rows in self.rows.items()}


def organization_id(settings) -> str:
    """The environment's OrganizationId (WhoAmI's), stable per unique name."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, settings.org_name))


def _platform(rows: Rows, settings, created: str) -> tuple[str, str]:
    """The organization, business unit, publisher, solution and SDK messages every environment has."""
    rows.add("organization", settings.org_name, created, record_id=organization_id(settings), name=settings.org_name,
             languagecode=1033)
    unit = rows.add("businessunit", settings.org_name, created, name=settings.org_name)
    publisher = rows.add("publisher", "default", created, uniquename=f"DefaultPublisher{settings.org_name}",
                         friendlyname=f"Default Publisher for {settings.org_name}", customizationprefix="new",
                         customizationoptionvalueprefix=10000)
    rows.add("solution", "default", created, uniquename="Default", friendlyname="Default Solution", version="1.0",
             publisherid=_ref("publisher", publisher))
    for message in ("Create", "Update", "Delete"):
        message_id = rows.add("sdkmessage", message, created, name=message)
        for logical in DATA_TABLES:
            rows.add("sdkmessagefilter", f"{message}:{logical}", created, name=f"{message} of {logical}",
                     primaryobjecttypecode=logical, sdkmessageid=_ref("sdkmessage", message_id))
    return unit, publisher


def _users(rows: Rows, settings, teams: list[dict[str, str]], unit: str, created: str) -> dict[str, str]:
    def person(name: str, title: str, manager: str | None) -> str:
        first, _, last = name.partition(" ")
        login = f"{first}.{last}".lower().replace(" ", "")
        return rows.add("systemuser", name, created, firstname=first, lastname=last, title=title,
                        domainname=f"{login}@{settings.tenant_domain}",
                        internalemailaddress=f"{login}@maven-sandbox.example",
                        azureactivedirectoryobjectid=guid("aad", name), isdisabled=False,
                        parentsystemuserid=_ref("systemuser", manager), businessunitid=_ref("businessunit", unit))

    # Every environment has the System Administrator role; Sales Manager and Salesperson are the Sales
    # app's (security/security-roles-privileges.md, "Predefined security roles").
    roles = {name: rows.add("role", name, created, name=name, businessunitid=_ref("businessunit", unit))
             for name in ("System Administrator", "Sales Manager", "Salesperson")}

    def hold(user: str, role: str) -> None:
        rows.add("systemuserroles", f"{user}:{role}", created, systemuserid=user, roleid=roles[role])

    users = {"Alex Admin": person("Alex Admin", "System Administrator", None)}
    hold(users["Alex Admin"], "System Administrator")
    for manager in sorted({t["manager"] for t in teams}):
        users[manager] = person(manager, "Sales Manager", None)
        hold(users[manager], "Sales Manager")
    for team in sorted(teams, key=lambda t: t["sales_agent"]):
        users[team["sales_agent"]] = person(team["sales_agent"], "Sales Representative", users[team["manager"]])
        hold(users[team["sales_agent"]], "Salesperson")
    return users


def _maven(rows: Rows, folder: Path, users: dict[str, str], small: bool, created: str) -> None:
    prices = {p["product"].replace(" ", ""): float(p["sales_price"]) for p in read_csv(folder / "products.csv")}
    deals, accounts = read_csv(folder / "sales_pipeline.csv"), read_csv(folder / "accounts.csv")
    agents, since_of = account_agents(deals, accounts), account_since(deals)
    ids = {}
    for account in accounts:
        name = account["account"]
        owner = users[agents.get(name, "Alex Admin")]
        since = _at(since_of[name]) if name in since_of else created
        domain = "".join(c for c in name.lower() if c.isalnum()) + ".com"
        ids[name] = rows.add("account", name, since, name=name, websiteurl=f"https://www.{domain}",
                             revenue=round(float(account["revenue"]) * 1_000_000, 2),
                             numberofemployees=int(account["employees"]), address1_country=account["office_location"],
                             description=f"Sector: {account['sector']}; established {account['year_established']}",
                             ownerid=_ref("systemuser", owner))
    for row, account in zip(rows.rows["account"], accounts):
        row["parentaccountid"] = _ref("account", ids.get(account["subsidiary_of"] or ""))
    for index, deal in enumerate(deals):
        if small and index % SMALL_EVERY:
            continue
        owner = _ref("systemuser", users[deal["sales_agent"]])
        state, status, step, stage = STATE[deal["deal_stage"]]
        engaged, created_on, closed, close_on = deal_dates(deal)
        value = float(deal["close_value"]) if stage == "Closed Won" else prices[deal["product"].replace(" ", "")]
        modified = _at(closed, 17) if closed else (_at(engaged, 9) if engaged else _at(created_on))
        account = _ref("account", ids.get(deal["account"]))
        opportunity = rows.add(
            "opportunity", deal["opportunity_id"], _at(created_on), modified,
            name=f"{deal['account'] or 'New customer'} {deal['product']} ({deal['opportunity_id']})",
            estimatedvalue=value, actualvalue=value if stage == "Closed Won" else None,
            estimatedclosedate=close_on.isoformat(), actualclosedate=closed.isoformat() if closed else None,
            closeprobability=STAGES[stage][0], stepname=step, statecode=state, statuscode=status,
            parentaccountid=account, customerid=account, ownerid=owner, description=f"Product: {deal['product']}")
        regarding = _ref("opportunity", opportunity)
        if engaged:
            rows.add("appointment", f"meeting:{deal['opportunity_id']}", _at(engaged, 10), subject="Engagement meeting",
                     scheduledstart=_at(engaged, 10), scheduledend=_at(engaged, 11), actualend=_at(engaged, 11),
                     statecode=1, statuscode=5, regardingobjectid=regarding, ownerid=owner)
        elif state == 0:
            rows.add("task", f"task:{deal['opportunity_id']}", _at(created_on, 9), subject="Schedule first meeting",
                     scheduledend=_at(close_on), prioritycode=1, statuscode=2, regardingobjectid=regarding,
                     ownerid=owner)


def _olist(rows: Rows, folder: Path, agents: list[str], admin: str, small: bool, shift_days: int) -> None:
    shift = timedelta(days=shift_days)
    leads = [l for i, l in enumerate(read_csv(folder / "olist_marketing_qualified_leads_dataset.csv"))
             if not small or i % SMALL_EVERY == 0]
    won = {d["mql_id"]: d for d in read_csv(folder / "olist_closed_deals_dataset.csv")}
    pages: dict[str, list[date]] = defaultdict(list)
    for lead in leads:
        pages[lead["landing_page_id"]].append(date.fromisoformat(lead["first_contact_date"]) + shift)
    last_day = max(day for days in pages.values() for day in days)
    campaigns = {}
    for page, days in pages.items():
        active = max(days) > last_day - timedelta(days=30)
        campaigns[page] = rows.add("campaign", page, _at(min(days)), _at(max(days)), name=f"Landing page {page[:8]}",
                                   codename=page[:8], typecode=1, actualstart=_at(min(days)), actualend=_at(max(days)),
                                   statuscode=2 if active else 3, description=f"Olist landing page {page}",
                                   ownerid=_ref("systemuser", admin))
    for lead in leads:
        mql = lead["mql_id"]
        first, last, company, email, job_title = olist_person(mql)
        owner = _ref("systemuser", olist_owner(mql, agents))
        contacted = date.fromisoformat(lead["first_contact_date"]) + shift
        origin = lead["origin"] or None
        values: dict[str, Any] = dict(
            firstname=first, lastname=last, emailaddress1=email, companyname=company, address1_country="Brazil",
            jobtitle=job_title, subject=f"{company} ({origin or 'unknown'})",
            leadsourcecode=LEAD_SOURCE.get(origin or "", 10), statuscode=2, ownerid=owner,
            websiteurl=f"https://www.olist.example/lp/{lead['landing_page_id']}",
            campaignid=_ref("campaign", campaigns[lead["landing_page_id"]]))
        modified = _at(contacted)
        deal = won.get(mql)
        lead_id = guid("lead", mql)
        if deal and deal["won_date"]:
            moment = datetime.fromisoformat(deal["won_date"]) + shift
            modified = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            account = rows.add("account", f"olist:{mql}", modified, name=company, address1_country="Brazil",
                               description=f"Olist seller {deal['seller_id']}", ownerid=owner)
            contact = rows.add("contact", mql, modified, firstname=first, lastname=last, emailaddress1=email,
                               address1_country="Brazil", parentcustomerid=_ref("account", account),
                               originatingleadid=_ref("lead", lead_id), ownerid=owner)
            # Qualifying a lead makes the opportunity (originatingleadid) the lead points back at
            # (qualifyingopportunityid); the seller's deal was won on the day, with no value in the data.
            state, status, step, stage = STATE["Won"]
            opportunity = rows.add(
                "opportunity", f"olist:{mql}", modified, modified, name=f"{company} seller ({mql[:8]})",
                actualclosedate=moment.date().isoformat(), estimatedclosedate=moment.date().isoformat(),
                closeprobability=STAGES[stage][0], stepname=step, statecode=state, statuscode=status,
                parentaccountid=_ref("account", account), customerid=_ref("account", account),
                originatingleadid=_ref("lead", lead_id), campaignid=values["campaignid"], ownerid=owner)
            values.update(statecode=1, statuscode=3, parentaccountid=_ref("account", account),
                          parentcontactid=_ref("contact", contact),
                          qualifyingopportunityid=_ref("opportunity", opportunity))
        rows.add("lead", mql, _at(contacted), modified, **values)
        kind = "email" if origin == "email" else "phonecall"
        extra = {"directioncode": True}
        rows.add(kind, f"first:{mql}", _at(contacted, 10), subject="First contact", actualend=_at(contacted, 10),
                 statecode=1, statuscode=5, regardingobjectid=_ref("lead", lead_id),
                 ownerid=owner, **extra)


def seed(store, tables: dict, datasets: Path | None, kind: str, settings) -> dict[str, Any]:
    """Fill an empty store; returns facts kept in meta (admin id, business unit, date shift)."""
    origin = settings.clock_origin
    rows = Rows(tables)
    shift_days = olist_shift_days(datasets / "olist-marketing-funnel", origin) if datasets else 0
    created = _at(min(date(2016, 1, 1), date(2017, 6, 1) + timedelta(days=shift_days)))
    unit, _publisher = _platform(rows, settings, created)
    if kind == "none":
        users = _users(rows, settings, [], unit, created)
    else:
        teams = read_csv(datasets / "maven-crm" / "sales_teams.csv")
        users = _users(rows, settings, teams, unit, created)
        _maven(rows, datasets / "maven-crm", users, kind == "small", created)
        agents = [users[t["sales_agent"]] for t in sorted(teams, key=lambda t: t["sales_agent"])]
        _olist(rows, datasets / "olist-marketing-funnel", agents, users["Alex Admin"], kind == "small", shift_days)
        seed_goals(rows, unit)
    rows.save(store)
    return {"admin_id": users["Alex Admin"], "business_unit_id": unit, "date_shift_days": shift_days}
