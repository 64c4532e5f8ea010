"""Pipewise's own fields in the org: created through the Tooling API, then made visible by permission sets.

A custom field created through the Tooling API has no field-level security for anyone (Salesforce
Help, "Field-Level Security"; Object Reference, FieldPermissions): until a permission set grants it,
queries on it answer INVALID_FIELD and writes to it fail, for the integration user too. Pipewise
keeps two permission sets, the ones docs/salesforce/ ships as metadata:
- Pipewise_Integration: read and edit on every Pipewise field, assigned to the integration user;
- Pipewise_Reader: read only, which the admin assigns to reps and managers (INSTALL.md says how).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.base import WritableField
from connectors.client_base import create_missing
from connectors.errors import Fatal

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient

INTEGRATION_SET = ("Pipewise_Integration", "Pipewise Integration",
                   "Lets the Pipewise integration user read and write the Pipewise score fields.")
READER_SET = ("Pipewise_Reader", "Pipewise Reader",
              "Lets reps and managers see the Pipewise score fields on leads and opportunities.")

# Tooling API metadata (Metadata API, CustomField) for each WritableField type.
FIELD_METADATA: dict[str, dict[str, Any]] = {
    "number": {"type": "Number", "precision": 18, "scale": 0},
    "text": {"type": "Text", "length": 255},
    "textarea": {"type": "LongTextArea", "length": 32768, "visibleLines": 5},
    "datetime": {"type": "DateTime"},
}


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_fields(client: "SalesforceClient", remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
    """Create the missing fields, then grant them through the permission sets; the names created."""
    existing = {f["name"] for f in client.describe(remote_name).get("fields", [])}

    def create(writable: WritableField) -> None:
        metadata = {"label": writable.label, **FIELD_METADATA[writable.type]}
        body = {"FullName": f"{remote_name}.{writable.remote_name}", "Metadata": metadata}
        client._call(lambda sf: sf.restful("tooling/sobjects/CustomField", method="POST", json=body, timeout=60))

    # A duplicate exists but the user cannot see it yet (no field-level security), or a retried create
    # went through the first time: granting access below is what is missing.
    created = create_missing(fields, existing, create, "DUPLICATE_DEVELOPER_NAME")
    grant(client, remote_name, fields)
    return created


def grant(client: "SalesforceClient", remote_name: str, fields: tuple[WritableField, ...]) -> None:
    """Edit access for the integration user, read access in the reader set."""
    integration = permission_set(client, *INTEGRATION_SET)
    reader = permission_set(client, *READER_SET)
    _field_permissions(client, integration, remote_name, fields, edit=True)
    _field_permissions(client, reader, remote_name, fields, edit=False)
    _assign(client, integration, client.user_id)


def permission_set(client: "SalesforceClient", name: str, label: str, description: str) -> str:
    """The id of Pipewise's permission set of this name, created when missing."""
    found = client.query(f"SELECT Id FROM PermissionSet WHERE Name = {_literal(name)}")
    if found:
        return found[0]["Id"]
    answer = client._call(lambda sf: sf.restful("sobjects/PermissionSet", method="POST", timeout=60,
                                                json={"Name": name, "Label": label, "Description": description}))
    return answer["id"]


def _field_permissions(client: "SalesforceClient", parent: str, remote_name: str,
                       fields: tuple[WritableField, ...], edit: bool) -> None:
    current = {r["Field"]: r for r in client.query(
        f"SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
        f"WHERE ParentId = {_literal(parent)} AND SobjectType = {_literal(remote_name)}")}
    create, change = [], []
    for writable in fields:
        name = f"{remote_name}.{writable.remote_name}"
        row = current.get(name)
        if row is None:
            create.append({"attributes": {"type": "FieldPermissions"}, "ParentId": parent,
                           "SobjectType": remote_name, "Field": name, "PermissionsRead": True,
                           "PermissionsEdit": edit})
        elif not row.get("PermissionsRead") or bool(row.get("PermissionsEdit")) != edit:
            change.append({"attributes": {"type": "FieldPermissions"}, "Id": row["Id"], "PermissionsRead": True,
                           "PermissionsEdit": edit})
    for method, records in (("POST", create), ("PATCH", change)):
        if not records:
            continue
        results = client._call(lambda sf: sf.restful("composite/sobjects", method=method, timeout=60,
                                                     json={"allOrNone": True, "records": records}))
        failed = [e for r in results or [] if not r.get("success") for e in r.get("errors", [])]
        if failed:
            raise Fatal(f"Salesforce refused to grant access to Pipewise's fields on {remote_name} "
                        f"({failed[0].get('statusCode')}: {failed[0].get('message')}). Assign the permission set "
                        "in Setup as INSTALL.md describes, then run the check again.", code=failed[0].get("statusCode"))


def _assign(client: "SalesforceClient", permission_set_id: str, user_id: str) -> None:
    if not user_id:
        return
    found = client.query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {_literal(user_id)} "
                         f"AND PermissionSetId = {_literal(permission_set_id)}")
    if not found:
        client._call(lambda sf: sf.restful("sobjects/PermissionSetAssignment", method="POST", timeout=60,
                                           json={"AssigneeId": user_id, "PermissionSetId": permission_set_id}))
