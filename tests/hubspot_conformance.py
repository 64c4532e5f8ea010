"""Checking a JSON answer against hubspot-api-client's generated models (Apache-2.0, installed in .venv).

Two checks per answer: the SDK's own deserializer, with its client-side validation (required fields,
enums), and a strict walk of the model's declared fields (`openapi_types`, `attribute_map`), so a key the
model does not know, or a value of the wrong JSON type, fails too. The models are generated from
HubSpot's public API descriptions (HubSpot/HubSpot-public-api-spec-collection).
"""
from __future__ import annotations

import importlib
import json
import re
from datetime import datetime
from typing import Any

PRIMITIVES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "object": (object,)}


class _Raw:
    """What the SDK's deserializer reads: a response with .data."""

    def __init__(self, data: Any):
        self.data = json.dumps(data)


def _models(package: str):
    return importlib.import_module(f"{package}.models")


def conform(data: Any, model: str, package: str, oneof: dict[str, Any] | None = None,
            deserialize: bool = True, newer: dict[str, dict[str, str]] | None = None) -> Any:
    """Walk ``data`` strictly as ``package``'s ``model``, then deserialize it with the SDK; the SDK object.

    ``oneof`` maps a model that stands for a oneOf to a function choosing the member model for a value
    (the generator merges the members' required fields, so such a model cannot deserialize them).
    ``newer`` names, per model, fields HubSpot's current API description has and the installed client's
    model predates (json key → type).
    """
    walk(data, model, _models(package), model, oneof or {}, newer or {})
    if not deserialize:
        return None
    return importlib.import_module(package).ApiClient().deserialize(_Raw(data), model)


def walk(value: Any, kind: str, models, path: str, oneof: dict[str, Any],
         newer: dict[str, dict[str, str]]) -> None:
    """Raise AssertionError where value departs from the declared type ``kind``."""
    if value is None:
        return  # required fields are the deserializer's to check
    listed = re.fullmatch(r"list\[(.+)\]", kind)
    if listed:
        assert isinstance(value, list), f"{path}: expected a list, got {type(value).__name__}"
        for i, item in enumerate(value):
            walk(item, listed.group(1), models, f"{path}[{i}]", oneof, newer)
        return
    mapped = re.fullmatch(r"dict[\[(]str, (.+)[\])]", kind)
    if mapped:
        assert isinstance(value, dict), f"{path}: expected an object, got {type(value).__name__}"
        for key, item in value.items():
            walk(item, mapped.group(1), models, f"{path}.{key}", oneof, newer)
        return
    if kind in ("datetime", "date"):
        assert isinstance(value, str), f"{path}: expected an ISO {kind} string"
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return
    if kind in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
        assert ok, f"{path}: expected {kind}, got {type(value).__name__} {value!r}"
        return
    if kind in oneof:
        walk(value, oneof[kind](value), models, path, oneof, newer)
        return
    cls = getattr(models, kind)
    assert isinstance(value, dict), f"{path}: expected a {kind} object, got {type(value).__name__}"
    types = {json_key: cls.openapi_types[attr] for attr, json_key in cls.attribute_map.items()}
    types.update(newer.get(kind, {}))
    unknown = sorted(set(value) - set(types))
    assert not unknown, f"{path}: {kind} has no field {', '.join(unknown)}"
    for key, item in value.items():
        walk(item, types[key], models, f"{path}.{key}", oneof, newer)
