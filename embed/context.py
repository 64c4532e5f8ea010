"""Reading a verified Canvas envelope, and the frame's allowed ancestors."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

# Salesforce key prefixes of the objects Pipewise scores.
KEY_PREFIXES = {"00Q": "lead", "006": "opportunity"}
SALESFORCE_TYPES = {"lead": "lead", "opportunity": "opportunity"}
_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def to_18(salesforce_id: str) -> str:
    """The 18-character, case-insensitive form of a 15-character Salesforce id."""
    if len(salesforce_id) != 15:
        return salesforce_id
    suffix = ""
    for start in (0, 5, 10):
        chunk = salesforce_id[start:start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return salesforce_id + suffix


def organization_id(envelope: dict[str, Any]) -> str | None:
    """The Salesforce organization the request comes from."""
    value = _get(envelope, "context", "organization", "organizationId")
    return str(value) if value else None


def instance_url(envelope: dict[str, Any]) -> str | None:
    """The Salesforce instance the request says it comes from (trust it only once verified)."""
    value = _get(envelope, "client", "instanceUrl")
    return value if isinstance(value, str) else None


def user_id(envelope: dict[str, Any]) -> str:
    """The Salesforce user looking at the record."""
    return str(_get(envelope, "context", "user", "userId") or envelope.get("userId") or "")


def record_ref(envelope: dict[str, Any]) -> tuple[str | None, str] | None:
    """(common object type or None when unsupported, 18-char id) of the record in context, if any.

    The record is ``context.environment.record`` (Canvas guide, Record object: ``Id`` and
    ``attributes.type``; empty off record pages). ``parameters`` hold only what an admin configured.
    """
    record = _get(envelope, "context", "environment", "record") or {}
    raw_id = record.get("Id") if isinstance(record, dict) else None
    if not isinstance(raw_id, str) or not _ID.match(raw_id):
        return None
    remote_id = to_18(raw_id)
    declared = _get(record, "attributes", "type")
    if isinstance(declared, str) and declared:
        return SALESFORCE_TYPES.get(declared.lower()), remote_id
    return KEY_PREFIXES.get(remote_id[:3]), remote_id


def origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, or None when it is not a plain http(s) origin."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not _HOST.match(host):
        return None
    default = {"https": 443, "http": 80}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def frame_ancestors(instance_url: str | None) -> list[str]:
    """The origins that may frame the panel: the org's instance and, for My Domain, its Lightning twin."""
    instance = origin(instance_url)
    if instance is None:
        return []
    found = [instance]
    host = urlsplit(instance).hostname or ""
    # Lightning Experience pages (and so the Canvas frame's parent) live on <mydomain>.lightning.force.com.
    if instance.startswith("https://") and host.endswith(".my.salesforce.com"):
        found.append(f"https://{host[:-len('.my.salesforce.com')]}.lightning.force.com")
    return found
