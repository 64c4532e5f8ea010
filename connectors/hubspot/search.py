"""Reading a HubSpot object in cursor order through the search API, without ever losing a record.

HubSpot search sorts on one property only, pages with an offset (``after``) and refuses offsets
past 10,000. Offsets are also unsafe while records change: a record read on page 1 and modified
before page 2 moves to the end, every later record shifts one place left, and the record that
slid across the page boundary is never returned. So Pipewise never pages with ``after``:

1. Keyset on the cursor: each request is a fresh search ``cursor >= T`` sorted by the cursor
   ascending, where T is the cursor of the previous page's last record. Records at exactly T are
   asked for again (and dropped when already yielded), so ties at a page boundary are never lost.
2. A full page whose records all share one timestamp T cannot move the cursor on. Then the
   records at T are drained by keyset on the id: ``cursor == T AND hs_object_id > last`` sorted by
   hs_object_id, until a short page; the cursor goes on with ``cursor > T``. This is how more than
   10,000 records modified at one instant (an import, a bulk workflow) all arrive.

Pages therefore come in non-decreasing cursor order, which is what the sync engine's checkpoint
(the last record's cursor of each committed page) needs: everything before a checkpoint has been
yielded, whatever moment the worker is killed at. A record modified while the read is under way
only moves to a later cursor, where the read (or the next run's lookback window) meets it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from connectors.hubspot.mapping import hs_datetime, epoch_ms

ID_PROPERTY = "hs_object_id"

Search = Callable[[dict[str, Any]], dict[str, Any]]


class RateLimiter:
    """At most ``per_second`` calls a second, spaced evenly (HubSpot allows ~4 searches a second)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_at: float | None = None

    def wait(self) -> None:
        """Block until the next call is allowed, and book its slot."""
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            self._sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval


def cursor_ms(record: dict[str, Any], cursor_field: str) -> int | None:
    """A search result's cursor value as epoch milliseconds."""
    value = hs_datetime((record.get("properties") or {}).get(cursor_field) or record.get("updatedAt"))
    return None if value is None else epoch_ms(value)


def _object_id(record: dict[str, Any]) -> int:
    return int(record.get("id") or (record.get("properties") or {}).get(ID_PROPERTY))


def _body(filters: list[dict[str, Any]], sort: str, properties: tuple[str, ...], limit: int) -> dict[str, Any]:
    return {"filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": list(properties), "limit": limit}


def search_in_cursor_order(search: Search, cursor_field: str, properties: tuple[str, ...], limit: int,
                           since_ms: int | None = None,
                           on_total: Callable[[int], None] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Pages of search results in (cursor, then id at crowded instants) order, from ``since_ms`` on."""
    lower, inclusive = since_ms, True
    yielded_at_lower: set[str] = set()  # ids already yielded whose cursor equals ``lower``
    first = True
    while True:
        filters = []
        if lower is not None:
            filters.append({"propertyName": cursor_field, "operator": "GTE" if inclusive else "GT",
                            "value": str(lower)})
        answer = search(_body(filters, cursor_field, properties, limit))
        if first and on_total is not None and answer.get("total") is not None:
            on_total(int(answer["total"]))
        first = False
        results = answer.get("results") or []
        fresh = [r for r in results if str(r.get("id")) not in yielded_at_lower
                 or cursor_ms(r, cursor_field) != lower]
        if fresh:
            yield fresh
        if len(results) < limit:
            return
        top = cursor_ms(results[-1], cursor_field)
        if top is None:
            raise ValueError(f"HubSpot returned a record without {cursor_field}; Pipewise cannot page it.")
        if top == cursor_ms(results[0], cursor_field):
            # A full page at one instant: the cursor alone cannot move on, drain it by id.
            done = {str(r.get("id")) for r in results} | (yielded_at_lower if top == lower else set())
            yield from _drain_instant(search, cursor_field, properties, limit, top, skip=done)
            lower, inclusive, yielded_at_lower = top, False, set()
        else:
            # The next search starts at ``top`` again; its records already yielded are dropped then.
            yielded_at_lower = {str(r.get("id")) for r in results if cursor_ms(r, cursor_field) == top}
            lower, inclusive = top, True


def _drain_instant(search: Search, cursor_field: str, properties: tuple[str, ...], limit: int,
                   instant_ms: int, skip: set[str]) -> Iterator[list[dict[str, Any]]]:
    """Every record whose cursor is exactly ``instant_ms``, by ascending id (keyset, no offsets)."""
    last_id: int | None = None
    while True:
        filters = [{"propertyName": cursor_field, "operator": "EQ", "value": str(instant_ms)}]
        if last_id is not None:
            filters.append({"propertyName": ID_PROPERTY, "operator": "GT", "value": str(last_id)})
        answer = search(_body(filters, ID_PROPERTY, properties, limit))
        results = answer.get("results") or []
        fresh = [r for r in results if str(r.get("id")) not in skip]
        if fresh:
            yield fresh
        if len(results) < limit:
            return
        next_id = _object_id(results[-1])
        if last_id is not None and next_id <= last_id:
            raise ValueError("HubSpot's search did not sort by hs_object_id; Pipewise stops rather than loop.")
        last_id = next_id
