"""Load maven-crm into a store the way a Salesforce sync would, for the forecast tests."""
from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session, sessionmaker

from connectors.sandbox_kit.settings import datasets_dir
from sync.store import Account, Base, Connection, Opportunity, OpportunityStageChange, Organization, User
from sync.store.db import make_engine

# The pipeline is a snapshot as of this day; deals without dates are known to exist from it.
SNAPSHOT_DAY = date(2017, 9, 30)
WON, LOST = "Closed Won", "Closed Lost"


def _read(name: str) -> list[dict[str, str]]:
    with open(datasets_dir() / "maven-crm" / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def synced_columns(remote_id: str, data: dict, organization_id: int, connection_id: int,
                   created: datetime | None, modified: datetime | None) -> dict:
    """The columns every synced row carries."""
    payload = json.dumps(data, sort_keys=True, default=str)
    return {"organization_id": organization_id, "connection_id": connection_id,
            "remote_id": remote_id, "remote_data": data,
            "content_hash": hashlib.sha256(payload.encode()).hexdigest(),
            "remote_created_at": created, "remote_modified_at": modified}


def _slug(name: str) -> str:
    return "005" + hashlib.sha1(name.encode()).hexdigest()[:12]


def _midnight(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def load_maven(session: Session, name: str = "Maven Analytics") -> int:
    """Insert maven-crm as one organization with a Salesforce connection; returns its id."""
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    connection = Connection(organization_id=organization.id, provider="salesforce",
                            remote_org_id=f"00D-maven-{organization.id}",
                            instance_url="https://maven.example.test", token_ciphertext=b"test")
    session.add(connection)
    session.flush()
    org, conn = organization.id, connection.id
    snapshot = datetime(SNAPSHOT_DAY.year, SNAPSHOT_DAY.month, SNAPSHOT_DAY.day)

    users, seen = [], set()
    for row in _read("sales_teams.csv"):
        for person, role, manager in ((row["manager"], "manager", None),
                                      (row["sales_agent"], "rep", row["manager"])):
            if person in seen:
                continue
            seen.add(person)
            users.append({**synced_columns(_slug(person), row, org, conn, None, None), "name": person,
                          "role": role, "team": row["regional_office"],
                          "manager_remote_id": _slug(manager) if manager else None})
    session.execute(insert(User), users)

    accounts = [{**synced_columns(_slug(row["account"]), row, org, conn, None, None), "name": row["account"],
                 "industry": row["sector"], "country": row["office_location"],
                 "annual_revenue": float(row["revenue"]) * 1e6, "employees": int(row["employees"]),
                 "year_established": int(row["year_established"])}
                for row in _read("accounts.csv")]
    session.execute(insert(Account), accounts)

    prices = {row["product"].replace(" ", ""): float(row["sales_price"]) for row in _read("products.csv")}
    opportunities, changes = [], []
    for row in _read("sales_pipeline.csv"):
        outcome = row["deal_stage"]
        created = _midnight(row["engage_date"]) or snapshot
        closed = _midnight(row["close_date"])
        price = prices[row["product"].replace(" ", "")]
        stage = {"Won": WON, "Lost": LOST}.get(outcome, outcome)
        amount = float(row["close_value"]) if outcome == "Won" else price
        first_stage = "Prospecting" if outcome == "Prospecting" else "Engaging"
        opportunities.append({
            **synced_columns(row["opportunity_id"], row, org, conn, created, closed or created),
            "name": f"{row['account'] or 'Prospect'} {row['product']}",
            "account_remote_id": _slug(row["account"]) if row["account"] else None,
            "owner_remote_id": _slug(row["sales_agent"]), "stage": stage, "amount": amount,
            "close_date": closed.date() if closed else None, "is_closed": closed is not None,
            "is_won": outcome == "Won", "product": row["product"],
            "probability": {"Won": 100.0, "Lost": 0.0}.get(outcome)})
        changes.append({**synced_columns(f"{row['opportunity_id']}-0", {}, org, conn, created, created),
                        "opportunity_remote_id": row["opportunity_id"], "stage": first_stage,
                        "amount": price, "changed_at": created})
        if closed:
            changes.append({**synced_columns(f"{row['opportunity_id']}-1", {}, org, conn, closed, closed),
                            "opportunity_remote_id": row["opportunity_id"], "stage": stage,
                            "amount": amount, "close_date": closed.date(), "changed_at": closed,
                            "probability": 100.0 if outcome == "Won" else 0.0})
    session.execute(insert(Opportunity), opportunities)
    session.execute(insert(OpportunityStageChange), changes)
    session.commit()
    return org


def maven_store(path: Path | str) -> tuple[sessionmaker[Session], int]:
    """A fresh store (SQLite file path or database URL) holding maven-crm: sessions and org id."""
    engine = make_engine(path if isinstance(path, str) else f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        organization_id = load_maven(session)
    return sessions, organization_id


def copy_store(source: Path, target: Path) -> sessionmaker[Session]:
    """A private copy of a loaded store, for a test that changes records."""
    import shutil

    shutil.copyfile(source, target)
    return sessionmaker(create_engine(f"sqlite:///{target}"), expire_on_commit=False)
