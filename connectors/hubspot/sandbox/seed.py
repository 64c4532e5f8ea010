"""Seeding the sandbox portal from the shared datasets (maven-crm and olist-marketing-funnel).

Rules the datasets leave open, chosen here (the Salesforce sandbox's choices where they overlap, so one olist
lead has the same name, e-mail, company, owner and shifted dates in both sandboxes):
- Owners: Alex Admin (role admin, no team), the maven managers (role manager) and agents (role rep); teams are
  the regional offices (Central, East, West), each person's primary team.
- Companies: the maven accounts; owner = the agent with most deals on the account.
- Deals: dealstage appointmentscheduled (Prospecting), qualifiedtobuy (Engaging), closedwon, closedlost.
  Prospecting deals have no dates: createdate is the snapshot day (2017-09-30) minus 0-29 days from a hash of
  the opportunity id; open deals close 15-89 days after the snapshot, picked the same way. amount is
  close_value for won deals and the product's list price otherwise (never the leaking 0 of lost deals).
  dealstage history: appointmentscheduled at createdate, qualifiedtobuy at engage_date 09:00, the closed
  stage at close_date 17:00; hs_lastmodifieddate is the last of these. Engaged deals get a meeting
  "Engagement meeting" at engage_date 10:00 associated with the deal (and its company). A deal's company is
  its primary company; dealtype is newbusiness for an account's first deal (by engage date), else
  existingbusiness; hs_analytics_source is OFFLINE (records entered in HubSpot, not tracked online).
  Companies' website is https://www.<domain>.
- Contacts (olist leads): every date moves by one whole-day shift so that the last one falls the day before
  the clock origin. lifecyclestage is lead, or customer for converted leads with hs_lifecyclestage_customer_date
  = the shifted won date (and lastmodifieddate then); nothing else tells converted leads apart.
  hs_analytics_source comes from origin (the raw origin in hs_analytics_source_data_1), the landing page in
  hs_analytics_first_url. Each contact has a "First contact" engagement at 10:00 of its first-contact day:
  an email (hs_email_status SENT) when origin is email, else a note. A converted lead's olist closed deal
  becomes a company (industry = business segment) and a closedwon deal (createdate = closedate = the won
  moment, no amount), associated with the contact and each other (see _customer_deal).
- Currencies: the company currency (USD) only, deals without deal_currency_code; a multi-currency portal
  (settings ``currencies``) puts a share of the deals in other currencies, amounts unchanged (currencies.py).
- Seeds: "full" is everything, "small" every 20th deal and every 20th lead (all owners and companies),
  "none" nothing. Goal targets (quotas): see quotas.py.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.datasets import (SEEDS, SMALL_EVERY, account_agents, account_since, deal_dates,
                                             olist_owner, olist_person, olist_shift_days, read_csv)

from .associations import associate_many
from .clock import iso
from .currencies import seed_currencies
from .quotas import goal_targets
from .pipelines import DEFAULT_PIPELINE, stages_by_id
from .schema import ASSOCIATION_TYPES, OBJECT_TYPES, PRIMARY_TYPES
from .store import Store

FIRST_OWNER_ID, FIRST_USER_ID, FIRST_TEAM_ID = 40_000_001, 70_000_001, 101
STAGE_OF = {"Prospecting": "appointmentscheduled", "Engaging": "qualifiedtobuy", "Won": "closedwon",
            "Lost": "closedlost"}
SOURCE_OF = {"organic_search": "ORGANIC_SEARCH", "paid_search": "PAID_SEARCH", "social": "SOCIAL_MEDIA",
             "email": "EMAIL_MARKETING", "referral": "REFERRALS", "direct_traffic": "DIRECT_TRAFFIC",
             "display": "OTHER_CAMPAIGNS", "other_publicities": "OTHER_CAMPAIGNS", "other": "OTHER_CAMPAIGNS",
             "unknown": "OFFLINE"}
ADMIN_EMAIL = "alex.admin@maven-sandbox.example"


def _at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def email_of(full_name: str) -> str:
    """A maven person's sandbox e-mail (the Salesforce sandbox's username)."""
    first, _, last = full_name.partition(" ")
    return f"{first}.{last}".lower().replace(" ", "") + "@maven-sandbox.example"


class Rows:
    """Records, history and associations gathered in memory, written in bulk at the end."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.history: list[tuple] = []
        self.links: list[tuple[str, int, str, int]] = []
        self.primary_links: list[tuple[str, int, str, int]] = []  # with the Primary label as well

    def add(self, kind: str, created: datetime, modified: datetime | None = None, **props: Any) -> int:
        record_id = OBJECT_TYPES[kind][2] + len(self.records[kind])
        stamp, modstamp = iso(created), iso(modified or created)
        values = {k: str(v) for k, v in props.items() if v is not None and v != ""}
        values.update(hs_object_id=str(record_id), createdate=stamp, hs_lastmodifieddate=modstamp)
        if kind == "contacts":
            values["lastmodifieddate"] = modstamp
        self.records[kind].append({"type": kind, "id": record_id, "created_at": stamp, "updated_at": modstamp,
                                   "props": values})
        return record_id

    def changed(self, kind: str, record_id: int, name: str, value: str, moment: datetime) -> None:
        self.history.append((kind, record_id, name, value, iso(moment), "CRM_UI", None))

    def save(self, store: Store) -> dict[str, int]:
        with store.transaction():
            for kind, records in self.records.items():
                store.insert_records(records)
                store.allocate(kind, OBJECT_TYPES[kind][2], len(records))
            store.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", self.history)
            associate_many(store, self.links)
            # New pairs, so the Primary label's rows go in directly (associate_many relabels one at a time).
            store.executemany("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?, 'HUBSPOT_DEFINED')", [
                row for a, a_id, b, b_id in self.primary_links
                for types in (ASSOCIATION_TYPES, PRIMARY_TYPES)
                for row in ((a, a_id, b, b_id, types[(a, b)]), (b, b_id, a, a_id, types[(b, a)]))])
        return {kind: len(records) for kind, records in self.records.items()}


