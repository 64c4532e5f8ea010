"""The Flask app of a HubSpot sandbox portal."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from . import (account_info_api, associations_api, batch_api, control_api, currencies_api, oauth, objects_api,
               owners_api, pages, pipelines_api, properties_api, search_api, token_api, users_object_api,
               webhooks_api)
from .api import EXTENSION, ApiError, add_limit_headers
from .core import HubSpotSandbox


def create_app(box: HubSpotSandbox) -> Flask:
    """An app serving one portal: OAuth, CRM APIs, the control API, record pages and their app card."""
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")),
                static_folder=str(Path(__file__).with_name("static")), static_url_path="/_sandbox/static")
    app.extensions[EXTENSION] = box
    app.json.sort_keys = False
    blueprints = (oauth.bp, token_api.bp, webhooks_api.bp, search_api.bp, batch_api.bp, objects_api.bp,
                  properties_api.bp, associations_api.bp, owners_api.bp, owners_api.settings_bp, currencies_api.bp,
                  pipelines_api.bp, control_api.bp, pages.bp, account_info_api.bp, users_object_api.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_error_handler(ApiError, lambda error: error.response())
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(add_limit_headers)
    return app


def _http_error(error: HTTPException):
    """Routing errors in HubSpot's JSON shape under the API paths, plain pages elsewhere."""
    if request.path.startswith(("/crm/", "/settings/", "/oauth/", "/webhooks/", "/account-info/")):
        category = "OBJECT_NOT_FOUND" if error.code == 404 else "VALIDATION_ERROR"
        message = "resource not found" if error.code == 404 else error.description
        return ApiError(error.code or 400, category, message).response()
    return error
