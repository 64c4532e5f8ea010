"""What every API endpoint shares: the gate (token, limits, faults), HubSpot's error shape, the sandbox lookup."""
from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from .core import HubSpotSandbox
from .records import RecordError
from .schema import canonical_type
from .scopes import missing, required

EXTENSION = "hubspot_sandbox"
SEARCH_SUFFIX = "/search"
THROTTLE_MESSAGES = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
                     "SECONDLY": "You have reached your secondly limit.",
                     "DAILY": "You have reached your daily limit."}


def correlation_id() -> str:
    """A fresh correlationId, as every HubSpot error carries."""
    return str(uuid.uuid4())


class ApiError(Exception):
    """An error answered in HubSpot's shape: {status: "error", message, correlationId, category, ...}."""

    def __init__(self, status: int, category: str, message: str, errors: list | None = None,
                 context: dict | None = None, headers: dict[str, str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.errors, self.context, self.headers, self.extra = errors, context, headers or {}, extra or {}

    @classmethod
    def from_record_error(cls, error: RecordError) -> "ApiError":
        return cls(error.status, error.category, error.message, error.errors or None, error.context or None)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "error", "message": self.message, "correlationId": correlation_id()}
        if self.category:
            body["category"] = self.category
        if self.errors:
            body["errors"] = self.errors
        if self.context:
            body["context"] = self.context
        body.update(self.extra)
        return body

    def response(self) -> Response:
        answer = jsonify(self.body())
        answer.status_code = self.status
        answer.headers.update(self.headers)
        return answer


def throttled(policy: str) -> ApiError:
    """HubSpot's 429: errorType RATE_LIMIT and the policy that was hit; search 429s name their group."""
    extra = {"errorType": "RATE_LIMIT", "policyName": policy}
    if policy == "SECONDLY":
        extra["groupName"] = "publicapi-search"
    return ApiError(429, "RATE_LIMITS", THROTTLE_MESSAGES.get(policy, THROTTLE_MESSAGES["TEN_SECONDLY_ROLLING"]),
                    extra=extra)


def missing_scopes(scopes: list[str]) -> ApiError:
    """HubSpot's 403 for a token without the scopes a call needs: category MISSING_SCOPES, the scopes in
    errors[].context.requiredGranularScopes (as HubSpot answers, e.g. in its developer forum threads)."""
    return ApiError(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call. "
                    "Read more about required scopes here: https://developers.hubspot.com/scopes.",
                    errors=[{"message": "One or more of the following scopes are required.",
                             "context": {"requiredGranularScopes": scopes}}],
                    extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}})


def sandbox() -> HubSpotSandbox:
    """The sandbox behind the current app."""
    return current_app.extensions[EXTENSION]


def bearer_token() -> str | None:
    """The access token of the request (Authorization: Bearer)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def object_type(name: str) -> str:
    """The plural object type from a URL segment, or 400 as HubSpot answers unknown types."""
    kind = canonical_type(name)
    if kind is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return kind


def json_body() -> Any:
    """The request's JSON body, or 400 VALIDATION_ERROR."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: the request body is not valid JSON.")
    return body


def _gate() -> Response | None:
    """Every API call: a live token, the limits and fault knobs; then it counts."""
    box = sandbox()
    token = bearer_token()
    if token is None:
        raise ApiError(401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports "
                       "OAuth 2.0 authentication; send the access token as a Bearer token.")
    grant = box.tokens.find(token, "access")
    if grant is None or grant.revoked:
        raise ApiError(401, "INVALID_AUTHENTICATION", "The OAuth token used to make this call is not valid; "
                       "it may have been revoked. Authorize again.")
    if grant.expires_at is not None and grant.expires_at <= time.time():
        minutes = int((time.time() - grant.expires_at) // 60)
        raise ApiError(401, "EXPIRED_AUTHENTICATION", f"The OAuth token used to make this call expired "
                       f"{minutes} minute(s) ago. Refresh it and try again.")
    g.grant, g.token = grant, token
    lacking = missing(required(request.method, request.path, canonical_type), set(grant.scope.split()))
    if lacking:
        raise missing_scopes(lacking)
    delay = box.faults.delay(request.path)
    if delay:
        time.sleep(delay)
    policy = box.faults.forced_throttle() or box.limits.admit(
        grant.client_id, token, request.method == "POST" and request.path.endswith(SEARCH_SUFFIX))
    if policy:
        raise throttled(policy)
    status = box.faults.failure(request.path)
    if status:
        raise ApiError(status, "INTERNAL_ERROR" if status < 503 else "SERVICE_UNAVAILABLE",
                       "An unexpected error occurred; this is a sandbox fault knob. Retry later.")
    return None


def api_blueprint(name: str, prefix: str) -> Blueprint:
    """A blueprint with the gate in front of every view."""
    blueprint = Blueprint(name, __name__, url_prefix=prefix)
    blueprint.before_request(_gate)
    return blueprint


def add_limit_headers(response: Response) -> Response:
    """X-HubSpot-RateLimit-* on every API answer, errors included."""
    if request.path.startswith(("/crm/", "/settings/", "/account-info/")):
        grant = getattr(g, "grant", None)
        response.headers.update(sandbox().limits.headers(grant.client_id if grant else ""))
    return response


def source() -> tuple[str, str]:
    """(changeSource, sourceId) of an API write: the calling app."""
    return "INTEGRATION", str(sandbox().settings.app_id)
