"""The environment's SQLite file: rows of every table with their row versions, deletions, tokens, custom columns."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.sqlite_store import LockedSqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    created TEXT NOT NULL, modified TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tbl, id));
CREATE INDEX IF NOT EXISTS records_version ON records (tbl, version);
CREATE TABLE IF NOT EXISTS deletions (tbl TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    deleted TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deletions_version ON deletions (tbl, version);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
    client_id TEXT NOT NULL, scope TEXT NOT NULL, expires_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    parent TEXT);
CREATE TABLE IF NOT EXISTS custom_columns (tbl TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
    metadata_id TEXT NOT NULL, PRIMARY KEY (tbl, name));
"""


class Store(LockedSqlite):
    """Rows as JSON with a row version from one counter, as Dataverse's versionnumber (a SQL rowversion)."""

    def __init__(self, path: Path):
        super().__init__(path, SCHEMA)
        self._version_lock = threading.Lock()
        rows = self.fetchall("SELECT max(v) FROM (SELECT max(version) AS v FROM records "
                             "UNION ALL SELECT max(version) FROM deletions)")
        self._version = int(rows[0][0] or 0)

    def next_version(self) -> int:
        with self._version_lock:
            self._version += 1
            return self._version

    @property
    def version(self) -> int:
        """The newest row version handed out."""
        return self._version

    def get(self, table: str, record_id: str) -> dict[str, Any] | None:
        rows = self.fetchall("SELECT data, version FROM records WHERE tbl = ? AND id = ?", (table, record_id))
        if not rows:
            return None
        data = json.loads(rows[0][0])
        data["versionnumber"] = rows[0][1]
        return data

    def put(self, table: str, record_id: str, data: dict[str, Any]) -> int:
        """Insert or replace a row with a new version; returns the version."""
        version = self.next_version()
        data = {k: v for k, v in data.items() if k != "versionnumber"}
        self.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(tbl, id) DO UPDATE SET "
                     "version = excluded.version, modified = excluded.modified, data = excluded.data",
                     (table, record_id, version, data["createdon"], data["modifiedon"], json.dumps(data)))
        return version

    def put_many(self, table: str, rows: list[dict[str, Any]], pk: str) -> None:
        """Insert new rows in one statement (seeding)."""
        values = []
        for data in rows:
            values.append((table, data[pk], self.next_version(), data["createdon"], data["modifiedon"],
                           json.dumps(data)))
        self.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", values)

    def remove(self, table: str, record_id: str, moment: str) -> int:
        version = self.next_version()
        with self.transaction():
            self.execute("DELETE FROM records WHERE tbl = ? AND id = ?", (table, record_id))
            self.execute("INSERT INTO deletions VALUES (?, ?, ?, ?)", (table, record_id, version, moment))
        return version

    def rows(self, table: str, after_version: int = 0, upto_version: int | None = None,
             limit: int = -1) -> list[dict[str, Any]]:
        """Live rows of a table (versions in (after, upto]) ordered by version, each with versionnumber."""
        upto = self._version if upto_version is None else upto_version
        result = []
        for data, version in self.fetchall("SELECT data, version FROM records WHERE tbl = ? AND version > ? "
                                           "AND version <= ? ORDER BY version LIMIT ?",
                                           (table, after_version, upto, limit)):
            row = json.loads(data)
            row["versionnumber"] = version
            result.append(row)
        return result

    def deleted(self, table: str, after_version: int, upto_version: int) -> list[tuple[str, int]]:
        """(id, version) of rows deleted in (after, upto], oldest first."""
        return [(r[0], r[1]) for r in self.fetchall(
            "SELECT id, version FROM deletions WHERE tbl = ? AND version > ? AND version <= ? ORDER BY version",
            (table, after_version, upto_version))]

    def count(self, table: str) -> int:
        return self.fetchall("SELECT count(*) FROM records WHERE tbl = ?", (table,))[0][0]
