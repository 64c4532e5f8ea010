"""The connection timeline as the console shows it: the store's steps plus the CRM's record links."""
from __future__ import annotations

from sync import timeline
from sync.connections import record_url
from sync.store import Connection
from web.extensions import runtime


def connection_timeline(db, connection: Connection) -> dict:
    """The connection's timeline from install to first scores, with a link to a scored record."""
    return timeline.read(db, runtime().redis, connection,
                         lambda score: record_url(connection, score.object_type, score.remote_id))
