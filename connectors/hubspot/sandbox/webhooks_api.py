"""The app's webhook subscriptions as the Webhooks API v3 lists them to the app's developer.

GET /webhooks/v3/{appId}/subscriptions answers SubscriptionListResponse (HubSpot's description
PublicApiSpecs/Webhooks/Webhooks/Rollouts/147891/v3/webhooks.json). Subscriptions belong to the app, not
to a portal: the call authenticates the developer (the developer API key as `hapikey`, which the official
client sends), never with a portal's OAuth token; a portal token gets 401.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, jsonify, request

from .api import ApiError, sandbox

bp = Blueprint("hubspot_webhooks_api", __name__)
CREATED_AT = "2017-01-01T00:00:00.000Z"


def _developer() -> None:
    key = request.args.get("hapikey", "")
    if not key or not secrets.compare_digest(key, sandbox().settings.developer_api_key):
        raise ApiError(401, "INVALID_AUTHENTICATION", "The webhooks API takes the developer account's "
                       "credentials (hapikey); a portal's OAuth token cannot read an app's subscriptions.")


@bp.get("/webhooks/<any(v3, \"2026-03\"):version>/<int:app_id>/subscriptions")
def subscriptions(version: str, app_id: int):
    """Every subscription of the app, active or paused."""
    _developer()
    box = sandbox()
    if app_id != box.settings.app_id:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"No app with id {app_id} belongs to this developer account.")
    results = []
    for sub in box.webhooks.subscriptions:
        item = {"id": str(sub["id"]), "eventType": sub["subscriptionType"], "active": sub["active"],
                "createdAt": CREATED_AT, "updatedAt": CREATED_AT}
        if sub.get("objectTypeId"):
            item["objectTypeId"] = sub["objectTypeId"]
        if sub.get("propertyName"):
            item["propertyName"] = sub["propertyName"]
        results.append(item)
    return jsonify({"results": results})
