"""Control API pieces both sandboxes serve under /_sandbox/: the error answer, knobs and token routes."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable

from flask import Blueprint, jsonify, request


class ControlError(Exception):
    """A control request that cannot be served; answered as {"error": sentence}."""

    def __init__(self, message: str, status: int = 400, errors: list | None = None):
        super().__init__(message)
        self.message, self.status, self.errors = message, status, errors


def control_error_response(error: ControlError):
    """The JSON answer to a ControlError: {"error": sentence, "errors"?: [...]}."""
    body: dict[str, Any] = {"error": error.message}
    if error.errors:
        body["errors"] = error.errors
    return jsonify(body), error.status


def add_common_routes(bp: Blueprint, sandbox: Callable[[], Any], read_body: Callable[[], dict]) -> None:
    """Answer ControlError on bp and serve knobs, expire_tokens and revoke_tokens from sandbox()."""
    bp.register_error_handler(ControlError, control_error_response)

    @bp.route("/knobs", methods=["GET", "POST"])
    def knobs():
        """Read or set fault knobs."""
        faults = sandbox().faults
        if request.method == "POST":
            try:
                faults.update(read_body())
            except (ValueError, TypeError) as error:
                raise ControlError(str(error)) from None
        return jsonify(asdict(faults.knobs))

    @bp.post("/expire_tokens")
    def expire_tokens():
        """End every access token now."""
        return jsonify({"expired": sandbox().tokens.expire_access_tokens()})

    @bp.post("/revoke_tokens")
    def revoke_tokens():
        """Revoke every token, refresh tokens included."""
        return jsonify({"revoked": sandbox().tokens.revoke_all()})
