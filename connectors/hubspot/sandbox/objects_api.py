"""CRM objects v3: list with paging, read, create, update and archive one record."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import jsonify, request

from .api import ApiError, api_blueprint, json_body, object_type, sandbox, source
from .associations import AssociationError
from .records import RecordError
from .schema import ASSOCIATION_TYPES, PRIMARY_TYPES, READ_ONLY_TYPES
from .views import api_record, histories, split_names, v3_associations

bp = api_blueprint("hubspot_objects", "/crm/v3/objects")
MAX_PAGE, MAX_PAGE_WITH_HISTORY = 100, 50


def flag(name: str) -> bool:
    """A true/false query parameter."""
    return request.args.get(name, "false").lower() == "true"


def render(records: list[dict[str, Any]], names: list[str], history_names: list[str] | None = None,
           association_names: list[str] | None = None) -> list[dict[str, Any]]:
    """Records as the API answers them, with history and associations when asked."""
    box = sandbox()
    history = histories(box.store, records, history_names) if history_names else {}
    linked = v3_associations(box.store, records, association_names or [])
    return [api_record(r, box.registry, names, history.get(r["id"]) if history_names else None,
                       linked.get(r["id"])) for r in records]


def writable(kind: str) -> str:
    """The kind, or 403 for types the API only reads."""
    if kind in READ_ONLY_TYPES:
        raise ApiError(403, "FORBIDDEN", f"{kind} are read-only through the API; HubSpot users set them in the app.")
    return kind


def all_names(kind: str) -> list[str]:
    """Every property name of a type (what a write answers with)."""
    return [p.name for p in sandbox().registry.all(kind)]


def record_error(error: RecordError) -> ApiError:
    return ApiError.from_record_error(error)


def int_arg(name: str, default: int, maximum: int) -> int:
    """A positive integer query parameter no larger than maximum, or 400."""
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, "VALIDATION_ERROR", f"{name} must be a whole number from 1 to {maximum}; got {raw!r}.")
    return int(raw)


@bp.get("/<object_name>")
def list_page(object_name: str):
    """One page of records ordered by id; paging.next.after continues (archived=true lists only archived).

    HubSpot's objects API reference: ``limit`` defaults to 10 and is at most 100 (50 with
    propertiesWithHistory); ``after`` is "the paging cursor token of the last successfully read resource",
    given as paging.next.after, and the last page has no paging; ``archived`` returns only archived
    records; ``associations`` names types whose associated ids each record carries (unknown ones are
    ignored). The reference is silent on a limit past 100 and on a token it did not issue: the sandbox
    refuses both with 400 VALIDATION_ERROR (the stricter reading). It answers under the general burst
    limit (the gate), not the search API's per-second one.
    """
    kind = object_type(object_name)
    names = split_names(request.args.getlist("properties"))
    history_names = split_names(request.args.getlist("propertiesWithHistory"))
    limit = int_arg("limit", 10, MAX_PAGE)
    if history_names:
        limit = min(limit, MAX_PAGE_WITH_HISTORY)
    after = request.args.get("after")
    where, params = "archived = ?", [int(flag("archived"))]
    if after is not None:
        if not after.isdigit():
            raise ApiError(400, "VALIDATION_ERROR", f"after must be the cursor from paging.next.after; got {after!r}.")
        where += " AND id >= ?"
        params.append(int(after))
    rows = sandbox().store.select(kind, where, params, order="id", limit=limit + 1)
    answer: dict[str, Any] = {"results": render(rows[:limit], names, history_names,
                                                split_names(request.args.getlist("associations")))}
    if len(rows) > limit:
        next_after = str(rows[limit]["id"])
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "after"] + [("after", next_after)]
        answer["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?{urlencode(query)}"}}
    return jsonify(answer)


def find(kind: str, object_id: str, id_property: str | None, archived: bool) -> dict[str, Any]:
    """A record by id or by a unique property; 404 OBJECT_NOT_FOUND."""
    box = sandbox()
    if id_property and id_property != "hs_object_id":
        prop = box.registry.get(kind, id_property)
        if prop is None or not prop.unique:
            raise ApiError(400, "VALIDATION_ERROR", f"{id_property} is not a unique property of {kind}; use "
                           "hs_object_id, email (contacts) or a property with hasUniqueValue.")
        record = box.store.find_by_property(kind, id_property, object_id)
    else:
        record = box.store.get(kind, object_id)
    if record is None or record["archived"] != archived:
        raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
    return record


@bp.get("/<object_name>/<object_id>")
def read(object_name: str, object_id: str):
    """One record, with properties, propertiesWithHistory and associations as asked."""
    kind = object_type(object_name)
    record = find(kind, object_id, request.args.get("idProperty"), flag("archived"))
    result = render([record], split_names(request.args.getlist("properties")),
                    split_names(request.args.getlist("propertiesWithHistory")),
                    split_names(request.args.getlist("associations")))[0]
    return jsonify(result)


def add_associations(kind: str, record_id: int, items: Any) -> None:
    """The associations of a create body: [{to: {id}, types: [{associationCategory, associationTypeId}]}]."""
    if not items:
        return
    box = sandbox()
    store = box.store
    pairs = []
    for item in items if isinstance(items, list) else [None]:
        try:
            to_id = int(item["to"]["id"])
            type_id = int(item["types"][0]["associationTypeId"])
        except (TypeError, KeyError, IndexError, ValueError):
            raise ApiError(400, "VALIDATION_ERROR", "associations must be a list of {to: {id}, types: "
                           "[{associationCategory, associationTypeId}]}.") from None
        to_kind = next((k for (f, k), t in [*ASSOCIATION_TYPES.items(), *PRIMARY_TYPES.items()]
                        if f == kind and t == type_id), None)
        if to_kind is None or store.get(to_kind, to_id) is None:
            raise ApiError(400, "VALIDATION_ERROR", f"Association type {type_id} to {to_id} is not valid from {kind}.")
        pairs.append(((kind, record_id, to_kind, to_id), type_id))
    try:
        for pair, type_id in pairs:
            box.writer.associate([pair], *source(), type_id=type_id)
    except AssociationError as error:
        raise ApiError(400, "VALIDATION_ERROR", str(error)) from None


@bp.post("/<object_name>")
def create(object_name: str):
    """Create one record (201)."""
    kind = writable(object_type(object_name))
    body = json_body()
    box = sandbox()
    change_source, source_id = source()
    try:
        with box.store.transaction():
            record = box.writer.create(kind, body.get("properties") or {}, change_source, source_id)
            add_associations(kind, record["id"], body.get("associations"))
    except RecordError as error:
        raise record_error(error) from None
    return jsonify(render([record], [n for n in all_names(kind) if n in record["props"]])[0]), 201


def rejected(record_id: Any) -> ApiError | None:
    """The reject knob's 400 for an update of this record, if it targets it."""
    hit = sandbox().faults.rejects(str(record_id))
    if hit is None:
        return None
    category, message = hit
    return ApiError(400, category, message, context={"ids": [str(record_id)]})


