"""Writing records the way HubSpot does: values checked and kept as strings, stamps, history and events."""
from __future__ import annotations

import json
import math
from typing import Any, Callable

from .changes import STAMPS, Change, RecordError
from .clock import SandboxClock, epoch_ms, iso, parse_datetime
from .record_links import LinkWriter
from .registry import Registry
from .pipelines import DEFAULT_PIPELINE, Stage, stages_by_id
from .schema import OBJECT_TYPES, SYSTEM_PROPERTIES, Prop
from .store import Store

UI, INTEGRATION, IMPORT = "CRM_UI", "INTEGRATION", "IMPORT"
__all__ = ["Change", "RecordError", "RecordWriter", "STAMPS", "UI", "INTEGRATION", "IMPORT"]


def _invalid(name: str, message: str, code: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name, "localizedErrorMessage": message}


class RecordWriter(LinkWriter):
    """Creates, updates and archives records; API and control-panel (UI) writes share it."""

    def __init__(self, store: Store, registry: Registry, clock: SandboxClock,
                 owner_exists: Callable[[str], bool] = lambda _id: True,
                 stages: dict[str, Stage] | None = None):
        self.store, self.registry, self.clock = store, registry, clock
        self.stages = stages if stages is not None else stages_by_id((DEFAULT_PIPELINE,))
        self.owner_exists = owner_exists
        self.listeners: list[Callable[[list[Change]], None]] = []  # called after commit with the changes

    # -- values ---------------------------------------------------------------------------------

    def _coerce(self, prop: Prop, value: Any) -> tuple[str | None, dict | None]:
        if value is None or value == "":
            return None, None
        wrong = _invalid(prop.name, f"{value!r} was not a valid {prop.type} for property {prop.name}.",
                         "INVALID_" + prop.type.upper())
        if isinstance(value, (dict, list)):
            return None, wrong
        if prop.type == "bool":
            text = str(value).lower()
            return (text, None) if text in ("true", "false") else (None, wrong)
        if prop.type == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None, wrong
            if math.isnan(number) or math.isinf(number) or isinstance(value, bool):
                return None, wrong
            return (str(int(number)) if isinstance(value, (int, float)) and number == int(number)
                    else str(value)), None
        if prop.type in ("datetime", "date"):
            try:
                moment = parse_datetime(value)
            except (TypeError, ValueError, OverflowError):
                return None, wrong
            return (moment.date().isoformat() if prop.type == "date" else iso(moment)), None
        text = str(value)
        if prop.type == "enumeration":
            if prop.name == "hubspot_owner_id":
                return (text, None) if self.owner_exists(text) else (None, _invalid(
                    prop.name, f"{text} is not a valid owner id", "INVALID_OWNER_ID"))
            allowed = {option for option, _label in prop.options}
            if allowed and any(part not in allowed for part in text.split(";")):
                return None, _invalid(prop.name, f"{text} was not one of the allowed options: "
                                      f"[{', '.join(sorted(allowed))}]", "INVALID_OPTION")
        if len(text) > 65536:
            return None, _invalid(prop.name, f"The value of {prop.name} is longer than 65536 characters.",
                                  "INVALID_LENGTH")
        return text, None

    def values(self, kind: str, properties: Any, system: bool = False) -> dict[str, str | None]:
        """Checked string values of a payload; raises RecordError VALIDATION_ERROR listing every fault."""
        if not isinstance(properties, dict):
            raise RecordError(400, "VALIDATION_ERROR", "properties must be an object of property names to values.")
        values: dict[str, str | None] = {}
        faults = []
        for name, value in properties.items():
            prop = self.registry.get(kind, name)
            if prop is None:
                faults.append(_invalid(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST"))
                continue
            if not system and (name in SYSTEM_PROPERTIES or (prop.read_only and prop.hubspot_defined)):
                faults.append(_invalid(name, f'"{name}" is a read only property; its value cannot be set.',
                                       "READ_ONLY_VALUE"))
                continue
            values[name], fault = self._coerce(prop, value)
            if fault:
                faults.append(fault)
        if faults:
            raise RecordError(400, "VALIDATION_ERROR", "Property values were not valid: " + json.dumps(faults),
                              errors=[{"message": f["message"], "code": f["error"],
                                       "context": {"propertyName": [f["name"]]}} for f in faults])
        if kind == "contacts" and values.get("email"):
            values["email"] = values["email"].lower()
        return values

    def _derive(self, kind: str, values: dict[str, str | None], current: dict[str, Any], stamp: str) -> None:
        """Properties HubSpot calculates: closed/won flags of deals, lifecycle dates of contacts."""
        if kind == "deals" and "dealstage" in values:
            stage = self.stages.get(values["dealstage"] or "")
            values.update(hs_is_closed=str(bool(stage and stage.closed)).lower(),
                          hs_is_closed_won=str(bool(stage and stage.won)).lower(),
                          hs_deal_stage_probability=stage.probability if stage else None)
        if kind == "contacts" and values.get("lifecyclestage"):
            key = f"hs_lifecyclestage_{values['lifecyclestage']}_date"
            if self.registry.get(kind, key) and not current.get(key) and key not in values:
                values[key] = stamp

    def _check_unique(self, kind: str, values: dict[str, str | None], own_id: int | None) -> None:
        for name, value in values.items():
            prop = self.registry.get(kind, name)
            if value is None or prop is None or not prop.unique or name == "hs_object_id":
                continue
            other = self.store.find_by_property(kind, name, value)
            if other is not None and other["id"] != own_id:
                singular = OBJECT_TYPES[kind][1].capitalize()
                raise RecordError(409, "CONFLICT", f"{singular} already exists. Existing ID: {other['id']}",
                                  context={"existingId": [str(other["id"])]})

    # -- writes ---------------------------------------------------------------------------------

    def _history(self, kind: str, record_id: int, values: dict[str, str | None], stamp: str, source: str,
                 source_id: str | None) -> None:
        rows = [(kind, record_id, name, value, stamp, source, source_id) for name, value in values.items()
                if name not in STAMPS and name != "hs_object_id"]
        if rows:
            self.store.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _emit(self, changes: list[Change]) -> None:
        if changes and self.listeners:
            for listener in self.listeners:
                self.store.after_commit(lambda listener=listener: listener(changes))

    def create(self, kind: str, properties: Any, source: str = INTEGRATION, source_id: str | None = None,
               system: bool = False) -> dict[str, Any]:
        """Insert one record; returns it."""
        values = {k: v for k, v in self.values(kind, properties, system).items() if v is not None}
        now = self.clock.now()
        stamp = iso(now)
        with self.store.transaction():
            self._check_unique(kind, values, None)
            record_id = self.store.allocate(kind, OBJECT_TYPES[kind][2])
            self._derive(kind, values, {}, stamp)
            if kind == "deals":
                values.setdefault("pipeline", "default")
            created = values.get("createdate") or stamp
            props = {**values, "hs_object_id": str(record_id), "createdate": created, "hs_lastmodifieddate": stamp}
            if kind == "contacts":
                props["lastmodifieddate"] = stamp
            record = {"type": kind, "id": record_id, "created_at": created, "updated_at": stamp,
                      "archived": False, "archived_at": None, "props": props}
            self.store.insert_records([record])
            self._history(kind, record_id, props, stamp, source, source_id)
            self._emit([Change(kind, record_id, "creation", epoch_ms(now), source, source_id)])
        return record

    def live(self, kind: str, record_id: Any) -> dict[str, Any]:
        """A live (not archived) record, or RecordError 404."""
        record = self.store.get(kind, record_id)
        if record is None or record["archived"]:
            raise RecordError(404, "OBJECT_NOT_FOUND", "resource not found",
                              context={"id": [str(record_id)]})
        return record

    def update(self, kind: str, record_id: Any, properties: Any, source: str = INTEGRATION,
               source_id: str | None = None, system: bool = False) -> dict[str, Any]:
        """Change properties of one live record; unchanged values leave it untouched. Returns it."""
        values = self.values(kind, properties, system)
        now = self.clock.now()
        stamp = iso(now)
        with self.store.transaction():
            record = self.live(kind, record_id)
            props = record["props"]
            changed = {name: value for name, value in values.items() if props.get(name) != value}
            if not changed:
                return record
            self._check_unique(kind, changed, record["id"])
            self._derive(kind, changed, props, stamp)
            changed = {name: value for name, value in changed.items() if props.get(name) != value}
            self._backfill_history(record, changed)
            for name, value in changed.items():
                if value is None:
                    props.pop(name, None)
                else:
                    props[name] = value
            props["hs_lastmodifieddate"] = stamp
            if kind == "contacts":
                props["lastmodifieddate"] = stamp
            record["updated_at"] = stamp
            self.store.save_record(record)
            self._history(kind, record["id"], changed, stamp, source, source_id)
            self._emit([Change(kind, record["id"], "propertyChange", epoch_ms(now), source, source_id, name, value)
                        for name, value in changed.items()])
        return record

    def _backfill_history(self, record: dict[str, Any], changed: dict[str, Any]) -> None:
        """Seeded values have no history rows: keep the old value as the first entry before it changes."""
        kind, record_id = record["type"], record["id"]
        known = {name for (name,) in self.store.fetchall(
            "SELECT DISTINCT name FROM history WHERE type = ? AND id = ?", (kind, record_id))}
        old = {name: record["props"][name] for name in changed
               if name not in known and record["props"].get(name) is not None}
        if old:
            self._history(kind, record_id, old, record["created_at"], "CRM_UI", None)

    def archive(self, kind: str, record_id: Any, source: str = INTEGRATION, source_id: str | None = None) -> None:
        """Archive (soft-delete) one live record."""
        now = self.clock.now()
        with self.store.transaction():
            record = self.live(kind, record_id)
            record.update(archived=True, archived_at=iso(now), updated_at=iso(now))
            self.store.save_record(record)
            self._emit([Change(kind, record["id"], "deletion", epoch_ms(now), source, source_id)])

    def touch(self, kind: str, record_ids: list[Any], stamp: str | None = None) -> str:
        """Give records one hs_lastmodifieddate (default now); no history, no events."""
        value = iso(parse_datetime(stamp)) if stamp else iso(self.clock.now())
        with self.store.transaction():
            for record in self.store.get_many(kind, [int(i) for i in record_ids]).values():
                record["props"]["hs_lastmodifieddate"] = value
                if kind == "contacts":
                    record["props"]["lastmodifieddate"] = value
                record["updated_at"] = value
                self.store.save_record(record)
        return value

    def bulk_create(self, kind: str, count: int, properties: dict[str, Any], modified_at: str | None = None
                    ) -> list[int]:
        """Create count records quickly (an import for volume tests): shared values, no history, no events."""
        values = {k: v for k, v in self.values(kind, properties or {}, system=True).items() if v is not None}
        stamp = iso(parse_datetime(modified_at)) if modified_at else iso(self.clock.now())
        first = self.store.allocate(kind, OBJECT_TYPES[kind][2], count)
        rows = []
        for record_id in range(first, first + count):
            props = {name: value.replace("{n}", str(record_id - first + 1)) for name, value in values.items()}
            props.update(hs_object_id=str(record_id), createdate=props.get("createdate", stamp),
                         hs_lastmodifieddate=stamp)
            if kind == "contacts":
                props["lastmodifieddate"] = stamp
            rows.append({"type": kind, "id": record_id, "created_at": props["createdate"], "updated_at": stamp,
                         "props": props})
        self.store.insert_records(rows)
        return [row["id"] for row in rows]
