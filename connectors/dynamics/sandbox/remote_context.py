"""The RemoteExecutionContext JSON a webhook step posts, in the shape of use-webhooks.md's example.

The body is the DataContract JSON of Microsoft.Xrm.Sdk.RemoteExecutionContext: InputParameters and the images
are key/value lists; the Target is an Entity whose Attributes are key/value pairs, lookups are EntityReference,
choices OptionSetValue, money Money, dates "/Date(milliseconds)/". Above 256 KB the platform drops
ParentContext, InputParameters, PreEntityImages and PostEntityImages and sends x-ms-dynamics-msg-size-exceeded.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from connectors.sandbox_kit.clock import parse_iso_utc

from .schema import Table

CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
SIZE_LIMIT = 256 * 1024
TRIMMED = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")


def _date(value: str) -> str:
    moment = parse_iso_utc(value if "T" in value else value + "T00:00:00Z").replace(tzinfo=timezone.utc)
    return f"/Date({int(moment.timestamp() * 1000)})/"


def _reference(logical: str, record_id: str, name: str | None = None) -> dict[str, Any]:
    return {"__type": f"EntityReference:{CONTRACTS}", "Id": record_id, "KeyAttributes": [], "LogicalName": logical,
            "Name": name, "RowVersion": None}


def sdk_value(table: Table, name: str, value: Any) -> Any:
    """A column value as the SDK serializes it inside an Entity."""
    column = table.columns.get(name)
    if value is None or column is None:
        return value
    if column.is_lookup:
        return _reference(value["table"], value["id"])
    if column.type in ("Picklist", "State", "Status"):
        return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": value}
    if column.type == "Money":
        return {"__type": f"Money:{CONTRACTS}", "Value": value}
    if column.type == "DateTime":
        return _date(value)
    return value


def build(event: dict[str, Any], step: dict[str, Any], org: dict[str, str]) -> dict[str, Any]:
    """The context of one step run for event {message, table, id, attributes, user, correlation, at}."""
    table: Table = event["table"]
    message = event["message"]
    if message == "Delete":
        target: dict[str, Any] = _reference(table.logical, event["id"])
    else:
        target = {"__type": f"Entity:{CONTRACTS}",
                  "Attributes": [{"key": k, "value": sdk_value(table, k, v)} for k, v in event["attributes"].items()
                                 if k != "versionnumber" and not (table.columns.get(k) and
                                                                  table.columns[k].write_only)],
                  "EntityState": None, "FormattedValues": [], "Id": event["id"], "KeyAttributes": [],
                  "LogicalName": table.logical, "RelatedEntities": [], "RowVersion": None}
    created = datetime.fromtimestamp(event["at"], timezone.utc)
    common = {"BusinessUnitId": org["business_unit_id"], "CorrelationId": event["correlation"], "Depth": 1,
              "InitiatingUserId": event["user"], "InputParameters": [{"key": "Target", "value": target}],
              "IsExecutingOffline": False, "IsInTransaction": False, "IsOfflinePlayback": False,
              "IsolationMode": 1, "MessageName": message, "Mode": 1,
              "OperationCreatedOn": f"/Date({int(created.timestamp() * 1000)}+0000)/",
              "OperationId": event["operation"], "OrganizationId": org["organization_id"],
              "OrganizationName": org["organization_name"],
              "OutputParameters": [{"key": "id", "value": event["id"]}] if message == "Create" else [],
              "OwningExtension": {"Id": step["id"], "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
                                  "Name": step["name"], "RowVersion": None}}
    parent = {**common, "ParentContext": None, "PostEntityImages": [], "PreEntityImages": [],
              "PrimaryEntityId": event["id"], "PrimaryEntityName": table.logical, "RequestId": None,
              "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 30, "UserId": event["user"]}
    return {**common, "ParentContext": parent, "PostEntityImages": [], "PreEntityImages": [],
            "PrimaryEntityId": event["id"], "PrimaryEntityName": table.logical, "RequestId": None,
            "SecondaryEntityName": "none", "SharedVariables": [], "Stage": step["stage"], "UserId": event["user"]}


def serialize(context: dict[str, Any]) -> tuple[bytes, bool]:
    """The body to send and whether it was trimmed for size."""
    body = json.dumps(context).encode()
    if len(body) <= SIZE_LIMIT:
        return body, False
    trimmed = {k: v for k, v in context.items() if k not in TRIMMED}
    return json.dumps(trimmed).encode(), True


def new_event(message: str, table: Table, record_id: str, attributes: dict, user: str, at: float) -> dict[str, Any]:
    return {"message": message, "table": table, "id": record_id, "attributes": attributes, "user": user,
            "correlation": str(uuid.uuid4()), "operation": str(uuid.uuid4()), "at": at}
