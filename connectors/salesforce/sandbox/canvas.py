"""Canvas signed requests: the context Salesforce POSTs to a Canvas app, signed with the consumer secret.

Shaped after the Canvas Developer Guide: CanvasRequest (``issuedAt`` is for internal use; the guide's
example sends null), Environment (``displayLocation`` PageLayout on a record page) and Record (the
record the app sits on: ``attributes`` and ``Id`` only unless a Visualforce page asks for more fields;
empty off record pages). ``parameters`` holds only what an admin configured: nothing here. Each
Canvas app is its own app with its own consumer key and secret: the rep panel's app signs record
pages, the team panel's app (a second app) signs User pages.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from .core import Sandbox
from .ids import make_id

CANVAS_SCOPE = "api web refresh_token"
FRAME_NAME = "pipewise-canvas"
FRAME_WIDTH, FRAME_HEIGHT = "100%", "640px"
APPROVAL_REQUIRED = "user_approval_required"  # the _sfdc_canvas_authvalue of a self-authorize GET


def sign(envelope: str, secret: str) -> str:
    """base64(HMAC-SHA256(secret, envelope)), standard alphabet, as Salesforce signs."""
    digest = hmac.new(secret.encode(), envelope.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def app_for(box: Sandbox, object_name: str) -> tuple[str, str, str]:
    """(name, consumer key, consumer secret) of the Canvas app placed on this object's pages."""
    settings = box.settings
    if object_name == "User" and settings.user_canvas_url:
        return f"{settings.app_name} Team", settings.team_client_id, settings.team_client_secret
    return settings.app_name, settings.client_id, settings.client_secret


def needs_approval(box: Sandbox, user_id: str, client_id: str) -> bool:
    """A self-authorized app the user has not approved yet gets a GET instead of the signed POST."""
    if box.settings.canvas_permitted_users != "self_authorized":
        return False
    return not box.store.fetchall("SELECT 1 FROM _approvals WHERE user_id = ? AND client_id = ?",
                                  (user_id, client_id))


def _user_context(box: Sandbox, user: dict[str, Any], instance_url: str) -> dict[str, Any]:
    return {
        "userId": user["Id"], "userName": user["Username"], "firstName": user.get("FirstName"),
        "lastName": user.get("LastName"), "email": user.get("Email"), "fullName": user.get("Name"),
        "locale": "en_US", "language": "en_US", "timeZone": "GMT", "userType": "STANDARD",
        "roleId": user.get("UserRoleId"), "profileId": user.get("ProfileId"),
        "currencyISOCode": "USD", "accessibilityModeEnabled": False, "isDefaultNetwork": True,
        "profilePhotoUrl": f"{instance_url}/profilephoto/005/F",
        "profileThumbnailUrl": f"{instance_url}/profilephoto/005/T",
        "siteUrl": None, "siteUrlPrefix": None, "networkId": None,
    }


def canvas_context(box: Sandbox, user: dict[str, Any], object_name: str, record: dict[str, Any],
                   instance_url: str, location_url: str, canvas_url: str) -> dict[str, Any]:
    """The signed request's JSON for a record page viewed by user, with their OAuth token for the app."""
    version = box.settings.api_version
    app_name, client_id, _secret = app_for(box, object_name)
    token = _session_token(box, user["Id"], client_id)
    record_url = f"/services/data/v{version}/sobjects/{object_name}/{record['Id']}"
    data = f"/services/data/v{version}"
    return {
        "algorithm": "HMACSHA256",
        "issuedAt": None,
        "userId": user["Id"],
        "client": {"instanceId": f"_:{app_name}:{record['Id']}:canvasapp",
                   "instanceUrl": instance_url, "oauthToken": token, "refreshToken": None,
                   "targetOrigin": instance_url},
        "context": {
            "application": {"name": app_name, "canvasUrl": canvas_url, "authType": "SIGNED_REQUEST",
                            "namespace": "", "developerName": app_name.replace(" ", "_"),
                            "applicationId": make_id("09H", 1), "version": "1.0", "referenceId": make_id("09H", 2),
                            "options": [], "samlInitiationMethod": "None", "isInstalledPersonalApp": False},
            "user": _user_context(box, user, instance_url),
            "environment": {
                "displayLocation": "PageLayout", "subLocation": None, "uiTheme": "Theme4d",
                "locationUrl": location_url,
                "dimensions": {"width": FRAME_WIDTH, "height": FRAME_HEIGHT, "maxWidth": "1000px",
                               "maxHeight": "2000px", "clientWidth": "0px", "clientHeight": "0px"},
                "record": {"attributes": {"type": object_name, "url": record_url}, "Id": record["Id"]},
                "parameters": {},
                "version": {"api": version, "season": "WINTER"},
            },
            # The Canvas guide's Organization context: multicurrencyEnabled and the corporate currency.
            "organization": {"organizationId": box.org_id, "name": box.settings.org_name,
                             "multicurrencyEnabled": box.store.currency_mode != "single", "namespacePrefix": None,
                             "currencyIsoCode": box.corporate_currency()},
            "links": {"loginUrl": instance_url, "restUrl": f"{data}/", "sobjectUrl": f"{data}/sobjects/",
                      "queryUrl": f"{data}/query/", "metadataUrl": f"/services/Soap/m/{version}/{box.org_id[:15]}",
                      "enterpriseUrl": f"/services/Soap/c/{version}/{box.org_id[:15]}",
                      "partnerUrl": f"/services/Soap/u/{version}/{box.org_id[:15]}",
                      "userUrl": f"/{user['Id']}", "userProfileUrl": f"/{user['Id']}"},
        },
    }


def _session_token(box: Sandbox, user_id: str, client_id: str) -> str:
    """The user's live access token for the app, reused while it lasts (a reload resends the same one)."""
    rows = box.store.fetchall("SELECT token FROM _tokens WHERE kind = 'access' AND user_id = ? AND client_id = ? "
                              "AND scope = ? AND revoked = 0 AND expires_at > ? ORDER BY issued_at DESC LIMIT 1",
                              (user_id, client_id, CANVAS_SCOPE, time.time() + 60))
    if rows:
        return rows[0][0]
    token, _ = box.tokens.issue_access(user_id, client_id, CANVAS_SCOPE, box.faults.knobs.token_ttl_seconds)
    return token


def signed_request(box: Sandbox, context: dict[str, Any]) -> str:
    """signature + "." + envelope, where envelope is base64 of the JSON context, signed by its app's secret."""
    envelope = base64.b64encode(json.dumps(context, separators=(",", ":")).encode()).decode()
    object_name = context["context"]["environment"]["record"].get("attributes", {}).get("type", "")
    secret = app_for(box, object_name)[2]
    return f"{sign(envelope, secret)}.{envelope}"


def find_user(box: Sandbox, username: str | None) -> dict[str, Any] | None:
    """An active user by Username or Id; the admin when username is empty."""
    if not username:
        return box.store.get("User", box.admin_id)
    rows = box.store.select("User", '("Username" = ? OR "Id" = ?) AND "IsDeleted" = 0 AND "IsActive" = 1',
                            [username, username])
    return rows[0] if rows else None
