"""Who a Salesforce user is to Pipewise: an admin, a manager or a rep, from what every org has.

The identity URL names the user but not their standing: it carries ``custom_attributes`` only when
the app defines custom attributes, which Pipewise's app does not need. Every org has the user's
profile and permission sets (Object Reference: Profile, PermissionSet, PermissionSetAssignment),
their reporting line (User.ManagerId) and the role hierarchy (UserRole.ParentRoleId), readable with
the ``api`` scope:
- admin: a profile or permission set grants Modify All Data;
- manager: someone active reports to them, or holds a role right below theirs;
- rep: everyone else (also whoever the API refuses to answer about).
"""
from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote


class _Http(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _query(http: _Http, base: str, soql: str) -> dict[str, Any] | None:
    response = http.get(f"{base}query/?q={quote(soql)}", timeout=30)
    return response.json() if response.status_code == 200 else None


def role_of(http: _Http, instance_url: str, api_version: str, user_id: str) -> str:
    """admin, manager or rep for this user, read through the REST API with their own token."""
    base = f"{instance_url.rstrip('/')}/services/data/v{api_version}/"
    user = _literal(user_id)
    me = _query(http, base, f"SELECT Profile.PermissionsModifyAllData, UserRoleId FROM User WHERE Id = {user}")
    if not me or not me.get("records"):
        return "rep"
    record = me["records"][0]
    if (record.get("Profile") or {}).get("PermissionsModifyAllData") is True:
        return "admin"
    granted = _query(http, base, f"SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = {user} "
                                 "AND PermissionSet.PermissionsModifyAllData = true")
    if granted and granted.get("totalSize"):
        return "admin"
    below = f"ManagerId = {user}"
    if record.get("UserRoleId"):
        below = f"({below} OR UserRole.ParentRoleId = {_literal(record['UserRoleId'])})"
    reports = _query(http, base, f"SELECT COUNT() FROM User WHERE IsActive = true AND {below}")
    return "manager" if reports and reports.get("totalSize") else "rep"