def _owners(store: Store, teams: list[dict[str, str]], created: date) -> dict[str, int]:
    """Owners and teams; returns owner id by maven name."""
    offices = sorted({t["regional_office"] for t in teams})
    team_ids = {office: FIRST_TEAM_ID + i for i, office in enumerate(offices)}
    store.executemany("INSERT INTO teams VALUES (?, ?)", [(team_ids[o], o) for o in offices])
    office_of = {t["manager"]: t["regional_office"] for t in teams}
    office_of.update({t["sales_agent"]: t["regional_office"] for t in teams})
    people = [("Alex Admin", "admin")] + [(m, "manager") for m in sorted({t["manager"] for t in teams})]
    people += [(a, "rep") for a in sorted(t["sales_agent"] for t in teams)]
    stamp, rows, ids = iso(created), [], {}
    for index, (name, role) in enumerate(people):
        first, _, last = name.partition(" ")
        office = office_of.get(name)
        team = f'[{{"id": "{team_ids[office]}", "name": "{office}", "primary": true}}]' if office else "[]"
        ids[name] = FIRST_OWNER_ID + index
        rows.append((ids[name], FIRST_USER_ID + index, email_of(name), first, last, role, team, stamp, stamp, 0))
    store.executemany("INSERT INTO owners VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return ids


def _maven(rows: Rows, folder: Path, owners: dict[str, int], small: bool, created: date) -> None:
    prices = {p["product"].replace(" ", ""): p["sales_price"] for p in read_csv(folder / "products.csv")}
    deals = read_csv(folder / "sales_pipeline.csv")
    accounts = read_csv(folder / "accounts.csv")
    agents, since_of = account_agents(deals, accounts), account_since(deals)
    first_of_account: dict[str, str] = {}
    for deal in sorted(deals, key=lambda d: (d["engage_date"] or "9999", d["opportunity_id"])):
        first_of_account.setdefault(deal["account"], deal["opportunity_id"])
    company_ids = {}
    for account in accounts:
        name = account["account"]
        owner = owners[agents.get(name, "Alex Admin")]
        since = since_of.get(name, created)
        domain = "".join(c for c in name.lower() if c.isalnum()) + ".com"
        company_ids[name] = rows.add(
            "companies", _at(since), name=name, domain=domain, website=f"https://www.{domain}",
            industry=account["sector"], annualrevenue=round(float(account["revenue"]) * 1_000_000),
            numberofemployees=account["employees"], country=account["office_location"],
            founded_year=account["year_established"], hubspot_owner_id=owner)
    for index, deal in enumerate(deals):
        if small and index % SMALL_EVERY:
            continue
        owner = owners[deal["sales_agent"]]
        stage = STAGE_OF[deal["deal_stage"]]
        engaged, created_on, closed, close_on = deal_dates(deal)
        amount = deal["close_value"] if stage == "closedwon" else prices[deal["product"].replace(" ", "")]
        steps = [(_at(created_on), "appointmentscheduled")]
        if engaged:
            steps.append((_at(engaged, 9), "qualifiedtobuy"))
        if closed:
            steps.append((_at(closed, 17), stage))
        known = stages_by_id((DEFAULT_PIPELINE,))[stage]
        probability, is_closed, is_won = known.probability, known.closed, known.won
        label = deal["account"] or "New customer"
        deal_id = rows.add(
            "deals", steps[0][0], steps[-1][0], dealname=f"{label} {deal['product']} ({deal['opportunity_id']})",
            amount=amount, dealstage=stage, pipeline=DEFAULT_PIPELINE.id, closedate=iso(_at(close_on)), hubspot_owner_id=owner,
            hs_is_closed=str(is_closed).lower(), hs_is_closed_won=str(is_won).lower(),
            hs_deal_stage_probability=probability, product=deal["product"], hs_analytics_source="OFFLINE",
            dealtype="newbusiness" if first_of_account.get(deal["account"]) == deal["opportunity_id"]
            or not deal["account"] else "existingbusiness")
        for moment, step in steps:
            rows.changed("deals", deal_id, "dealstage", step, moment)
        company = company_ids.get(deal["account"])
        if company:
            rows.primary_links.append(("deals", deal_id, "companies", company))
        if engaged:
            start = _at(engaged, 10)
            meeting = rows.add("meetings", start, hs_timestamp=iso(start), hubspot_owner_id=owner,
                               hs_meeting_title="Engagement meeting", hs_meeting_start_time=iso(start),
                               hs_meeting_end_time=iso(start + timedelta(hours=1)), hs_meeting_outcome="COMPLETED")
            rows.links.append(("meetings", meeting, "deals", deal_id))
            if company:
                rows.links.append(("meetings", meeting, "companies", company))


def _customer_deal(rows: Rows, contact: int, person: dict[str, Any], deal: dict[str, str], mql: str,
                   won: datetime) -> None:
    """The company and closedwon deal an olist closed deal made of a contact, associated as HubSpot links them.

    contact↔company with the Primary label (which sets the contact's associatedcompanyid), deal↔company
    (Primary) and deal↔contact: the HUBSPOT_DEFINED types of the Associations v4 guide. The deal has no
    amount: the data has none (the seller's declared monthly revenue is no deal value).
    """
    owner, company_name = person["hubspot_owner_id"], person["company"]
    company = rows.add("companies", won, name=company_name, industry=deal["business_segment"] or None,
                       country="Brazil", hubspot_owner_id=owner)
    closedwon = stages_by_id((DEFAULT_PIPELINE,))["closedwon"]
    deal_id = rows.add("deals", won, dealname=f"{company_name} seller ({mql[:8]})", dealstage=closedwon.id,
                       pipeline=DEFAULT_PIPELINE.id, closedate=iso(won), hubspot_owner_id=owner, hs_is_closed="true",
                       hs_is_closed_won="true", hs_deal_stage_probability=closedwon.probability,
                       hs_analytics_source=person.get("hs_analytics_source"), dealtype="newbusiness")
    rows.changed("deals", deal_id, "dealstage", "closedwon", won)
    rows.records["contacts"][-1]["props"]["associatedcompanyid"] = str(company)
    rows.primary_links += [("contacts", contact, "companies", company), ("deals", deal_id, "companies", company)]
    rows.links.append(("deals", deal_id, "contacts", contact))


def _olist(rows: Rows, folder: Path, agents: list[int], small: bool, shift_days: int) -> None:
    shift = timedelta(days=shift_days)
    leads = read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
    won = {d["mql_id"]: d for d in read_csv(folder / "olist_closed_deals_dataset.csv")}
    for index, lead in enumerate(leads):
        if small and index % SMALL_EVERY:
            continue
        mql = lead["mql_id"]
        first, last, company, email, job_title = olist_person(mql)
        owner = olist_owner(mql, agents)
        contacted = _at(date.fromisoformat(lead["first_contact_date"]) + shift)
        origin = lead["origin"] or None
        values: dict[str, Any] = dict(
            firstname=first, lastname=last, email=email, company=company,
            jobtitle=job_title, country="Brazil", hubspot_owner_id=owner,
            lifecyclestage="lead", hs_lead_status="CONNECTED", hs_analytics_source=SOURCE_OF.get(origin or ""),
            hs_analytics_source_data_1=origin, hs_lifecyclestage_lead_date=iso(contacted),
            hs_analytics_first_url=f"https://www.olist.example/lp/{lead['landing_page_id']}")
        modified = contacted
        deal = won.get(mql)
        if deal and deal["won_date"]:
            modified = datetime.fromisoformat(deal["won_date"]) + shift
            values.update(lifecyclestage="customer", hs_lifecyclestage_customer_date=iso(modified))
        contact = rows.add("contacts", contacted, modified, **values)
        rows.changed("contacts", contact, "lifecyclestage", "lead", contacted)
        if modified != contacted:
            rows.changed("contacts", contact, "lifecyclestage", "customer", modified)
            _customer_deal(rows, contact, values, deal, mql, modified)
        moment = contacted + timedelta(hours=10)
        if origin == "email":
            engagement = rows.add("emails", moment, hs_timestamp=iso(moment), hubspot_owner_id=owner,
                                  hs_email_subject="First contact", hs_email_direction="EMAIL",
                                  hs_email_status="SENT")
            rows.links.append(("emails", engagement, "contacts", contact))
        else:
            engagement = rows.add("notes", moment, hs_timestamp=iso(moment), hubspot_owner_id=owner,
                                  hs_note_body="First contact")
            rows.links.append(("notes", engagement, "contacts", contact))


def seed(store: Store, datasets: Path | None, kind: str, origin: datetime,
         currencies: tuple[str, dict | None] = ("USD", None)) -> dict[str, Any]:
    """Fill an empty store; returns the date shift and the counts per object type."""
    company, others = currencies
    if kind not in SEEDS:
        raise ValueError(f"Unknown seed {kind!r}: use one of {', '.join(SEEDS)}.")
    if kind == "none":
        seed_currencies(store, [], company, None, iso(origin))
        store.executemany("INSERT INTO owners VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [(FIRST_OWNER_ID, FIRST_USER_ID, ADMIN_EMAIL, "Alex", "Admin", "admin", "[]",
                            iso(origin), iso(origin), 0)])
        return {"date_shift_days": 0, "counts": {}}
    olist_folder = datasets / "olist-marketing-funnel"
    shift_days = olist_shift_days(olist_folder, origin)
    created = min(date(2016, 1, 1), date(2017, 6, 1) + timedelta(days=shift_days))
    teams = read_csv(datasets / "maven-crm" / "sales_teams.csv")
    owners = _owners(store, teams, created)
    rows = Rows()
    _maven(rows, datasets / "maven-crm", owners, kind == "small", created)
    agents = [owners[t["sales_agent"]] for t in sorted(teams, key=lambda t: t["sales_agent"])]
    goal_targets(rows, store)  # from the maven deals, as the Salesforce sandbox's quotas
    _olist(rows, olist_folder, agents, kind == "small", shift_days)
    seed_currencies(store, rows.records["deals"], company, others, iso(created))
    counts = rows.save(store)
    return {"date_shift_days": shift_days, "counts": counts}
