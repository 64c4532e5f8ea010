"""Scopes: which ones an install may grant, and which ones each API endpoint requires.

The per-endpoint requirements are read from the `security` of each operation in HubSpot's public API
descriptions (HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/CRM/<Object>/Rollouts/424/v3/
<object>.json, CRM/Crm Owners/.../v3/crmOwners.json, CRM/Properties/.../v3/properties.json,
CRM/Associations/.../v4/associations.json, CRM/Pipelines/.../v3/pipelines.json, Settings/User
Provisioning/.../v3/userProvisioning.json).
Where an operation lists alternatives for every object type (the generic objects, properties and
associations endpoints), the sandbox takes the stricter reading: the scopes of the object type named in
the URL, and for associations those of both sides.

The install rules follow "Working with OAuth" and HubSpot's announcement of the advanced scope
settings: every scope the app marks required must be in `scope`; optional ones may only be in
`optional_scope` and are left out where the account lacks the feature; a scope the app settings do
not list refuses the install.
"""
from __future__ import annotations

import re

# object type → (scopes any one of which reads it, scopes any one of which writes it)
OBJECT_SCOPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "contacts": (("crm.objects.contacts.read",), ("crm.objects.contacts.write",)),
    "companies": (("crm.objects.companies.read",), ("crm.objects.companies.write",)),
    "deals": (("crm.objects.deals.read",), ("crm.objects.deals.write",)),
    # Engagements are governed by the contacts scopes (calls.json, meetings.json, notes.json, tasks.json);
    # emails also by sales-email-read (emails.json).
    "calls": (("crm.objects.contacts.read",), ("crm.objects.contacts.write",)),
    "meetings": (("crm.objects.contacts.read",), ("crm.objects.contacts.write",)),
    "notes": (("crm.objects.contacts.read",), ("crm.objects.contacts.write",)),
    "tasks": (("crm.objects.contacts.read",), ("crm.objects.contacts.write",)),
    "emails": (("crm.objects.contacts.read", "sales-email-read"), ("crm.objects.contacts.write", "sales-email-read")),
    "goal_targets": (("crm.objects.goals.read",), ("crm.objects.goals.write",)),
}
# The schema scope that lets properties be created or changed (properties.json); engagements have none
# of their own in that list, so the contacts one is taken.
SCHEMA_OWNER = {"calls": "contacts", "meetings": "contacts", "notes": "contacts", "tasks": "contacts",
                "emails": "contacts"}
OWNERS_READ = ("crm.objects.owners.read",)
USERS_READ = ("settings.users.read", "crm.objects.users.read")
TEAMS_READ = ("settings.users.teams.read",)
# Settings/Multicurrency (the Currencies guide's scope requirements): read and write are separate.
CURRENCIES_READ, CURRENCIES_WRITE = ("settings.currencies.read",), ("settings.currencies.write",)
# CRM/Users v3 (users.json): the users object has scopes of its own.
USERS_OBJECT_READ, USERS_OBJECT_WRITE = ("crm.objects.users.read",), ("crm.objects.users.write",)
# Account/Account Info v3 (accountInfo.json): every operation needs the oauth scope.
ACCOUNT_INFO_READ = ("oauth",)

# Pipelines (CRM/Pipelines/.../v3/pipelines.json) list dozens of alternatives for every object type; the
# stricter reading takes, for deals, the deal scopes in that list.
PIPELINE_READ = {"deals": ("crm.objects.deals.read", "crm.objects.deals.write", "crm.schemas.deals.read")}

Requirement = tuple[str, ...]  # any one of these scopes


def _read(kind: str) -> Requirement:
    return OBJECT_SCOPES[kind][0]


def _write(kind: str) -> Requirement:
    return OBJECT_SCOPES[kind][1]


def _schema_read(kind: str) -> Requirement:
    owner = SCHEMA_OWNER.get(kind, kind)
    return _read(kind) + (() if kind == "goal_targets" else (f"crm.schemas.{owner}.read",))


def _schema_write(kind: str) -> Requirement:
    return (f"crm.schemas.{SCHEMA_OWNER.get(kind, kind)}.write",)


