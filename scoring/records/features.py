"""Shared machinery for features from the store: as-of records, activity engagement, the feature set.

Every record is described AS OF a point in time: an open record as of ``now``, a closed one as
of the moment it closed (so nothing that happened after the outcome reaches its features).
Those per-record times go into a temporary table, and engagement is aggregated in SQL by
joining events to it (one statement per source table, never one query per record).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (Column, DateTime, Index, Integer, MetaData, String, Table, and_, case, func, select, text,
                        type_coerce, union)
from sqlalchemy.orm import Session

from scoring.records.maturity import Window
from sync.store import Activity, Contact, Lead, utcnow

WINDOWS = (14, 30, 90)
# How long a record has had to reach its outcome: the model needs it to be calibrated, but it is
# exposure, not something a rep can act on, so it is never shown as a reason.
EXPOSURE = ("age_days",)
SALES_KINDS = ("call", "email", "meeting")
MARKETING_KINDS = ("web_visit", "form", "email_open", "email_click")


@dataclass(frozen=True)
class ScoringScope:
    """Only the open records of one connection (all, or the given remote ids) need features now."""

    connection_id: int
    remote_ids: frozenset[str] | None = None

    def mask(self, records: pd.DataFrame) -> pd.Series:
        """Which of the records (with connection_id and remote_id columns) are in scope."""
        inside = records["connection_id"] == self.connection_id
        if self.remote_ids is not None:
            inside &= records["remote_id"].isin(self.remote_ids)
        return inside


@dataclass
class FeatureSet:
    """Feature rows of one organization and target, with who they are and what is known of them.

    ``meta`` has, per row: connection_id, remote_id, as_of (the moment described), label (1/0,
    NaN when the outcome is not known yet or the record is not mature), known_at (when the
    outcome became known), created_at, weight (the open time a labelled row stands for, see
    open_time) and is_open (can be scored now). ``window`` is the outcome
    window that decided maturity; ``exposure`` names the columns that measure how long a record
    has had (used by the model, never shown as a reason).
    """

    target: str
    frame: pd.DataFrame
    meta: pd.DataFrame
    kinds: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)
    window: Window | None = None
    exposure: tuple[str, ...] = EXPOSURE

    def labelled(self) -> "FeatureSet":
        """Only the rows whose outcome is known."""
        return self.subset(self.meta["label"].notna().to_numpy())

    def subset(self, mask) -> "FeatureSet":
        """Only the rows where mask is true."""
        mask = np.asarray(mask, dtype=bool)
        return FeatureSet(self.target, self.frame[mask], self.meta[mask], self.kinds, self.notes, self.window,
                          self.exposure)


def empty_feature_set(target: str, kinds: dict[str, str], notes: dict[str, str],
                      window: Window | None = None) -> FeatureSet:
    """A feature set without records (an organization with no leads, say)."""
    meta = pd.DataFrame({"connection_id": pd.Series(dtype=int), "remote_id": pd.Series(dtype=object),
                         "as_of": pd.Series(dtype="datetime64[ns]"), "label": pd.Series(dtype=float),
                         "is_open": pd.Series(dtype=bool), "known_at": pd.Series(dtype="datetime64[ns]"),
                         "created_at": pd.Series(dtype="datetime64[ns]"), "weight": pd.Series(dtype=float)})
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in kinds})
    return FeatureSet(target, frame, meta, dict(kinds), dict(notes), window)


def existing_at(records: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The records already created at ``now`` (and those with no creation time), numbered from 0."""
    created = pd.to_datetime(records["remote_created_at"])
    return records[created.isna() | (created <= now)].reset_index(drop=True)


def described(target: str, rows: pd.DataFrame, kinds: dict[str, str], notes: dict[str, str],
              window: Window | None) -> FeatureSet:
    """The feature set of the described rows: their feature columns, and who and what is known of them."""
    meta = pd.DataFrame({"connection_id": rows["connection_id"], "remote_id": rows["remote_id"],
                         "as_of": rows["as_of"], "label": rows["label"].astype(float),
                         "is_open": rows["is_open"].astype(bool), "known_at": pd.to_datetime(rows["known_at"]),
                         "created_at": pd.to_datetime(rows["remote_created_at"]),
                         "weight": rows["weight"].astype(float)})
    return FeatureSet(target, rows[list(kinds)].copy(), meta, dict(kinds), dict(notes), window)


