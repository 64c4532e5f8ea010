"""The field catalogue contract: how a connector's remote fields feed the common model.

Each package's ``fields.py`` declares ``CATALOGUE``, a ``FieldCatalogue`` (reached through
``Provider.field_catalogue``): the built-in source of each common field, the remote field types that
can feed it, and the live listing of an object's fields, for the admin's field mapping.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def text_value(value: Any) -> str | None:
    """A remote value as text; None for no value."""
    if value in (None, ""):
        return None
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class FieldCatalogue:
    """How one connector's remote fields feed the common model, for the admin's field mapping."""

    raw_value: Callable[[dict[str, Any], str], Any]
    coerce: dict[str, Callable[[Any], Any]]
    # common value kind → the remote field types that can feed it
    compatible: dict[str, frozenset[str]]
    # object_type → common field → its built-in remote source (the fields an admin may remap);
    # "" when the CRM has no standard field for it and only an admin's mapping can feed it
    defaults: dict[str, dict[str, str]]
    # (client, remote object name) → the object's fields as [{name, label, type, custom}], read live
    remote_fields: Callable[[Any, str], list[dict[str, Any]]]
