"""Open query locators: the snapshot of a query result that nextRecordsUrl pages through.

Salesforce App Limits Cheatsheet, "API Query Cursor Limits": since API version 56.0 a cursor and its
results stay available for two days after the query ran and there is no limit on open cursors (the
older rule, 15 minutes of inactivity and 10 per user, no longer applies). A locator can still be gone
(expired, or invalidated by the server): the next page then answers INVALID_QUERY_LOCATOR, which the
control API can provoke with POST /_sandbox/expire_query_locators.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .ids import make_id

CURSOR_TTL_SECONDS = 2 * 24 * 3600
# Not a Salesforce limit: what this process keeps in memory before forgetting the oldest snapshot.
MAX_CURSORS = 1000


@dataclass
class Cursor:
    """The rest of a query result, frozen when the query ran."""

    records: list[dict]
    batch_size: int
    endpoint: str
    created: float


class Cursors:
    """Open query locators, the oldest forgotten first."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def open(self, cursor: Cursor) -> str:
        with self._lock:
            # The REST guide's nextRecordsUrl example carries a 01g… locator.
            locator = make_id("01g", next(self._numbers))
            self._open[locator] = cursor
            self._forget_old(time.time())
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            self._forget_old(time.time())
            return self._open.get(locator)

    def expire_all(self) -> int:
        """Invalidate every open locator (as after a server-side cleanup); returns how many."""
        with self._lock:
            count = len(self._open)
            self._open.clear()
            return count

    def _forget_old(self, now: float) -> None:
        while self._open and (len(self._open) > MAX_CURSORS or
                              next(iter(self._open.values())).created < now - CURSOR_TTL_SECONDS):
            self._open.popitem(last=False)
