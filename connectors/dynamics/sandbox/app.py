"""The Flask app of one Dataverse sandbox environment."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from . import control_api, entra, pages, webapi
from .api import API_PREFIX, EXTENSION, ApiError
from .core import DynamicsSandbox


def create_app(box: DynamicsSandbox) -> Flask:
    """An app serving the tenant's sign-in endpoints, the Web API, record forms and the control API."""
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")))
    app.extensions[EXTENSION] = box
    app.json.sort_keys = False
    for blueprint in (entra.bp, webapi.bp, pages.bp, control_api.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(ApiError, lambda error: error.response())
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error: HTTPException):
    """Routing errors in the Web API's JSON shape under /api/data, plain pages elsewhere."""
    if request.path.startswith(API_PREFIX):
        return ApiError(error.code or 400, "0x80060888", error.description or "Resource not found.").response()
    return error
