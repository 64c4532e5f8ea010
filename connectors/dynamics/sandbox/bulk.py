"""The bulk messages CreateMultiple, UpdateMultiple and UpsertMultiple, bound to an entity set.

Sources: bulk-operations.md and webapi/reference/updatemultiple.md / upsertmultiple.md: POST
`<entity set>/Microsoft.Dynamics.CRM.UpdateMultiple` with {"Targets": [...]}, "@odata.type" required on every
item, 204 No Content, and the whole request rolled back when any item fails. CreateMultiple answers
{"Ids": [...]} (CreateMultipleResponse). Standard tables have no fixed item cap (message size and time limits
apply); the knob bulk_max_targets lets tests give the environment one.
"""
from __future__ import annotations

from flask import Response, jsonify, request

from .api import PAYLOAD, ApiError, parse_guid, sandbox, service_root
from .entity import resolve
from .schema import NAMESPACE, Table
from .values import parse_body

MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


def _targets(table: Table) -> list[dict]:
    body = request.get_json(silent=True)
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise ApiError(400, PAYLOAD, "The Targets parameter must be a non-empty array of records.")
    limit = sandbox().faults.knobs.bulk_max_targets
    if limit and len(targets) > limit:
        raise ApiError(400, PAYLOAD, f"The Targets parameter has {len(targets)} records; this environment accepts "
                                     f"at most {limit} per request. Send smaller batches.")
    expected = f"{NAMESPACE}.{table.logical}"
    for index, target in enumerate(targets):
        if not isinstance(target, dict) or target.get("@odata.type") != expected:
            raise ApiError(400, PAYLOAD, f"Targets[{index}] has no '@odata.type' of '{expected}': the annotation is "
                                         "required on every item.")
    return targets


def run(table: Table, message: str):
    """One bulk message; every item succeeds or none is kept."""
    box = sandbox()
    targets = _targets(table)
    user = box.caller()
    ids = []
    with box.store.transaction():
        for target in targets:
            if "@odata.id" in target:
                raise ApiError(400, PAYLOAD, f"The key in '{target['@odata.id']}' is not valid for resource "
                                             f"'{NAMESPACE}.{table.logical}': this table has no alternate key.")
            key = target.get(table.pk)
            if message == "UpdateMultiple":
                if not key:
                    raise ApiError(400, PAYLOAD, f"Every target of UpdateMultiple needs its {table.pk}.")
                rid = parse_guid(str(key))
                box.writer.update(table, rid, parse_body(table, target, False, resolve), user)
            elif message == "UpsertMultiple" and key:
                rid = parse_guid(str(key))
                creating = box.store.get(table.logical, rid) is None
                box.writer.upsert(table, rid, parse_body(table, target, creating, resolve), user)
            else:
                rid = box.writer.create(table, parse_body(table, target, True, resolve), user)
            ids.append(rid)
    if message == "CreateMultiple":
        return jsonify({"@odata.context": f"{service_root()}/$metadata#{NAMESPACE}.CreateMultipleResponse",
                        "Ids": ids})
    return Response(status=204, headers={"OData-Version": "4.0"})
