"""REST resources of one record or one object: describe, create, read, update, delete, replication."""
from __future__ import annotations

from datetime import timedelta

from flask import g, jsonify, request

from .api import ApiError, access, json_body, object_or_404, rest_blueprint, sandbox
from .bulk_jobs import DAILY_QUERY_JOBS
from .clock import format_datetime, parse_datetime
from .ids import looks_like_id, to_18
from .records import RecordError
from .schema import OBJECTS, READ_ONLY_OBJECTS, label_for, reference_targets

bp = rest_blueprint("salesforce_rest")


def _route(rule: str, methods: tuple[str, ...] = ("GET",)):
    return bp.route(rule, methods=list(methods), strict_slashes=False)


def _record_error(error: RecordError) -> ApiError:
    if error.http_status == 404:
        return ApiError(404, "NOT_FOUND" if error.status_code != "ENTITY_IS_DELETED" else "ENTITY_IS_DELETED",
                        "The requested resource does not exist" if error.status_code != "ENTITY_IS_DELETED"
                        else "entity is deleted")
    return ApiError(400, error.status_code, error.message, error.fields)


def _object_summary(name: str) -> dict:
    version = g.api_version
    return {"name": name, "label": label_for(name), "keyPrefix": OBJECTS[name][0], "custom": False,
            "createable": name not in READ_ONLY_OBJECTS, "updateable": name not in READ_ONLY_OBJECTS,
            "deletable": name not in READ_ONLY_OBJECTS, "queryable": True, "replicateable": True,
            "urls": {"sobject": f"/services/data/v{version}/sobjects/{name}",
                     "describe": f"/services/data/v{version}/sobjects/{name}/describe",
                     "rowTemplate": f"/services/data/v{version}/sobjects/{name}/{{ID}}"}}


@_route("/")
def resources():
    """The resources of this API version."""
    base = f"/services/data/v{g.api_version}"
    return jsonify({name: f"{base}/{name}" for name in ("sobjects", "query", "queryAll", "limits", "composite",
                                                        "tooling")})


@_route("/limits/")
def limits():
    """The org's limits: DailyApiRequests, and DailyBulkV2QueryJobs (Bulk API 2.0 guide, query job limits)."""
    box = sandbox()
    usage = box.usage
    return jsonify({"DailyApiRequests": {"Max": usage.limit, "Remaining": max(usage.limit - usage.used, 0)},
                    "DailyBulkV2QueryJobs": {"Max": DAILY_QUERY_JOBS,
                                             "Remaining": max(DAILY_QUERY_JOBS - box.query_jobs.created_today(), 0)}})


@_route("/sobjects/")
def global_describe():
    """Every object of the org."""
    return jsonify({"encoding": "UTF-8", "maxBatchSize": 200,
                    "sobjects": [_object_summary(name) for name in OBJECTS if sandbox().object_available(name)]})


@_route("/sobjects/<object_name>/")
def object_info(object_name: str):
    """An object's summary."""
    return jsonify({"objectDescribe": _object_summary(object_or_404(object_name)), "recentItems": []})


@_route("/sobjects/<object_name>/describe/")
def describe(object_name: str):
    """An object's fields as the user may see them: a custom field without field-level security is absent."""
    name = object_or_404(object_name)
    user = access()
    fields = []
    for field in sandbox().store.fields(name):
        if not user.can_read(name, field.name, field.custom):
            continue
        entry = field.describe()
        if field.updateable and not user.can_edit(name, field.name, field.custom):
            entry["updateable"] = entry["createable"] = False
        if entry["type"] == "reference":
            entry["referenceTo"] = list(reference_targets(name, entry["name"]))
        fields.append(entry)
    return jsonify({**_object_summary(name), "fields": fields})


@_route("/sobjects/<object_name>/", ("POST",))
def create(object_name: str):
    """Create one record: 201 {id, success, errors}."""
    name = object_or_404(object_name)
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object of field values.")
    try:
        record_id = sandbox().writer.create(name, body, actor_id=g.user_id, access=access())
    except RecordError as error:
        raise _record_error(error) from None
    return jsonify({"id": record_id, "success": True, "errors": []}), 201


@_route("/sobjects/<object_name>/<record_id>/")
def read(object_name: str, record_id: str):
    """One record, all fields or ?fields=a,b."""
    name = object_or_404(object_name)
    box = sandbox()
    row = box.store.get(name, to_18(record_id)) if looks_like_id(record_id) else None
    if row is None or row["IsDeleted"]:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    user = access()
    names = [f.name for f in box.store.fields(name) if user.can_read(name, f.name, f.custom)]
    if request.args.get("fields"):
        names = []
        for wanted in request.args["fields"].split(","):
            field = box.store.field(name, wanted.strip())
            if field is None or not user.can_read(name, field.name, field.custom):
                raise ApiError(400, "INVALID_FIELD", f"No such column '{wanted.strip()}' on entity '{name}'.")
            names.append(field.name)
    return jsonify(box.store.api_record(name, row, g.api_version, names))


@_route("/sobjects/<object_name>/<record_id>/", ("PATCH",))
def update(object_name: str, record_id: str):
    """Update one record: 204."""
    name = object_or_404(object_name)
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object of field values.")
    try:
        sandbox().writer.update(name, record_id, body, actor_id=g.user_id, access=access())
    except RecordError as error:
        raise _record_error(error) from None
    return "", 204


@_route("/sobjects/<object_name>/<record_id>/", ("DELETE",))
def delete(object_name: str, record_id: str):
    """Soft-delete one record: 204."""
    name = object_or_404(object_name)
    try:
        sandbox().writer.delete(name, record_id, actor_id=g.user_id)
    except RecordError as error:
        raise _record_error(error) from None
    return "", 204


def _window(days_back: int) -> tuple[str, str]:
    try:
        start, end = parse_datetime(request.args["start"]), parse_datetime(request.args["end"])
    except (KeyError, ValueError):
        raise ApiError(400, "MALFORMED_QUERY", "Pass start and end as ISO datetimes, e.g. "
                       "start=2017-09-01T00:00:00Z&end=2017-09-02T00:00:00Z.") from None
    if end <= start or start < sandbox().clock.now() - timedelta(days=days_back):
        raise ApiError(400, "INVALID_REPLICATION_DATE",
                       f"start must be before end and within the last {days_back} days")
    return format_datetime(start), format_datetime(end)


@_route("/sobjects/<object_name>/updated/")
def updated(object_name: str):
    """Ids changed in a window (getUpdated)."""
    name = object_or_404(object_name)
    start, end = _window(30)
    rows = sandbox().store.fetchall(f'SELECT "Id" FROM "{name}" WHERE "IsDeleted" = 0 AND "SystemModstamp" >= ? '
                                    'AND "SystemModstamp" < ? ORDER BY "Id"', (start, end))
    return jsonify({"ids": [r[0] for r in rows], "latestDateCovered": end})


@_route("/sobjects/<object_name>/deleted/")
def deleted(object_name: str):
    """Records deleted in a window (getDeleted)."""
    name = object_or_404(object_name)
    start, end = _window(15)
    rows = sandbox().store.fetchall(f'SELECT "Id", "SystemModstamp" FROM "{name}" WHERE "IsDeleted" = 1 AND '
                                    '"SystemModstamp" >= ? AND "SystemModstamp" < ? ORDER BY "Id"', (start, end))
    earliest = format_datetime(sandbox().clock.now() - timedelta(days=15))
    return jsonify({"deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
                    "earliestDateAvailable": earliest, "latestDateCovered": end})
