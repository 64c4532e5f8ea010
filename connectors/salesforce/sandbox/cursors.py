"""Open query locators: the snapshot of a query result that nextRecordsUrl pages through."""
from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .ids import make_id

CURSOR_TTL_SECONDS = 15 * 60
MAX_CURSORS = 200


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
            locator = make_id("01g", next(self._numbers))
            self._open[locator] = cursor
            now = time.time()
            while self._open and (len(self._open) > MAX_CURSORS or
                                  next(iter(self._open.values())).created < now - CURSOR_TTL_SECONDS):
                self._open.popitem(last=False)
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            return self._open.get(locator)
