"""HubSpot owners with what the owners API lacks: each user's role and each rep's manager.

Owners carry no role: the settings users API does (a scope the app may lack; then everyone is a
rep). Each owner gets ``user`` (its settings user, with ``roleName``) and, for a rep, the
``managerOwnerId`` of the active manager whose primary team is the rep's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.errors import Fatal, Skippable
from connectors.hubspot.mapping import hs_datetime, owner_primary_team, owner_role
from connectors.hubspot.sdk import Call


def _next_after(answer: dict[str, Any] | None) -> str | None:
    return (((answer or {}).get("paging") or {}).get("next") or {}).get("after")


def owner_listing(call: Call) -> list[dict[str, Any]]:
    """Every owner, the archived (deactivated) ones included."""
    owners: list[dict[str, Any]] = []
    for archived in (False, True):
        after = None
        while True:
            answer = call("owners", lambda api, timeout: api.get_page(
                limit=100, after=after, archived=archived, _preload_content=False, _request_timeout=timeout))
            owners.extend((answer or {}).get("results") or [])
            after = _next_after(answer)
            if not after:
                break
    return owners


def settings_users(call: Call) -> dict[str, dict[str, Any]]:
    """Settings users by user id, with their role's name; empty without the users scope."""
    try:
        answer = call("roles", lambda api, timeout: api.get_all(_preload_content=False, _request_timeout=timeout))
        roles = {str(r.get("id")): r.get("name") for r in (answer or {}).get("results") or []}
        users: dict[str, dict[str, Any]] = {}
        after = None
        while True:
            answer = call("users", lambda api, timeout: api.get_page(
                limit=100, after=after, _preload_content=False, _request_timeout=timeout))
            for user in (answer or {}).get("results") or []:
                users[str(user.get("id"))] = {**user, "roleName": roles.get(str(user.get("roleId")))}
            after = _next_after(answer)
            if not after:
                return users
    except (Fatal, Skippable):
        return {}


def user_time_zones(call: Call) -> dict[str, str]:
    """Each user's own time zone by user id, from the CRM's users object; empty without its scope.

    Owners and settings users carry no zone; the users object does (``hs_standard_time_zone``, keyed
    to the owner's userId by ``hs_internal_user_id``; HubSpot's Users API guide). Users who set none,
    and every user when the scope is missing, see the portal's zone (Account Information API).
    """
    zones: dict[str, str] = {}
    after = None
    try:
        while True:
            answer = call("basic", lambda api, timeout: api.get_page(
                "users", limit=100, after=after, properties=["hs_internal_user_id", "hs_standard_time_zone"],
                _preload_content=False, _request_timeout=timeout))
            for user in (answer or {}).get("results") or []:
                props = user.get("properties") or {}
                if props.get("hs_internal_user_id") and props.get("hs_standard_time_zone"):
                    zones[str(props["hs_internal_user_id"])] = str(props["hs_standard_time_zone"])
            after = _next_after(answer)
            if not after:
                return zones
    except (Fatal, Skippable):
        return {}


def read_owners(call: Call) -> list[dict[str, Any]]:
    """Every owner with ``user``, ``timeZone`` (when the user set one) and, for reps, ``managerOwnerId``."""
    owners = owner_listing(call)
    users = settings_users(call)
    zones = user_time_zones(call)
    for owner in owners:
        if str(owner.get("userId")) in users:
            owner["user"] = users[str(owner.get("userId"))]
        if str(owner.get("userId")) in zones:
            owner["timeZone"] = zones[str(owner.get("userId"))]
    managers: dict[str, str] = {}
    for owner in owners:
        team = owner_primary_team(owner)
        if team and owner_role(owner) == "manager" and not owner.get("archived"):
            managers.setdefault(team, str(owner["id"]))
    for owner in owners:
        team = owner_primary_team(owner)
        if owner_role(owner) == "rep" and team in managers:
            owner["managerOwnerId"] = managers[team]
    return owners


def owner_order(owner: dict[str, Any]) -> tuple[datetime, int]:
    """Owners sort by (updatedAt, id), the order the sync engine checkpoints in."""
    when = hs_datetime(owner.get("updatedAt")) or hs_datetime(owner.get("createdAt")) or datetime.min
    return when, int(owner.get("id") or 0)
