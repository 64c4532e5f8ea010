"""One row: retrieve, create (POST), update or upsert (PATCH), delete.

Sources: webapi/create-entity-web-api.md (204 with OData-EntityId; 201 with Prefer: return=representation),
webapi/update-delete-entities-using-web-api.md (PATCH upserts; If-Match: * prevents a create,
If-None-Match: * prevents an update; 404 for a missing row on delete), use-alternate-key-reference-record.md.
"""
from __future__ import annotations

from flask import Response, jsonify, request

from . import registrations
from .api import PAYLOAD, ApiError, not_found, parse_guid, preferences, sandbox, service_root
from .collection import parse_select
from .schema import NAMESPACE, Table
from .values import Annotations, parse_body, to_wire

def record_id(table: Table, key: str) -> str:
    """The primary key in `(guid)`; alternate keys are refused as the platform refuses undefined ones."""
    if "=" in key:
        raise ApiError(400, PAYLOAD, f"The key in the request URI is not valid for resource "
                                     f"'{NAMESPACE}.{table.logical}'. Ensure that the names and number of key "
                                     "properties match the declared or alternate key properties for the resource.")
    return parse_guid(key)


def resolve(entity_set: str, key: str) -> tuple[str, str]:
    """(table, id) of a record referenced by `<entity set>(<key>)` in an @odata.bind; it must exist."""
    box = sandbox()
    table = box.table_for_set(entity_set)
    if table is None:
        raise ApiError(400, PAYLOAD, f"Resource not found for the segment '{entity_set}'.")
    found = record_id(table, key)
    if box.store.get(table.logical, found) is None:
        raise not_found(table.logical, found)
    return table.logical, found


def entity_url(table: Table, rid: str) -> str:
    return f"{service_root()}/{table.entity_set}({rid})"


def _representation(table: Table, rid: str, status: int):
    box = sandbox()
    select = parse_select(table)
    body = {"@odata.context": f"{service_root()}/$metadata#{table.entity_set}"
                              f"{'(' + ','.join(select) + ')' if select else ''}/$entity"}
    body.update(to_wire(table, box.store.get(table.logical, rid), select,
                        Annotations(preferences().get("odata.include-annotations")), box.name_of))
    response = jsonify(body)
    response.status_code = status
    response.headers["OData-EntityId"] = entity_url(table, rid)
    response.headers["Preference-Applied"] = "return=representation"
    return response


def _written(table: Table, rid: str, status: int):
    """204 with OData-EntityId, or the row itself when the client sent Prefer: return=representation."""
    if preferences().get("return") == "representation":
        return _representation(table, rid, status)
    response = Response(status=204)
    response.headers["OData-EntityId"] = entity_url(table, rid)
    response.headers["OData-Version"] = "4.0"
    return response


def retrieve(table: Table, key: str):
    rid = record_id(table, key)
    if sandbox().store.get(table.logical, rid) is None:
        raise not_found(table.logical, rid)
    return _representation(table, rid, 200)


def create(table: Table):
    box = sandbox()
    values = parse_body(table, request.get_json(silent=True), True, resolve)
    registrations.check(box, table.logical, values)
    return _written(table, box.writer.create(table, values, box.caller()), 201)


def update(table: Table, key: str):
    box = sandbox()
    rid = record_id(table, key)
    exists = box.store.get(table.logical, rid) is not None
    if request.headers.get("If-Match") == "*" and not exists:
        raise not_found(table.logical, rid)
    if request.headers.get("If-None-Match") == "*" and exists:
        raise ApiError(412, "0x80040237", "A record with matching key values already exists.")
    if_match = request.headers.get("If-Match")
    if if_match and if_match != "*" and exists:
        current = f'W/"{box.store.get(table.logical, rid)["versionnumber"]}"'
        if if_match != current:
            raise ApiError(412, "0x80060882", "The version of the existing record doesn't match the RowVersion "
                                              "property provided.")
    values = parse_body(table, request.get_json(silent=True), not exists, resolve)
    registrations.check(box, table.logical, {**(box.store.get(table.logical, rid) or {}), **values})
    box.writer.upsert(table, rid, values, box.caller())
    return _written(table, rid, 200)


def delete(table: Table, key: str):
    box = sandbox()
    rid = record_id(table, key)
    box.writer.delete(table, rid, box.caller())
    return Response(status=204, headers={"OData-Version": "4.0"})


def table_named(entity_set: str) -> Table:
    table = sandbox().table_for_set(entity_set)
    if table is None:
        raise ApiError(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
    return table

