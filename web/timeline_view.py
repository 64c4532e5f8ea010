"""The connection timeline as the console shows it: the store's steps plus the CRM's record links."""
from __future__ import annotations

from connectors import registry
from sync import timeline
from sync.store import Connection
from web.extensions import runtime


def connection_timeline(db, connection: Connection) -> dict:
    """The connection's timeline from install to first scores, with a link to a scored record."""
    provider = registry.get(connection.provider).provider

    def record_url(score) -> str | None:
        return provider.record_url(connection.instance_url or "", connection.remote_org_id,
                                   score.object_type, score.remote_id)

    return timeline.read(db, runtime().redis, connection, record_url)
