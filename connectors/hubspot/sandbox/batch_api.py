"""CRM objects v3 batch endpoints: read, create, update, upsert, archive (≤100 inputs; 207 per-input errors)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import jsonify

from .api import ApiError, api_blueprint, json_body, object_type, sandbox, source
from .clock import iso
from .objects_api import add_associations, all_names, flag, render, writable
from .records import RecordError
from .schema import OBJECT_TYPES
from .views import split_names

bp = api_blueprint("hubspot_batch", "/crm/v3/objects")
MAX_INPUTS = 100


def _inputs(body: Any) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or any(not isinstance(i, dict) for i in inputs):
        raise ApiError(400, "VALIDATION_ERROR", "The body needs inputs: a list of objects.")
    if len(inputs) > MAX_INPUTS:
        raise ApiError(400, "VALIDATION_ERROR", f"Batch input limit exceeded: {len(inputs)} inputs were sent and "
                       f"at most {MAX_INPUTS} are allowed per request. Split the batch.")
    return inputs


def _error(category: str, message: str, ids: list[str]) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": {"ids": ids},
            "errors": [], "links": {}}


def _answer(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, ok_status: int = 200):
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": iso(sandbox().clock.now())}
    if errors:
        body["numErrors"] = sum(len(e["context"]["ids"]) for e in errors)
        body["errors"] = errors
        return jsonify(body), 207
    return jsonify(body), ok_status


def _not_found(kind: str, ids: list[str]) -> dict[str, Any]:
    return _error("OBJECT_NOT_FOUND", f"Could not get some {OBJECT_TYPES[kind][1].upper()} objects, they may be "
                  "deleted or not exist. Check that ids are valid.", ids)


def _lookup(kind: str, key: str, id_property: str | None, archived: bool = False) -> dict[str, Any] | None:
    box = sandbox()
    if id_property and id_property != "hs_object_id":
        record = box.store.find_by_property(kind, id_property, key)
    else:
        record = box.store.get(kind, key)
    return record if record is not None and record["archived"] == archived else None


def _check_id_property(kind: str, id_property: str | None) -> None:
    if id_property and id_property != "hs_object_id":
        prop = sandbox().registry.get(kind, id_property)
        if prop is None or not prop.unique:
            raise ApiError(400, "VALIDATION_ERROR", f"{id_property} is not a unique property of {kind}.")


@bp.post("/<object_name>/batch/read")
def batch_read(object_name: str):
    """Records by id (or a unique idProperty); missing ones are 207 OBJECT_NOT_FOUND errors."""
    kind = object_type(object_name)
    started = iso(sandbox().clock.now())
    body = json_body()
    id_property = body.get("idProperty")
    _check_id_property(kind, id_property)
    found, missing = [], []
    for item in _inputs(body):
        record = _lookup(kind, str(item.get("id", "")), id_property, flag("archived"))
        if record is None:
            missing.append(str(item.get("id", "")))
        elif all(r["id"] != record["id"] for r in found):
            found.append(record)
    results = render(found, split_names(body.get("properties")), split_names(body.get("propertiesWithHistory")))
    return _answer(results, [_not_found(kind, missing)] if missing else [], started)


@bp.post("/<object_name>/batch/create")
def batch_create(object_name: str):
    """Create every input or none (201); one invalid input fails the batch, as in HubSpot."""
    kind = writable(object_type(object_name))
    box = sandbox()
    started = iso(box.clock.now())
    inputs = _inputs(json_body())
    change_source, source_id = source()
    records = []
    try:
        with box.store.transaction():
            for item in inputs:
                record = box.writer.create(kind, item.get("properties") or {}, change_source, source_id)
                add_associations(kind, record["id"], item.get("associations"))
                records.append(record)
    except RecordError as error:
        raise ApiError.from_record_error(error) from None
    names = all_names(kind)
    return _answer([render([r], [n for n in names if n in r["props"]])[0] for r in records], [], started, 201)


def _write_each(kind: str, items: list[tuple[dict[str, Any], dict[str, Any]]]):
    """Update (record, properties) pairs; the reject knob fails single inputs (207)."""
    box = sandbox()
    change_source, source_id = source()
    results, refused = [], defaultdict(list)
    for record, properties in items:
        hit = box.faults.rejects(str(record["id"]))
        if hit:
            refused[hit].append(str(record["id"]))
            continue
        results.append(box.writer.update(kind, record["id"], properties, change_source, source_id))
    errors = [_error(category, message, ids) for (category, message), ids in refused.items()]
    return results, errors


@bp.post("/<object_name>/batch/update")
def batch_update(object_name: str):
    """Update by id; unknown ids and rejected records are per-input errors (207), bad values fail the batch."""
    kind = writable(object_type(object_name))
    box = sandbox()
    started = iso(box.clock.now())
    inputs = _inputs(json_body())
    keys = [str(item.get("id", "")) for item in inputs]
    if len(set(keys)) != len(keys):
        raise ApiError(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input: "
                       f"{sorted({k for k in keys if keys.count(k) > 1})}. IDs must be unique.")
    items, missing = [], []
    try:
        for item in inputs:
            box.writer.values(kind, item.get("properties") or {})  # every value is checked before any write
        for item in inputs:
            _check_id_property(kind, item.get("idProperty"))
            record = _lookup(kind, str(item.get("id", "")), item.get("idProperty"))
            if record is None:
                missing.append(str(item.get("id", "")))
            else:
                items.append((record, item.get("properties") or {}))
        results, errors = _write_each(kind, items)
    except RecordError as error:
        raise ApiError.from_record_error(error) from None
    if missing:
        errors.insert(0, _not_found(kind, missing))
    names = all_names(kind)
    return _answer([render([r], [n for n in names if n in r["props"]])[0] for r in results], errors, started)


@bp.post("/<object_name>/batch/upsert")
def batch_upsert(object_name: str):
    """Create or update by a unique idProperty (email for contacts); results carry new: true|false."""
    kind = writable(object_type(object_name))
    box = sandbox()
    started = iso(box.clock.now())
    inputs = _inputs(json_body())
    change_source, source_id = source()
    results, refused = [], defaultdict(list)
    try:
        with box.store.transaction():
            for item in inputs:
                id_property = item.get("idProperty") or "hs_object_id"
                _check_id_property(kind, id_property)
                properties = dict(item.get("properties") or {})
                record = _lookup(kind, str(item.get("id", "")), id_property)
                if record is None:
                    if id_property == "hs_object_id":
                        raise ApiError(400, "VALIDATION_ERROR", "Upsert by hs_object_id cannot create records; "
                                       "use a unique idProperty such as email.")
                    properties[id_property] = item.get("id")
                    results.append((box.writer.create(kind, properties, change_source, source_id), True))
                    continue
                hit = box.faults.rejects(str(record["id"]))
                if hit:
                    refused[hit].append(str(record["id"]))
                    continue
                results.append((box.writer.update(kind, record["id"], properties, change_source, source_id), False))
    except RecordError as error:
        raise ApiError.from_record_error(error) from None
    names = all_names(kind)
    answers = [{**render([r], [n for n in names if n in r["props"]])[0], "new": new} for r, new in results]
    return _answer(answers, [_error(c, m, ids) for (c, m), ids in refused.items()], started)


@bp.post("/<object_name>/batch/archive")
def batch_archive(object_name: str):
    """Archive records by id (204); unknown ids are ignored, as in HubSpot."""
    kind = writable(object_type(object_name))
    box = sandbox()
    for item in _inputs(json_body()):
        record = box.store.get(kind, str(item.get("id", "")))
        if record is not None and not record["archived"]:
            box.writer.archive(kind, record["id"], *source())
    return "", 204
