"""Column values between the wire (Web API JSON) and the store: validation in, formatting and annotations out.

Lookups are read as `_<column>_value` with the annotations of query-data-web-api.md ("Lookup property data":
FormattedValue, Microsoft.Dynamics.CRM.lookuplogicalname, associatednavigationproperty) and written with
`<navigation property>@odata.bind` (associate-disassociate-entities-using-web-api.md), where a polymorphic
lookup's navigation property names its target table (`regardingobjectid_account_task`).
"""
from __future__ import annotations

import fnmatch
import re
from datetime import date, datetime
from typing import Any, Callable

from connectors.sandbox_kit.clock import parse_iso_utc

from .api import PAYLOAD, PROPERTY_NOT_FOUND, VALIDATION, ApiError, parse_guid
from .schema import NAMESPACE, Column, Table

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
EDM = {"String": "Edm.String", "Memo": "Edm.String", "Integer": "Edm.Int32", "BigInt": "Edm.Int64",
       "Decimal": "Edm.Decimal", "Money": "Edm.Decimal", "DateTime": "Edm.DateTimeOffset", "Boolean": "Edm.Boolean",
       "Picklist": "Edm.Int32", "State": "Edm.Int32", "Status": "Edm.Int32", "Uniqueidentifier": "Edm.Guid"}


