"""The sandbox's own control API under /_sandbox/ (tests and scripts; not part of Dataverse)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from connectors.sandbox_kit.control_routes import ControlError, add_common_routes

from .api import ApiError, sandbox
from .entity import resolve
from .values import parse_body, stamp

bp = Blueprint("dynamics_control", __name__, url_prefix="/_sandbox")


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


add_common_routes(bp, sandbox, _body)


@bp.get("/info")
def info():
    return jsonify(sandbox().info(request.host_url.rstrip("/")))


@bp.post("/reset_usage")
def reset_usage():
    sandbox().limits.reset()
    return jsonify({"reset": True})


@bp.post("/clock")
def clock():
    """Move the environment's clock forward by advance_seconds."""
    try:
        moment = sandbox().clock.advance(float(_body().get("advance_seconds", 0)))
    except ValueError as error:
        raise ControlError(str(error)) from None
    return jsonify({"clock": stamp(moment)})


@bp.post("/token")
def token():
    """An access token for a user (sign-in name or id; the admin by default) without the sign-in pages."""
    box = sandbox()
    body = _body()
    user = box.user(body.get("user") or box.store.meta("admin_id"))
    if user is None:
        raise ControlError("No user of this environment has that sign-in name or id.", 404)
    ttl = float(body.get("ttl_seconds") or box.settings.token_ttl_seconds)
    scope = f"{request.host_url.rstrip('/')}/user_impersonation"
    access, refresh = box.tokens.issue(user["systemuserid"], box.settings.client_id, scope, ttl,
                                       bool(body.get("refresh")))
    return jsonify({"access_token": access, "refresh_token": refresh, "user_id": user["systemuserid"]})


@bp.route("/records/<logical>", methods=["POST"])
@bp.route("/records/<logical>/<record_id>", methods=["PATCH", "DELETE"])
def records(logical: str, record_id: str | None = None):
    """Create, update or delete a row as a user working in the app would (webhooks fire)."""
    box = sandbox()
    table = box.tables.get(logical)
    if table is None:
        raise ControlError(f"There is no table named {logical}.", 404)
    body = _body()
    user = box.user(body.get("as_user")) if body.get("as_user") else box.user(box.store.meta("admin_id"))
    try:
        if request.method == "DELETE":
            box.writer.delete(table, record_id, user["systemuserid"])
            return jsonify({"id": record_id})
        values = parse_body(table, body.get("values") or {}, request.method == "POST", resolve)
        if request.method == "POST":
            record_id = box.writer.create(table, values, user["systemuserid"])
        else:
            box.writer.update(table, record_id, values, user["systemuserid"])
    except ApiError as error:
        raise ControlError(error.message, error.status) from None
    return jsonify({"id": record_id, "row": box.store.get(logical, record_id)})


@bp.get("/webhooks")
def webhook_log():
    """Every webhook request made so far: URL, headers, size trim, and the status of each attempt."""
    box = sandbox()
    box.sender.wait_idle(float(request.args.get("wait", 0) or 0))
    return jsonify({"posts": [{"url": p.url, "headers": p.headers, "entity": p.entity, "message": p.message,
                               "id": p.record_id, "trimmed": p.trimmed, "attempts": p.attempts,
                               "bytes": len(p.body)} for p in box.sender.log]})


@bp.post("/web_resource")
def web_resource():
    """Show the Pipewise IFRAME at this URL on opportunity, lead and user forms (null: none), optionally with
    "Restrict cross-frame scripting" checked."""
    body = _body()
    settings = sandbox().settings
    settings.web_resource_url = body.get("url") or None
    settings.web_resource_restricted = bool(body.get("restricted"))
    return jsonify({"url": settings.web_resource_url, "restricted": settings.web_resource_restricted})


@bp.post("/change_tracking")
def change_tracking():
    """Turn change tracking on for a table (as the maker portal's Track changes box; it stays on)."""
    box = sandbox()
    logical = _body().get("table", "")
    if logical not in box.tables:
        raise ControlError(f"There is no table named {logical}.", 404)
    box.enable_tracking(logical)
    return jsonify({"table": logical, "enabled": True})
