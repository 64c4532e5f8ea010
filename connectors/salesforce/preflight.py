"""The Salesforce preflight: what a live org lets Pipewise do, each problem with what to do in Setup."""
from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.client_protocol import Finding
from connectors.errors import ConnectorError
from connectors.salesforce.describe import selectable
from connectors.salesforce.failures import unavailable_sentence
from connectors.salesforce.provider import SalesforceProvider
from connectors.salesforce.provisioning import INTEGRATION_SET, READER_SET

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient

LOW_ALLOWANCE = 0.10  # warn when less than this share of the daily API allowance is left


def preflight(client: "SalesforceClient") -> list[Finding]:
    """Every check, in the order an admin fixes things."""
    findings = [_scopes(client)]
    try:
        findings.append(_allowance(client))
        findings += _objects(client)
        findings += _pipewise_fields(client)
        findings.append(_reader_set(client))
    except ConnectorError as exc:
        findings.append(Finding("connection", "error", f"Pipewise could not finish the check: {exc}"))
    return findings


def _scopes(client: "SalesforceClient") -> Finding:
    granted = set(str(client.token.get("scope") or "").split())
    missing = [s for s in SalesforceProvider.scopes if s not in granted and not (s == "api" and "full" in granted)]
    if missing:
        return Finding("scopes", "error", f"The connection was authorized without the {', '.join(missing)} "
                       "scope: add it to the app's OAuth scopes in Setup (External Client App Manager → Pipewise → "
                       "Settings → OAuth Settings), then choose Re-authorize.")
    return Finding("scopes", "ok", f"The grant holds the scopes Pipewise needs ({', '.join(sorted(granted))}).")


def _allowance(client: "SalesforceClient") -> Finding:
    limits = client._call(lambda sf: sf.restful("limits", timeout=60))
    daily = limits.get("DailyApiRequests") or {}
    total, left = daily.get("Max"), daily.get("Remaining")
    if not total:
        return Finding("api-allowance", "warning", "Salesforce did not report the org's daily API allowance.")
    if left / total < LOW_ALLOWANCE:
        return Finding("api-allowance", "warning", f"Only {left:,} of the org's {total:,} daily API calls are "
                       "left: syncs may pause until the 24-hour window frees calls. Raise the allowance in "
                       "Salesforce (more licences or an add-on) if this recurs.")
    return Finding("api-allowance", "ok", f"{left:,} of the org's {total:,} daily API calls are left.")


def _objects(client: "SalesforceClient") -> list[Finding]:
    findings = []
    client.catalog.forget()  # the admin checks the org as it is now, not as this process last described it
    for stream in SalesforceProvider.streams:
        described = client.catalog.get(stream.remote_name)
        check = f"object:{stream.remote_name}"
        if described is None:
            status = "ok" if stream.quiet_when_missing else "warning" if stream.optional else "error"
            findings.append(Finding(check, status, unavailable_sentence(stream.remote_name)))
            continue
        _chosen, missing = selectable(stream, described)
        if missing:
            findings.append(Finding(check, "warning", f"Pipewise cannot read {', '.join(missing)} on "
                            f"{stream.remote_name}, so it leaves them out. Give the integration user read access to "
                            "them (field-level security in a permission set) if you want them used."))
        else:
            findings.append(Finding(check, "ok", f"Pipewise can read {stream.remote_name}."))
    return findings


def _pipewise_fields(client: "SalesforceClient") -> list[Finding]:
    findings = []
    for remote_name in SalesforceProvider.writable_objects.values():
        client.catalog.forget(remote_name)
        described = client.catalog.get(remote_name)
        for writable in SalesforceProvider.writable_fields:
            check = f"field:{remote_name}.{writable.remote_name}"
            if described is None or writable.remote_name not in described.fields:
                findings.append(Finding(check, "error", f"{remote_name}.{writable.remote_name} is missing or not "
                                f"visible to the integration user: assign the permission set "
                                f"'{INTEGRATION_SET[1]}' to that user (Setup → Permission Sets → {INTEGRATION_SET[1]} "
                                "→ Manage Assignments), or deploy the fields from docs/salesforce, then check again."))
            elif not described.updateable(writable.remote_name):
                findings.append(Finding(check, "error", f"The integration user can read but not edit "
                                f"{remote_name}.{writable.remote_name}: give '{INTEGRATION_SET[1]}' edit access to "
                                "the field (field-level security), then check again."))
            else:
                findings.append(Finding(check, "ok", f"Pipewise can write {remote_name}.{writable.remote_name}."))
    return findings


def _reader_set(client: "SalesforceClient") -> Finding:
    name, label, _ = READER_SET
    found = client.query(f"SELECT Id FROM PermissionSet WHERE Name = '{name}'")
    if not found:
        return Finding("permission-set:reader", "warning", f"The permission set '{label}' does not exist yet: "
                       "it appears when Pipewise creates its fields (Sync now after connecting). Reps need it to see "
                       "the Pipewise fields on their records.")
    assigned = client.query(f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = '{found[0]['Id']}'")
    if not assigned:
        return Finding("permission-set:reader", "warning", f"No one holds '{label}' yet: assign it to the reps "
                       f"and managers who should see the scores on records (Setup → Permission Sets → {label} → "
                       "Manage Assignments).")
    return Finding("permission-set:reader", "ok", f"{len(assigned)} users hold '{label}'.")
