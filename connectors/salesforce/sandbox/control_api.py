"""The control API under /_sandbox/: JSON, no auth, not counted as API calls. For tests and scripts.

GET  info                         org id, instance url, clock, date shift, counts, api usage
GET  knobs / POST knobs           read / set fault knobs (see faults.Knobs; {"reset": true} clears them)
POST expire_tokens                every access token expires now
POST revoke_tokens                every access and refresh token is revoked
POST reset_usage                  the daily API counter goes back to 0
GET  records/<T>?include_deleted=1   all records of an object
GET  records/<T>/<id>             one record, deleted or not
POST records/<T>                  create as a user in the UI ({fields..., "as_user": userId?}) → 201 {id}
PATCH records/<T>/<id>            update as a user in the UI
DELETE records/<T>/<id>           soft delete
POST touch {type, ids, modstamp?} give many records one SystemModstamp
POST clock {advance_seconds}      move the sandbox clock forward
POST expire_query_locators        every open query locator is gone (nextRecordsUrl → INVALID_QUERY_LOCATOR)
POST expire_query_jobs            every Bulk API 2.0 query job is deleted (as the 7-day clean-up does)
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from connectors.sandbox_kit.control_routes import ControlError, add_common_routes

from .api import instance_url, sandbox
from .clock import format_datetime, parse_datetime
from .records import RecordError
from .schema import canonical_object

bp = Blueprint("salesforce_control", __name__, url_prefix="/_sandbox")


def _object(name: str) -> str:
    found = canonical_object(name)
    if found is None:
        raise ControlError(f"The sandbox has no object called {name}.", 404)
    return found


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise ControlError("The request body is not valid JSON.")
    return body or {}


def _write(action):
    try:
        return action()
    except RecordError as error:
        raise ControlError(error.message, 404 if error.http_status == 404 else 400, [error.as_dict()]) from None


add_common_routes(bp, sandbox, _body)


@bp.get("/info")
def info():
    """Facts about the org."""
    return jsonify(sandbox().info(instance_url()))


@bp.post("/reset_usage")
def reset_usage():
    """Give the daily API quota back."""
    box = sandbox()
    box.usage.reset()
    return jsonify({"used": box.usage.used, "limit": box.usage.limit})


@bp.get("/records/<object_name>")
def list_records(object_name: str):
    """Every record of an object, as the API shows them."""
    include_deleted = request.args.get("include_deleted", "").lower() in ("1", "true", "yes")
    records = sandbox().records(_object(object_name), include_deleted)
    return jsonify({"totalSize": len(records), "records": records})


@bp.get("/records/<object_name>/<record_id>")
def get_record(object_name: str, record_id: str):
    """One record, deleted or not."""
    box = sandbox()
    name = _object(object_name)
    row = box.store.get(name, record_id)
    if row is None:
        raise ControlError(f"No {name} has the id {record_id}.", 404)
    return jsonify(box.store.api_record(name, row, box.settings.api_version))


@bp.post("/records/<object_name>")
def create_record(object_name: str):
    """Create a record as a user in the UI would (the admin unless as_user is given)."""
    box = sandbox()
    body = _body()
    actor = body.pop("as_user", None) or box.admin_id
    record_id = _write(lambda: box.writer.create(_object(object_name), body, actor_id=actor, system=True))
    return jsonify({"id": record_id, "success": True}), 201


@bp.patch("/records/<object_name>/<record_id>")
def update_record(object_name: str, record_id: str):
    """Update a record as a user in the UI would."""
    box = sandbox()
    body = _body()
    actor = body.pop("as_user", None) or box.admin_id
    updated = _write(lambda: box.writer.update(_object(object_name), record_id, body, actor_id=actor, system=True))
    return jsonify({"id": updated, "success": True})


@bp.delete("/records/<object_name>/<record_id>")
def delete_record(object_name: str, record_id: str):
    """Soft-delete a record as a user in the UI would."""
    box = sandbox()
    deleted = _write(lambda: box.writer.delete(_object(object_name), record_id, actor_id=box.admin_id))
    return jsonify({"id": deleted, "success": True})


@bp.post("/touch")
def touch():
    """Give many records one SystemModstamp (default: now)."""
    body = _body()
    ids = body.get("ids") or []
    if not isinstance(ids, list):
        raise ControlError("ids must be a list of record ids.")
    try:
        modstamp = parse_datetime(body["modstamp"]) if body.get("modstamp") else None
    except ValueError:
        raise ControlError("modstamp must be an ISO datetime such as 2017-10-01T00:00:00Z.") from None
    stamp = sandbox().writer.touch(_object(body.get("type", "")), ids, modstamp)
    return jsonify({"updated": len(ids), "modstamp": stamp})


@bp.post("/clock")
def clock():
    """Move the sandbox clock forward by advance_seconds."""
    try:
        now = sandbox().clock.advance(float(_body().get("advance_seconds", 0)))
    except (TypeError, ValueError) as error:
        raise ControlError(f"advance_seconds must be a non-negative number ({error}).") from None
    return jsonify({"clock": format_datetime(now)})


@bp.post("/expire_query_locators")
def expire_query_locators():
    """Invalidate every open query locator."""
    return jsonify({"expired": sandbox().cursors.expire_all()})


@bp.post("/expire_query_jobs")
def expire_query_jobs():
    """Delete every Bulk API 2.0 query job and its results."""
    return jsonify({"expired": sandbox().query_jobs.expire_all()})
