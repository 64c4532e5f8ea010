"""What the org offers Pipewise: each object's readable fields, from describe, kept per process.

A field a describe answer leaves out does not exist for the integration user (never created, or
hidden by field-level security): selecting it fails the whole query with INVALID_FIELD, so the
client selects only what describe lists. Every object a sync may read is described in one
Composite call (REST API guide, "Send Multiple Requests Using Composite": up to 25 subrequests,
counted as one API call); an object the org lacks answers 404 there.

The answers are kept by the process for KEPT_SECONDS per org and integration user (``KEPT``), not
per client: a webhook's job opens a client for a few records and would otherwise describe every
object again each time. A field granted meanwhile is read once the answers expire; one removed
meanwhile makes Salesforce refuse the query (INVALID_FIELD, or INVALID_TYPE for an object), and
the client then forgets the answers and describes again once (``client.SalesforceClient``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Stream
from connectors.errors import Retriable

COMPOSITE_LIMIT = 25  # subrequests per composite call
# How long a process keeps an org's describe answers (a field granted meanwhile is read after this).
KEPT_SECONDS = 600


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


class KeptAnswers:
    """The process's describe answers by (org, user, API version) key, each set forgotten KEPT_SECONDS after it began."""

    def __init__(self, seconds: float = KEPT_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds, self._clock = seconds, clock
        self._kept: dict[str, tuple[float, dict[str, ObjectFields | None]]] = {}

    def objects(self, key: str) -> dict[str, ObjectFields | None]:
        """The key's answers (name → fields, None for an object the org does not offer); a fresh dict once expired."""
        now = self._clock()
        kept = self._kept.get(key)
        if kept is None or now - kept[0] >= self.seconds:
            kept = (now, {})
            self._kept[key] = kept
        return kept[1]

    def clear(self) -> None:
        """Forget every org's answers (tests start from a fresh process's state)."""
        self._kept.clear()


# The process's answers: one per worker, like its loaded models.
KEPT = KeptAnswers()


class Catalog:
    """Describe answers of the objects Pipewise reads, fetched together on first use.

    With a ``key`` (the org, the integration user and the API version) the answers are the process's
    kept ones for it (``KEPT``); without one, this catalog's own.
    """

    def __init__(self, composite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
                 api_version: str, known: Iterable[str] = (), key: str | None = None):
        self._composite = composite
        self._version = api_version
        self._known = list(dict.fromkeys(known))
        self._key = key
        self._own: dict[str, ObjectFields | None] = {}

    @property
    def _objects(self) -> dict[str, ObjectFields | None]:
        return KEPT.objects(self._key) if self._key is not None else self._own

    def kept(self, remote_name: str) -> bool:
        """Whether the object's answer is already known (so a refusal may mean it went stale)."""
        return remote_name in self._objects

    def get(self, remote_name: str) -> ObjectFields | None:
        """The object's readable fields, or None when the org does not offer it to Pipewise."""
        objects = self._objects
        if remote_name not in objects:
            wanted = [remote_name, *(n for n in self._known if n not in objects and n != remote_name)]
            self._load(wanted[:COMPOSITE_LIMIT], objects)
        return objects[remote_name]

    def load(self, names: list[str]) -> None:
        """Describe these objects in one composite call."""
        self._load(names, self._objects)

    def _load(self, names: list[str], objects: dict[str, ObjectFields | None]) -> None:
        requests = [{"method": "GET", "url": f"/services/data/v{self._version}/sobjects/{name}/describe",
                     "referenceId": f"describe_{index}"} for index, name in enumerate(names)]
        answers = {a.get("referenceId"): a for a in self._composite(requests)}
        for index, name in enumerate(names):
            answer = answers.get(f"describe_{index}") or {}
            body = answer.get("body")
            if answer.get("httpStatusCode") == 200 and isinstance(body, dict):
                objects[name] = ObjectFields(name, {f["name"]: f for f in body.get("fields", [])})
            elif answer.get("httpStatusCode") in (400, 403, 404):
                objects[name] = None  # not in this org, or not for this user
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
