"""The rules every sandbox seed applies to the shared datasets (maven-crm and olist-marketing-funnel).

Each sandbox stores the records as its own CRM shapes them; what the records are made of is decided once,
here, so that the three CRMs hold the same sales org: the snapshot day the open deals are seen from, the
dates the datasets leave open, each account's owner, the people generated for olist's leads, and the shift
that brings olist's dates up to the clock.
"""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

SNAPSHOT = date(2017, 9, 30)  # the maven pipeline is a snapshot as of this day
SMALL_EVERY = 20              # the "small" seed keeps every 20th deal and lead
SEEDS = ("full", "small", "none")
FIRST_NAMES = ["Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
               "Joao", "Karina", "Lucas", "Mariana", "Nicolas", "Olivia", "Paulo", "Rafaela", "Samuel",
               "Tatiana", "Vitor", "Yasmin", "Thiago", "Beatriz", "Rodrigo", "Leticia", "Gustavo"]
LAST_NAMES = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
              "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes",
              "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes"]
COMPANY_SUFFIXES = ["Comercio", "Store", "Ltda", "Distribuidora", "Shop", "Importados", "Atacado"]
JOB_TITLES = ["Owner", "Founder", "Sales Manager", "Marketing Manager", "Operations Manager", "E-commerce Lead",
              "Buyer", "Director"]


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of one dataset file."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stable_hash(text: str) -> int:
    """A number picked from a dataset id, the same on every run and machine (where the data leaves a choice)."""
    return int(hashlib.md5(text.encode()).hexdigest()[:12], 16)


def account_agents(deals: list[dict[str, str]], accounts: list[dict[str, str]]) -> dict[str, str]:
    """The sales agent owning each account: the one with most deals there (ties by name); absent without deals."""
    owners = {}
    for account in accounts:
        name = account["account"]
        counts = Counter(d["sales_agent"] for d in deals if d["account"] == name)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if top:
            owners[name] = top[0][0]
    return owners


def account_since(deals: list[dict[str, str]]) -> dict[str, date]:
    """When each account with an engaged deal was created: the day before its first engagement."""
    first: dict[str, str] = {}
    for deal in deals:
        if deal["engage_date"] and deal["account"]:
            first[deal["account"]] = min(first.get(deal["account"], deal["engage_date"]), deal["engage_date"])
    return {name: date.fromisoformat(day) - timedelta(days=1) for name, day in first.items()}


class DealDates(NamedTuple):
    """A maven deal's days: engaged and closed as the data says, created and closing where it is silent."""

    engaged: date | None
    created: date    # the engage day; a Prospecting deal's is 0-29 days before the snapshot
    closed: date | None
    close_on: date   # the close day; an open deal's is 15-89 days after the snapshot


def deal_dates(deal: dict[str, str]) -> DealDates:
    """The days of one row of sales_pipeline.csv, the open ones picked from a hash of its id."""
    spread = stable_hash(deal["opportunity_id"])
    engaged = date.fromisoformat(deal["engage_date"]) if deal["engage_date"] else None
    closed = date.fromisoformat(deal["close_date"]) if deal["close_date"] else None
    return DealDates(engaged, engaged or SNAPSHOT - timedelta(days=spread % 30), closed,
                     closed or SNAPSHOT + timedelta(days=15 + spread % 75))


class OlistPerson(NamedTuple):
    """The person behind an olist lead (the data has none): generated from its mql_id."""

    first: str
    last: str
    company: str
    email: str
    job_title: str


def olist_person(mql: str) -> OlistPerson:
    """The name, company, e-mail and job title of the lead with this mql_id."""
    spread = stable_hash(mql)
    first, last = FIRST_NAMES[spread % len(FIRST_NAMES)], LAST_NAMES[(spread // 97) % len(LAST_NAMES)]
    return OlistPerson(first, last, f"{last} {COMPANY_SUFFIXES[(spread // 7919) % len(COMPANY_SUFFIXES)]}",
                       f"{first}.{last}.{mql[:6]}@example.com".lower(), JOB_TITLES[(spread // 31) % len(JOB_TITLES)])


def olist_owner(mql: str, agents: list[str]) -> str:
    """The maven agent an olist lead is assigned to, picked from its mql_id."""
    return agents[int(mql[8:16], 16) % len(agents)]


def olist_shift_days(folder: Path, origin: datetime) -> int:
    """Whole days to add to every olist date so the last one falls the day before the clock origin."""
    leads = read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
    deals = read_csv(folder / "olist_closed_deals_dataset.csv")
    last = max([date.fromisoformat(l["first_contact_date"][:10]) for l in leads] +
               [date.fromisoformat(d["won_date"][:10]) for d in deals if d["won_date"]])
    return (origin.date() - timedelta(days=1) - last).days
