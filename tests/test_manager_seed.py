"""The seeded team shared by the team panel's tests: a two-level hierarchy, a year of deals with their
stage changes and activities, leads in campaigns, quotas and forecast snapshots, kept as plain dicts
for the independent calculations.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import insert

from scoring.deals_as_of import parse_period
from sync.rollups import rebuild_organization
from sync.store import (Account, Activity, Campaign, CampaignMember, Connection, Lead, Opportunity,
                        OpportunityStageChange, Organization, User)
from sync.store.db import make_engine, make_sessionmaker
from sync.store import Quota
from sync.store.forecasts import ForecastSnapshot
from web.cli import upgrade_database

AS_OF = date(2024, 5, 15)
NOW = datetime(2024, 5, 15)
PERIOD = parse_period("2024-Q2")
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation"]
WON, LOST = "Closed Won", "Closed Lost"
INSTANCE = "https://acme.my.salesforce.com"
ADMIN, DIRECTOR, M1, M2 = "005A00000000000ADM", "005A00000000000DIR", "005A000000000000M1", "005A000000000000M2"
R1, R2, R3, R4, R5 = (f"005A000000000000R{n}" for n in range(1, 6))
MANAGERS = {ADMIN: None, DIRECTOR: None, M1: DIRECTOR, M2: DIRECTOR, R1: M1, R2: M1, R3: M2, R4: M2, R5: None}
ROLES = {ADMIN: "admin", DIRECTOR: "manager", M1: "manager", M2: "manager"}
TEAMS = {R1: "East", R2: "East", M1: "East", R3: "West", R4: "West", M2: "West", R5: "Central"}
REPS = (R1, R2, R3, R4, R5)


@dataclass
class Seed:
    """What was inserted, as plain dicts, for the independent calculations."""

    organization_id: int = 0
    connection_id: int = 0
    users: list[dict] = field(default_factory=list)
    opportunities: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)
    leads: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    accounts: dict[str, str | None] = field(default_factory=dict)


def _synced(seed: Seed, remote_id: str, **values) -> dict:
    return {"organization_id": seed.organization_id, "connection_id": seed.connection_id, "remote_id": remote_id,
            "remote_data": {}, "content_hash": "h", **values}


def _deal(rng: random.Random, seed: Seed, owner: str, n: int, created: datetime) -> None:
    """One deal's history up to NOW: stages entered in order, closed won or lost, or still open."""
    remote_id = f"006{owner[-2:]}{n:013d}"
    amount = float(round(math.exp(rng.uniform(math.log(300), math.log(90000)))))
    steps = rng.randint(1, 4)
    at, stage, entered = created, None, []
    for index in range(steps):
        stage = STAGES[index]
        entered.append((stage, at))
        if rng.random() < 0.25:  # an amount change keeps the stage: not a new entry
            entered.append((stage, at + timedelta(days=rng.uniform(0.5, 3))))
        at = at + timedelta(days=rng.uniform(2, 45), hours=rng.uniform(0, 20))
    closed = at < NOW and rng.random() < 0.8
    outcome = (WON if steps == 4 and rng.random() < 0.6 else LOST) if closed else None
    if outcome:
        entered.append((outcome, at))
        stage = outcome
    close_date = at.date() if outcome else (AS_OF + timedelta(days=rng.randint(-10, 80)))
    account = rng.choice(list(seed.accounts) + [None])
    seed.opportunities.append(_synced(
        seed, remote_id, name=f"Deal {owner[-2:]}-{n}", owner_remote_id=owner, stage=stage, amount=amount,
        close_date=close_date, is_closed=outcome is not None, is_won=outcome == WON,
        product=rng.choice(["Core", "Plus", "Enterprise", None]), account_remote_id=account,
        remote_created_at=created, remote_modified_at=at if outcome else created))
    for i, (name, when) in enumerate(entered):
        seed.changes.append(_synced(seed, f"{remote_id}-{i}", opportunity_remote_id=remote_id, stage=name,
                                    amount=amount, changed_at=when))
    end = at if outcome else NOW
    for i in range(rng.randint(0, 6)):
        when = created + (end - created) * rng.random()
        seed.activities.append(_synced(seed, f"00T{remote_id[3:]}{i}", kind=rng.choice(
            ["call", "email", "meeting", "task", "web_visit"]), owner_remote_id=owner, what_remote_id=remote_id,
            occurred_at=when))


