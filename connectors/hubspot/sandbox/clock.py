"""The sandbox clock (a configurable origin ticking with real time) and HubSpot's datetime formats."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1)


class SandboxClock:
    """now = start + real time elapsed + manual advances, so edits are newer than seeded data."""

    def __init__(self, origin: datetime, not_before: datetime | None = None):
        # A reopened data directory may hold stamps past the origin: never go back in time.
        self.start = max(origin, not_before) if not_before else origin
        self.origin = origin
        self._started = time.monotonic()
        self._advanced = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current sandbox time, naive UTC, to the millisecond as HubSpot stamps are."""
        with self._lock:
            elapsed = time.monotonic() - self._started + self._advanced
        moment = self.start + timedelta(seconds=elapsed)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def advance(self, seconds: float) -> datetime:
        """Jump forward (tests of quotas and windows)."""
        if seconds < 0:
            raise ValueError("The sandbox clock only moves forward.")
        with self._lock:
            self._advanced += seconds
        return self.now()


def iso(moment: datetime | date) -> str:
    """HubSpot's wire format for datetimes: ISO 8601 with milliseconds and Z."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of a naive UTC datetime."""
    return int((moment - EPOCH) / timedelta(milliseconds=1))


def from_epoch_ms(value: int | float) -> datetime:
    """A naive UTC datetime from epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=int(value))


def parse_datetime(text: str | int | float) -> datetime:
    """A naive UTC datetime from epoch ms, ISO text (Z, +00:00 or none) or a plain date."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return from_epoch_ms(text)
    value = str(text).strip()
    if value.lstrip("-").isdigit() and len(value) > 8:
        return from_epoch_ms(int(value))
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit() and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed
