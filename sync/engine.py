"""The pull engine: incremental, checkpointed, idempotent sync of a connection's streams.

Per stream, records are read in (modified_at, id) order from the last checkpoint minus a
lookback window (inclusive). Every page is written with one bulk upsert of the rows whose
content hash changed, and committed together with the new checkpoint, so a worker killed at
any moment resumes without duplicates or gaps. Remote deletes are staged on the rows
(``remote_deleted``) and become ``deleted_at`` only when the whole run completed.

A ``delta`` stream is read through the remote's change log instead (``Client.read_changes``): the
changes since the stored opaque token, deletes included. The new token is stored only after the
pages it covers are committed, so a crash re-reads those changes from the old token (idempotent).
Without a token (first run, full run, or an expired token) the remote lists every live record, and
the stored records that listing left out are re-read by id: those the remote no longer has are
deleted. Where the remote keeps no change log for the object, the stream is read on its cursor.

A first or full read of any other stream goes through the client's backfill where it offers one
(``Client.read_backfill``: the remote's bulk read, in any order; see ``sync.backfill`` for how it
resumes and why nothing changed while it runs is missed), else on the cursor from the start.

An optional stream (an object some orgs do not have, have not enabled or do not let Pipewise
read) whose client raises ``Unavailable`` is skipped with a note for the admin; the run goes on
and completes. A required one that is unavailable fails the run with the connector's sentence.

It stays one module past 300 lines because every part of it keeps the invariant above (a page and its
checkpoint commit together, deletes apply when the run completes); the reads that differ are already
mixins of their own (``sync.backfill``, ``sync.change_log``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Client, Provider, Stream
from connectors.common import COMMON_TYPES, Remote
from connectors.errors import Unavailable
from sync import currency, rollups
from sync.backfill import BackfillReads
from sync.change_log import ChangeLogReads
from sync.store import SYNCED_MODELS, SyncCursor, SyncRun, utcnow
from sync.store.db import upsert

log = logging.getLogger(__name__)

COMMON_TYPE_NAMES = {cls: name for name, cls in COMMON_TYPES.items()}
# Fields that change without the record changing for anyone reading it.
VOLATILE = frozenset({"remote_data", "remote_modified_at"})
# Past this many changed ids a run records "all" instead of the list (rescoring scores everything).
CHANGED_IDS_CAP = 5000


def as_row(record: Remote) -> dict[str, Any]:
    """A record's fields as a flat dict (no deep copy of remote_data, unlike dataclasses.asdict)."""
    return {name: getattr(record, name) for name in _field_names(type(record))}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def content_hash(record: Remote) -> str:
    """SHA-256 over the mapped fields, volatile ones left out."""
    values = {k: v for k, v in as_row(record).items() if k not in VOLATILE}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=_json_default).encode()).hexdigest()


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


