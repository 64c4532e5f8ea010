"""The engine's backfill: a first or full read of a non-delta stream through the remote's bulk read
(``Client.read_backfill``), in any order, resumable after a crash.

An unordered read cannot checkpoint on (modified_at, id), so the no-skip guarantee comes from its start
time T instead: T is noted before the first call (on the remote's clock where the client tells it,
``ChangePage.as_of``, since its cursor values are stamped by that clock), every record changed after T is
at or past T on the remote's cursor, and once the backfill completes the cursor moves to T, so the next incremental pull
(from T minus the lookback window) reads whatever changed while the backfill ran. Each page is committed
with its resume point and the ids it stored; a crash resumes from the last point with T kept from the
first attempt, and the ids stored before the crash count as seen when the deletes are found at the end
(the stored records the backfill never listed are re-read by id, as after a delta stream's listing).
"""
from __future__ import annotations

import logging

from sqlalchemy import delete, select

from connectors.base import Stream
from connectors.errors import BackfillNotOffered, ChangeTokenExpired, Unavailable
from sync.store import BackfillSeen, SyncRun, utcnow
from sync.store.db import upsert

log = logging.getLogger(__name__)


class BackfillReads:
    """Mixed into ``SyncEngine`` (after ``ChangeLogReads``, whose sweep it reuses)."""

    def _backfill(self, run: SyncRun, organization_id: int, stream: type[Stream], full: bool) -> bool:
        """Read the stream whole through the client's backfill; False when it offers none for the stream."""
        read_backfill = getattr(self.client, "read_backfill", None)
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            resuming = cursor.backfill_started_at is not None
            if read_backfill is None or not (full or resuming or cursor.position_modified_at is None):
                return False
            if not resuming:
                self._begin_backfill(session, run.connection_id, stream)
            cursor.run_id = run.id
            cursor.run_started_from = None
            resume = cursor.backfill_token
            session.commit()
        try:
            self._read_backfill(run, organization_id, stream, resume)
        except BackfillNotOffered as exc:
            log.info("sync.backfill.not_offered connection=%s stream=%s reason=%s", run.connection_id,
                     stream.name, exc)
            self._end_backfill(run, stream, position=False)
            return False
        except Unavailable:
            self._end_backfill(run, stream, position=False)  # skipped, not half read: nothing to resume
            raise
        except ChangeTokenExpired as exc:
            if resume is None:
                raise
            # The remote no longer honours the resume point: read it all again (T stays the first
            # attempt's, which only widens the next incremental pull).
            log.warning("sync.backfill.resume_refused connection=%s stream=%s reason=%s", run.connection_id,
                        stream.name, exc)
            with self.sessions() as session:
                self._cursor(session, run.connection_id, stream.name).backfill_token = None
                self._forget_seen(session, run.connection_id, stream)
                session.commit()
            self._read_backfill(run, organization_id, stream, None)
        with self.sessions() as session:
            listed = set(session.scalars(select(BackfillSeen.remote_id).where(
                BackfillSeen.connection_id == run.connection_id, BackfillSeen.stream == stream.name)))
        self._sweep(run, organization_id, stream, listed)
        # An empty listing leaves no position: the next read is whole again (and cheap), rather than
        # starting at a moment no record of the remote's stamped.
        self._end_backfill(run, stream, position=bool(listed))
        self._stream_done(run, stream, read="backfill")
        return True

    def _read_backfill(self, run: SyncRun, organization_id: int, stream: type[Stream], resume: str | None) -> None:
        """Store every page with its resume point and the ids it listed, in one transaction each."""
        for page in self.client.read_backfill(stream, resume):
            with self.sessions() as session:
                ids: set[str] = set()
                self._write_page(session, run, organization_id, stream, page.records, seen=ids)
                upsert(session, BackfillSeen, [{"connection_id": run.connection_id, "stream": stream.name,
                                                "remote_id": i} for i in sorted(ids)],
                       conflict=("connection_id", "stream", "remote_id"), update=())
                cursor = self._cursor(session, run.connection_id, stream.name)
                if page.token:
                    cursor.backfill_token = page.token
                if page.as_of is not None:
                    # The remote's own clock, where it says: the earlier of the two only widens the next
                    # incremental pull, so taking the minimum is never a gap.
                    cursor.backfill_started_at = min(cursor.backfill_started_at, page.as_of)
                session.commit()
            self.heartbeat()

    def _begin_backfill(self, session, connection_id: int, stream: type[Stream]) -> None:
        """Note T, before the first call, and forget what an abandoned earlier backfill left."""
        cursor = self._cursor(session, connection_id, stream.name)
        cursor.backfill_started_at = utcnow()
        cursor.backfill_token = None
        self._forget_seen(session, connection_id, stream)

    def _end_backfill(self, run: SyncRun, stream: type[Stream], position: bool) -> None:
        """Clear the backfill's state; once it completed, the cursor stands at its start T."""
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            if position:
                cursor.position_modified_at, cursor.position_remote_id = cursor.backfill_started_at, None
            cursor.backfill_started_at = None
            cursor.backfill_token = None
            self._forget_seen(session, run.connection_id, stream)
            session.commit()

    @staticmethod
    def _forget_seen(session, connection_id: int, stream: type[Stream]) -> None:
        session.execute(delete(BackfillSeen).where(BackfillSeen.connection_id == connection_id,
                                                   BackfillSeen.stream == stream.name))
