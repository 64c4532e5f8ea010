"""Reading a HubSpot object whole through the CRM objects list endpoint, for a first or full sync.

``GET /crm/v3/objects/{objectType}`` pages with ``limit`` (at most 100) and ``after`` ("the paging cursor
token of the last successfully read resource", returned as ``paging.next.after``; HubSpot's objects API
reference), lists live records only unless ``archived=true``, and answers under the general burst limit,
not the search API's few calls a second. Its order is not by modification time, and the sync engine's
backfill needs none: a record that changes while the listing pages (and might move in it) changed after
the backfill began, so the next incremental pull reads it (see ``sync.backfill``).

``associations=`` adds each record's associated ids per type as ``{results: [{id, type}], paging?}``
(``CollectionResponseAssociatedId`` in the official client's models): the Primary label shows as the plain
type name beside ``<type>_unlabeled`` (which ``mapping.primary_id`` reads). HubSpot documents no bound on
how many ids one record carries there, but the block has its own ``paging``: a record whose block names a
next page gets its links from the v4 associations API instead, as a search page does.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from connectors.base import Stream
from connectors.errors import ChangeTokenExpired, Fatal
from connectors.hubspot.mapping import hs_datetime

LIST_LIMIT = 100

ListCall = Callable[[str | None], dict[str, Any]]


def list_pages(call: ListCall, resume: str | None) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """(records, the ``after`` that follows them) per page, from ``resume`` on; the last page's is None."""
    after = resume
    first = True
    while True:
        try:
            answer = call(after)
        except Fatal as exc:
            # A 400 to the very first call of a resumed read is HubSpot refusing the stored token.
            if first and resume is not None and exc.status == 400:
                raise ChangeTokenExpired(f"HubSpot no longer accepts the stored resume point ({exc}); "
                                         "Pipewise reads the object again from the start.") from exc
            raise
        first = False
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        yield list(answer.get("results") or []), (str(after) if after else None)
        if not after:
            return


def partial_links(records: list[dict[str, Any]], to_type: str) -> list[str]:
    """Ids of the records whose listed associations of one type continue on a further page."""
    return [str(r["id"]) for r in records
            if (((r.get("associations") or {}).get(to_type) or {}).get("paging") or {}).get("next")]


def newest_body(stream: type[Stream]) -> dict[str, Any]:
    """A search for the most recently modified record of the object (and the object's total)."""
    return {"limit": 1, "properties": [stream.cursor_field],
            "sorts": [{"propertyName": stream.cursor_field, "direction": "DESCENDING"}]}


def newest_change(answer: dict[str, Any], stream: type[Stream]) -> datetime | None:
    """The newest record's cursor value (None for an empty object)."""
    results = answer.get("results") or []
    return hs_datetime(((results[0].get("properties") or {}) if results else {}).get(stream.cursor_field))