@bp.post("/<object_name>/merge")
def merge(object_name: str):
    """Merge objectIdToMerge into primaryObjectId (PublicMergeInput); answers the merged record."""
    kind = writable(object_type(object_name))
    body = json_body()
    if not isinstance(body, dict) or not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
        raise ApiError(400, "VALIDATION_ERROR", "The body needs primaryObjectId and objectIdToMerge.")
    try:
        record = sandbox().writer.merge(kind, body["primaryObjectId"], body["objectIdToMerge"], *source())
    except RecordError as error:
        raise record_error(error) from None
    return jsonify(render([record], [n for n in all_names(kind) if n in record["props"]])[0])


@bp.patch("/<object_name>/<object_id>")
def update(object_name: str, object_id: str):
    """Change properties of one record."""
    kind = writable(object_type(object_name))
    record = find(kind, object_id, request.args.get("idProperty"), False)
    error = rejected(record["id"])
    if error:
        raise error
    change_source, source_id = source()
    try:
        record = sandbox().writer.update(kind, record["id"], json_body().get("properties") or {}, change_source,
                                         source_id)
    except RecordError as error:
        raise record_error(error) from None
    return jsonify(render([record], [n for n in all_names(kind) if n in record["props"]])[0])


@bp.delete("/<object_name>/<object_id>")
def archive(object_name: str, object_id: str):
    """Archive one record (204); archiving an unknown or archived id is not an error, as in HubSpot."""
    kind = writable(object_type(object_name))
    box = sandbox()
    record = box.store.get(kind, object_id)
    if record is not None and not record["archived"]:
        box.writer.archive(kind, record["id"], *source())
    return "", 204
