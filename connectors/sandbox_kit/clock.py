"""The sandbox clock: a configurable origin that ticks with real time."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta


class TickingClock:
    """now = start + real time elapsed + manual advances, so edits are newer than seeded data."""

    def __init__(self, origin: datetime, not_before: datetime | None = None):
        # A reopened data directory may hold stamps past the origin: never go back in time.
        self.start = max(origin, not_before) if not_before else origin
        self.origin = origin
        self._started = time.monotonic()
        self._advanced = 0.0
        self._lock = threading.Lock()

    def _moment(self) -> datetime:
        """The exact sandbox time; subclasses round it as their CRM stamps."""
        with self._lock:
            elapsed = time.monotonic() - self._started + self._advanced
        return self.start + timedelta(seconds=elapsed)

    def now(self) -> datetime:
        """The current sandbox time, naive UTC."""
        return self._moment()

    def advance(self, seconds: float) -> datetime:
        """Jump forward (tests of quotas and windows)."""
        if seconds < 0:
            raise ValueError("The sandbox clock only moves forward.")
        with self._lock:
            self._advanced += seconds
        return self.now()


def parse_iso_utc(text: str) -> datetime:
    """A naive UTC datetime from ISO text with Z, +0000, +00:00 or no offset."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit() and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = (parsed - parsed.utcoffset()).replace(tzinfo=None)
    return parsed
