"""The Web API root: bearer-token checks, service protection limits and faults, then routing by path.

A missing or dead token answers 401 with `WWW-Authenticate: Bearer authorization_uri=...` naming the tenant's
authorize endpoint and the resource (what Dataverse sends so a client can find where to sign in). Requests made
inside a $batch are checked once, as the batch.
"""
from __future__ import annotations

import re
import time

from flask import Blueprint, Response, g, jsonify, request

from . import batch, bulk, collection, csdl, entity, metadata
from .api import API_PREFIX, ApiError, not_found, parse_guid, sandbox, service_root
from .values import Annotations, to_wire

bp = Blueprint("dynamics_webapi", __name__)
ENTITY = re.compile(r"^(\w+)\(([^)]*)\)$")
USER_ROLES = re.compile(r"^systemusers\(([^)]*)\)/systemuserroles_association$")
ACTION = re.compile(r"^(\w+)/Microsoft\.Dynamics\.CRM\.(\w+)$")


def _unauthorized() -> Response:
    box = sandbox()
    host = request.host_url.rstrip("/")
    return Response(status=401, headers={
        "WWW-Authenticate": f"Bearer authorization_uri={host}/{box.settings.tenant_id}/oauth2/authorize, "
                            f"resource_id={host}/"})


@bp.before_request
def _guard():
    """Authenticate, then count the request against the caller's limits; injected faults come first."""
    if request.environ.get("dynamics.inner"):
        return None
    box = sandbox()
    header = request.headers.get("Authorization", "")
    found = box.tokens.find(header[7:], "access") if header.startswith("Bearer ") else None
    if found is None or not found["scope"].startswith(request.host_url.rstrip("/") + "/"):
        return _unauthorized()
    g.dynamics_user = found["user_id"]
    knobs = box.faults.knobs
    if box.faults.take("fail_next"):
        return ApiError(knobs.fail_status, "0x80040216", "An unexpected error occurred.").response()
    admission = box.limits.admit(found["user_id"])
    admission.__enter__()
    g.dynamics_admission = admission
    if knobs.slow_seconds:
        time.sleep(knobs.slow_seconds)
    return None


@bp.teardown_request
def _release(_error=None):
    admission = g.pop("dynamics_admission", None)
    if admission is not None:
        admission.__exit__(None, None, None)


@bp.route(f"{API_PREFIX}/<path:path>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def dispatch(path: str):
    """Every Web API path: $batch, WhoAmI, EntityDefinitions, entity sets, rows and bound actions."""
    if path == "$batch" and request.method == "POST":
        return batch.execute()
    if path == "$metadata":
        return csdl.document()
    if path in ("WhoAmI", "WhoAmI()"):
        return _who_am_i()
    if path.startswith("EntityDefinitions"):
        return metadata.handle(path)
    user_roles = USER_ROLES.match(path)
    if user_roles and request.method == "GET":
        return _user_roles(user_roles.group(1))
    action = ACTION.match(path)
    if action and request.method == "POST":
        table = entity.table_named(action.group(1))
        if action.group(2) not in bulk.MESSAGES:
            raise ApiError(404, "0x80060888", f"Resource not found for the segment "
                                              f"'Microsoft.Dynamics.CRM.{action.group(2)}'.")
        return bulk.run(table, action.group(2))
    single = ENTITY.match(path)
    if single:
        table = entity.table_named(single.group(1))
        handlers = {"GET": entity.retrieve, "PATCH": entity.update, "DELETE": entity.delete}
        if request.method not in handlers:
            raise ApiError(405, "0x80060888", f"The request method {request.method} is not allowed on a record.")
        return handlers[request.method](table, single.group(2))
    table = entity.table_named(path)
    if request.method == "GET":
        return collection.read_collection(table)
    if request.method == "POST":
        return entity.create(table)
    raise ApiError(405, "0x80060888", f"The request method {request.method} is not allowed on a collection.")


def _who_am_i():
    box = sandbox()
    return jsonify({"@odata.context": f"{service_root()}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                    "BusinessUnitId": box.store.meta("business_unit_id"), "UserId": box.caller(),
                    "OrganizationId": box.store.meta("organization_id")})


def _user_roles(user_id: str):
    """The security roles a user holds: the collection-valued navigation property systemuserroles_association."""
    box = sandbox()
    user = box.store.get("systemuser", parse_guid(user_id))
    if user is None:
        raise not_found("systemuser", user_id)
    table = box.tables["role"]
    select = collection.parse_select(table)
    held = {r["roleid"] for r in box.store.rows("systemuserroles") if r["systemuserid"] == user["systemuserid"]}
    roles = [r for r in box.store.rows("role") if r["roleid"] in held]
    return jsonify({"@odata.context": f"{service_root()}/$metadata#roles" + (f"({','.join(select)})" if select else ""),
                    "value": [to_wire(table, r, select, Annotations(None), box.name_of) for r in roles]})
