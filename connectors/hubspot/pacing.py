"""Keeping HubSpot's rolling burst limit (about 110 calls per 10 s for an OAuth app) without meeting its 429.

Every answer carries X-HubSpot-RateLimit-Max, -Remaining and -Interval-Milliseconds (HubSpot's "API usage
guidelines and limits"). A short burst (a webhook's targeted read) spends the allowance freely; a long read
(a backfill through the list endpoints) slows down as Remaining nears zero, so it keeps going at the
window's pace instead of stopping for the 10 s a TEN_SECONDLY_ROLLING 429 costs.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

# Below this share of the window's allowance, calls are spaced out.
MARGIN_SHARE = 0.1


class BurstPacer:
    """Waits before a call only when the last answer left little of the rolling window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock, self._sleep = clock, sleep
        self._seen: tuple[int, int, float, float] | None = None  # max, remaining, window seconds, when

    def note(self, headers: Mapping[str, Any]) -> None:
        """Remember the allowance an answer reported (answers without the headers change nothing)."""
        values = [str(headers.get(name) or "") for name in (
            "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds")]
        if all(v.isdigit() for v in values) and int(values[0]) > 0 and int(values[2]) > 0:
            self._seen = (int(values[0]), int(values[1]), int(values[2]) / 1000, self._clock())

    def wait(self) -> None:
        """Sleep one call's share of the window per call short of the margin (nothing above it)."""
        if self._seen is None:
            return
        maximum, remaining, window, when = self._seen
        if self._clock() - when >= window:
            self._seen = None  # the whole window has rolled by since
            return
        margin = max(1, int(maximum * MARGIN_SHARE))
        if remaining > margin:
            return
        self._sleep(window / maximum * (1 + margin - remaining))
