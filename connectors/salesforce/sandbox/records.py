"""Writing records the way Salesforce does: types checked, stamps set, derived fields and history kept."""
from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Callable

from .clock import SandboxClock, format_datetime, parse_datetime
from .ids import looks_like_id, make_id, to_18
from .schema import READ_ONLY_OBJECTS, Field, key_prefix
from .security import SYSTEM_ACCESS, FieldAccess
from .store import Store

# Stage → (probability, closed, won); the maven stages plus Salesforce's defaults.
STAGES = {
    "Prospecting": (10, False, False), "Qualification": (20, False, False),
    "Engaging": (50, False, False), "Needs Analysis": (20, False, False),
    "Value Proposition": (50, False, False), "Proposal/Price Quote": (75, False, False),
    "Negotiation/Review": (90, False, False),
    "Closed Won": (100, True, True), "Closed Lost": (0, True, False),
}
HISTORY_TRIGGERS = ("StageName", "Amount", "CloseDate")
NAMED_OBJECTS = ("User", "Lead", "Contact")  # Name is compound: FirstName LastName
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RecordError(Exception):
    """A write Salesforce would refuse: statusCode, message and the fields at fault."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None, http_status: int = 400):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = fields or []
        self.http_status = http_status

    def as_dict(self) -> dict[str, Any]:
        """The error entry of a collection result."""
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


def coerce(field: Field, value: Any) -> Any:
    """A JSON value checked against the field type and turned into its stored form."""
    if value is None or value == "":  # Salesforce stores empty text as null
        if field.required:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{field.name}]", [field.name])
        return None
    wrong = RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{field.label}: value not of required type: {value!r}", [field.name])
    kind = field.type
    if kind == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise wrong
    if kind in ("int", "double", "currency", "percent"):
        if isinstance(value, bool):
            raise wrong
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise wrong from None
        if not isinstance(number, (int, float)) or math.isnan(number) or math.isinf(number):
            raise wrong
        if kind == "int":
            if number != int(number):
                raise wrong
            return int(number)
        return float(number)
    if kind == "date":
        if isinstance(value, str) and (_DATE.match(value) or "T" in value):
            try:
                return (date.fromisoformat(value) if _DATE.match(value) else parse_datetime(value).date()).isoformat()
            except ValueError:
                raise wrong from None
        raise wrong
    if kind == "datetime":
        if isinstance(value, str):
            try:
                return format_datetime(parse_datetime(value))
            except ValueError:
                raise wrong from None
        raise wrong
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise wrong
    text = str(value)
    if kind in ("reference", "id"):
        if not looks_like_id(text):
            raise RecordError("MALFORMED_ID", f"{field.label}: id value of incorrect type: {text}", [field.name])
        return to_18(text)
    if field.length and len(text) > field.length:
        raise RecordError("STRING_TOO_LONG", f"{field.label}: data value too large: {text[:40]}... "
                          f"(max length={field.length})", [field.name])
    return text


class RecordWriter:
    """Creates, updates and soft-deletes records; API and control-panel writes share it."""

    def __init__(self, store: Store, clock: SandboxClock, rejects: Callable[[str], str | None] = lambda _id: None):
        self.store = store
        self.clock = clock
        self.rejects = rejects  # record id → validation-rule message, for the fault knob
        # (object, record id, "created" | "updated" | "deleted") after the change commits; outbound messages
        self.listeners: list[Callable[[str, str, str], None]] = []

    def _changed(self, object_name: str, record_id: str, change: str) -> None:
        for listener in self.listeners:
            self.store.after_commit(lambda listener=listener: listener(object_name, record_id, change))

    def _values(self, object_name: str, payload: dict[str, Any], system: bool,
                access: FieldAccess) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in payload.items():
            if key in ("attributes", "Id"):
                continue
            field = self.store.field(object_name, key)
            # A field the user may not see does not exist for them (field-level security).
            if field is None or not access.can_read(object_name, field.name, field.custom):
                raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {object_name}", [key])
            if not system and not access.can_edit(object_name, field.name, field.custom):
                raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                  f"Unable to create/update fields: {field.name}. Please check the security "
                                  "settings of this field and verify that it is read/write.", [field.name])
            if not field.updateable and not system:
                raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                  f"Unable to create/update fields: {field.name}. Please check the security "
                                  "settings of this field and verify that it is read/write.", [field.name])
            values[field.name] = coerce(field, value)
        return values

    def _derive(self, object_name: str, values: dict[str, Any], current: dict[str, Any]) -> None:
        """Fields Salesforce computes: compound names, closed/won flags and probability."""
        if object_name in NAMED_OBJECTS and ("FirstName" in values or "LastName" in values):
            first = values.get("FirstName", current.get("FirstName"))
            last = values.get("LastName", current.get("LastName"))
            values["Name"] = " ".join(part for part in (first, last) if part)
        if object_name == "Opportunity" and "StageName" in values:
            stage = values["StageName"]
            if stage not in STAGES:
                raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  f"Stage: bad value for restricted picklist field: {stage}", ["StageName"])
            probability, closed, won = STAGES[stage]
            values["IsClosed"], values["IsWon"] = int(closed), int(won)
            if "Probability" not in values and stage != current.get("StageName"):
                values["Probability"] = float(probability)

    def _check_writable(self, object_name: str) -> None:
        if object_name in READ_ONLY_OBJECTS:
            raise RecordError("INVALID_TYPE", f"entity type {object_name} does not support this operation")

    def create(self, object_name: str, payload: dict[str, Any], actor_id: str, system: bool = False,
               access: FieldAccess = SYSTEM_ACCESS) -> str:
        """Insert one record; returns its id."""
        self._check_writable(object_name)
        values = self._values(object_name, payload, system, access)
        self._check_setup(object_name, values)
        for field in self.store.fields(object_name):
            if field.required and field.updateable and values.get(field.name) is None:
                raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{field.name}]",
                                  [field.name])
        self._derive(object_name, values, {})
        if object_name == "Opportunity" and "Probability" not in values:
            values["Probability"] = float(STAGES[values["StageName"]][0])
        stamp = format_datetime(self.clock.now())
        with self.store.transaction():
            record_id = make_id(key_prefix(object_name), self.store.allocate(key_prefix(object_name)))
            row = {"Id": record_id, "IsDeleted": 0, "CreatedDate": stamp, "CreatedById": actor_id,
                   "LastModifiedDate": stamp, "LastModifiedById": actor_id, "SystemModstamp": stamp}
            if self.store.field(object_name, "OwnerId") and not values.get("OwnerId"):
                row["OwnerId"] = actor_id
            if object_name == "User" and "IsActive" not in values:
                row["IsActive"] = 1
            row.update(values)
            self.store.insert(object_name, [row])
            if object_name == "Opportunity":
                self._history(row, stamp, actor_id)
            if object_name == "User":
                self._assign_profile_set(record_id, row["ProfileId"], stamp)
            self._changed(object_name, record_id, "created")
        return record_id

    def _check_setup(self, object_name: str, values: dict[str, Any]) -> None:
        """What Salesforce refuses on the setup objects: duplicates and fields that do not exist."""
        duplicate = None
        if object_name == "PermissionSet":
            duplicate = self.store.select("PermissionSet", '"Name" = ? AND "IsDeleted" = 0', [values.get("Name")])
        elif object_name == "PermissionSetAssignment":
            duplicate = self.store.select("PermissionSetAssignment", '"AssigneeId" = ? AND "PermissionSetId" = ? '
                                          'AND "IsDeleted" = 0', [values.get("AssigneeId"), values.get("PermissionSetId")])
        elif object_name == "FieldPermissions":
            # Object Reference, FieldPermissions: Field is "Object.Field", SobjectType its object; edit needs read.
            owner, _, name = str(values.get("Field") or "").partition(".")
            field = self.store.field(owner, name) if owner in self.store.objects() else None
            if field is None or owner != values.get("SobjectType"):
                raise RecordError("INVALID_FIELD", f"Field {values.get('Field')!r} does not exist on "
                                  f"{values.get('SobjectType')!r}.", ["Field"])
            if values.get("PermissionsEdit") and not values.get("PermissionsRead"):
                raise RecordError("FIELD_INTEGRITY_EXCEPTION", "Permission Edit depends on permission(s): Read",
                                  ["PermissionsRead"])
            duplicate = self.store.select("FieldPermissions", '"ParentId" = ? AND "Field" = ? AND "IsDeleted" = 0',
                                          [values.get("ParentId"), values.get("Field")])
        if duplicate:
            raise RecordError("DUPLICATE_VALUE", f"duplicate value found: duplicates value on record with id: "
                              f"{duplicate[0]['Id']}", [])

    def _assign_profile_set(self, user_id: str, profile_id: str, stamp: str) -> None:
        """Salesforce assigns every user the permission set their profile owns."""
        owned = self.store.select("PermissionSet", '"ProfileId" = ? AND "IsOwnedByProfile" = 1', [profile_id])
        if owned:
            number = self.store.allocate(key_prefix("PermissionSetAssignment"))
            self.store.insert("PermissionSetAssignment", [{
                "Id": make_id(key_prefix("PermissionSetAssignment"), number), "IsDeleted": 0,
                "AssigneeId": user_id, "PermissionSetId": owned[0]["Id"], "CreatedDate": stamp,
                "LastModifiedDate": stamp, "SystemModstamp": stamp}])

    def _existing(self, object_name: str, record_id: Any) -> dict[str, Any]:
        if not looks_like_id(record_id):
            raise RecordError("MALFORMED_ID", f"{object_name} ID: id value of incorrect type: {record_id}", ["Id"])
        row = self.store.get(object_name, to_18(record_id))
        if row is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", http_status=404)
        if row["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", http_status=404)
        return row

    def update(self, object_name: str, record_id: str, payload: dict[str, Any], actor_id: str,
               system: bool = False, access: FieldAccess = SYSTEM_ACCESS) -> str:
        """Change fields of one record; returns its 18-character id."""
        self._check_writable(object_name)
        current = self._existing(object_name, record_id)
        values = self._values(object_name, payload, system, access)
        if not system and object_name == "Lead" and current.get("IsConverted"):
            # A converted lead is read-only to the API (Salesforce Help 000384333).
            raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
        if not system:
            message = self.rejects(current["Id"])
            if message:
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message, [])
        self._derive(object_name, values, current)
        stamp = format_datetime(self.clock.now())
        values.update({"LastModifiedDate": stamp, "LastModifiedById": actor_id, "SystemModstamp": stamp})
        with self.store.transaction():
            self.store.update(object_name, current["Id"], values)
            if object_name == "Opportunity" and any(
                    name in values and values[name] != current[name] for name in HISTORY_TRIGGERS):
                self._history({**current, **values}, stamp, actor_id)
            self._changed(object_name, current["Id"], "updated")
        return current["Id"]

    def delete(self, object_name: str, record_id: str, actor_id: str) -> str:
        """Soft-delete one record (to the recycle bin: IsDeleted = true)."""
        self._check_writable(object_name)
        current = self._existing(object_name, record_id)
        stamp = format_datetime(self.clock.now())
        with self.store.transaction():
            self.store.update(object_name, current["Id"], {"IsDeleted": 1, "LastModifiedDate": stamp,
                                                           "LastModifiedById": actor_id, "SystemModstamp": stamp})
            self._changed(object_name, current["Id"], "deleted")
        return current["Id"]

    def touch(self, object_name: str, record_ids: list[str], modstamp: datetime | None = None) -> str:
        """Give records one SystemModstamp, as a background system update would."""
        stamp = format_datetime(modstamp or self.clock.now())
        with self.store.transaction():
            for record_id in record_ids:
                self.store.update(object_name, to_18(record_id), {"SystemModstamp": stamp})
        return stamp

    def _history(self, opportunity: dict[str, Any], stamp: str, actor_id: str) -> None:
        number = self.store.allocate(key_prefix("OpportunityHistory"))
        self.store.insert("OpportunityHistory", [{
            "Id": make_id(key_prefix("OpportunityHistory"), number), "IsDeleted": 0,
            "CreatedDate": stamp, "CreatedById": actor_id, "LastModifiedDate": stamp,
            "LastModifiedById": actor_id, "SystemModstamp": stamp, "OpportunityId": opportunity["Id"],
            "StageName": opportunity.get("StageName"), "Amount": opportunity.get("Amount"),
            "Probability": opportunity.get("Probability"), "CloseDate": opportunity.get("CloseDate")}])
