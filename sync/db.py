"""Database engine, sessions and the dialect-aware bulk upsert."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync.private_files import private_file


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


def upsert(session: Session, model, rows: Sequence[dict], conflict: Iterable[str],
           update: Iterable[str] | None = None) -> None:
    """INSERT … ON CONFLICT DO UPDATE of many rows in one statement (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported stores
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    conflict = list(conflict)
    columns = list(rows[0].keys())
    update = [c for c in (update if update is not None else columns) if c not in conflict]
    # One statement compiled once and run as an executemany: the driver batches the rows.
    stmt = insert(model)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=conflict,
                                          set_={c: getattr(stmt.excluded, c) for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
    session.connection().execute(stmt, list(rows))

def insert_ignore(session: Session, model, rows: Sequence[dict], conflict: Iterable[str], key: str) -> set:
    """Insert rows, skipping those that already exist; return the ``key`` values actually inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (insert(model).values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict))
            .returning(getattr(model, key)))
    return set(session.scalars(stmt).all())