class SyncEngine(BackfillReads, ChangeLogReads):
    """Pulls a connection's streams into the store."""

    def __init__(self, sessions: sessionmaker[Session], client: Client, provider: type[Provider],
                 to_common: Callable[[type[Stream], dict], Remote], *,
                 lookback: timedelta = timedelta(minutes=5), heartbeat: Callable[[], None] | None = None):
        self.sessions = sessions
        self.client = client
        self.provider = provider
        self.to_common = to_common
        self.lookback = lookback
        self.heartbeat = heartbeat or (lambda: None)

    # -- whole runs ---------------------------------------------------------------------------

    def run(self, connection_id: int, organization_id: int, *, kind: str = "incremental",
            streams: tuple[type[Stream], ...] | None = None) -> SyncRun:
        """Pull every stream (incremental from its checkpoint, or from scratch when kind='full')."""
        streams = streams or self.provider.streams
        run = self._start_run(connection_id, kind, streams)
        started = time.monotonic()
        try:
            for stream in streams:
                try:
                    if stream.delta:
                        self._pull_changes(run, organization_id, stream, full=(kind == "full"))
                    else:
                        self._pull_stream(run, organization_id, stream, full=(kind == "full"))
                except Unavailable as exc:
                    if not stream.optional:
                        raise
                    self._skip(run, stream, exc)
            self._finish(run, started, "completed", apply_deletes=True)
        except BaseException as exc:
            self._finish(run, started, "failed", error=exc)
            raise
        return run

    def run_targeted(self, connection_id: int, organization_id: int,
                     remote_ids: dict[str, list[str]]) -> SyncRun:
        """Re-read just these records (stream name → remote ids), e.g. after a webhook."""
        run = self._start_run(connection_id, "targeted", [self.provider.stream(n) for n in remote_ids])
        started = time.monotonic()
        try:
            for name, ids in remote_ids.items():
                stream = self.provider.stream(name)
                raw = self.client.read_records(stream, list(dict.fromkeys(ids)))
                with self.sessions() as session:
                    self._write_page(session, run, organization_id, stream, raw)
                    session.commit()
            self._finish(run, started, "completed", apply_deletes=True, only=remote_ids)
        except BaseException as exc:
            self._finish(run, started, "failed", error=exc)
            raise
        return run

    # -- one stream -----------------------------------------------------------------------------

    def _pull_stream(self, run: SyncRun, organization_id: int, stream: type[Stream], full: bool) -> None:
        if not stream.delta and self._backfill(run, organization_id, stream, full):
            return
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            if full or cursor.position_modified_at is None:
                since = None
            else:
                since = cursor.position_modified_at - self.lookback
            cursor.run_id = run.id
            cursor.run_started_from = since
            session.commit()
        for raw_page in self.client.read_stream(stream, since):
            with self.sessions() as session:
                last = self._write_page(session, run, organization_id, stream, raw_page)
                if last is not None:
                    cursor = self._cursor(session, run.connection_id, stream.name)
                    cursor.position_modified_at, cursor.position_remote_id = last
                session.commit()
            self.heartbeat()
        self._stream_done(run, stream, **({"read": "cursor"} if stream.delta else {}))

    def _stream_done(self, run: SyncRun, stream: type[Stream], *, change_token: str | None = None,
                     **progress: Any) -> None:
        """Close a stream's run on its cursor; a delta stream's token is stored here, after its pages."""
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            cursor.run_id = None
            cursor.run_started_from = None
            cursor.completed_at = utcnow()
            if stream.delta:
                cursor.change_token = change_token
            self._progress(session, run, stream.name, done=True, **progress)
            session.commit()

    def _write_page(self, session: Session, run: SyncRun, organization_id: int, stream: type[Stream],
                    raw_page: list[dict], seen: set[str] | None = None) -> tuple[datetime, str] | None:
        """Upsert the changed records of one page; return the page's last (modified_at, id).

        A mapping may turn one remote record into several common ones (a HubSpot contact is a
        lead or a contact by its lifecycle stage): each lands in its own table. ``seen`` collects
        the remote ids the page held.
        """
        if not raw_page:
            return None
        mapped = [self.to_common(stream, raw) for raw in raw_page]
        if seen is not None:
            seen.update(record.remote_id for item in mapped for record in (item if isinstance(item, list) else [item])
                        if record is not None)
        by_type: dict[str, dict[str, Remote]] = {}
        for item in mapped:
            for record in (item if isinstance(item, list) else [item]):
                # The same record twice in one page only comes from remote quirks: keep the last.
                by_type.setdefault(COMMON_TYPE_NAMES[type(record)], {})[record.remote_id] = record
        now = utcnow()
        # Hashed before the first statement: on SQLite a worker's transaction holds the store's write
        # lock from its first read, and the other workers' pages wait for it (sync.store.db.make_engine).
        digests = {(object_type, remote_id): content_hash(record)
                   for object_type, by_id in by_type.items() for remote_id, record in by_id.items()}
        # Records read are the remote's (a HubSpot deal with its stage history is one deal read, not
        # several), so they are counted once per page, against the remote's own total.
        read = len(raw_page)
        for object_type, by_id in by_type.items():
            model = SYNCED_MODELS[object_type]
            existing = dict(session.execute(
                select(model.remote_id, model.content_hash).where(
                    model.connection_id == run.connection_id, model.remote_id.in_(list(by_id)))).all())
            rows = []
            for record in by_id.values():
                digest = digests[object_type, record.remote_id]
                if existing.get(record.remote_id) == digest:
                    continue
                row = as_row(record)
                row.update(organization_id=organization_id, connection_id=run.connection_id,
                           content_hash=digest, synced_at=now)
                rows.append(row)
            if model in currency.CONVERTED_MODELS:
                currency.convert_rows(session, organization_id, rows, currency.CONVERTED_MODELS[model])
            written = [row["remote_id"] for row in rows]
            before = rollups.before_write(session, run.connection_id, object_type, written)
            upsert(session, model, rows, conflict=("connection_id", "remote_id"))
            rollups.refresh_written(session, run.connection_id, object_type, written, before)
            if object_type == "currency_rate" and rows:
                session.flush()
                currency.reconvert(session, organization_id)
            self._count(session, run, stream, object_type, seen=read,
                        changed=[row["remote_id"] for row in rows])
            read = 0
        # The checkpoint is the page's last record that mapped to anything (a mapping may skip one).
        for item in reversed(mapped):
            last = (item[0] if item else None) if isinstance(item, list) else item
            if last is not None:
                return (last.remote_modified_at, last.remote_id) if last.remote_modified_at else None
        return None

    def _skip(self, run: SyncRun, stream: type[Stream], reason: Unavailable) -> None:
        """Record an optional stream the remote does not offer, with the sentence the admin reads."""
        log.info("sync.stream.skipped connection=%s stream=%s reason=%s", run.connection_id, stream.name, reason)
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            cursor.run_id = None
            cursor.run_started_from = None
            note = {} if stream.quiet_when_missing else {"note": str(reason)}
            self._progress(session, run, stream.name, done=True, skipped=True, **note)
            session.commit()

    # -- bookkeeping ------------------------------------------------------------------------------

    def _start_run(self, connection_id: int, kind: str, streams) -> SyncRun:
        with self.sessions() as session:
            # The caller holds the connection's lock, so a run still marked running was cut short.
            session.execute(update(SyncRun).where(SyncRun.connection_id == connection_id,
                                                  SyncRun.status == "running")
                            .values(status="interrupted", finished_at=utcnow()))
            run = SyncRun(connection_id=connection_id, kind=kind, status="running",
                          streams={s.name: {"seen": 0, "changed": 0, "deleted": 0, "done": False}
                                   for s in streams},
                          changed_ids={}, errors=[])
            session.add(run)
            session.commit()
            return run

    @staticmethod
    def _cursor(session: Session, connection_id: int, stream_name: str) -> SyncCursor:
        cursor = session.scalar(select(SyncCursor).where(
            SyncCursor.connection_id == connection_id, SyncCursor.stream == stream_name))
        if cursor is None:
            cursor = SyncCursor(connection_id=connection_id, stream=stream_name)
            session.add(cursor)
            session.flush()
        return cursor

    def _count(self, session: Session, run: SyncRun, stream: type[Stream], object_type: str, seen: int,
               changed: list[str]) -> None:
        live = session.get(SyncRun, run.id)
        live.seen += seen
        live.changed += len(changed)
        live.api_calls = self.client.usage.calls
        progress = dict(live.streams or {})
        entry = dict(progress.get(stream.name, {}))
        entry["seen"] = entry.get("seen", 0) + seen
        entry["changed"] = entry.get("changed", 0) + len(changed)
        total = getattr(self.client, "last_total", None)
        if total is not None:
            entry["total"] = total
        # Fields the remote does not let Pipewise read (the client reads only what exists for it).
        left_out = (getattr(self.client, "left_out_fields", None) or {}).get(stream.name)
        if left_out:
            entry["note"] = (f"{stream.remote_name}: {', '.join(left_out)} "
                             f"{'is' if len(left_out) == 1 else 'are'} not readable by Pipewise and "
                             f"{'was' if len(left_out) == 1 else 'were'} left out.")
        progress[stream.name] = entry
        live.streams = progress
        self._merge_changed_ids(live, object_type, changed)

    @staticmethod
    def _merge_changed_ids(live: SyncRun, object_type: str, changed: list[str]) -> None:
        """Add ids whose records changed (or were deleted) to the run's list for rescoring."""
        if not changed:
            return
        ids = dict(live.changed_ids or {})
        known = ids.get(object_type, [])
        if known != "all":
            merged = list(dict.fromkeys([*known, *changed]))
            ids[object_type] = merged if len(merged) <= CHANGED_IDS_CAP else "all"
        live.changed_ids = ids

    @staticmethod
    def _progress(session: Session, run: SyncRun, stream_name: str, **values) -> None:
        live = session.get(SyncRun, run.id)
        progress = dict(live.streams or {})
        progress[stream_name] = {**progress.get(stream_name, {}), **values}
        live.streams = progress

    def _finish(self, run: SyncRun, started: float, status: str, *, apply_deletes: bool = False,
                error: BaseException | None = None, only: dict[str, list[str]] | None = None) -> None:
        with self.sessions() as session:
            live = session.get(SyncRun, run.id)
            if apply_deletes:
                live.deleted = self._apply_deletes(session, live, only)
            live.status = status
            live.finished_at = utcnow()
            live.seconds = round(time.monotonic() - started, 3)
            live.api_calls = self.client.usage.calls
            if error is not None:
                live.errors = [*(live.errors or []), {"type": type(error).__name__, "message": str(error)}]
            session.commit()
            for field in ("status", "finished_at", "seconds", "api_calls", "deleted", "seen",
                          "changed", "streams", "changed_ids", "errors"):
                setattr(run, field, getattr(live, field))

    def _apply_deletes(self, session: Session, run: SyncRun, only: dict[str, list[str]] | None = None) -> int:
        """Turn staged remote deletes into deleted_at (and undo it for restored records).

        ``only`` (stream name → remote ids), for a targeted run: the records it read are the only ones
        it can have staged, so it looks at those rows instead of scanning the connection's whole tables
        (tens of milliseconds per webhook on a small org, seconds on a large one). Deletes another run
        staged are left to that kind of run.
        """
        now = utcnow()
        total = 0
        wanted: dict[str, set[str] | None] = {}
        for name in (run.streams or {}):
            for object_type in self.provider.stream(name).object_types():
                if only is None:
                    wanted[object_type] = None
                elif wanted.get(object_type, set()) is not None:
                    wanted[object_type] = wanted.get(object_type, set()) | set(only.get(name, ()))
        before = rollups.before_deletes(session, run.connection_id, run.changed_ids)
        for object_type, remote_ids in wanted.items():
            model = SYNCED_MODELS[object_type]
            for chunk in _chunks(remote_ids):
                rows = model.connection_id == run.connection_id
                if chunk is not None:
                    rows = and_(rows, model.remote_id.in_(chunk))
                result = session.execute(update(model).where(
                    rows, model.remote_deleted.is_(True), model.deleted_at.is_(None)).values(deleted_at=now))
                total += result.rowcount or 0
                session.execute(update(model).where(
                    rows, model.remote_deleted.is_(False), model.deleted_at.is_not(None)).values(deleted_at=None))
        rollups.refresh_changed(session, run.connection_id, run.changed_ids, before)
        return total


def _chunks(remote_ids: set[str] | None, size: int = 500):
    """The ids in IN-list-sized chunks; None (every row) as one."""
    if remote_ids is None:
        yield None
        return
    ordered = sorted(remote_ids)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]
