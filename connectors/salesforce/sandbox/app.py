"""The Flask app of a Salesforce sandbox org."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import bulk, composite, composite_request, control_api, control_triggers, oauth, pages, query, rest
from .api import EXTENSION, ApiError, add_limit_header
from .core import Sandbox


def create_app(box: Sandbox) -> Flask:
    """An app serving one sandbox org: OAuth, REST, the control API, record pages and their Canvas app."""
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")))
    app.extensions[EXTENSION] = box
    app.json.sort_keys = False
    for blueprint in (oauth.bp, rest.bp, query.bp, bulk.bp, composite.bp, composite_request.bp, control_api.bp,
                      control_triggers.bp, pages.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(ApiError, lambda error: error.response())
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(add_limit_header)

    @app.get("/services/data/")
    def versions():
        """The API versions this org speaks."""
        version = box.settings.api_version
        return jsonify([{"label": "Winter '24", "url": f"/services/data/v{version}", "version": version}])

    return app


def _http_error(error: HTTPException):
    """Routing errors: Salesforce's JSON array under /services, plain text elsewhere."""
    if request.path.startswith("/services/"):
        code = "NOT_FOUND" if error.code == 404 else "METHOD_NOT_ALLOWED" if error.code == 405 else "INVALID_REQUEST"
        message = "The requested resource does not exist" if error.code == 404 else error.description
        return ApiError(error.code or 400, code, message).response()
    return error