def open_time(created: pd.Series, end: pd.Series) -> pd.Series:
    """Days a labelled record was open (at least 1): the weight of its one snapshot.

    A record seen at one moment of its open life stands for all of it; weighted by that time,
    the labelled records look like the open records of a random day, which is what gets scored.
    Unweighted, quick converters (a few days open) would count as much as leads open for months.
    """
    days = (pd.to_datetime(end) - pd.to_datetime(created)).dt.total_seconds() / 86400.0
    return days.fillna(1.0).clip(lower=1.0)


def snapshot_moments(keys: pd.Series, start: pd.Series, end: pd.Series) -> pd.Series:
    """A moment between start and end fixed per record by a hash of its key: when a labelled record is seen.

    That is how an open record looks when it is scored: somewhere in its open life, before anyone
    knows the outcome. Seen at its outcome instead, recency and age would give the answer away.
    """
    share = keys.map(lambda key: int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / float(16 ** 12))
    return start + (end - start) * share.to_numpy()


def raw_time(column):
    """A time column read as the driver gives it (SQLite: its text), to be converted in bulk by as_times.

    Converting every value on its way out of SQLite costs more than the query on large tables.
    """
    return type_coerce(column, String).label(column.key)


def as_times(values: pd.Series) -> pd.Series:
    """Times read with raw_time as datetimes (missing as NaT)."""
    return pd.to_datetime(values.astype(object), format="ISO8601")


def resolve_now(now: datetime | None) -> datetime:
    """The as-of time: the given one, else the current time (naive UTC)."""
    return now if now is not None else utcnow()


def as_of_table(session: Session, rows: pd.DataFrame, name: str, extra: tuple[Column, ...] = ()) -> Table:
    """Load rows (row_id, connection_id, remote_id, as_of and the extra columns) into a temporary table.

    ``row_id`` is unique per row: a record may appear twice, as of two times (seen mid-life for
    training and as of now for scoring). Aggregates are computed for rows with ``wanted`` = 1;
    the others are context (earlier deals of the same owner, say).
    """
    columns = [Column("row_id", Integer, primary_key=True), Column("connection_id", Integer),
               Column("remote_id", String(64)), Column("as_of", DateTime), Column("wanted", Integer)]
    columns += [Column(f"since_{days}", DateTime) for days in WINDOWS] + list(extra)
    table = Table(name, MetaData(), *columns, Index(f"ix_{name}_record", "connection_id", "remote_id"),
                  *[Index(f"ix_{name}_{c.name}", "connection_id", c.name)
                    for c in extra if c.name.endswith("_key")],
                  prefixes=["TEMPORARY"])
    connection = session.connection()
    connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
    table.create(connection)
    names = ["row_id", "connection_id", "remote_id", "as_of", "wanted"] + [column.name for column in extra]
    columns = {name: _plain(rows[name]) for name in names}
    as_of = pd.to_datetime(rows["as_of"]).astype("datetime64[ns]").dt.floor("us")
    for days in WINDOWS:
        columns[f"since_{days}"] = _plain(as_of - timedelta(days=days))
    keys = list(columns)
    records = [dict(zip(keys, values)) for values in zip(*columns.values())]
    if records:
        connection.execute(table.insert(), records)
    return table


