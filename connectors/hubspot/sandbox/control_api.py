"""The control API under /_sandbox/: JSON, no auth, not counted against limits. For tests and scripts.

GET  info                          portal id (hub_id), clock, date shift, counts per type, quotas, usage
GET  knobs / POST knobs            read / set fault knobs (see faults.Knobs; {"reset": true} clears them)
POST expire_tokens                 every access token expires now
POST revoke_tokens                 every access and refresh token is revoked (refresh → BAD_REFRESH_TOKEN)
POST reset_usage                   rate-limit windows and the daily counter start again
GET  owners                        owners with role (admin/manager/rep) and teams
GET  records/<type>?archived=false|true|all   records with every property
GET  records/<type>/<id>           one record, archived or not
POST records/<type>                create as a user in HubSpot's UI ({properties, as_user?}) → 201 {id}
PATCH records/<type>/<id>          update as a UI user (changeSource CRM_UI in webhooks)
DELETE records/<type>/<id>         archive as a UI user
POST associations {from_type, from_id, to_type, to_id, primary?, remove?}   (dis)associate two records
POST merge/<type> {primary_id, merged_id}                 merge two records as a UI user
POST restore/<type>/<id>           restore an archived record as a UI user
POST touch {type, ids, modified_at?}                      give records one hs_lastmodifieddate
POST bulk_create {type, count, properties?, modified_at?} many records at once ({n} in values → 1..count)
POST clock {advance_seconds}       move the sandbox clock forward
GET  webhooks / POST webhooks {url, subscriptions, app_id?, retry_seconds?, max_attempts?}   (url null: off)
POST webhooks/redeliver_last       send the last acknowledged POST again (same eventIds, attemptNumber + 1)
GET  card / POST card {fetch_url, title?}   the app card on record pages (fetch_url null: none)
"""
from __future__ import annotations


from flask import Blueprint, jsonify, request

from connectors.sandbox_kit.control_routes import ControlError, add_common_routes, control_error_response

from .api import sandbox
from .associations import AssociationError
from .clock import iso
from .records import UI, RecordError
from .schema import PRIMARY_TYPES, canonical_type
from .views import api_record

bp = Blueprint("hubspot_control", __name__, url_prefix="/_sandbox")


@bp.errorhandler(RecordError)
def _record_error(error: RecordError):
    return control_error_response(ControlError(error.message, error.status, error.errors))


def _kind(name: str) -> str:
    kind = canonical_type(name or "")
    if kind is None:
        raise ControlError(f"The sandbox has no object type called {name!r}.", 404)
    return kind


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise ControlError("The request body is not valid JSON.")
    if body is not None and not isinstance(body, dict):
        raise ControlError("The request body must be a JSON object.")
    return body or {}


def _ui_source(body: dict) -> tuple[str, str]:
    user = sandbox().user(body.pop("as_user", None))
    if user is None:
        raise ControlError("No user of this portal has that e-mail or id.")
    return UI, f"userId:{user['user_id']}"


def _properties(body: dict) -> dict:
    return body.pop("properties") if isinstance(body.get("properties"), dict) else body


add_common_routes(bp, sandbox, _body)


@bp.get("/info")
def info():
    """Facts about the portal."""
    return jsonify(sandbox().info(request.host_url.rstrip("/")))


@bp.post("/reset_usage")
def reset_usage():
    """Forget the rate-limit windows and the day's calls."""
    box = sandbox()
    box.limits.reset()
    return jsonify({"daily_used": box.limits.daily_used})


@bp.get("/owners")
def owners():
    """Every owner with role and teams."""
    return jsonify({"results": sandbox().owners(include_archived=True)})


@bp.get("/records/<type_name>")
def list_records(type_name: str):
    """Records of a type with every property."""
    archived = request.args.get("archived", "false").lower()
    flag = None if archived == "all" else archived in ("1", "true", "yes")
    records = sandbox().records(_kind(type_name), flag)
    return jsonify({"total": len(records), "results": records})


@bp.get("/records/<type_name>/<record_id>")
def get_record(type_name: str, record_id: str):
    """One record, archived or not."""
    box = sandbox()
    kind = _kind(type_name)
    record = box.store.get(kind, record_id)
    if record is None:
        raise ControlError(f"No {kind} record has the id {record_id}.", 404)
    return jsonify(api_record(record, box.registry, [p.name for p in box.registry.all(kind)]))


@bp.post("/records/<type_name>")
def create_record(type_name: str):
    """Create a record as a user in HubSpot's UI would (the admin unless as_user is given)."""
    body = _body()
    change_source, source_id = _ui_source(body)
    record = sandbox().writer.create(_kind(type_name), _properties(body), change_source, source_id, system=True)
    return jsonify({"id": str(record["id"])}), 201


@bp.patch("/records/<type_name>/<record_id>")
def update_record(type_name: str, record_id: str):
    """Update a record as a UI user would."""
    body = _body()
    change_source, source_id = _ui_source(body)
    record = sandbox().writer.update(_kind(type_name), record_id, _properties(body), change_source, source_id,
                                     system=True)
    return jsonify({"id": str(record["id"]), "updatedAt": record["updated_at"]})


