"""Who may see and change what: profiles, permission sets and field-level security on custom fields.

As in a real org (Salesforce Help, "Field-Level Security"; Object Reference, FieldPermissions and
PermissionSetAssignment), a custom field is readable or editable by a user only through a
FieldPermissions row of a permission set assigned to them, the permission set owned by their
profile included. A field created through the Tooling API gets no such row: until an admin grants
it, the field is invisible to everyone over the API (describe leaves it out, SOQL answers
INVALID_FIELD, a write answers INVALID_FIELD). Standard fields are readable by every user here.
"""
from __future__ import annotations

from dataclasses import dataclass

from .store import Store

# The permission fields a profile or permission set grants; a user holds the union over theirs.
USER_PERMISSIONS = ("PermissionsApiEnabled", "PermissionsViewSetup", "PermissionsModifyAllData",
                    "PermissionsViewAllData", "PermissionsCustomizeApplication")


@dataclass(frozen=True)
class FieldAccess:
    """The custom fields one user may read and edit, as "Object.Field__c" names."""

    readable: frozenset[str]
    editable: frozenset[str]
    everything: bool = False  # system context (the control API, the seed): no field-level security

    def can_read(self, object_name: str, field_name: str, custom: bool) -> bool:
        return self.everything or not custom or f"{object_name}.{field_name}" in self.readable

    def can_edit(self, object_name: str, field_name: str, custom: bool) -> bool:
        return self.everything or not custom or f"{object_name}.{field_name}" in self.editable


SYSTEM_ACCESS = FieldAccess(frozenset(), frozenset(), everything=True)


def permission_set_ids(store: Store, user_id: str) -> list[str]:
    """The permission sets a user holds: their profile's own and every one assigned to them."""
    rows = store.fetchall(
        'SELECT "Id" FROM "PermissionSet" WHERE "IsDeleted" = 0 AND "IsOwnedByProfile" = 1 AND "ProfileId" = '
        '(SELECT "ProfileId" FROM "User" WHERE "Id" = ?) '
        'UNION SELECT "PermissionSetId" FROM "PermissionSetAssignment" WHERE "IsDeleted" = 0 AND "AssigneeId" = ?',
        (user_id, user_id))
    return [row[0] for row in rows]


def field_access(store: Store, user_id: str) -> FieldAccess:
    """The custom fields this user may read and edit."""
    sets = permission_set_ids(store, user_id)
    if not sets:
        return FieldAccess(frozenset(), frozenset())
    marks = ", ".join("?" for _ in sets)
    rows = store.fetchall(f'SELECT "Field", "PermissionsRead", "PermissionsEdit" FROM "FieldPermissions" '
                          f'WHERE "IsDeleted" = 0 AND "ParentId" IN ({marks})', sets)
    readable = frozenset(field for field, read, edit in rows if read or edit)
    editable = frozenset(field for field, _read, edit in rows if edit)
    return FieldAccess(readable, editable)


def user_permissions(store: Store, user_id: str) -> dict[str, bool]:
    """Each user permission, true when any of the user's permission sets grants it."""
    sets = permission_set_ids(store, user_id)
    if not sets:
        return {name: False for name in USER_PERMISSIONS}
    marks = ", ".join("?" for _ in sets)
    columns = ", ".join(f'MAX(COALESCE("{name}", 0))' for name in USER_PERMISSIONS)
    row = store.fetchall(f'SELECT {columns} FROM "PermissionSet" WHERE "Id" IN ({marks})', sets)[0]
    return {name: bool(value) for name, value in zip(USER_PERMISSIONS, row)}


def grant_to_every_profile(store: Store, object_name: str, field_name: str, editable: bool) -> None:
    """What Setup's field wizard does when an admin keeps its default: every profile may see the field."""
    from .ids import make_id
    from .schema import key_prefix

    profile_sets = [row[0] for row in store.fetchall(
        'SELECT "Id" FROM "PermissionSet" WHERE "IsOwnedByProfile" = 1 AND "IsDeleted" = 0')]
    if not profile_sets:
        return
    first = store.allocate(key_prefix("FieldPermissions"), len(profile_sets))
    stamp = store.fetchall('SELECT MAX("SystemModstamp") FROM "PermissionSet"')[0][0]
    store.insert("FieldPermissions", [{
        "Id": make_id(key_prefix("FieldPermissions"), first + index), "IsDeleted": 0, "ParentId": parent,
        "SobjectType": object_name, "Field": f"{object_name}.{field_name}", "PermissionsRead": 1,
        "PermissionsEdit": int(editable), "CreatedDate": stamp, "LastModifiedDate": stamp,
        "SystemModstamp": stamp} for index, parent in enumerate(profile_sets)])
