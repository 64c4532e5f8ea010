"""The sandbox's SQLite file: records (properties as JSON), history, associations, schema, owners, tokens."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.sqlite_store import LockedSqlite

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    type TEXT NOT NULL, id INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0, archived_at TEXT, props TEXT NOT NULL, PRIMARY KEY (type, id));
CREATE INDEX IF NOT EXISTS ix_objects_modified ON objects (type, archived, updated_at, id);
CREATE INDEX IF NOT EXISTS ix_objects_email ON objects (type, lower(json_extract(props, '$."email"')));
CREATE TABLE IF NOT EXISTS history (
    type TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, value TEXT, timestamp TEXT NOT NULL,
    source_type TEXT NOT NULL, source_id TEXT);
CREATE INDEX IF NOT EXISTS ix_history ON history (type, id, name);
CREATE TABLE IF NOT EXISTS associations (
    from_type TEXT NOT NULL, from_id INTEGER NOT NULL, to_type TEXT NOT NULL, to_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL, category TEXT NOT NULL DEFAULT 'HUBSPOT_DEFINED',
    PRIMARY KEY (from_type, from_id, to_type, to_id, type_id));
CREATE TABLE IF NOT EXISTS properties (
    type TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (type, name));
CREATE TABLE IF NOT EXISTS property_groups (
    type TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, display_order INTEGER NOT NULL DEFAULT -1,
    archived INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (type, name));
CREATE TABLE IF NOT EXISTS owners (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
    role TEXT NOT NULL, teams TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id INTEGER NOT NULL, client_id TEXT NOT NULL,
    scope TEXT, issued_at REAL NOT NULL, expires_at REAL, revoked INTEGER NOT NULL DEFAULT 0, parent TEXT);
"""
RECORD_COLUMNS = "type, id, created_at, updated_at, archived, archived_at, props"


def row_to_record(row: tuple) -> dict[str, Any]:
    """A stored objects row as a dict with its properties decoded."""
    kind, record_id, created, updated, archived, archived_at, props = row
    return {"type": kind, "id": record_id, "created_at": created, "updated_at": updated,
            "archived": bool(archived), "archived_at": archived_at, "props": json.loads(props)}


class Store(LockedSqlite):
    """One SQLite connection guarded by a lock, so request threads can share it."""

    def __init__(self, path: Path):
        super().__init__(path, _TABLES)

    # -- meta and counters --------------------------------------------------------------------

    def allocate(self, name: str, first: int, count: int = 1) -> int:
        """Reserve count consecutive ids of a counter starting at first; returns the first reserved."""
        with self.transaction():
            rows = self._db.execute("SELECT next FROM counters WHERE name = ?", (name,)).fetchall()
            start = rows[0][0] if rows else first
            self._db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET next = excluded.next",
                             (name, start + count))
        return start

    # -- records ------------------------------------------------------------------------------

    def insert_records(self, rows: list[dict[str, Any]]) -> None:
        """Insert records given as {type, id, created_at, updated_at, props[, archived, archived_at]}."""
        self.executemany(
            f"INSERT INTO objects ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(r["type"], int(r["id"]), r["created_at"], r["updated_at"], int(r.get("archived", False)),
              r.get("archived_at"), json.dumps(r["props"], separators=(",", ":"))) for r in rows])

    def save_record(self, record: dict[str, Any]) -> None:
        """Write back one record's stamps, archive state and properties."""
        self.execute("UPDATE objects SET updated_at = ?, archived = ?, archived_at = ?, props = ? "
                     "WHERE type = ? AND id = ?",
                     (record["updated_at"], int(record["archived"]), record["archived_at"],
                      json.dumps(record["props"], separators=(",", ":")), record["type"], int(record["id"])))

    def get(self, kind: str, record_id: int | str) -> dict[str, Any] | None:
        """One record, archived or not."""
        try:
            number = int(record_id)
        except (TypeError, ValueError):
            return None
        rows = self.fetchall(f"SELECT {RECORD_COLUMNS} FROM objects WHERE type = ? AND id = ?", (kind, number))
        return row_to_record(rows[0]) if rows else None

    def get_many(self, kind: str, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Records by id (archived or not); missing ids are left out."""
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.fetchall(f"SELECT {RECORD_COLUMNS} FROM objects WHERE type = ? AND id IN ({marks})",
                                     (kind, *chunk)):
                found[row[1]] = row_to_record(row)
        return found

    def select(self, kind: str, where: str = "1=1", params: list | tuple = (), order: str = "id",
               limit: int | None = None, offset: int = 0, order_params: list | tuple = ()) -> list[dict[str, Any]]:
        """Records of a type matching an SQL condition."""
        sql = f"SELECT {RECORD_COLUMNS} FROM objects WHERE type = ? AND ({where}) ORDER BY {order}"
        if limit is not None or offset:
            sql += f" LIMIT {int(limit if limit is not None else -1)} OFFSET {int(offset)}"
        return [row_to_record(row) for row in self.fetchall(sql, (kind, *params, *order_params))]

    def count(self, kind: str, where: str = "1=1", params: list | tuple = ()) -> int:
        """How many records of a type match."""
        return self.fetchall(f"SELECT COUNT(*) FROM objects WHERE type = ? AND ({where})", (kind, *params))[0][0]

    def find_by_property(self, kind: str, name: str, value: str) -> dict[str, Any] | None:
        """The live record whose property equals value (case-insensitively), or None."""
        if not name.replace("_", "").isalnum():
            return None
        # The JSON path is written into the SQL (names are [a-z0-9_]) so the e-mail index can serve it.
        rows = self.select(kind, f"archived = 0 AND lower(json_extract(props, '$.\"{name}\"')) = lower(?)",
                           (value,), limit=1)
        return rows[0] if rows else None
