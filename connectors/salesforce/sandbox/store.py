"""The sandbox's SQLite file: one table per object, plus meta, counters, custom fields and tokens."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sandbox_kit.sqlite_store import LockedSqlite

from .schema import CURRENCY_FIELD, OBJECTS, TEXT_TYPES, Field, internal_columns, standard_fields

_INTERNAL_TABLES = """
CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS _counters (prefix TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _custom_fields (
    object TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, label TEXT NOT NULL,
    length INTEGER, precision INTEGER, scale INTEGER, id TEXT NOT NULL, PRIMARY KEY (object, name));
CREATE TABLE IF NOT EXISTS _approvals (
    user_id TEXT NOT NULL, client_id TEXT NOT NULL, PRIMARY KEY (user_id, client_id));
CREATE TABLE IF NOT EXISTS _tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL,
    scope TEXT, issued_at REAL NOT NULL, expires_at REAL, revoked INTEGER NOT NULL DEFAULT 0,
    parent TEXT);
"""


def column_type(field: Field) -> str:
    """The SQLite column for a field; text compares case-insensitively as in SOQL."""
    if field.type in TEXT_TYPES:
        return "TEXT COLLATE NOCASE"
    if field.type in ("boolean", "int"):
        return "INTEGER"
    if field.type in ("double", "currency", "percent"):
        return "REAL"
    return "TEXT"  # date and datetime, stored in their fixed-width wire format so they sort


def to_api(field: Field, value: Any) -> Any:
    """A stored value as the REST API shows it."""
    if value is None:
        return None
    if field.type == "boolean":
        return bool(value)
    if field.type == "int":
        return int(value)
    if field.type in ("double", "currency", "percent"):
        return float(value)
    return value


class Store(LockedSqlite):
    """Records, custom fields and tokens; one connection guarded by a lock, so threads are safe."""

    meta_table = "_meta"

    def __init__(self, path: Path):
        super().__init__(path, _INTERNAL_TABLES)
        self._fields: dict[str, list[Field]] = {}
        self._currency_mode: str | None = None
        for name in OBJECTS:
            self._fields[name] = standard_fields(name)
            columns = ", ".join(f'"{f.name}" {column_type(f)}' + (" PRIMARY KEY" if f.name == "Id" else "")
                                for f in self._fields[name])
            # Kept internally where the object shows none (a delete of these objects is a hard delete
            # for every API reader; creation stamps stay for the store's own bookkeeping).
            for hidden in internal_columns(name):
                columns += f', "{hidden.name}" {column_type(hidden)}' + (" NOT NULL DEFAULT 0"
                                                                         if hidden.name == "IsDeleted" else "")
            self._db.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')
            # A data folder made by an earlier version lacks the fields added since (User.TimeZoneSidKey).
            present = {row[1] for row in self._db.execute(f'PRAGMA table_info("{name}")')}
            for missing in (f for f in self._fields[name] if f.name not in present):
                self._db.execute(f'ALTER TABLE "{name}" ADD COLUMN "{missing.name}" {column_type(missing)}')
            self._db.execute(f'CREATE INDEX IF NOT EXISTS "ix_{name}_modstamp" ON "{name}" '
                             '("SystemModstamp", "Id")')
        for row in self._db.execute("SELECT object, name, type, label, length, precision, scale "
                                    "FROM _custom_fields ORDER BY rowid"):
            self._fields[row[0]].append(Field(row[1], row[2], row[3], custom=True, length=row[4],
                                              precision=row[5], scale=row[6]))

    # -- fields -------------------------------------------------------------------------------

    @property
    def currency_mode(self) -> str:
        """single, multi (CurrencyIsoCode and CurrencyType) or advanced (dated rates as well)."""
        if self._currency_mode is None:
            self._currency_mode = self.meta("currency_mode") or "single"
        return self._currency_mode

    def set_currency_mode(self, mode: str) -> None:
        self.set_meta("currency_mode", mode)
        self._currency_mode = mode

    def objects(self) -> list[str]:
        """Every object of the org."""
        return list(self._fields)

    def fields(self, object_name: str) -> list[Field]:
        """Every field of an object, custom ones last (CurrencyIsoCode only in a multi-currency org)."""
        if self.currency_mode == "single":
            return [f for f in self._fields[object_name] if f.name != CURRENCY_FIELD]
        return list(self._fields[object_name])

    def field(self, object_name: str, name: str) -> Field | None:
        """A field matched case-insensitively, or None."""
        lowered = name.lower()
        return next((f for f in self.fields(object_name) if f.name.lower() == lowered), None)

    def add_custom_field(self, object_name: str, field: Field, field_id: str) -> None:
        """Add a column and remember its description."""
        with self.transaction():
            self._db.execute(f'ALTER TABLE "{object_name}" ADD COLUMN "{field.name}" {column_type(field)}')
            self._db.execute("INSERT INTO _custom_fields VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (object_name, field.name, field.type, field.label, field.length,
                              field.precision, field.scale, field_id))
            self._fields[object_name].append(field)

    # -- meta and counters --------------------------------------------------------------------

    def allocate(self, prefix: str, count: int = 1) -> int:
        """Reserve count consecutive record numbers for a key prefix; returns the first."""
        with self.transaction():
            rows = self._db.execute("SELECT next FROM _counters WHERE prefix = ?", (prefix,)).fetchall()
            first = rows[0][0] if rows else 1
            self._db.execute("INSERT INTO _counters VALUES (?, ?) ON CONFLICT(prefix) DO UPDATE "
                             "SET next = excluded.next", (prefix, first + count))
        return first

    # -- records ------------------------------------------------------------------------------

    def insert(self, object_name: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows (stored values) in one statement per column set."""
        if not rows:
            return
        columns = sorted({key for row in rows for key in row})
        sql = (f'INSERT INTO "{object_name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
               f'VALUES ({", ".join("?" for _ in columns)})')
        with self.transaction():
            self._db.executemany(sql, [tuple(row.get(c) for c in columns) for row in rows])

    def update(self, object_name: str, record_id: str, values: dict[str, Any]) -> None:
        """Set stored values on one row."""
        assignments = ", ".join(f'"{name}" = ?' for name in values)
        self.execute(f'UPDATE "{object_name}" SET {assignments} WHERE "Id" = ?',
                     (*values.values(), record_id))

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One row as stored, deleted or not."""
        rows = self.select(object_name, '"Id" = ?', [record_id])
        return rows[0] if rows else None

    def select(self, object_name: str, where: str = "1=1", params: list | tuple = (),
               order: str = "rowid", limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Rows as stored values keyed by field name (IsDeleted always among them)."""
        names = [f.name for f in self._fields[object_name]] + [f.name for f in internal_columns(object_name)]
        sql = (f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{object_name}" '
               f"WHERE {where} ORDER BY {order}")
        if limit is not None or offset:
            sql += f" LIMIT {int(limit if limit is not None else -1)} OFFSET {int(offset)}"
        return [dict(zip(names, row)) for row in self.fetchall(sql, params)]

    def count(self, object_name: str, where: str = "1=1", params: list | tuple = ()) -> int:
        """How many rows match."""
        return self.fetchall(f'SELECT COUNT(*) FROM "{object_name}" WHERE {where}', params)[0][0]

    def api_record(self, object_name: str, row: dict[str, Any], version: str,
                   names: list[str] | None = None) -> dict[str, Any]:
        """A stored row as the REST API shows a record, with its attributes."""
        record: dict[str, Any] = {"attributes": {
            "type": object_name, "url": f"/services/data/v{version}/sobjects/{object_name}/{row['Id']}"}}
        by_name = {f.name: f for f in self._fields[object_name]}
        for name in (list(by_name) if names is None else names):
            record[name] = to_api(by_name[name], row.get(name))
        return record
