"""The sandbox clock (a configurable origin ticking with real time) and HubSpot's datetime formats."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from connectors.sandbox_kit.clock import TickingClock, parse_iso_utc

EPOCH = datetime(1970, 1, 1)


class SandboxClock(TickingClock):
    """now = start + real time elapsed + manual advances, so edits are newer than seeded data."""

    def now(self) -> datetime:
        """The current sandbox time, naive UTC, to the millisecond as HubSpot stamps are."""
        moment = self._moment()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


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
    return parse_iso_utc(value)
