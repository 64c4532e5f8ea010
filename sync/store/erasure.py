"""Erasure: a data subject out of the store on request, and a disconnected connection's data purged.

A person is found by e-mail across every connection of an organization. Their rows go, with
the activities, campaign memberships, scores and ledger rows about them; any other row that
still mentions the address has it scrubbed. On SQLite the file is then vacuumed and the WAL
truncated, so freed pages keep no copy of the address.

These functions work on a session or an engine; the worker's jobs that compact the store and purge
a connection (with the runtime, the sync lock and the admin's progress page) are ``sync.erasure_jobs``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, String, Text, cast, delete, func, inspect, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.common import email_key
from sync import rollups
from sync.store import (SYNCED_MODELS, Activity, Base, CampaignMember, Connection, Contact, Lead, Score, ScoreHistory,
                        SyncCursor, SyncRun, User, WebhookEvent, WritebackLedger)
from sync.store.rollups import (ActivityDayCount, ActivityMonthCount, OpenDealState, OpportunityMonthRollup,
                                OpportunityStageFact, StageEntryMonth, StageEntryOwnerMonth)

PERSON_MODELS = {"lead": Lead, "contact": Contact, "user": User}
SCRUBBED = "[erased]"
# Tables never scrubbed: the audit trail holds no personal data and must not be rewritten.
NOT_SCRUBBED = {"audit_entry", "alembic_version"}


@dataclass
class Person:
    """One stored record of the person being erased."""

    object_type: str
    connection_id: int
    remote_id: str
    name: str


@dataclass
class Findings:
    """What an erasure would remove, before anything is removed."""

    people: list[Person] = field(default_factory=list)
    related: dict[str, int] = field(default_factory=dict)   # table → rows deleted along
    mentions: dict[str, int] = field(default_factory=dict)  # table → other rows to scrub

    @property
    def empty(self) -> bool:
        return not self.people and not any(self.mentions.values())


def subject_key(secret: str, email: str) -> str:
    """A keyed hash naming the erased person in the audit trail without their address."""
    return hmac.new(secret.encode(), (email_key(email) or "").encode(), hashlib.sha256).hexdigest()[:32]


def _connection_ids(session: Session, organization_id: int) -> list[int]:
    return list(session.scalars(select(Connection.id).where(Connection.organization_id == organization_id)))


def _people(session: Session, connection_ids: list[int], key: str) -> list[Person]:
    people = []
    for object_type, model in PERSON_MODELS.items():
        match = func.lower(model.email) == key
        if hasattr(model, "email_key"):
            match = or_(model.email_key == key, match)
        for row in session.scalars(select(model).where(model.connection_id.in_(connection_ids), match)):
            name = getattr(row, "name", None) or " ".join(
                p for p in (getattr(row, "first_name", None), getattr(row, "last_name", None)) if p)
            people.append(Person(object_type, row.connection_id, row.remote_id, name or row.remote_id))
    return people


def _related_statements(people: list[Person]) -> dict[str, list]:
    """Per table, the WHERE clauses that pick the rows about these people, connection by connection."""
    clauses: dict[str, list] = {}
    by_connection: dict[int, list[Person]] = {}
    for person in people:
        by_connection.setdefault(person.connection_id, []).append(person)
    for connection_id, group in by_connection.items():
        persons = [p.remote_id for p in group if p.object_type in ("lead", "contact")]
        ids = [p.remote_id for p in group]
        clauses.setdefault("activity", []).append(
            (Activity.connection_id == connection_id) & Activity.who_remote_id.in_(persons))
        clauses.setdefault("campaign_member", []).append(
            (CampaignMember.connection_id == connection_id)
            & or_(CampaignMember.lead_remote_id.in_(persons), CampaignMember.contact_remote_id.in_(persons)))
        for name, model in (("score", Score), ("score_history", ScoreHistory),
                            ("writeback_ledger", WritebackLedger)):
            clauses.setdefault(name, []).append(
                (model.connection_id == connection_id) & model.remote_id.in_(ids))
    return clauses


RELATED_MODELS = {"activity": Activity, "campaign_member": CampaignMember, "score": Score,
                  "score_history": ScoreHistory, "writeback_ledger": WritebackLedger}


def _mention_tables(session: Session):
    """Every store table with text or JSON columns, with those columns (only tables that exist)."""
    existing = set(inspect(session.connection()).get_table_names())
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_SCRUBBED or table.name not in existing:
            continue
        columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
        if columns:
            yield table, columns


def _needles(key: str) -> list[str]:
    # JSON stored ASCII-escaped spells a non-ASCII address differently.
    escaped = json.dumps(key)[1:-1]
    return [key] if escaped == key else [key, escaped.lower()]


def _mentions(session: Session, table, columns, key: str, organization_id: int, connection_ids: list[int]):
    """Rows of one table, within the organization, whose text or JSON mentions the address."""
    condition = or_(*[func.lower(cast(c, Text)).contains(n, autoescape=True)
                      for c in columns for n in _needles(key)])
    if "connection_id" in table.c:
        scope = table.c.connection_id.in_(connection_ids)
    elif "organization_id" in table.c:
        scope = table.c.organization_id == organization_id
    else:
        return []  # not tenant data (e.g. the organization row itself)
    return session.execute(select(table).where(scope, condition)).mappings().all()


def find_person(session: Session, organization_id: int, email: str) -> Findings:
    """Everything the store holds about the person with this e-mail, in one organization."""
    key = email_key(email)
    findings = Findings()
    if key is None:
        return findings
    connection_ids = _connection_ids(session, organization_id)
    if not connection_ids:
        return findings
    findings.people = _people(session, connection_ids, key)
    for name, clauses in _related_statements(findings.people).items():
        model = RELATED_MODELS[name]
        findings.related[name] = session.scalar(select(func.count()).select_from(model).where(or_(*clauses))) or 0
    own = {(PERSON_MODELS[p.object_type].__tablename__, p.remote_id) for p in findings.people}
    for table, columns in _mention_tables(session):
        rows = _mentions(session, table, columns, key, organization_id, connection_ids)
        count = sum(1 for r in rows if (table.name, r.get("remote_id")) not in own)
        if count:
            findings.mentions[table.name] = count
    return findings


def _scrub(value: Any, pattern: re.Pattern) -> Any:
    if isinstance(value, str):
        return pattern.sub(SCRUBBED, value)
    if isinstance(value, dict):
        return {_scrub(k, pattern): _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, pattern) for v in value]
    return value


def erase_person(session: Session, organization_id: int, email: str) -> dict[str, int]:
    """Delete the person's rows and what hangs off them, scrub other mentions; return counts per table.

    The caller commits, records the audit entry, then calls ``compact`` on SQLite.
    """
    key = email_key(email)
    if key is None:
        raise ValueError("That is not an e-mail address. Enter the person's full address, like name@example.com.")
    connection_ids = _connection_ids(session, organization_id)
    people = _people(session, connection_ids, key) if connection_ids else []
    counts: dict[str, int] = {}
    for name, clauses in _related_statements(people).items():
        result = session.execute(delete(RELATED_MODELS[name]).where(or_(*clauses)))
        counts[name] = result.rowcount or 0
    if counts.get("activity"):
        # The activities left the store outside a sync: the rollups they fed are recounted.
        for connection_id in {p.connection_id for p in people}:
            rollups.rebuild_connection(session, connection_id)
    for object_type, model in PERSON_MODELS.items():
        ids = [(p.connection_id, p.remote_id) for p in people if p.object_type == object_type]
        for connection_id in {c for c, _ in ids}:
            result = session.execute(delete(model).where(
                model.connection_id == connection_id,
                model.remote_id.in_([r for c, r in ids if c == connection_id])))
            counts[model.__tablename__] = counts.get(model.__tablename__, 0) + (result.rowcount or 0)
    pattern = re.compile("|".join(re.escape(n) for n in _needles(key)), re.IGNORECASE)
    for table, columns in _mention_tables(session):
        rows = _mentions(session, table, columns, key, organization_id, connection_ids)
        primary = list(table.primary_key.columns)
        for row in rows:
            values = {c.name: _scrub(row[c.name], pattern) for c in columns if row[c.name] is not None}
            session.execute(update(table).where(*[p == row[p.name] for p in primary]).values(**values))
        if rows:
            counts[f"{table.name} scrubbed"] = len(rows)
    session.flush()
    return {k: v for k, v in counts.items() if v}


def connection_data_counts(session: Session, connection_id: int) -> dict[str, int]:
    """How many rows of each kind a connection holds (what a purge deletes)."""
    counts = {}
    for model in connection_models():
        counts[model.__tablename__] = session.scalar(
            select(func.count()).select_from(model).where(model.connection_id == connection_id)) or 0
    return counts


def connection_models() -> list:
    """The tables holding a connection's rows, in the order a purge deletes them (one progress step each)."""
    return [*SYNCED_MODELS.values(), OpportunityStageFact, OpenDealState, ActivityMonthCount, ActivityDayCount,
            OpportunityMonthRollup, StageEntryMonth, StageEntryOwnerMonth,
            Score, ScoreHistory, WritebackLedger, SyncCursor, SyncRun, WebhookEvent]