def stamp(moment: datetime) -> str:
    """A DateTimeOffset as Dataverse writes it: UTC, whole seconds, Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def not_a_property(name: str, table: Table) -> ApiError:
    return ApiError(400, PROPERTY_NOT_FOUND,
                    f"Could not find a property named '{name}' on type '{NAMESPACE}.{table.logical}'.")


def _formatted(column: Column, value: Any) -> str | None:
    if value is None:
        return None
    if column.type in ("Picklist", "State", "Status"):
        return column.options.get(int(value), str(value))
    if column.type == "Boolean":
        return (column.options or {0: "No", 1: "Yes"}).get(int(bool(value)))
    if column.type == "Money":
        return f"${float(value):,.2f}"
    if column.type in ("Integer", "BigInt"):
        return f"{int(value):,}"
    if column.type == "Decimal":
        return f"{float(value):,.2f}"
    if column.type == "DateTime":
        if column.date_only:
            day = date.fromisoformat(value)
            return f"{day.month}/{day.day}/{day.year}"
        moment = parse_iso_utc(value)
        return f"{moment.month}/{moment.day}/{moment.year} {moment.strftime('%I:%M %p').lstrip('0')}"
    return None


class Annotations:
    """Which instance annotations `Prefer: odata.include-annotations` asked for ("*", names, or wildcards)."""

    def __init__(self, preference: str | None):
        self.patterns = [p.strip() for p in (preference or "").split(",") if p.strip()]

    def wants(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)


def to_wire(table: Table, row: dict[str, Any], select: list[str] | None, annotations: Annotations,
            name_of: Callable[[str, str], str | None]) -> dict[str, Any]:
    """A stored row as the Web API returns it: etag first, then the selected columns and the primary key."""
    out: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber", 0)}"'}
    names = select if select else [c for c in table.columns]
    for name in names:
        column = table.columns.get(name[1:-6] if name.startswith("_") and name.endswith("_value") else name)
        if column is None or column.write_only:
            continue
        value = row.get(column.name)
        if column.is_lookup:
            key = f"_{column.name}_value"
            if value:
                if annotations.wants(FORMATTED):
                    out[f"{key}@{FORMATTED}"] = name_of(value["table"], value["id"])
                if annotations.wants(NAVIGATION):
                    out[f"{key}@{NAVIGATION}"] = column.name if len(column.targets) == 1 else \
                        f"{column.name}_{value['table']}"
                if annotations.wants(LOOKUP_TABLE):
                    out[f"{key}@{LOOKUP_TABLE}"] = value["table"]
            out[key] = value["id"] if value else None
            continue
        if annotations.wants(FORMATTED):
            text = _formatted(column, value)
            if text is not None:
                out[f"{column.name}@{FORMATTED}"] = text
        out[column.name] = value
    out[table.pk] = row[table.pk]
    return out


def _number(column: Column, table: Table, value: Any) -> Any:
    kind = EDM[column.type]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, PAYLOAD, f"Cannot convert the literal '{value}' to the expected type '{kind}'.")
    if column.type in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if float(value) != int(value):
            raise ApiError(400, PAYLOAD, f"Cannot convert the literal '{value}' to the expected type '{kind}'.")
        value = int(value)
        if column.options and value not in column.options:
            raise ApiError(400, VALIDATION, f"A validation error occurred.  The value {value} of '{column.name}' "
                                            f"on record of type '{table.logical}' is outside the valid range.")
    return value


def coerce(table: Table, column: Column, value: Any) -> Any:
    """One incoming value in its stored form; ApiError with Dataverse's wording when it does not fit."""
    if value is None:
        return None
    if column.type in ("String", "Memo"):
        if not isinstance(value, str):
            raise ApiError(400, PAYLOAD, f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.")
        if column.max_length and len(value) > column.max_length:
            raise ApiError(400, VALIDATION, f"A validation error occurred.  The length of the '{column.name}' "
                                            f"attribute of the '{table.logical}' entity exceeded the maximum "
                                            f"allowed length of '{column.max_length}'.")
        return value
    if column.type in ("Integer", "BigInt", "Decimal", "Money", "Picklist", "State", "Status"):
        return _number(column, table, value)
    if column.type == "Boolean":
        if not isinstance(value, bool):
            raise ApiError(400, PAYLOAD, f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")
        return value
    if column.type == "DateTime":
        try:
            if column.date_only:
                return date.fromisoformat(str(value)[:10]).isoformat()
            return stamp(parse_iso_utc(str(value)))
        except ValueError:
            raise ApiError(400, PAYLOAD, f"Cannot convert the literal '{value}' to the expected type "
                                         "'Edm.DateTimeOffset'.") from None
    if column.type == "Uniqueidentifier":
        return parse_guid(str(value))
    raise ApiError(400, PAYLOAD, f"The property '{column.name}' cannot be set.")


BIND = re.compile(r"^(?:https?://[^/]+)?/?(?:api/data/v9\.\d/)?(\w+)\((.+)\)$")


def parse_body(table: Table, body: Any, creating: bool, resolve: Callable[[str, str], str]) -> dict[str, Any]:
    """An entity payload as stored values; resolve(entity_set, key) returns the referenced id or raises."""
    if not isinstance(body, dict):
        raise ApiError(400, PAYLOAD, "The request body must be a JSON object representing the entity.")
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("@odata.") or key in ("@odata.type",):
            continue
        if key.endswith("@odata.bind"):
            navigation = key[:-len("@odata.bind")]
            column, target = lookup_of(table, navigation)
            if value is None:
                values[column.name] = None
                continue
            match = BIND.match(str(value))
            if not match:
                raise ApiError(400, PAYLOAD, f"The value '{value}' of '{key}' is not a URI of a record.")
            entity_set, record_key = match.groups()
            found_table, record_id = resolve(entity_set, record_key)
            if found_table not in column.targets or (target and target != found_table):
                raise ApiError(400, PAYLOAD, f"The navigation property '{navigation}' cannot refer to "
                                             f"'{entity_set}'.")
            values[column.name] = {"id": record_id, "table": found_table}
            continue
        if "@" in key:
            continue  # instance annotations sent back by clients are ignored
        column = table.columns.get(key)
        if column is None or column.is_lookup:
            raise ApiError(400, PAYLOAD, f"The property '{key}' does not exist on type '{NAMESPACE}."
                                         f"{table.logical}'. Make sure to only use property names that are "
                                         "defined by the type.")
        if (creating and not column.create) or (not creating and not column.update and key != table.pk):
            continue  # read-only columns are ignored on write, as the platform does
        values[key] = coerce(table, column, value)
    return values


def lookup_of(table: Table, navigation: str) -> tuple[Column, str | None]:
    """The lookup column a navigation property writes and the target it names (polymorphic ones only)."""
    column = table.columns.get(navigation)
    if column is not None and column.is_lookup:
        return column, None
    for name in sorted(table.columns, key=len, reverse=True):
        candidate = table.columns[name]
        if candidate.is_lookup and navigation.startswith(name + "_"):
            target = navigation[len(name) + 1:].split("_")[0]
            if target in candidate.targets:
                return candidate, target
    raise ApiError(400, PAYLOAD, f"An undeclared property '{navigation}' which only has property annotations in "
                                 "the payload but no property value was found in the payload.")
