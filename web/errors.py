"""Client errors raised before a view runs (oversized or undecodable bodies) answered with a sentence."""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from web.limits import limit_for

MESSAGES = {
    413: "The request body is larger than Pipewise accepts at this address ({limit} bytes at most). "
         "Send a smaller request.",
    400: "Pipewise could not read this request: its body or parameters are malformed. "
         "Check the request and send it again.",
}


def _answer(status: int):
    message = MESSAGES[status].format(limit=limit_for(request.path))
    if request.path.startswith("/api/"):
        code = "body_too_large" if status == 413 else "malformed_request"
        return jsonify({"error": {"code": code, "message": message}}), status
    return message + "\n", status, {"Content-Type": "text/plain; charset=utf-8"}


# Signature timestamps are epoch milliseconds: ASCII digits only ("²" passes isdigit, not int()).
# Checked on the paths whose requests HubSpot signs.
TIMESTAMP_HEADERS = ("X-HubSpot-Request-Timestamp",)
SIGNED_PATHS = ("/webhooks/hubspot", "/embed/hubspot/")


def init_app(app: Flask) -> None:
    """Answer 413 and undecodable requests with what happened and what to do."""

    @app.before_request
    def _timestamps():
        if not request.path.startswith(SIGNED_PATHS):
            return None
        for name in TIMESTAMP_HEADERS:
            value = request.headers.get(name)
            if value is not None and not (value.isascii() and value.strip().isdigit() and len(value) <= 20):
                return (f"The {name} header must be a time in epoch milliseconds. The request was refused "
                        "unread; send it again with a valid signature.\n", 401,
                        {"Content-Type": "text/plain; charset=utf-8"})
        return None

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc):
        return _answer(413)

    @app.errorhandler(BadRequest)
    def _bad_request(exc):
        # Views that abort(400) with their own page keep it; only werkzeug's bare default is replaced.
        if exc.description and exc.description != BadRequest.description:
            return exc
        return _answer(400)
