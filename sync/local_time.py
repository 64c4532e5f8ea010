"""Times as a person reads them: in their own time zone (from the CRM), with the zone's abbreviation.

The store keeps naive UTC. A viewer's zone is their CRM user's (Salesforce User.TimeZoneSidKey), else
their CRM organization's (Salesforce Organization.TimeZoneSidKey, HubSpot's portal time zone), else
UTC; a zone name the tz database does not know is skipped, never an error.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.store import Connection, User

log = logging.getLogger(__name__)
UTC = ZoneInfo("UTC")


def zone(*names: str | None) -> ZoneInfo:
    """The first of these IANA zone names the tz database knows; UTC when none does."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            log.info("local-time.unknown-zone zone=%s", str(name)[:64])
    return UTC


def in_zone(value: datetime, tz: ZoneInfo) -> datetime:
    """A datetime of the store (naive UTC) or an aware one, as the clock in ``tz`` shows it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz)


def format_local(value: datetime | None, tz: ZoneInfo, empty: str = "") -> str:
    """The minute in the viewer's zone with the zone's abbreviation: "2024-05-20 05:00 PDT"."""
    if value is None:
        return empty
    moment = in_zone(value, tz)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first moment of a day on the clock in ``tz``, as the store keeps moments (naive UTC)."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)


def organization_zone_name(session: Session, organization_id: int, preferred: Connection | None = None) -> str | None:
    """The organization's time zone: the preferred connection's, else the first connection's that has one."""
    if preferred is not None and preferred.time_zone:
        return preferred.time_zone
    return session.scalars(select(Connection.time_zone).where(
        Connection.organization_id == organization_id, Connection.time_zone.is_not(None))
        .order_by(Connection.id)).first()


def user_zone(session: Session, connection: Connection, user_remote_ids: Iterable[str | None]) -> ZoneInfo:
    """The zone to show a CRM user times in: theirs, else their organization's, else UTC."""
    ids = [i for i in user_remote_ids if i]
    own = session.scalars(select(User.time_zone).where(
        User.connection_id == connection.id, User.remote_id.in_(ids), User.time_zone.is_not(None))).first() if ids else None
    return zone(own, organization_zone_name(session, connection.organization_id, connection))
