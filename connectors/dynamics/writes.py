"""Writing Pipewise's columns: UpdateMultiple, the $batch fallback with per-record answers, column creation.

Sources: bulk-operations.md and webapi/reference/updatemultiple.md (Targets with @odata.type, all or nothing),
execute-batch-operations-using-web-api.md (multipart/mixed, Prefer: odata.continue-on-error),
create-update-column-definitions.md (POST EntityDefinitions(LogicalName='…')/Attributes), publisher.md.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from connectors.base import WritableField
from connectors.client_protocol import WriteResult
from connectors.errors import Fatal

NAMESPACE = "Microsoft.Dynamics.CRM"
DUPLICATE = "0x80040237"  # DuplicateRecord: the column exists already
PRIMARY_KEYS = {"lead": "leadid", "opportunity": "opportunityid"}
ENTITY_SETS = {"lead": "leads", "opportunity": "opportunities"}
PUBLISHER = {"uniquename": "pipewise", "friendlyname": "Pipewise", "customizationprefix": "pw",
             "customizationoptionvalueprefix": 72_700}
METADATA_TYPES = {"number": "DecimalAttributeMetadata", "text": "StringAttributeMetadata",
                  "textarea": "MemoAttributeMetadata", "datetime": "DateTimeAttributeMetadata"}
STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3})", re.M)


def _target(logical: str, update: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in update.items() if k != "Id"}
    return {"@odata.type": f"{NAMESPACE}.{logical}", PRIMARY_KEYS[logical]: update["Id"], **values}


def update(client, logical: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
    """One UpdateMultiple call; a refused set is retried record by record in one $batch."""
    if not updates:
        return []
    try:
        client._call("POST", f"{ENTITY_SETS[logical]}/{NAMESPACE}.UpdateMultiple",
                     json={"Targets": [_target(logical, u) for u in updates]})
    except Fatal as exc:
        if exc.status != 400:
            raise
        return _batch(client, logical, updates)
    return [WriteResult(remote_id=u["Id"], ok=True) for u in updates]


def _batch(client, logical: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
    """A PATCH per record in one $batch that goes on past failures: each record's own answer."""
    boundary = f"batch_{uuid.uuid4()}"
    parts = []
    for u in updates:
        body = json.dumps({k: v for k, v in u.items() if k != "Id"})
        parts.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                     f"PATCH {client.service_root}/{ENTITY_SETS[logical]}({u['Id']}) HTTP/1.1\r\n"
                     f"Content-Type: application/json\r\nIf-Match: *\r\n\r\n{body}\r\n")
    payload = "".join(parts) + f"--{boundary}--\r\n"
    response = client._call("POST", "$batch", data=payload.encode(), headers={
        "Content-Type": f"multipart/mixed; boundary={boundary}", "Prefer": "odata.continue-on-error"})
    answers = _answers(response.text)
    if len(answers) != len(updates):
        raise Fatal(f"Dynamics 365's $batch answer had {len(answers)} parts for {len(updates)} updates; "
                    "run the writeback again.")
    results = []
    for u, (status, error) in zip(updates, answers):
        ok = status < 300
        results.append(WriteResult(remote_id=u["Id"], ok=ok, error_code=None if ok else error.get("code"),
                                   message=None if ok else error.get("message"),
                                   permanent=status == 404))
    return results


def _answers(text: str) -> list[tuple[int, dict[str, Any]]]:
    """Each part's status and error body, in order."""
    matches = list(STATUS_LINE.finditer(text))
    found = []
    for index, match in enumerate(matches):
        part = text[match.end():matches[index + 1].start() if index + 1 < len(matches) else len(text)]
        error: dict[str, Any] = {}
        if "{" in part:
            try:
                error = json.JSONDecoder().raw_decode(part[part.index("{"):])[0].get("error") or {}
            except (ValueError, AttributeError):
                error = {}
        found.append((int(match.group(1)), error))
    return found


def ensure_publisher(client) -> None:
    """The publisher whose prefix Pipewise's columns carry; created once per environment."""
    prefix = PUBLISHER["customizationprefix"]
    found = client.get_json(f"publishers?$select=publisherid&$filter=customizationprefix eq '{prefix}'")
    if not found.get("value"):
        client._call("POST", "publishers", json=PUBLISHER)


def create_column(client, logical: str, field: WritableField) -> None:
    """POST the column's definition; Pipewise's publisher prefix is on its schema name."""
    kind = METADATA_TYPES[field.type]
    body: dict[str, Any] = {
        "@odata.type": f"{NAMESPACE}.{kind}", "SchemaName": field.remote_name,
        "DisplayName": {"@odata.type": f"{NAMESPACE}.Label", "LocalizedLabels": [
            {"@odata.type": f"{NAMESPACE}.LocalizedLabel", "Label": field.label, "LanguageCode": 1033}]},
        "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}}
    if field.type == "text":
        body["MaxLength"] = 200
    elif field.type == "textarea":
        body["MaxLength"] = 4000
    elif field.type == "number":
        body.update({"Precision": 2, "MinValue": -100000000000.0, "MaxValue": 100000000000.0})
    elif field.type == "datetime":
        body["Format"] = "DateAndTime"
    client._call("POST", f"EntityDefinitions(LogicalName='{logical}')/Attributes", json=body)
