"""Control API for Outbound Messages and the Canvas app, under /_sandbox/ like the rest.

GET  outbound                     url, objects, counters (notifications, sent, acked, failed, pending) and recent
                                  delivery attempts
POST outbound {url, objects?, fields?, retry_seconds?, retry_max_seconds?, ca_bundle?}   turn on (url) or
                                  off (null); fields: {"Lead": ["Id", ...]}, what each definition sends;
                                  ca_bundle: a CA file for an https receiver with a private certificate
POST outbound/redeliver_last      send the last acknowledged message again, same notification ids
GET  canvas / POST canvas {canvas_url}   read / set where record pages POST the signed_request
POST canvas/signed_request {object, record_id, as_user?, location_url?}   a signed request without a browser
"""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, jsonify

from connectors.sandbox_kit.control_routes import ControlError, control_error_response

from .api import instance_url, sandbox
from .canvas import canvas_context, find_user, signed_request
from .control_api import _body
from .ids import looks_like_id, to_18
from .schema import OBJECTS, READ_ONLY_OBJECTS, canonical_object

bp = Blueprint("salesforce_control_triggers", __name__, url_prefix="/_sandbox")
bp.register_error_handler(ControlError, control_error_response)


def check_url(url: object, what: str) -> str | None:
    """An http(s) URL or None; anything else is refused with a sentence."""
    if url is None or url == "":
        return None
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ControlError(f"{what} must be an http:// or https:// URL, or null to turn it off; got {url!r}.")
    return url


def check_objects(objects: object) -> list[str] | None:
    """Canonical names of writable objects, or None to keep the current ones."""
    if objects is None:
        return None
    if not isinstance(objects, list) or not all(isinstance(name, str) for name in objects):
        raise ControlError('objects must be a list of object names, e.g. ["Lead", "Opportunity"].')
    names = []
    for name in objects:
        found = canonical_object(name)
        if found is None or found in READ_ONLY_OBJECTS:
            writable = ", ".join(n for n in OBJECTS if n not in READ_ONLY_OBJECTS)
            raise ControlError(f"Outbound messages cannot watch {name}; choose among {writable}.")
        names.append(found)
    return names


@bp.get("/outbound")
def outbound_stats():
    """Outbound configuration and delivery counters."""
    return jsonify(sandbox().outbound.stats())


@bp.post("/outbound")
def configure_outbound():
    """Send outbound messages to url for the given objects; url null turns them off."""
    body = _body()
    if "url" not in body:
        raise ControlError('Send {"url": "http://127.0.0.1:PORT/path", "objects": ["Lead", ...]} '
                           '(url null turns outbound messages off).')
    url = check_url(body["url"], "url")
    objects = check_objects(body.get("objects"))
    retry = {}
    for key in ("retry_seconds", "retry_max_seconds"):
        if body.get(key) is not None:
            try:
                retry[key] = float(body[key])
            except (TypeError, ValueError):
                raise ControlError(f"{key} must be a number of seconds.") from None
            if retry[key] <= 0:
                raise ControlError(f"{key} must be more than 0 seconds.")
    fields = body.get("fields")
    if fields is not None:
        if not isinstance(fields, dict) or not all(isinstance(v, list) for v in fields.values()):
            raise ControlError('fields must map objects to the fields their message sends, e.g. {"Lead": ["Id"]}.')
        sandbox().settings.outbound_fields = {
            canonical_object(name) or name: tuple(["Id", *[f for f in chosen if f != "Id"]])
            for name, chosen in fields.items()}
    ca_bundle = body.get("ca_bundle")
    if ca_bundle is not None and not isinstance(ca_bundle, str):
        raise ControlError("ca_bundle must be the path of a CA certificate file, or an empty string for the "
                           "default trust store.")
    outbound = sandbox().outbound
    outbound.instance_url = instance_url()
    outbound.configure(url, objects, ca_bundle=ca_bundle, **retry)
    return jsonify(outbound.stats())


@bp.post("/outbound/redeliver_last")
def redeliver_last():
    """Queue the last acknowledged message again with the same notification ids (a duplicate)."""
    ids = sandbox().outbound.redeliver_last()
    if ids is None:
        raise ControlError("No outbound message has been acknowledged yet (or outbound messages are off): "
                           "configure a url, change a record, wait for the ack, then redeliver.", 409)
    return jsonify({"notification_ids": ids})


@bp.route("/canvas", methods=["GET", "POST"])
def canvas():
    """Read or set the Canvas app URL that record pages POST their signed_request to."""
    box = sandbox()
    body = _body()
    if body:
        if "canvas_url" not in body:
            raise ControlError('Send {"canvas_url": "https://host/canvas"} (null removes the Canvas app).')
        box.settings.canvas_url = check_url(body["canvas_url"], "canvas_url")
        if "user_canvas_url" in body:
            box.settings.user_canvas_url = check_url(body["user_canvas_url"], "user_canvas_url")
    return jsonify({"canvas_url": box.settings.canvas_url, "user_canvas_url": box.settings.user_canvas_url})


@bp.post("/canvas/signed_request")
def make_signed_request():
    """A signed request for a record as a record page would POST it, for tests without a browser."""
    box = sandbox()
    body = _body()
    name = canonical_object(str(body.get("object", "")))
    record_id = body.get("record_id")
    if name is None or not looks_like_id(record_id):
        raise ControlError('Send {"object": "Lead", "record_id": "00Q...", "as_user": "<username>"?}.')
    row = box.store.get(name, to_18(record_id))
    if row is None:
        raise ControlError(f"No {name} has the id {record_id}.", 404)
    user = find_user(box, body.get("as_user"))
    if user is None:
        raise ControlError(f"No active sandbox user has the username or id {body.get('as_user')!r}.", 404)
    canvas_url = body.get("canvas_url") or box.settings.canvas_url or ""
    location = body.get("location_url") or f"{instance_url()}/lightning/r/{name}/{row['Id']}/view"
    context = canvas_context(box, user, name, row, instance_url(), location, canvas_url)
    return jsonify({"signed_request": signed_request(box, context), "context": context})
