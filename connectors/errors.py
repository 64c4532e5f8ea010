"""Typed connector errors and the one table that maps an HTTP answer to an action."""
from __future__ import annotations

from datetime import datetime


class ConnectorError(Exception):
    """Base of every error a connector raises; ``str()`` is a sentence an admin can act on."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class Retriable(ConnectorError):
    """A passing fault (429, 5xx, timeouts): try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Fatal(ConnectorError):
    """Retrying will not help until someone changes something."""


class Skippable(ConnectorError):
    """One record or object cannot be read or written; the rest of the work goes on."""


class Unavailable(ConnectorError):
    """An object or scope this org does not have, has not enabled, or does not let Pipewise use.

    For an optional stream the sync skips it and tells the admin; for a required one it is fatal.
    """


class ChangesNotTracked(ConnectorError):
    """The remote keeps no change log for this object (change tracking is off): read it on its cursor."""


class ChangeTokenExpired(ConnectorError):
    """The remote no longer honours this change token or backfill resume point (expired or not its own):
    list the object again from the start."""


class BackfillNotOffered(ConnectorError):
    """The client reads this stream better through ``read_stream`` (too small, or the bulk read lacks a
    field the stream needs): the engine reads it on its cursor from the start instead."""


class QuotaExceeded(Fatal):
    """The remote daily API quota is spent: pause the connection until ``resume_at``."""

    def __init__(self, message: str, *, resume_at: datetime | None = None, **kw):
        super().__init__(message, **kw)
        self.resume_at = resume_at


class ReauthorizationRequired(Fatal):
    """The refresh token was revoked or expired: an admin must connect again."""


# HTTP status → error class, for answers a connector did not recognize more precisely.
STATUS_ACTIONS: dict[int, type[ConnectorError]] = {
    400: Fatal,
    401: ReauthorizationRequired,
    403: Fatal,
    404: Skippable,
    408: Retriable,
    409: Retriable,
    423: Retriable,
    429: Retriable,
    500: Retriable,
    502: Retriable,
    503: Retriable,
    504: Retriable,
}


def error_for_status(status: int, message: str, **kw) -> ConnectorError:
    """The typed error for an HTTP status (5xx not listed count as retriable)."""
    cls = STATUS_ACTIONS.get(status) or (Retriable if status >= 500 else Fatal)
    if cls is not Retriable:
        kw.pop("retry_after", None)
    return cls(message, status=status, **kw)
