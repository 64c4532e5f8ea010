"""Creating, updating and deleting rows: defaults the platform fills in, row versions, and change events.

Every write runs in one store transaction; events (for webhooks) are handed on only after it commits, so a
rolled-back UpdateMultiple or change set notifies no one.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from .api import ApiError, DUPLICATE, not_found
from .schema import Table
from .values import stamp


class Writer:
    """Row writes for one environment; on_change(message, table, id, attributes, user) runs after commit."""

    def __init__(self, store, clock, tables: dict[str, Table], on_change: Callable[..., None]):
        self.store, self.clock, self.tables, self.on_change = store, clock, tables, on_change

    def _computed(self, table: Table, row: dict[str, Any]) -> None:
        if "fullname" in table.columns and table.logical in ("contact", "lead", "systemuser"):
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p) or None
        if table.logical == "goal":
            # The platform keeps a goal's metric type and data type the metric's (goal.md: read-only on update),
            # and its currency the organization's.
            metric = self.store.get("metric", row["metricid"]["id"]) if row.get("metricid") else None
            row["isamount"] = metric.get("isamount") if metric else None
            row["amountdatatype"] = metric.get("amountdatatype") if metric else None
            if not row.get("transactioncurrencyid"):
                currency = next(iter(self.store.rows("transactioncurrency")), None)
                row["transactioncurrencyid"] = {"id": currency["transactioncurrencyid"],
                                                "table": "transactioncurrency"} if currency else None

    def _notify(self, message: str, table: Table, record_id: str, attributes: dict[str, Any], user: str) -> None:
        self.store.after_commit(lambda: self.on_change(message, table, record_id, attributes, user))

    def create(self, table: Table, values: dict[str, Any], user: str) -> str:
        """A new row; its id is values[pk] when the client chose one."""
        record_id = values.get(table.pk) or str(uuid.uuid4())
        now = stamp(self.clock.now())
        row: dict[str, Any] = {name: None for name in table.columns if name != "versionnumber"}
        if "statecode" in table.columns:
            row["statecode"] = 0
        if "statuscode" in table.columns:
            row["statuscode"] = min(table.columns["statuscode"].options)
        if "ownerid" in table.columns:
            row["ownerid"] = {"id": user, "table": "systemuser"}
        row.update(values)
        row.update({table.pk: record_id, "createdon": now, "modifiedon": now})
        self._computed(table, row)
        with self.store.transaction():
            if self.store.get(table.logical, record_id) is not None:
                raise ApiError(412, DUPLICATE, "A record with matching key values already exists.")
            self.store.put(table.logical, record_id, row)
            self._notify("Create", table, record_id, row, user)
        return record_id

    def update(self, table: Table, record_id: str, values: dict[str, Any], user: str) -> None:
        """Change columns of an existing row; ApiError 404 when it does not exist."""
        with self.store.transaction():
            row = self.store.get(table.logical, record_id)
            if row is None:
                raise not_found(table.logical, record_id)
            changed = {k: v for k, v in values.items() if k != table.pk}
            row.update(changed)
            row["modifiedon"] = stamp(self.clock.now())
            self._computed(table, row)
            self.store.put(table.logical, record_id, row)
            attributes = {**changed, table.pk: record_id, "modifiedon": row["modifiedon"]}
            if "fullname" in changed or {"firstname", "lastname"} & set(changed):
                attributes["fullname"] = row.get("fullname")
            self._notify("Update", table, record_id, attributes, user)

    def upsert(self, table: Table, record_id: str, values: dict[str, Any], user: str) -> bool:
        """Update the row, or create it with this id; True when it was created."""
        with self.store.transaction():
            if self.store.get(table.logical, record_id) is None:
                self.create(table, {**values, table.pk: record_id}, user)
                return True
            self.update(table, record_id, values, user)
            return False

    def delete(self, table: Table, record_id: str, user: str) -> None:
        with self.store.transaction():
            if self.store.get(table.logical, record_id) is None:
                raise not_found(table.logical, record_id)
            self.store.remove(table.logical, record_id, stamp(self.clock.now()))
            self._notify("Delete", table, record_id, {}, user)
