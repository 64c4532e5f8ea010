"""What every Web API route shares: the error shape, the sandbox handle, the service root and Prefer parsing.

Errors are {"error": {"code": "0x...", "message": "..."}} (execute-batch-operations-using-web-api.md shows
{"error":{"code":"0x80044331","message":"A validation error occurred. ..."}}). Codes come from the Dataverse
error catalogue (reference/web-service-error-codes.md, data-service-errors.md); where the docs give a message
but no code the choice is marked in the comment next to it.
"""
from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify, request

EXTENSION = "dynamics_sandbox"
API_PREFIX = "/api/data/v9.2"

# Codes from the error catalogue (hex and name as listed there).
OBJECT_DOES_NOT_EXIST = "0x80040217"        # ObjectDoesNotExist
VALIDATION = "0x80044331"                    # the batch doc's "A validation error occurred." example
PAYLOAD = "0x80048d19"                       # payload that does not parse against the entity type
INVALID_ARGUMENT = "0x80040203"              # InvalidArgument
PROPERTY_NOT_FOUND = "0x80060888"            # OData "Could not find a property named ..."
CHANGE_TRACKING_OFF = "0x80072491"           # ChangeTrackingNotEnabledForEntity
EXPIRED_VERSION_STAMP = "0x80044352"         # ExpiredVersionStamp
ACCESS_DENIED = "0x80048405"                 # AccessDenied
DUPLICATE = "0x80040237"                     # DuplicateRecord ("Cannot insert duplicate key.")


class ApiError(Exception):
    """A Web API error answered as {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    def response(self):
        answer = jsonify(self.body())
        answer.status_code = self.status
        answer.headers["OData-Version"] = "4.0"
        for name, value in self.headers.items():
            answer.headers[name] = value
        return answer


def not_found(logical: str, record_id: str) -> ApiError:
    return ApiError(404, OBJECT_DOES_NOT_EXIST, f"{logical} With Id = {record_id} Does Not Exist")


def sandbox():
    """The DynamicsSandbox behind the current request."""
    return current_app.extensions[EXTENSION]


def service_root() -> str:
    """[Organization URI]/api/data/v9.2 as the client reached it."""
    return request.host_url.rstrip("/") + API_PREFIX


def preferences() -> dict[str, str | None]:
    """The Prefer header as {name: value or None}; several headers or comma lists both work."""
    found: dict[str, str | None] = {}
    for header in request.headers.getlist("Prefer"):
        for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header):
            name, _, value = part.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"') if value else None
    return found


GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_guid(text: str) -> str:
    """A lower-case GUID from text with or without braces; ApiError when it is not one."""
    value = text.strip().strip("{}")
    if not GUID.match(value):
        raise ApiError(400, PAYLOAD, f"Unrecognized 'Edm.Guid' literal '{text}'.")
    return value.lower()
