"""Table and column definitions: EntityDefinitions reads, column creation, and switching change tracking on.

Sources: webapi/query-metadata-web-api.md (EntityDefinitions, Attributes, $select/$filter on them, complex
properties such as CanChangeTrackingBeEnabled/Value), webapi/create-update-column-definitions-using-web-api.md
(POST EntityDefinitions(LogicalName='account')/Attributes with @odata.type, SchemaName with the publisher's
customization prefix, DisplayName labels, RequiredLevel; 204 with OData-EntityId; header
MSCRM.SolutionUniqueName), use-change-tracking-synchronize-data-external-systems.md (ChangeTrackingEnabled;
once on it can't be turned off).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, jsonify, request

from .api import DUPLICATE, INVALID_ARGUMENT, PAYLOAD, ApiError, sandbox, service_root
from .odata_filter import Filter
from .schema import CREATABLE_TYPES, METADATA_TYPE, Column, Table

METADATA_NS = uuid.UUID("0f6f6c3e-52b3-4d7a-9a37-6a2e8f1d5c44")
ENTITY_KEY = re.compile(r"^EntityDefinitions\((?:LogicalName='(\w+)'|([0-9a-fA-F-]{36}))\)")
ATTRIBUTE_KEY = re.compile(r"^Attributes\((?:LogicalName='(\w+)'|([0-9a-fA-F-]{36}))\)$")
MAX_STRING = 4000
MAX_MEMO = 1048576


def _label(text: str) -> dict[str, Any]:
    label = {"Label": text, "LanguageCode": 1033, "IsManaged": False, "MetadataId": str(uuid.uuid5(METADATA_NS, text)),
             "HasChanged": None}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": label}


def metadata_id(*names: str) -> str:
    return str(uuid.uuid5(METADATA_NS, "/".join(names)))


def entity_metadata(box, table: Table) -> dict[str, Any]:
    title = table.logical.capitalize()
    return {"MetadataId": metadata_id(table.logical), "LogicalName": table.logical, "SchemaName": title,
            "EntitySetName": table.entity_set, "PrimaryIdAttribute": table.pk,
            "PrimaryNameAttribute": table.primary_name, "ObjectTypeCode": table.otc,
            "IsActivity": table.activity, "IsCustomEntity": table.custom,
            "ChangeTrackingEnabled": box.tracking_enabled(table.logical),
            "CanChangeTrackingBeEnabled": {"Value": table.can_track, "CanBeChanged": False,
                                           "ManagedPropertyLogicalName": "canchangetrackingbeenabled"},
            "DisplayName": _label(title)}


def attribute_metadata(table: Table, column: Column) -> dict[str, Any]:
    kind = METADATA_TYPE[column.type]
    body: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{kind}", "MetadataId": metadata_id(table.logical, column.name),
        "LogicalName": column.name, "SchemaName": column.schema_name or column.name, "EntityLogicalName": table.logical,
        "AttributeType": column.type, "AttributeTypeName": {"Value": f"{column.type}Type"},
        "IsCustomAttribute": column.custom, "IsValidForCreate": column.create, "IsValidForUpdate": column.update,
        "IsValidForRead": not column.write_only, "IsPrimaryId": column.name == table.pk,
        "IsPrimaryName": column.name == table.primary_name,
        "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        "DisplayName": _label(column.display_name or column.name)}
    if column.max_length:
        body["MaxLength"] = column.max_length
    if column.is_lookup:
        body["Targets"] = list(column.targets)
    if column.type == "DateTime":
        body["Format"] = "DateOnly" if column.date_only else "DateAndTime"
    return body


def _select(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = request.args.get("$select")
    if not text:
        return items
    names = [n.strip() for n in text.split(",")]
    keep = {"MetadataId", "@odata.type"}
    return [{k: v for k, v in item.items() if k in names or k in keep} for item in items]


def _filtered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not request.args.get("$filter"):
        return items
    condition = Filter(request.args["$filter"])

    def get_from(item):
        def get(path: str) -> Any:
            value: Any = item
            for step in path.split("/"):
                value = value.get(step) if isinstance(value, dict) else None
            return value
        return get
    return [item for item in items if condition.matches(get_from(item))]


def _table(box, logical: str | None, guid: str | None) -> Table:
    for table in box.tables.values():
        if table.logical == logical or (guid and metadata_id(table.logical) == guid.lower()):
            return table
    raise ApiError(404, "0x80040217", f"Could not find an entity with name {logical or guid}.")


def handle(path: str):
    """Everything under EntityDefinitions."""
    box = sandbox()
    root = f"{service_root()}/$metadata#EntityDefinitions"
    if path == "EntityDefinitions":
        items = _select(_filtered([entity_metadata(box, t) for t in box.tables.values()]))
        return jsonify({"@odata.context": root, "value": items})
    match = ENTITY_KEY.match(path)
    if not match:
        raise ApiError(404, INVALID_ARGUMENT, f"Resource not found for the segment '{path}'.")
    table = _table(box, match.group(1), match.group(2))
    rest = path[match.end():].lstrip("/")
    if not rest:
        if request.method == "PUT":
            return _update_entity(box, table)
        return jsonify({"@odata.context": f"{root}/$entity", **_select([entity_metadata(box, table)])[0]})
    if rest == "Attributes":
        if request.method == "POST":
            return _create_attribute(box, table)
        items = _select(_filtered([attribute_metadata(table, c) for c in table.columns.values()]))
        return jsonify({"@odata.context": f"{root}('{table.logical}')/Attributes", "value": items})
    attribute = ATTRIBUTE_KEY.match(rest)
    if attribute:
        for column in table.columns.values():
            if column.name == attribute.group(1) or metadata_id(table.logical, column.name) == attribute.group(2):
                return jsonify(attribute_metadata(table, column))
        raise ApiError(404, "0x80040217", f"Could not find an attribute {attribute.group(1) or attribute.group(2)} "
                                          f"on entity {table.logical}.")
    raise ApiError(404, INVALID_ARGUMENT, f"Resource not found for the segment '{rest}'.")


def _update_entity(box, table: Table):
    body = request.get_json(silent=True) or {}
    wanted = body.get("ChangeTrackingEnabled")
    if wanted is True:
        if not table.can_track:
            raise ApiError(400, INVALID_ARGUMENT, f"Change tracking can't be enabled for the entity {table.logical}.")
        box.enable_tracking(table.logical)
    elif wanted is False and box.tracking_enabled(table.logical):
        raise ApiError(400, INVALID_ARGUMENT, "Once change tracking has been enabled for a table, it can't be "
                                              "disabled.")
    return Response(status=204, headers={"OData-Version": "4.0"})


def _create_attribute(box, table: Table):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, PAYLOAD, "The request body must be an attribute definition.")
    kind = str(body.get("@odata.type", "")).lstrip("#").replace("Microsoft.Dynamics.CRM.", "")
    if kind not in CREATABLE_TYPES:
        raise ApiError(400, PAYLOAD, f"'@odata.type' must be one of {', '.join(sorted(CREATABLE_TYPES))} "
                                     "(as Microsoft.Dynamics.CRM.<type>).")
    schema_name = str(body.get("SchemaName") or "")
    prefix, _, rest = schema_name.partition("_")
    allowed = box.customization_prefixes(request.headers.get("MSCRM.SolutionUniqueName"))
    if not rest or not re.match(r"^[A-Za-z]\w*$", schema_name) or prefix.lower() not in allowed:
        raise ApiError(400, INVALID_ARGUMENT,
                       f"The SchemaName '{schema_name}' must start with the customization prefix of the solution's "
                       f"publisher and an underscore ({', '.join(p + '_' for p in sorted(allowed))}).")
    labels = (body.get("DisplayName") or {}).get("LocalizedLabels") or []
    if not labels or not all(isinstance(l, dict) and l.get("Label") for l in labels):
        raise ApiError(400, PAYLOAD, "DisplayName needs at least one LocalizedLabels entry with a Label and a "
                                     "LanguageCode.")
    logical = schema_name.lower()
    if logical in table.columns:
        raise ApiError(400, DUPLICATE, f"An attribute named {logical} already exists on the entity {table.logical}.")
    attribute_type = CREATABLE_TYPES[kind]
    max_length = None
    if attribute_type in ("String", "Memo"):
        limit = MAX_STRING if attribute_type == "String" else MAX_MEMO
        max_length = body.get("MaxLength", 100 if attribute_type == "String" else 2000)
        if not isinstance(max_length, int) or not 1 <= max_length <= limit:
            raise ApiError(400, PAYLOAD, f"MaxLength must be a whole number from 1 to {limit}.")
    column = Column(logical, attribute_type, max_length=max_length, custom=True, schema_name=schema_name,
                    display_name=labels[0]["Label"],
                    date_only=attribute_type == "DateTime" and body.get("Format") == "DateOnly",
                    options={int(o["Value"]): (o.get("Label") or {}).get("LocalizedLabels", [{}])[0].get("Label", "")
                             for o in (body.get("OptionSet") or {}).get("Options", [])} if kind ==
                    "PicklistAttributeMetadata" else {})
    box.add_column(table, column)
    response = Response(status=204, headers={"OData-Version": "4.0"})
    response.headers["OData-EntityId"] = (f"{service_root()}/EntityDefinitions(LogicalName='{table.logical}')/"
                                          f"Attributes({metadata_id(table.logical, logical)})")
    return response
