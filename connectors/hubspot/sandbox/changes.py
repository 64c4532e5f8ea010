"""What a sandbox write reports: a refused write (RecordError) and a committed change (Change)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAMPS = ("hs_lastmodifieddate", "lastmodifieddate")  # set on every change; kept out of history


class RecordError(Exception):
    """A write HubSpot would refuse: HTTP status, category, a sentence and optional detail."""

    def __init__(self, status: int, category: str, message: str, errors: list | None = None,
                 context: dict | None = None):
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.errors, self.context = errors or [], context or {}


@dataclass
class Change:
    """One committed change, as a webhook subscription sees it."""

    kind: str
    object_id: int
    change: str                    # creation, propertyChange, deletion, merge, restore or associationChange
    occurred_at: int               # epoch ms of the sandbox clock
    source: str                    # CRM_UI, INTEGRATION or IMPORT
    source_id: str | None = None
    property_name: str | None = None
    property_value: str | None = None
    # What a merge or an association change adds to its event (merged ids, the other side, ...).
    details: dict[str, Any] = field(default_factory=dict)
