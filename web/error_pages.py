"""Server-side failures answered with a page (or JSON) that says what happened and what to do."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import InternalServerError

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
BUSY = ("Pipewise could not save this because a background job (a sync, scoring or training) was writing "
        "to the store at the same moment. Nothing was lost: this change was not made, and what was saved "
        "before is intact. Wait a few seconds and try again.")
FAILED = ("Something went wrong on Pipewise's side while answering this request. What was saved before is "
          "intact; this action may not have been completed. Try again; if it fails again, the server log "
          "has the details.")


def store_busy(exc: BaseException) -> bool:
    """Whether an error is SQLite's lock timeout (another process held the store's write lock)."""
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text)


def _answer(status: int, code: str, title: str, message: str, headers: dict | None = None):
    if request.path.startswith("/api/"):
        return jsonify({"error": {"code": code, "message": message}}), status, headers or {}
    # Back to the page the admin came from when it is one of ours (a POST has no page of its own).
    referrer = request.referrer or ""
    back = referrer if referrer.startswith(request.host_url) else request.host_url
    return (render_template("error.html", title=title, message=message, status=status, back=back),
            status, headers or {})


def init_app(app: Flask) -> None:
    """Answer a locked store with 503 and a retry hint, and any other failure with a readable 500."""

    @app.errorhandler(OperationalError)
    def _operational(exc):
        if not store_busy(exc):
            raise exc
        log.warning("web.store-busy path=%s", request.path)
        return _answer(503, "store_busy", "Busy for a moment", BUSY,
                       {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(InternalServerError)
    def _failed(exc):
        original = getattr(exc, "original_exception", None)
        if original is not None and store_busy(original):
            return _operational(original)
        return _answer(500, "server_error", "Something went wrong", FAILED)
