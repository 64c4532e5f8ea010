"""The property and group definitions of each object type: HubSpot's own plus those created through the API."""
from __future__ import annotations

import json
import re
import threading
from typing import Any

from .pipelines import DEFAULT_PIPELINE, Pipeline
from .schema import DEFAULT_GROUP, OBJECT_TYPES, PROPERTY_TYPES, Prop, standard_properties
from .store import Store

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
STANDARD_GROUPS = {"contactinformation": "Contact information", "companyinformation": "Company information",
                   "dealinformation": "Deal information", "engagementinformation": "Activity information",
                   "goalinformation": "Goal information"}


class PropertyError(Exception):
    """A property or group request HubSpot would refuse: HTTP status, category and a sentence."""

    def __init__(self, status: int, category: str, message: str):
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


class Registry:
    """Property definitions per object type, cached in memory and kept in the store."""

    def __init__(self, store: Store, pipelines: tuple[Pipeline, ...] = (DEFAULT_PIPELINE,)):
        self.store = store
        self._lock = threading.Lock()
        self._props: dict[str, dict[str, Prop]] = {}
        for kind in OBJECT_TYPES:
            self._props[kind] = {p.name: p for p in standard_properties(kind, pipelines)}
            group = DEFAULT_GROUP[kind]
            self.store.execute("INSERT OR IGNORE INTO property_groups VALUES (?, ?, ?, 0, 0)",
                               (kind, group, STANDARD_GROUPS[group]))
        for kind, name, definition in store.fetchall("SELECT type, name, definition FROM properties "
                                                     "WHERE archived = 0 ORDER BY rowid"):
            values = json.loads(definition)
            values["options"] = tuple(tuple(option) for option in values["options"])
            self._props[kind][name] = Prop(**values)

    def get(self, kind: str, name: str) -> Prop | None:
        """One property definition, or None."""
        return self._props[kind].get(name)

    def all(self, kind: str) -> list[Prop]:
        """Every property of a type, HubSpot's first."""
        return list(self._props[kind].values())

    def groups(self, kind: str) -> list[dict[str, Any]]:
        """The property groups of a type as the API shows them."""
        return [{"name": name, "label": label, "displayOrder": order, "archived": False}
                for name, label, order in self.store.fetchall(
                    "SELECT name, label, display_order FROM property_groups WHERE type = ? AND archived = 0 "
                    "ORDER BY rowid", (kind,))]

    def create_group(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a property group; 409 when the name is taken."""
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not NAME.match(name) or not isinstance(label, str) or not label:
            raise PropertyError(400, "VALIDATION_ERROR", "A property group needs a lowercase name (letters, digits, "
                                "underscores) and a label.")
        if any(group["name"] == name for group in self.groups(kind)):
            raise PropertyError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        order = int(body.get("displayOrder", -1))
        self.store.execute("INSERT INTO property_groups VALUES (?, ?, ?, ?, 0)", (kind, name, label, order))
        return {"name": name, "label": label, "displayOrder": order, "archived": False}

    def _check(self, kind: str, body: dict[str, Any], creating: bool) -> None:
        kind_of, field_type = body.get("type"), body.get("fieldType")
        if creating:
            missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
            if missing:
                raise PropertyError(400, "VALIDATION_ERROR", f"The property is missing {', '.join(missing)}.")
            if not NAME.match(body["name"]):
                raise PropertyError(400, "VALIDATION_ERROR", f"Property name '{body['name']}' is not valid: use "
                                    "lowercase letters, digits and underscores, starting with a letter.")
        if kind_of is not None and kind_of not in PROPERTY_TYPES:
            raise PropertyError(400, "VALIDATION_ERROR", f"Property type '{kind_of}' is not valid; use one of "
                                f"{', '.join(PROPERTY_TYPES)}.")
        if field_type is not None and kind_of is not None and field_type not in PROPERTY_TYPES[kind_of]:
            raise PropertyError(400, "VALIDATION_ERROR", f"fieldType '{field_type}' does not fit type '{kind_of}'; "
                                f"use one of {', '.join(PROPERTY_TYPES[kind_of])}.")
        group = body.get("groupName")
        if group is not None and all(g["name"] != group for g in self.groups(kind)):
            raise PropertyError(400, "VALIDATION_ERROR", f"Property group '{group}' does not exist on {kind}; "
                                "create it first (POST /crm/v3/properties/{objectType}/groups).")

    @staticmethod
    def _options(body: dict[str, Any]) -> tuple:
        options = body.get("options") or []
        if not isinstance(options, list) or any(not isinstance(o, dict) or "value" not in o for o in options):
            raise PropertyError(400, "VALIDATION_ERROR", "options must be a list of {label, value} objects.")
        return tuple((str(o["value"]), str(o.get("label", o["value"]))) for o in options)

    def create(self, kind: str, body: dict[str, Any], created_at: str) -> Prop:
        """Create a custom property; 409 OBJECT_ALREADY_EXISTS when the name is taken."""
        self._check(kind, body, creating=True)
        with self._lock:
            if body["name"] in self._props[kind]:
                raise PropertyError(409, "OBJECT_ALREADY_EXISTS",
                                    f"A property named '{body['name']}' already exists on {kind}.")
            if body["type"] == "enumeration" and body["fieldType"] == "booleancheckbox" and not body.get("options"):
                body = {**body, "options": [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]}
            prop = Prop(body["name"], body["label"], body["type"], body["fieldType"], body["groupName"],
                        self._options(body), hubspot_defined=False, unique=bool(body.get("hasUniqueValue")),
                        description=str(body.get("description") or ""), created_at=created_at)
            self._save(kind, prop)
        return prop

    def update(self, kind: str, name: str, body: dict[str, Any]) -> Prop:
        """Change a custom property's label, description, group, field type or options."""
        prop = self.get(kind, name)
        if prop is None:
            raise PropertyError(404, "OBJECT_NOT_FOUND", f"No property named '{name}' exists on {kind}.")
        if prop.hubspot_defined:
            raise PropertyError(400, "VALIDATION_ERROR", f"'{name}' is defined by HubSpot and cannot be changed.")
        self._check(kind, {"type": prop.type, **body}, creating=False)
        with self._lock:
            for key, attribute in (("label", "label"), ("description", "description"), ("groupName", "group"),
                                   ("fieldType", "field_type"), ("type", "type")):
                if key in body:
                    setattr(prop, attribute, body[key])
            if "options" in body:
                prop.options = self._options(body)
            self._save(kind, prop)
        return prop

    def archive(self, kind: str, name: str) -> None:
        """Remove a custom property (its values stay on records but are no longer shown)."""
        prop = self.get(kind, name)
        if prop is None or prop.hubspot_defined:
            raise PropertyError(404 if prop is None else 400, "OBJECT_NOT_FOUND" if prop is None else
                                "VALIDATION_ERROR", f"No custom property named '{name}' exists on {kind}.")
        with self._lock:
            self.store.execute("UPDATE properties SET archived = 1 WHERE type = ? AND name = ?", (kind, name))
            del self._props[kind][name]

    def _save(self, kind: str, prop: Prop) -> None:
        definition = json.dumps({"name": prop.name, "label": prop.label, "type": prop.type,
                                 "field_type": prop.field_type, "group": prop.group,
                                 "options": [list(o) for o in prop.options], "hubspot_defined": False,
                                 "unique": prop.unique, "description": prop.description,
                                 "created_at": prop.created_at})
        self.store.execute("INSERT INTO properties VALUES (?, ?, ?, 0) ON CONFLICT(type, name) DO UPDATE SET "
                           "definition = excluded.definition, archived = 0", (kind, prop.name, definition))
        self._props[kind][prop.name] = prop