@bp.delete("/records/<type_name>/<record_id>")
def archive_record(type_name: str, record_id: str):
    """Archive a record as a UI user would."""
    body = _body()
    change_source, source_id = _ui_source(body)
    sandbox().writer.archive(_kind(type_name), record_id, change_source, source_id)
    return jsonify({"id": record_id, "archived": True})


@bp.post("/associations")
def associate():
    """Associate two records as a UI user would (primary: with the Primary label; remove: dissociate)."""
    body = _body()
    change_source, source_id = _ui_source(body)
    writer = sandbox().writer
    try:
        pair = (_kind(body.get("from_type")), int(body["from_id"]), _kind(body.get("to_type")), int(body["to_id"]))
        if body.get("remove"):
            writer.dissociate(*pair, change_source, source_id)
        else:
            primary = PRIMARY_TYPES.get((pair[0], pair[2])) if body.get("primary") else None
            if body.get("primary") and primary is None:
                raise ControlError(f"{pair[0]} have no primary {pair[2]}.")
            writer.associate([pair], change_source, source_id, type_id=primary)
    except (KeyError, TypeError, ValueError, AssociationError) as error:
        raise ControlError(f"Give from_type, from_id, to_type and to_id of two records ({error}).") from None
    return jsonify({"associated": not body.get("remove")})


@bp.post("/merge/<type_name>")
def merge(type_name: str):
    """Merge merged_id into primary_id as a UI user would."""
    body = _body()
    change_source, source_id = _ui_source(body)
    record = sandbox().writer.merge(_kind(type_name), body.get("primary_id"), body.get("merged_id"),
                                    change_source, source_id)
    return jsonify({"id": str(record["id"])})


@bp.post("/restore/<type_name>/<record_id>")
def restore(type_name: str, record_id: str):
    """Restore an archived record as a UI user would (from the recycle bin)."""
    body = _body()
    change_source, source_id = _ui_source(body)
    record = sandbox().writer.restore(_kind(type_name), record_id, change_source, source_id)
    return jsonify({"id": str(record["id"]), "archived": False})


@bp.post("/touch")
def touch():
    """Give many records one hs_lastmodifieddate (default: now)."""
    body = _body()
    ids = body.get("ids") or []
    if not isinstance(ids, list):
        raise ControlError("ids must be a list of record ids.")
    try:
        stamp = sandbox().writer.touch(_kind(body.get("type")), ids, body.get("modified_at"))
    except (ValueError, OverflowError):
        raise ControlError("modified_at must be an ISO datetime (2017-10-01T00:00:00Z) or epoch ms.") from None
    return jsonify({"updated": len(ids), "modified_at": stamp})


@bp.post("/bulk_create")
def bulk_create():
    """Create count records sharing properties and one hs_lastmodifieddate (volume tests)."""
    body = _body()
    try:
        count = int(body.get("count", 0))
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 100_000:
        raise ControlError("count must be a whole number from 1 to 100000.")
    try:
        ids = sandbox().writer.bulk_create(_kind(body.get("type")), count, body.get("properties") or {},
                                           body.get("modified_at"))
    except (ValueError, OverflowError):
        raise ControlError("modified_at must be an ISO datetime (2017-10-01T00:00:00Z) or epoch ms.") from None
    return jsonify({"count": len(ids), "first_id": str(ids[0]), "last_id": str(ids[-1])}), 201


@bp.post("/clock")
def clock():
    """Move the sandbox clock forward by advance_seconds."""
    try:
        now = sandbox().clock.advance(float(_body().get("advance_seconds", 0)))
    except (TypeError, ValueError) as error:
        raise ControlError(f"advance_seconds must be a non-negative number ({error}).") from None
    return jsonify({"clock": iso(now)})


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks():
    """Read the webhook configuration and counters, or configure the subscriptions."""
    dispatcher = sandbox().webhooks
    if request.method == "POST":
        body = _body()
        try:
            dispatcher.configure(body.get("url"), body.get("subscriptions"), body.get("app_id"),
                                 body.get("retry_seconds"), body.get("max_attempts"))
        except (TypeError, ValueError) as error:
            raise ControlError(str(error)) from None
    return jsonify(dispatcher.stats())


@bp.post("/webhooks/redeliver_last")
def redeliver_last():
    """Send the last acknowledged webhook POST again."""
    ids = sandbox().webhooks.redeliver_last()
    if ids is None:
        raise ControlError("No webhook POST has been acknowledged yet, or webhooks are off.", 409)
    return jsonify({"event_ids": ids})


@bp.route("/card", methods=["GET", "POST"])
def card():
    """Read or set the app card shown on record pages."""
    settings = sandbox().settings
    if request.method == "POST":
        body = _body()
        settings.card_fetch_url = body.get("fetch_url") or None
        settings.card_title = body.get("title") or settings.card_title
    return jsonify({"fetch_url": settings.card_fetch_url, "title": settings.card_title})
