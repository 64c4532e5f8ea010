"""What the org offers Pipewise: each object's readable fields, from describe, read once per client.

A field a describe answer leaves out does not exist for the integration user (never created, or
hidden by field-level security): selecting it fails the whole query with INVALID_FIELD, so the
client selects only what describe lists. Every object a sync may read is described in one
Composite call (REST API guide, "Send Multiple Requests Using Composite": up to 25 subrequests,
counted as one API call); an object the org lacks answers 404 there.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Stream
from connectors.errors import Retriable

COMPOSITE_LIMIT = 25  # subrequests per composite call


@dataclass(frozen=True)
class ObjectFields:
    """One object as the integration user sees it."""

    name: str
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → describe entry

    @property
    def relationships(self) -> set[str]:
        return {f["relationshipName"] for f in self.fields.values() if f.get("relationshipName")}

    def readable(self, name: str) -> bool:
        """Whether a field (or a Parent.Field path through a reference) can be selected."""
        if "." in name:
            return name.partition(".")[0] in self.relationships
        return name in self.fields

    def updateable(self, name: str) -> bool:
        entry = self.fields.get(name)
        return bool(entry and entry.get("updateable"))


class Catalog:
    """Describe answers of the objects Pipewise reads, fetched together on first use."""

    def __init__(self, composite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
                 api_version: str, known: Iterable[str] = ()):
        self._composite = composite
        self._version = api_version
        self._known = list(dict.fromkeys(known))
        self._objects: dict[str, ObjectFields | None] = {}

    def get(self, remote_name: str) -> ObjectFields | None:
        """The object's readable fields, or None when the org does not offer it to Pipewise."""
        if remote_name not in self._objects:
            wanted = [remote_name, *(n for n in self._known if n not in self._objects and n != remote_name)]
            self.load(wanted[:COMPOSITE_LIMIT])
        return self._objects[remote_name]

    def load(self, names: list[str]) -> None:
        """Describe these objects in one composite call."""
        requests = [{"method": "GET", "url": f"/services/data/v{self._version}/sobjects/{name}/describe",
                     "referenceId": f"describe_{index}"} for index, name in enumerate(names)]
        answers = {a.get("referenceId"): a for a in self._composite(requests)}
        for index, name in enumerate(names):
            answer = answers.get(f"describe_{index}") or {}
            body = answer.get("body")
            if answer.get("httpStatusCode") == 200 and isinstance(body, dict):
                self._objects[name] = ObjectFields(name, {f["name"]: f for f in body.get("fields", [])})
            elif answer.get("httpStatusCode") in (400, 403, 404):
                self._objects[name] = None  # not in this org, or not for this user
            else:
                raise Retriable(f"Salesforce answered {answer.get('httpStatusCode')} to the describe of {name}; "
                                "Pipewise will try again.")

    def forget(self, remote_name: str | None = None) -> None:
        """Describe again on next use (after Pipewise created fields or granted access)."""
        if remote_name is None:
            self._objects.clear()
        else:
            self._objects.pop(remote_name, None)


def selectable(stream: type[Stream], described: ObjectFields) -> tuple[list[str], list[str]]:
    """(the stream's fields the object offers, the ones it does not)."""
    chosen, missing = [], []
    for name in stream.fields:
        (chosen if described.readable(name) else missing).append(name)
    chosen += [name for name in stream.when_present if described.readable(name)]
    return chosen, missing
