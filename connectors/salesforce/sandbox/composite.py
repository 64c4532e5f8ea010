"""sObject Collections (composite/sobjects) and Tooling API custom fields."""
from __future__ import annotations

import re
from typing import Any, Callable

from flask import g, jsonify, request

from .api import ApiError, access, json_body, rest_blueprint, sandbox
from .ids import make_id
from .records import RecordError
from .schema import OBJECTS, Field, canonical_object, label_for

bp = rest_blueprint("salesforce_composite")
MAX_COLLECTION = 200
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}
# Tooling metadata type → the describe type of the new field
CUSTOM_TYPES = {"Number": "double", "Currency": "currency", "Percent": "percent", "Text": "string",
                "TextArea": "textarea", "LongTextArea": "textarea", "DateTime": "datetime", "Date": "date",
                "Checkbox": "boolean"}
OBJECT_BY_PREFIX = {prefix: name for name, (prefix, _spec) in OBJECTS.items()}
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")


class _Rollback(Exception):
    """Raised inside the transaction to undo an allOrNone batch."""


def _apply(items: list[Any], operation: Callable[[Any], str], all_or_none: bool) -> list[dict]:
    """Run one operation per item; results in order, with allOrNone semantics."""
    store = sandbox().store
    results: list[dict] = []

    def attempt(item: Any) -> dict:
        try:
            return {"id": operation(item), "success": True, "errors": []}
        except RecordError as error:
            return {"success": False, "errors": [error.as_dict()]}

    if not all_or_none:
        for item in items:
            try:
                with store.transaction():
                    result = attempt(item)
                    if not result["success"]:
                        raise _Rollback
            except _Rollback:
                pass
            results.append(result)
        return results
    try:
        with store.transaction():
            results = [attempt(item) for item in items]
            if not all(r["success"] for r in results):
                raise _Rollback
    except _Rollback:
        results = [r if not r["success"] else {"success": False, "errors": [dict(ROLLED_BACK)]} for r in results]
    return results


def _record_type(record: Any) -> str:
    if not isinstance(record, dict):
        raise RecordError("JSON_PARSER_ERROR", "Each record must be a JSON object.")
    declared = (record.get("attributes") or {}).get("type", "")
    name = canonical_object(declared) if declared else None
    if name is None:
        raise RecordError("INVALID_TYPE", f"sObject type '{declared}' is not supported; give each record "
                          "attributes.type.")
    return name


@bp.route("/composite/sobjects/", methods=["POST", "PATCH"], strict_slashes=False)
def collection_write():
    """Create (POST) or update (PATCH) up to 200 records in one call."""
    body = json_body()
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", 'Send {"allOrNone": false, "records": [...]}.')
    if len(records) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                       "into this call")
    writer, user_id, user = sandbox().writer, g.user_id, access()

    def create(record: Any) -> str:
        if isinstance(record, dict) and record.get("Id"):
            raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return writer.create(_record_type(record), record, actor_id=user_id, access=user)

    def update(record: Any) -> str:
        object_name = _record_type(record)
        if not record.get("Id"):
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return writer.update(object_name, record["Id"], record, actor_id=user_id, access=user)

    operation = create if request.method == "POST" else update
    return jsonify(_apply(records, operation, bool(body.get("allOrNone"))))


@bp.route("/composite/sobjects/", methods=["DELETE"], strict_slashes=False)
def collection_delete():
    """Soft-delete up to 200 records: ?ids=a,b&allOrNone=false."""
    ids = [i for i in request.args.get("ids", "").split(",") if i]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "Pass the record ids in the ids parameter.")
    if len(ids) > MAX_COLLECTION:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                       "into this call")
    box, user_id = sandbox(), g.user_id

    def delete(record_id: str) -> str:
        object_name = OBJECT_BY_PREFIX.get(record_id[:3])
        if object_name is None:
            raise RecordError("MALFORMED_ID", f"invalid id: {record_id}", ["Id"])
        return box.writer.delete(object_name, record_id, actor_id=user_id)

    all_or_none = request.args.get("allOrNone", "false").lower() == "true"
    return jsonify(_apply(ids, delete, all_or_none))


def _custom_field(full_name: str, metadata: dict) -> tuple[str, Field]:
    object_part, _, field_name = full_name.partition(".")
    object_name = canonical_object(object_part)
    if object_name is None:
        raise ApiError(400, "INVALID_TYPE", f"Cannot add a field to '{object_part}': no such object.")
    if not _CUSTOM_NAME.match(field_name) or "__" in field_name[:-3]:
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"'{field_name}' is not a valid custom field name: use "
                       "letters, digits and single underscores, ending in __c.")
    kind = CUSTOM_TYPES.get(metadata.get("type", ""))
    if kind is None:
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Field type '{metadata.get('type')}' is not supported "
                       f"here; use one of {', '.join(CUSTOM_TYPES)}.")
    length = metadata.get("length")
    if kind == "string":
        length = int(length or 255)
        if not 1 <= length <= 255:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", "Text fields take a length between 1 and 255.")
    elif kind == "textarea":
        length = int(length or (255 if metadata["type"] == "TextArea" else 32768))
    numeric = kind in ("double", "currency", "percent")
    field = Field(field_name, kind, metadata.get("label") or label_for(field_name), custom=True,
                  length=length if kind in ("string", "textarea") else None,
                  precision=int(metadata.get("precision") or 18) if numeric else None,
                  scale=int(metadata.get("scale") or 0) if numeric else None)
    return object_name, field


@bp.route("/tooling/sobjects/CustomField/", methods=["POST"], strict_slashes=False)
def create_custom_field():
    """Provision a custom field: {FullName: "Lead.X__c", Metadata: {type, label, ...}} → 201."""
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("FullName"), str) or \
            not isinstance(body.get("Metadata"), dict):
        raise ApiError(400, "JSON_PARSER_ERROR", 'Send {"FullName": "Lead.Name__c", "Metadata": {"type": ..., '
                       '"label": ...}}.')
    object_name, field = _custom_field(body["FullName"], body["Metadata"])
    store = sandbox().store
    if store.field(object_name, field.name) is not None:
        raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {field.name[:-3]} on "
                       f"{object_name}.")
    field_id = make_id("00N", store.allocate("00N"))
    store.add_custom_field(object_name, field, field_id)
    return jsonify({"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}), 201
