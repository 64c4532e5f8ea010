"""Owners v3 (paged, with teams) and the settings users API (roles and teams, for telling managers from reps)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import jsonify, request

from .api import ApiError, api_blueprint, sandbox

bp = api_blueprint("hubspot_owners", "/crm/v3/owners")
settings_bp = api_blueprint("hubspot_users", "/settings/v3/users")
ROLES = {"manager": ("9001", "Sales Manager"), "rep": ("9002", "Sales Representative")}


def owner_api(owner: dict[str, Any]) -> dict[str, Any]:
    """An owner as GET /crm/v3/owners shows it."""
    return {"id": str(owner["id"]), "email": owner["email"], "type": "PERSON", "firstName": owner["first_name"],
            "lastName": owner["last_name"], "userId": owner["user_id"], "userIdIncludingInactive": owner["user_id"],
            "createdAt": owner["created_at"], "updatedAt": owner["updated_at"], "archived": owner["archived"],
            "teams": owner["teams"]}


@bp.get("", strict_slashes=False)
def list_owners():
    """Owners ordered by id, limit ≤ 500, after = the next owner id; filter by email and archived."""
    raw_limit = request.args.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise ApiError(400, "VALIDATION_ERROR", "limit must be a whole number from 1 to 500.")
    limit = int(raw_limit)
    archived = request.args.get("archived", "false").lower() == "true"
    owners = [o for o in sandbox().owners(include_archived=True) if o["archived"] == archived]
    email = request.args.get("email")
    if email:
        owners = [o for o in owners if o["email"].lower() == email.lower()]
    after = request.args.get("after")
    if after:
        if not after.isdigit():
            raise ApiError(400, "VALIDATION_ERROR", "after must be the cursor from paging.next.after.")
        owners = [o for o in owners if o["id"] >= int(after)]
    answer: dict[str, Any] = {"results": [owner_api(o) for o in owners[:limit]]}
    if len(owners) > limit:
        next_after = str(owners[limit]["id"])
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "after"] + [("after", next_after)]
        answer["paging"] = {"next": {"after": next_after, "link": f"{request.base_url}?{urlencode(query)}"}}
    return jsonify(answer)


@bp.get("/<owner_id>")
def read_owner(owner_id: str):
    """One owner by id (idProperty=id) or by user id (idProperty=userId)."""
    key = "user_id" if request.args.get("idProperty") == "userId" else "id"
    owner = next((o for o in sandbox().owners(include_archived=True) if str(o[key]) == owner_id), None)
    if owner is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"No owner has the {key} {owner_id}.")
    return jsonify(owner_api(owner))


@settings_bp.get("", strict_slashes=False)
def list_users():
    """Users with their role and primary team; the admin is a super admin."""
    users = []
    for owner in sandbox().owners():
        teams = owner["teams"]
        users.append({"id": str(owner["user_id"]), "email": owner["email"],
                      "roleId": ROLES[owner["role"]][0] if owner["role"] in ROLES else None,
                      "primaryTeamId": teams[0]["id"] if teams else None, "secondaryTeamIds": [],
                      "superAdmin": owner["role"] == "admin"})
    return jsonify({"results": users})


@settings_bp.get("/roles")
def list_roles():
    """The portal's roles."""
    return jsonify({"results": [{"id": role_id, "name": name, "requiresBillingWrite": False}
                                for role_id, name in ROLES.values()]})


@settings_bp.get("/teams")
def list_teams():
    """Teams and their members' user ids."""
    box = sandbox()
    members: dict[str, list[str]] = {}
    for owner in box.owners():
        for team in owner["teams"]:
            members.setdefault(team["id"], []).append(str(owner["user_id"]))
    return jsonify({"results": [{"id": str(team_id), "name": name, "userIds": members.get(str(team_id), []),
                                 "secondaryUserIds": []}
                                for team_id, name in box.store.fetchall("SELECT id, name FROM teams ORDER BY id")]})
