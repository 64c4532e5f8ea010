"""The CRM's users object (v3): each HubSpot user as a CRM record, read-only here.

From HubSpot's Users API guide and its description (PublicApiSpecs/CRM/Users/Rollouts/424/v3/users.json):
``GET /crm/v3/objects/users`` pages users as CollectionResponseSimplePublicObjectWithAssociations
ForwardPaging (limit, after, properties, archived) and needs ``crm.objects.users.read``. A record's
``id`` (= ``hs_object_id``) is the user's id in this account only; ``hs_internal_user_id`` is the user
provisioning API's id (an owner's ``userId``). ``hs_standard_time_zone`` holds the zone the user set
in their preferences (an IANA id, "America/Detroit" in the guide), empty when they set none.
Properties asked for that the object lacks are left out; all values are strings, as on every object.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import jsonify, request

from .api import ApiError, api_blueprint, sandbox

bp = api_blueprint("hubspot_users_object", "/crm/v3/objects/users")
# The user object's ids are not the provisioning ids: offset so the two never coincide.
OBJECT_ID_OFFSET = 70_000_000_000
DEFAULT_PROPERTIES = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
# The regional offices (the sandbox's teams) and where their people set their clocks; the admin set none.
OFFICE_TIME_ZONES = {"Central": "America/Chicago", "East": "America/New_York", "West": "America/Los_Angeles"}


def _properties(owner: dict[str, Any]) -> dict[str, str | None]:
    primary = next((t for t in owner["teams"] if t.get("primary")), None)
    return {"hs_createdate": owner["created_at"], "hs_lastmodifieddate": owner["updated_at"],
            "hs_object_id": str(OBJECT_ID_OFFSET + owner["user_id"]), "hs_internal_user_id": str(owner["user_id"]),
            "hs_email": owner["email"], "hs_given_name": owner["first_name"], "hs_family_name": owner["last_name"],
            "hs_standard_time_zone": OFFICE_TIME_ZONES.get(primary["name"]) if primary else None}


def _requested() -> list[str]:
    names = [n.strip() for value in request.args.getlist("properties") for n in value.split(",")]
    return [n for n in names if n]


@bp.get("", strict_slashes=False)
def list_users():
    """Users ordered by id, limit ≤ 100, after = the next user object's id."""
    raw_limit = request.args.get("limit", "10")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ApiError(400, "VALIDATION_ERROR", "limit must be a whole number from 1 to 100.")
    limit = int(raw_limit)
    archived = request.args.get("archived", "false").lower() == "true"
    owners = [o for o in sandbox().owners(include_archived=True) if o["archived"] == archived]
    after = request.args.get("after")
    if after:
        if not after.isdigit():
            raise ApiError(400, "VALIDATION_ERROR", "after must be the cursor from paging.next.after.")
        owners = [o for o in owners if OBJECT_ID_OFFSET + o["user_id"] >= int(after)]
    owners.sort(key=lambda o: o["user_id"])
    wanted = set(DEFAULT_PROPERTIES) | set(_requested())
    results = []
    for owner in owners[:limit]:
        values = _properties(owner)
        results.append({"id": values["hs_object_id"], "properties": {k: v for k, v in values.items() if k in wanted},
                        "createdAt": owner["created_at"], "updatedAt": owner["updated_at"], "archived": archived})
    answer: dict[str, Any] = {"results": results}
    if len(owners) > limit:
        next_after = str(OBJECT_ID_OFFSET + owners[limit]["user_id"])
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "after"] + [("after", next_after)]
        answer["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?{urlencode(query)}"}}
    return jsonify(answer)
