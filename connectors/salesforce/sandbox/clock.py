"""The sandbox clock: a configurable origin that ticks with real time."""
from __future__ import annotations

from datetime import datetime

from connectors.sandbox_kit.clock import TickingClock, parse_iso_utc

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000+0000"


class SandboxClock(TickingClock):
    """now = start + real time elapsed + manual advances, so edits are newer than seeded data."""

    def now(self) -> datetime:
        """The current sandbox time, naive UTC, whole seconds as Salesforce stamps are."""
        return self._moment().replace(microsecond=0)


def format_datetime(value: datetime) -> str:
    """Salesforce's wire format for datetimes."""
    return value.strftime(DATETIME_FORMAT)


parse_datetime = parse_iso_utc  # Salesforce accepts the same ISO forms; its modules import this name
