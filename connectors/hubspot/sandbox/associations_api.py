"""Associations v4: batch read, create, default create and archive; one record's associations."""
from __future__ import annotations

from typing import Any

from flask import jsonify

from .api import ApiError, api_blueprint, json_body, object_type, sandbox, source
from .associations import AssociationError, associated, label_of, valid_type
from .clock import iso
from .schema import ASSOCIATION_TYPES, OBJECT_TYPES

bp = api_blueprint("hubspot_associations", "/crm/v4")


def _spec(from_kind: str, to_kind: str, category: str, type_id: int) -> dict[str, Any]:
    label = label_of(from_kind, to_kind, type_id) if category == "HUBSPOT_DEFINED" else None
    return {"category": category, "typeId": type_id, "label": label}


def _answer(results: list, errors: list, started: str, ok: int = 200):
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                            "completedAt": iso(sandbox().clock.now())}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
        return jsonify(body), 207
    return jsonify(body), ok


def _inputs() -> list[dict[str, Any]]:
    inputs = json_body().get("inputs")
    if not isinstance(inputs, list) or any(not isinstance(i, dict) for i in inputs):
        raise ApiError(400, "VALIDATION_ERROR", "The body needs inputs: a list of objects.")
    if len(inputs) > 1000:
        raise ApiError(400, "VALIDATION_ERROR", "At most 1000 inputs are allowed per association batch.")
    return inputs


def _id(value: Any, what: str) -> int:
    try:
        return int(value["id"] if isinstance(value, dict) else value)
    except (TypeError, KeyError, ValueError):
        raise ApiError(400, "VALIDATION_ERROR", f"{what} must be {{id}} with a numeric record id.") from None


@bp.post("/associations/<from_name>/<to_name>/batch/read")
def batch_read(from_name: str, to_name: str):
    """Associated ids per input; inputs without associations are 207 errors."""
    from_kind, to_kind = object_type(from_name), object_type(to_name)
    started = iso(sandbox().clock.now())
    ids = [_id(item.get("id"), "id") for item in _inputs()]
    found = associated(sandbox().store, from_kind, ids, to_kind)
    results, errors = [], []
    for record_id in dict.fromkeys(ids):
        targets = found.get(record_id)
        if not targets:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                           "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                           "message": f"No {OBJECT_TYPES[to_kind][1]} is associated with "
                                      f"{OBJECT_TYPES[from_kind][1]} {record_id}.",
                           "context": {"fromObjectId": [str(record_id)]}, "errors": [], "links": {}})
            continue
        results.append({"from": {"id": str(record_id)},
                        "to": [{"toObjectId": str(to_id),
                                "associationTypes": [_spec(from_kind, to_kind, c, t) for c, t in types]}
                               for to_id, types in targets]})
    return _answer(results, errors, started)


def _create(from_kind: str, to_kind: str, pairs: list[tuple[int, int, int | None, str]]) -> list[dict[str, Any]]:
    box = sandbox()
    store = box.store
    results = []
    for from_id, to_id, type_id, category in pairs:
        for kind, record_id in ((from_kind, from_id), (to_kind, to_id)):
            record = store.get(kind, record_id)
            if record is None or record["archived"]:
                raise ApiError(400, "VALIDATION_ERROR", f"{OBJECT_TYPES[kind][1]} {record_id} does not exist.")
        try:
            if type_id is not None and category == "HUBSPOT_DEFINED" and not valid_type(from_kind, to_kind, type_id):
                raise AssociationError(f"Association type {type_id} does not join {from_kind} to {to_kind}.")
            box.writer.associate([(from_kind, from_id, to_kind, to_id)], *source(), category=category,
                                 type_id=type_id)
        except AssociationError as error:
            raise ApiError(400, "VALIDATION_ERROR", str(error)) from None
        results.append({"fromObjectTypeId": OBJECT_TYPES[from_kind][0], "fromObjectId": from_id,
                        "toObjectTypeId": OBJECT_TYPES[to_kind][0], "toObjectId": to_id, "labels": []})
    return results


@bp.post("/associations/<from_name>/<to_name>/batch/create")
def batch_create(from_name: str, to_name: str):
    """Associate pairs with the given types (201)."""
    from_kind, to_kind = object_type(from_name), object_type(to_name)
    started = iso(sandbox().clock.now())
    pairs = []
    for item in _inputs():
        types = item.get("types") or [{}]
        for spec in types:
            type_id = spec.get("associationTypeId")
            pairs.append((_id(item.get("from"), "from"), _id(item.get("to"), "to"),
                          int(type_id) if type_id is not None else None,
                          spec.get("associationCategory") or "HUBSPOT_DEFINED"))
    return _answer(_create(from_kind, to_kind, pairs), [], started, 201)


@bp.post("/associations/<from_name>/<to_name>/batch/associate/default")
def batch_default(from_name: str, to_name: str):
    """Associate pairs with the default (unlabeled) type."""
    from_kind, to_kind = object_type(from_name), object_type(to_name)
    started = iso(sandbox().clock.now())
    pairs = [(_id(i.get("from"), "from"), _id(i.get("to"), "to"), None, "HUBSPOT_DEFINED") for i in _inputs()]
    results = _create(from_kind, to_kind, pairs)
    return _answer([{"from": {"id": str(r["fromObjectId"])}, "to": {"id": str(r["toObjectId"])},
                     "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                         "associationTypeId": ASSOCIATION_TYPES[(from_kind, to_kind)]}}
                    for r in results], [], started)


@bp.post("/associations/<from_name>/<to_name>/batch/archive")
def batch_archive(from_name: str, to_name: str):
    """Remove associations (both directions), 204."""
    from_kind, to_kind = object_type(from_name), object_type(to_name)
    writer = sandbox().writer
    for item in _inputs():
        from_id = _id(item.get("from"), "from")
        for target in item.get("to") or []:
            writer.dissociate(from_kind, from_id, to_kind, _id(target, "to"), *source())
    return "", 204


@bp.get("/objects/<object_name>/<object_id>/associations/<to_name>")
def record_associations(object_name: str, object_id: str, to_name: str):
    """One record's associations of one type."""
    kind, to_kind = object_type(object_name), object_type(to_name)
    targets = associated(sandbox().store, kind, [_id(object_id, "objectId")], to_kind).get(int(object_id), [])
    return jsonify({"results": [{"toObjectId": str(to_id),
                                 "associationTypes": [_spec(kind, to_kind, c, t) for c, t in types]}
                                for to_id, types in targets]})


@bp.put("/objects/<object_name>/<object_id>/associations/default/<to_name>/<to_id>")
def associate_default(object_name: str, object_id: str, to_name: str, to_id: str):
    """Associate two records with the default type."""
    kind, to_kind = object_type(object_name), object_type(to_name)
    started = iso(sandbox().clock.now())
    results = _create(kind, to_kind, [(_id(object_id, "objectId"), _id(to_id, "toObjectId"), None, "HUBSPOT_DEFINED")])
    return _answer([{"from": {"id": object_id}, "to": {"id": to_id},
                     "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                         "associationTypeId": ASSOCIATION_TYPES[(kind, to_kind)]}}
                    for _ in results], [], started)