def build_seed(organization_id: int, connection_id: int, rng_seed: int = 7) -> Seed:
    """Users in a two-level hierarchy, ~40 deals per rep over a year, leads, campaigns, activities."""
    rng = random.Random(rng_seed)
    seed = Seed(organization_id, connection_id)
    seed.accounts = {f"001A0000000000AC{i}": industry
                     for i, industry in enumerate(["retail", "finance", "health", "finance", None])}
    for remote_id, manager in MANAGERS.items():
        seed.users.append(_synced(seed, remote_id, name=f"User {remote_id[-3:]}", role=ROLES.get(remote_id, "rep"),
                                  team=TEAMS.get(remote_id), manager_remote_id=manager))
    count = 0
    for owner in REPS:
        for n in range(30 + REPS.index(owner) * 4):
            created = datetime(2023, 6, 1) + timedelta(days=rng.uniform(0, 340), hours=rng.uniform(0, 23))
            _deal(rng, seed, owner, n, created)
        for n in range(25):
            count += 1
            lead_id = f"00Q{owner[-2:]}{n:013d}"
            created = datetime(2024, 3, 20) + timedelta(days=rng.uniform(0, 60), hours=rng.uniform(0, 12))
            converted = created < NOW - timedelta(days=6) and rng.random() < 0.4
            lead = _synced(seed, lead_id, first_name="Lea", last_name=f"{owner[-2:]}{n}", owner_remote_id=owner,
                           lead_source=rng.choice(["Web", "Event", "Referral", None]), is_converted=converted,
                           remote_created_at=created)
            if converted:
                lead["converted_at"] = created + timedelta(days=rng.uniform(0.5, 5))
                if rng.random() < 0.85:
                    _deal(rng, seed, owner, 500 + n, lead["converted_at"] + timedelta(hours=rng.uniform(1, 30)))
                    lead["converted_opportunity_remote_id"] = seed.opportunities[-1]["remote_id"]
            seed.leads.append(lead)
            for campaign in rng.sample(["701A00000000000CA1", "701A00000000000CA2"], rng.randint(0, 2)):
                seed.members.append(_synced(seed, f"00v{lead_id[3:]}{campaign[-1]}", campaign_remote_id=campaign,
                                            lead_remote_id=lead_id))
    return seed


def seed_team(session, rng_seed: int = 7, instance_url: str = INSTANCE,
              remote_org_id: str = "00DA00000000000AAA") -> Seed:
    """Insert the seeded organization (with quotas and forecast snapshots); returns the seed."""
    org = Organization(name="Acme")
    session.add(org)
    session.flush()
    conn = Connection(organization_id=org.id, provider="salesforce", remote_org_id=remote_org_id,
                      instance_url=instance_url, token_ciphertext=b"x")
    session.add(conn)
    session.flush()
    seed = build_seed(org.id, conn.id, rng_seed)
    session.execute(insert(User), seed.users)
    session.execute(insert(Account), [_synced(seed, rid, name=f"Account {rid[-1]}", industry=industry)
                                      for rid, industry in seed.accounts.items()])
    for model, rows in ((Opportunity, seed.opportunities), (OpportunityStageChange, seed.changes),
                        (Activity, seed.activities), (Lead, seed.leads), (CampaignMember, seed.members)):
        session.execute(insert(model), rows)
    rebuild_organization(session, org.id)  # a bulk load refreshes the rollups as the migration's backfill does
    session.execute(insert(Campaign), [_synced(seed, "701A00000000000CA1", name="Spring webinar"),
                                       _synced(seed, "701A00000000000CA2", name="Trade show")])
    # The CRM's quotas (Salesforce ForecastingQuota), as a sync stores them.
    session.execute(insert(Quota), [
        _synced(seed, f"0J9{r}", owner_remote_id=r, period="2024-Q2", period_start=date(2024, 4, 1), amount=a,
                deal_amount=a) for r, a in ((R1, 120000), (R2, 90000), (R3, 80000), (R4, 70000), (M1, 250000))])
    snapshots = []
    for period, as_of, scale in (("2024-Q2", date(2024, 4, 1), 0.9), ("2024-Q2", date(2024, 5, 1), 1.0),
                                 ("2024-Q1", date(2024, 2, 1), 1.1), ("2023-Q4", date(2023, 11, 1), 0.8)):
        for i, key in enumerate(["org", *REPS]):
            base = (300000 if key == "org" else 50000 + 10000 * i) * scale
            snapshots.append({"organization_id": org.id, "period": period, "as_of": as_of,
                              "scope": "org" if key == "org" else "rep", "scope_key": key, "scope_name": key,
                              "scenario": "base", "expected": base * 1.02, "p10": base * 0.7, "p50": base,
                              "p90": base * 1.4, "model_version": "test"})
    session.execute(insert(ForecastSnapshot), snapshots)
    session.commit()
    return seed


def prepare_store(url: str):
    """Migrate and return a session factory."""
    upgrade_database(url)
    engine = make_engine(url)
    return engine, make_sessionmaker(engine)