def _plain(values: pd.Series) -> list:
    """A column as the Python values a database driver accepts (times to the microsecond, missing as None)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.astype("datetime64[ns]").dt.floor("us")
        return [None if stamp is pd.NaT else stamp.to_pydatetime() for stamp in values.astype(object)]
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.tolist()
    plain = values.astype(object)
    return plain.where(plain.notna(), None).tolist()


def drop_table(session: Session, table: Table) -> None:
    """Drop a temporary table made by as_of_table."""
    session.connection().execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def activity_engagement(session: Session, organization_id: int, asof: Table, link,
                        identities=None) -> pd.DataFrame:
    """Per record: activity counts in the windows before its as-of time, by kind, and the last one's time.

    ``link`` is the activity column naming the record; ``identities`` (row_id, connection_id,
    remote_id) lists every record that is the same person (see person_identities), else the
    record itself is its only identity.
    """
    a = Activity
    if identities is None:
        identities = select(asof.c.row_id, asof.c.connection_id, asof.c.remote_id).subquery()
    recent = {days: a.occurred_at >= asof.c[f"since_{days}"] for days in WINDOWS}

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        select(asof.c.row_id,
               func.count(a.id).label("activities_total"),
               *[count(recent[d]).label(f"activities_{d}d") for d in WINDOWS],
               count(and_(recent[30], a.kind == "meeting")).label("meetings_30d"),
               count(and_(recent[30], a.kind.in_(MARKETING_KINDS))).label("marketing_touches_30d"),
               count(a.kind.in_(SALES_KINDS)).label("sales_touches_total"),
               *[count(a.kind == kind).label(f"{kind}s_total") for kind in SALES_KINDS],
               func.max(a.occurred_at).label("last_activity_at"))
        .join(identities, identities.c.row_id == asof.c.row_id)
        .join(a, and_(a.connection_id == identities.c.connection_id, link == identities.c.remote_id))
        .where(a.organization_id == organization_id, a.deleted_at.is_(None), a.occurred_at.is_not(None),
               a.occurred_at < asof.c.as_of, asof.c.wanted == 1)
        .group_by(asof.c.row_id)
    )
    return pd.DataFrame(session.execute(stmt).all(),
                        columns=["row_id", "activities_total",
                                 *[f"activities_{d}d" for d in WINDOWS], "meetings_30d",
                                 "marketing_touches_30d", "sales_touches_total",
                                 *[f"{kind}s_total" for kind in SALES_KINDS], "last_activity_at"])


ENGAGEMENT_KINDS = {**{f"activities_{d}d": "numeric" for d in WINDOWS}, "activities_total": "numeric",
                    "meetings_30d": "numeric", "marketing_touches_30d": "numeric", "sales_touches_total": "numeric",
                    **{f"{kind}s_total": "numeric" for kind in SALES_KINDS}, "days_since_activity": "numeric"}


def person_identities(session: Session, organization_id: int, asof: Table) -> Table:
    """Every lead and contact of the organization sharing a record's email key: one person in several systems.

    So a Marketo lead's web visits and email clicks count for the Salesforce lead with the same
    email. Needs an ``email_key`` column in the as-of table. The pairs go into an indexed temporary
    table: joined as a subquery, SQLite would compare every record with every activity.
    """
    connection = session.connection()
    connection.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{asof.name}_email ON {asof.name} (email_key)"))
    itself = select(asof.c.row_id, asof.c.connection_id, asof.c.remote_id).where(asof.c.wanted == 1)
    linked = [select(asof.c.row_id, model.connection_id, model.remote_id)
              .join(model, and_(model.email_key == asof.c.email_key, model.organization_id == organization_id,
                                model.deleted_at.is_(None)))
              .where(asof.c.email_key.is_not(None), asof.c.wanted == 1)
              for model in (Lead, Contact)]
    name = f"{asof.name}_identity"
    table = Table(name, MetaData(), Column("row_id", Integer), Column("connection_id", Integer),
                  Column("remote_id", String(64)), Index(f"ix_{name}_record", "connection_id", "remote_id"),
                  Index(f"ix_{name}_row", "row_id"), prefixes=["TEMPORARY"])
    connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
    table.create(connection)
    connection.execute(table.insert().from_select(["row_id", "connection_id", "remote_id"],
                                                  union(itself, *linked)))
    return table


def merge_engagement(base: pd.DataFrame, engagement: pd.DataFrame) -> pd.DataFrame:
    """Join engagement onto records; no activity means counts of 0 and no 'days since'."""
    merged = base.merge(engagement, on="row_id", how="left")
    counts = [c for c in ENGAGEMENT_KINDS if c != "days_since_activity"]
    merged[counts] = merged[counts].fillna(0).astype(float)
    last = pd.to_datetime(merged["last_activity_at"])
    merged["days_since_activity"] = whole_days_between(last, merged["as_of"])
    return merged.drop(columns=["last_activity_at"])


def whole_days_between(earlier, later) -> pd.Series:
    """Whole days from earlier to later (NaN when earlier is missing), never negative."""
    delta = (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.total_seconds() / 86400.0
    return np.floor(delta.clip(lower=0))


def day_start(value) -> datetime | None:
    """A date as a naive datetime at midnight (None stays None)."""
    if value is None or (not isinstance(value, (str, datetime)) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
