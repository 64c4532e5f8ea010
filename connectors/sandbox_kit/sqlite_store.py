"""One SQLite file shared by request threads: a locked connection, nested transactions, after-commit hooks."""
from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

logger = logging.getLogger(__name__)


class LockedSqlite:
    """One connection guarded by a lock, so request threads can share it; subclasses add their tables."""

    meta_table = "meta"  # (key TEXT PRIMARY KEY, value TEXT), created by the subclass's schema

    def __init__(self, path: Path, schema: str):
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested calls join the outer one."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                    self._after_commit.clear()
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")
                callbacks, self._after_commit = self._after_commit, []
                for callback in callbacks:
                    self._run_callback(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run callback once the current transaction commits (now, outside one); dropped on rollback."""
        with self._lock:
            if self._depth:
                self._after_commit.append(callback)
                return
        self._run_callback(callback)

    @staticmethod
    def _run_callback(callback: Callable[[], None]) -> None:
        # A failing listener (say, a delivery queue) must not fail the write that already committed.
        try:
            callback()
        except Exception:  # noqa: BLE001
            logger.exception("A sandbox after-commit callback failed")

    def fetchall(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Rows of a read query."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        """Run one write statement; returns the number of rows changed."""
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        """Run one statement over many parameter rows, atomically."""
        with self.transaction():
            self._db.executemany(sql, rows)

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A stored setting of this sandbox."""
        rows = self.fetchall(f"SELECT value FROM {self.meta_table} WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        """Store a setting of this sandbox."""
        self.execute(f"INSERT INTO {self.meta_table} VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, None if value is None else str(value)))

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


def new_database(path: Path, reset: bool) -> bool:
    """Make the folder (on reset, delete the old file first); True when the database does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return not path.exists()


def fill_or_remove(store: LockedSqlite, create: Callable[[], Any]) -> None:
    """Run create on a new database; if it fails, close and delete the half-made file."""
    try:
        create()
    except BaseException:
        store.close()
        store.path.unlink(missing_ok=True)
        raise
