"""Canvas signed requests: the context Salesforce POSTs to a Canvas app, signed with the consumer secret."""
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
# Sandbox users carry a profile name, not a Profile record: a stable made-up 00e id per profile.
PROFILE_NUMBERS = {"System Administrator": 1, "Sales Manager": 2, "Sales Representative": 3}


def sign(envelope: str, secret: str) -> str:
    """base64(HMAC-SHA256(secret, envelope)), standard alphabet, as Salesforce signs."""
    digest = hmac.new(secret.encode(), envelope.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _user_context(box: Sandbox, user: dict[str, Any], instance_url: str) -> dict[str, Any]:
    profile = user.get("ProfileName__c") or ""
    return {
        "userId": user["Id"], "userName": user["Username"], "firstName": user.get("FirstName"),
        "lastName": user.get("LastName"), "email": user.get("Email"), "fullName": user.get("Name"),
        "locale": "en_US", "language": "en_US", "timeZone": "GMT", "userType": "STANDARD",
        "roleId": None, "profileId": make_id("00e", PROFILE_NUMBERS.get(profile, 9)),
        "currencyISOCode": "USD", "accessibilityModeEnabled": False, "isDefaultNetwork": True,
        "profilePhotoUrl": f"{instance_url}/profilephoto/005/F",
        "profileThumbnailUrl": f"{instance_url}/profilephoto/005/T",
        "siteUrl": None, "siteUrlPrefix": None, "networkId": None,
    }


def canvas_context(box: Sandbox, user: dict[str, Any], object_name: str, record: dict[str, Any],
                   instance_url: str, location_url: str, canvas_url: str) -> dict[str, Any]:
    """The signed request's JSON for a record page viewed by user, with a fresh OAuth token for them."""
    version = box.settings.api_version
    token, _ = box.tokens.issue_access(user["Id"], box.settings.client_id, CANVAS_SCOPE,
                                       box.faults.knobs.token_ttl_seconds)
    record_url = f"/services/data/v{version}/sobjects/{object_name}/{record['Id']}"
    data = f"/services/data/v{version}"
    return {
        "algorithm": "HMACSHA256",
        "issuedAt": int(time.time()),
        "userId": user["Id"],
        "client": {"instanceId": f"_:{box.settings.app_name}:{record['Id']}:canvasapp",
                   "instanceUrl": instance_url, "oauthToken": token, "refreshToken": None,
                   "targetOrigin": instance_url},
        "context": {
            "application": {"name": box.settings.app_name, "canvasUrl": canvas_url, "authType": "SIGNED_REQUEST",
                            "namespace": "", "developerName": box.settings.app_name.replace(" ", "_"),
                            "applicationId": make_id("09H", 1), "version": "1.0", "referenceId": make_id("09H", 2),
                            "options": [], "samlInitiationMethod": "None", "isInstalledPersonalApp": False},
            "user": _user_context(box, user, instance_url),
            "environment": {
                "displayLocation": "PageLayout", "subLocation": None, "uiTheme": "Theme4d",
                "locationUrl": location_url,
                "dimensions": {"width": FRAME_WIDTH, "height": FRAME_HEIGHT, "maxWidth": "1000px",
                               "maxHeight": "2000px", "clientWidth": "0px", "clientHeight": "0px"},
                "record": {"attributes": {"type": object_name, "url": record_url}, "Id": record["Id"],
                           "Name": record.get("Name")},
                "parameters": {"recordId": record["Id"], "recordType": object_name},
                "version": {"api": version, "season": "WINTER"},
            },
            "organization": {"organizationId": box.org_id, "name": box.settings.org_name,
                             "multicurrencyEnabled": False, "namespacePrefix": None, "currencyIsoCode": "USD"},
            "links": {"loginUrl": instance_url, "restUrl": f"{data}/", "sobjectUrl": f"{data}/sobjects/",
                      "queryUrl": f"{data}/query/", "metadataUrl": f"/services/Soap/m/{version}/{box.org_id[:15]}",
                      "enterpriseUrl": f"/services/Soap/c/{version}/{box.org_id[:15]}",
                      "partnerUrl": f"/services/Soap/u/{version}/{box.org_id[:15]}",
                      "userUrl": f"/{user['Id']}", "userProfileUrl": f"/{user['Id']}"},
        },
    }


def signed_request(box: Sandbox, context: dict[str, Any]) -> str:
    """signature + "." + envelope, where envelope is base64 of the JSON context."""
    envelope = base64.b64encode(json.dumps(context, separators=(",", ":")).encode()).decode()
    return f"{sign(envelope, box.settings.client_secret)}.{envelope}"


def find_user(box: Sandbox, username: str | None) -> dict[str, Any] | None:
    """An active user by Username or Id; the admin when username is empty."""
    if not username:
        return box.store.get("User", box.admin_id)
    rows = box.store.select("User", '("Username" = ? OR "Id" = ?) AND "IsDeleted" = 0 AND "IsActive" = 1',
                            [username, username])
    return rows[0] if rows else None
