"""Writing to HubSpot: batch updates of Pipewise's properties, and creating those properties."""
from __future__ import annotations

from typing import Any

from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

from connectors.base import WritableField
from connectors.client_base import create_missing
from connectors.client_protocol import WriteResult
from connectors.errors import Fatal
from connectors.hubspot.provider import PROPERTY_GROUP, PROPERTY_GROUP_LABEL
from connectors.hubspot.sdk import Call

PROPERTY_TYPES = {"number": ("number", "number"), "text": ("string", "text"),
                  "textarea": ("string", "textarea"), "datetime": ("datetime", "date")}


def update_batch(call: Call, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
    """One batch update (at most 100, the client's guard): a result per update, in order, from the 200/207 answer."""
    if not updates:
        return []
    inputs = [SimplePublicObjectBatchInput(id=str(u["Id"]), properties={
        k: "" if v is None else str(v) for k, v in u.items() if k != "Id"}) for u in updates]
    body = BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    answer = call("batch", lambda api, timeout: api.update(
        remote_name, body, _preload_content=False, _request_timeout=timeout)) or {}
    failed: dict[str, tuple[str | None, str | None]] = {}
    for error in answer.get("errors") or []:
        context = error.get("context") or {}
        for record_id in context.get("ids") or context.get("id") or []:
            failed[str(record_id)] = (error.get("category") or error.get("subCategory"), error.get("message"))
    written = {str(r.get("id")) for r in answer.get("results") or []}
    results = []
    for update in updates:
        record_id = str(update["Id"])
        if record_id in failed:
            results.append(WriteResult(record_id, False, *failed[record_id]))
        elif record_id in written:
            results.append(WriteResult(record_id, True))
        else:
            results.append(WriteResult(record_id, False, "MISSING_FROM_ANSWER",
                                       "HubSpot's answer did not mention this record; it is retried next run."))
    return results


def ensure_properties(call: Call, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
    """Create the "pipewise" property group and the missing properties; the names created."""
    group = {"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL}
    try:
        call("groups", lambda api, timeout: api.create(remote_name, group, _preload_content=False,
                                                       _request_timeout=timeout))
    except Fatal as exc:
        if exc.code != "CONFLICT":
            raise
    answer = call("properties", lambda api, timeout: api.get_all(remote_name, _preload_content=False,
                                                                 _request_timeout=timeout)) or {}
    existing = {p.get("name") for p in answer.get("results") or []}

    def create(writable: WritableField) -> None:
        kind, field_type = PROPERTY_TYPES[writable.type]
        prop = {"name": writable.remote_name, "label": writable.label, "type": kind,
                "fieldType": field_type, "groupName": PROPERTY_GROUP,
                "description": "Written by Pipewise; changes made in HubSpot are overwritten."}
        call("properties", lambda api, timeout: api.create(remote_name, prop, _preload_content=False,
                                                           _request_timeout=timeout))

    return create_missing(fields, existing, create, "CONFLICT")