def required(method: str, path: str, kind_of) -> list[Requirement]:
    """Every requirement an API call must meet (each one by any of its scopes); [] for none known.

    ``kind_of`` turns a URL segment into the object type, or None when it names none.
    """
    parts = [p for p in path.split("/") if p]
    reading = method in ("GET", "HEAD")
    if parts[:4] == ["crm", "v3", "objects", "users"]:
        reading = reading or parts[4:] in (["search"], ["batch", "read"])
        return [USERS_OBJECT_READ if reading else USERS_OBJECT_WRITE]
    if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4 and kind_of(parts[3]):
        kind = kind_of(parts[3])
        tail = parts[4:]
        reading = reading or tail in (["search"], ["batch", "read"])
        return [_read(kind) if reading else _write(kind)]
    if parts[:3] == ["crm", "v3", "properties"] and len(parts) >= 4 and kind_of(parts[3]):
        kind = kind_of(parts[3])
        return [_schema_read(kind) if reading or parts[4:] == ["batch", "read"] else _schema_write(kind)]
    if parts[:3] == ["crm", "v4", "associations"] and len(parts) >= 5 and kind_of(parts[3]) and kind_of(parts[4]):
        left, right = kind_of(parts[3]), kind_of(parts[4])
        if parts[5:] == ["batch", "read"]:
            return [_read(left), _read(right)]
        return [_write(left), _read(right)]
    if parts[:3] == ["crm", "v4", "objects"] and len(parts) >= 7 and kind_of(parts[3]):
        left = kind_of(parts[3])
        right = kind_of(parts[7] if parts[6] == "default" and len(parts) > 7 else parts[6])
        if right:
            return [_read(left), _read(right)] if reading else [_write(left), _read(right)]
    if parts[:3] == ["crm", "v3", "pipelines"] and len(parts) >= 4 and kind_of(parts[3]) in PIPELINE_READ:
        return [PIPELINE_READ[kind_of(parts[3])]]
    if parts[:3] == ["crm", "v3", "owners"]:
        return [OWNERS_READ]
    if parts[:4] == ["settings", "v3", "users", "teams"]:
        return [TEAMS_READ]
    if parts[:3] == ["settings", "v3", "users"]:
        return [USERS_READ]
    if parts[:3] == ["settings", "v3", "currencies"]:
        return [CURRENCIES_READ if reading else CURRENCIES_WRITE]
    if parts[:2] == ["account-info", "v3"]:
        return [ACCOUNT_INFO_READ]
    return []


def missing(requirements: list[Requirement], granted: set[str]) -> list[str]:
    """The scopes to name in a 403: those of each requirement that no granted scope meets."""
    return [scope for requirement in requirements if not granted & set(requirement) for scope in requirement]


SCOPE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


class InstallError(Exception):
    """An install HubSpot refuses on its authorization page; ``str()`` is what the page says."""


def granted_for_install(requested: str, optional: str, app_required: tuple[str, ...],
                        app_optional: tuple[str, ...], unavailable: tuple[str, ...]) -> list[str]:
    """The scopes an install grants, or InstallError when HubSpot would refuse it."""
    asked, maybe = requested.split(), optional.split()
    if not asked:
        raise InstallError("The scope parameter is missing: an install URL must name the app's required scopes.")
    known = set(app_required) | set(app_optional)
    unknown = sorted({s for s in asked + maybe if s not in known})
    if unknown:
        raise InstallError("The scopes in this install URL do not match the app's scope settings: "
                           f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not listed there.")
    left_out = [s for s in app_required if s not in asked]
    if left_out:
        raise InstallError("The install URL leaves out scopes the app's settings mark as required: "
                           f"{', '.join(left_out)}.")
    misplaced = [s for s in asked if s in app_optional and s not in app_required]
    if misplaced:
        raise InstallError("Optional scopes may only be requested in the optional_scope parameter: "
                           f"{', '.join(misplaced)}.")
    lacking = [s for s in asked if s in unavailable]
    if lacking:
        raise InstallError("This account does not have access to everything the app requires: "
                           f"{', '.join(lacking)}. Ask the app's developer, or upgrade the account.")
    return list(dict.fromkeys(asked + [s for s in maybe if s not in unavailable]))
