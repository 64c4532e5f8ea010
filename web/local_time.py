"""The console's clock: times in the signed-in admin's CRM time zone, and the organization's name."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from sync.local_time import UTC, format_local, organization_zone_name, zone
from sync.store import Connection, Organization
from web.extensions import runtime
from web.signed_in import current_user, store_user

log = logging.getLogger(__name__)


def viewer_zone() -> ZoneInfo:
    """The signed-in user's zone: their CRM user's, else their organization's, else UTC (once a request)."""
    if "viewer_zone" not in g:
        try:
            g.viewer_zone = _lookup_zone(current_user())
        except SQLAlchemyError as exc:  # the error pages render times too: never fail them over a zone
            log.warning("web.viewer-zone-unreadable error=%s", type(exc).__name__)
            g.viewer_zone = UTC
    return g.viewer_zone


def _lookup_zone(user: dict | None) -> ZoneInfo:
    if not user or user.get("organization_id") is None:
        return UTC
    with runtime().sessions() as db:
        row = store_user(db, user)
        own = row.time_zone if row is not None and row.organization_id == user["organization_id"] else None
        signed_in_with = db.scalar(select(Connection).where(
            Connection.provider == user["provider"], Connection.remote_org_id == user["remote_org_id"],
            Connection.organization_id == user["organization_id"]))
        return zone(own, organization_zone_name(db, user["organization_id"], signed_in_with))


def local_time(value: datetime | str | None, empty: str = "—") -> str:
    """A stored (naive UTC) moment, or its ISO text, in the viewer's zone with the zone's abbreviation."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    return format_local(value, viewer_zone(), empty)


def organization_name() -> str | None:
    """The signed-in admin's organization's name, for the header."""
    user = current_user()
    if not user or user.get("organization_id") is None:
        return None
    if "organization_name" not in g:
        try:
            with runtime().sessions() as db:
                g.organization_name = db.scalar(select(Organization.name).where(
                    Organization.id == user["organization_id"]))
        except SQLAlchemyError as exc:  # the header of an error page must still render
            log.warning("web.organization-name-unreadable error=%s", type(exc).__name__)
            g.organization_name = None
    return g.organization_name


def init_app(app: Flask) -> None:
    """Register the filter and the header's organization name."""
    app.add_template_filter(local_time)
    app.add_template_global(organization_name)
