"""What every REST endpoint shares: the gate (auth, quota, faults), errors and the sandbox lookup."""
from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from .core import Sandbox
from .schema import canonical_object
from .security import FieldAccess

EXTENSION = "salesforce_sandbox"
VERSION = re.compile(r"^v(\d+\.\d)$")
# Set in the WSGI environ of a composite subrequest: it runs as its parent's user and is not counted.
SUBREQUEST = "pipewise.sandbox.subrequest"
# OAuth scopes that let a token use the REST API (Salesforce Help, "OAuth Tokens and Scopes").
API_SCOPES = {"api", "full"}


class ApiError(Exception):
    """An error answered as Salesforce does: a JSON array of {message, errorCode[, fields]}."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields, headers or {}

    def response(self) -> Response:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        answer = jsonify([entry])
        answer.status_code = self.status
        answer.headers.update(self.headers)
        return answer


def sandbox() -> Sandbox:
    """The sandbox behind the current app."""
    return current_app.extensions[EXTENSION]


def instance_url() -> str:
    """The URL this request reached the sandbox at, as Salesforce's instance_url."""
    return request.host_url.rstrip("/")


def bearer_token() -> str | None:
    """The access token of the request (Authorization: Bearer or OAuth)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") and token.strip() else None


def object_or_404(name: str) -> str:
    """The canonical object name from a URL, or 404 NOT_FOUND (also for a feature object the org lacks)."""
    found = canonical_object(name)
    if found is None or not sandbox().object_available(found, g.get("user_id")):
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return found


def access() -> FieldAccess:
    """The field-level security of the request's user, read once per request."""
    if "field_access" not in g:
        g.field_access = sandbox().field_access(g.user_id)
    return g.field_access


def json_body() -> Any:
    """The request's JSON body, or 400 JSON_PARSER_ERROR."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON.")
    return body


def _take_version(endpoint: str | None, values: dict | None) -> None:
    version = (values or {}).pop("version", "")
    match = VERSION.match(version)
    if not match:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    g.api_version = match.group(1)


def _gate() -> Response | None:
    """Every REST call: a valid API session, quota and concurrency left, then the fault knobs; then it counts."""
    box = sandbox()
    token = bearer_token()
    grant = box.tokens.lookup(token, "access") if token else None
    if grant is None:
        raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if not API_SCOPES & set(grant.scope.split()):
        # A token granted without the api scope (sign-in with id only, say) cannot call the REST API.
        raise ApiError(401, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")
    g.user_id = grant.user_id
    if request.environ.get(SUBREQUEST):
        return None
    if box.usage.exhausted():
        raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    slot = box.concurrency.enter()
    if slot is None:
        raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
    g.concurrency_slot = slot
    knobs = box.faults.knobs
    if knobs.delay_ms:
        time.sleep(knobs.delay_ms / 1000)
    fault = box.faults.fault_for(request.path)
    if fault:
        status, headers, body = fault
        answer = jsonify(body)
        answer.status_code = status
        answer.headers.update(headers)
        return answer
    if not box.usage.spend():
        raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    return None


def _leave(_error: BaseException | None = None) -> None:
    slot = g.pop("concurrency_slot", None)
    if slot is not None:
        sandbox().concurrency.leave(slot)


def rest_blueprint(name: str) -> Blueprint:
    """A blueprint under /services/data/vNN.N with the gate in front of every view."""
    blueprint = Blueprint(name, __name__, url_prefix="/services/data/<version>")
    blueprint.url_value_preprocessor(_take_version)
    blueprint.before_request(_gate)
    blueprint.teardown_request(_leave)
    return blueprint


def add_limit_header(response: Response) -> Response:
    """Sforce-Limit-Info on every REST answer, errors included."""
    if request.path.startswith("/services/data"):
        response.headers["Sforce-Limit-Info"] = sandbox().usage.header()
    return response
