"""Database engine, sessions and the dialect-aware bulk upsert."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync.store.private_files import private_file


def make_engine(url: str, writer: bool = False, busy_timeout: float = 30) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout (seconds) and enforced foreign keys.

    ``writer`` (the worker's engine on SQLite) begins every transaction IMMEDIATE: a job reads,
    then writes, and a deferred transaction whose snapshot went stale meanwhile fails at once with
    "database is locked" instead of waiting; taking the write lock up front makes it wait its turn.
    The price: a worker's transaction holds the write lock from its first read, so jobs keep their
    transactions short (``release`` before long work) and the console's writes get through.
    """
    if url.startswith("sqlite:///"):
        # The store holds customer data: its directory 0700, the file (and so its WAL) 0600.
        private_file(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(url, connect_args={"timeout": busy_timeout})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            if writer:
                dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        if writer:
            @event.listens_for(engine, "begin")
            def _begin_immediate(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def release(session: Session) -> None:
    """End the session's transaction (committing what it wrote) before long work such as training.

    On SQLite a worker's open transaction is the store's write lock (see make_engine): held through
    minutes of computing, it would make every console write wait and then fail.
    """
    session.commit()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine."""
    return sessionmaker(engine, expire_on_commit=False)


def _dialect_insert(session: Session):
    """The store's INSERT construct that knows ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported stores
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return insert


def upsert(session: Session, model, rows: Sequence[dict], conflict: Iterable[str],
           update: Iterable[str] | None = None, where=None) -> None:
    """INSERT … ON CONFLICT DO UPDATE of many rows in one statement (SQLite and PostgreSQL).

    ``where``: the condition of the partial unique index that ``conflict`` names, if it is one.
    """
    if not rows:
        return
    insert = _dialect_insert(session)
    conflict = list(conflict)
    columns = list(rows[0].keys())
    update = [c for c in (update if update is not None else columns) if c not in conflict]
    # One statement compiled once and run as an executemany: the driver batches the rows.
    stmt = insert(model)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=conflict, index_where=where,
                                          set_={c: getattr(stmt.excluded, c) for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=conflict, index_where=where)
    session.connection().execute(stmt, list(rows))


def add_to(session: Session, model, rows: Sequence[dict], conflict: Iterable[str], summed: Iterable[str]) -> None:
    """Add each row's ``summed`` columns to the stored row of its key (inserting it when new), in one statement.

    The rollups keep counts by differences: a row's values are what a change adds (negative when it
    takes away), so concurrent writers of one key add up instead of overwriting each other.
    """
    if not rows:
        return
    stmt = _dialect_insert(session)(model)
    stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_={
        c: getattr(model, c) + getattr(stmt.excluded, c) for c in summed})
    session.connection().execute(stmt, list(rows))


def insert_ignore(session: Session, model, rows: Sequence[dict], conflict: Iterable[str], key: str) -> dict:
    """Insert rows, skipping those that already exist; return ``key`` value → primary key of each row inserted.

    One INSERT … ON CONFLICT DO NOTHING RETURNING for all the rows, whose text does not depend on
    how many there are. On PostgreSQL the rows travel as one JSON parameter read by
    json_to_recordset: a statement of one placeholder per value (hundreds for a webhook batch) costs
    more to build, convert and send than the insert itself. On SQLite an executemany, which
    SQLAlchemy sends as one multi-row statement.
    """
    if not rows:
        return {}
    dialect = session.get_bind().dialect
    table, conflict = model.__table__, list(conflict)
    (primary_key,) = table.primary_key.columns
    if dialect.name != "postgresql":
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table).on_conflict_do_nothing(index_elements=conflict).returning(table.c[key], primary_key)
        return {row[0]: row[1] for row in session.connection().execute(stmt, list(rows))}
    quote = dialect.identifier_preparer.quote
    columns = list(rows[0])
    names = ", ".join(quote(c) for c in columns)
    record = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    stmt = text(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} "
                f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
                f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING "
                f"RETURNING {quote(key)}, {quote(primary_key.name)}")
    values = json.dumps(list(rows), default=_json_value, separators=(",", ":"))
    return {row[0]: row[1] for row in session.connection().execute(stmt, {"rows": values})}


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be stored through insert_ignore")