def purge_connection(session: Session, connection_id: int, progress=None) -> dict[str, int]:
    """Bulk-delete every row a connection brought in or produced, table by table; the caller commits."""
    counts = {}
    for index, model in enumerate(connection_models()):
        if progress is not None:
            progress(index, f"Deleting {model.__tablename__.replace('_', ' ')} rows")
        result = session.execute(delete(model).where(model.connection_id == connection_id))
        counts[model.__tablename__] = result.rowcount or 0
    return counts


COMPACT_STEPS = ("Writing the journal into the store", "Rewriting the store without the freed pages",
                 "Emptying the journal")


def compact(engine: Engine, progress=None) -> None:
    """On SQLite, rewrite the file and empty the WAL so deleted bytes do not linger on disk.

    ``progress(step_index, step_name)`` is told before each step (the job shows it to the admin).
    """
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL reuses dead tuples' space; VACUUM there is the operator's routine.
    statements = ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)")
    # On the driver's connection in autocommit: VACUUM and a checkpoint cannot run inside a
    # transaction, and a worker's engine begins every transaction itself (BEGIN IMMEDIATE).
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        previous, driver.isolation_level = driver.isolation_level, None
        try:
            for index, (name, statement) in enumerate(zip(COMPACT_STEPS, statements)):
                if progress is not None:
                    progress(index, name)
                driver.execute(statement)
        finally:
            driver.isolation_level = previous
    finally:
        raw.close()
