"""The engine's reads of a remote change log (``delta`` streams): changes and deletes since a token,
whole listings swept for deletes, and the fallback to the cursor where the remote keeps no log."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import Provider, Stream
from connectors.errors import ChangesNotTracked, ChangeTokenExpired
from sync.store import SYNCED_MODELS, SyncRun

log = logging.getLogger(__name__)

# Ids per statement or targeted read: inside every database's bound-parameter limit.
CHUNK = 500


def chunks(ids: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def first(mapped: Any) -> Any:
    """The first common record a mapping made of one raw record (None when it made none)."""
    if isinstance(mapped, list):
        return mapped[0] if mapped else None
    return mapped


def _own_rows(provider: type[Provider], stream: type[Stream], object_type: str):
    """The condition that picks this stream's rows of an object type; None when other streams feed
    that table too and nothing stored tells their rows apart."""
    model = SYNCED_MODELS[object_type]
    others = [s for s in provider.streams if s is not stream and object_type in s.object_types()]
    if not others:
        return model.remote_deleted.is_(False)
    kind = getattr(model, "kind", None)
    if kind is not None and stream.kind and all(s.kind and s.kind != stream.kind for s in others):
        return model.remote_deleted.is_(False) & (kind == stream.kind)
    return None


def stored_ids(session: Session, provider: type[Provider], stream: type[Stream], connection_id: int) -> set[str]:
    """Remote ids of the live stored rows this stream wrote."""
    found: set[str] = set()
    for object_type in stream.object_types():
        condition = _own_rows(provider, stream, object_type)
        if condition is None:
            log.info("sync.changes.sweep_skipped stream=%s object=%s", stream.name, object_type)
            continue
        model = SYNCED_MODELS[object_type]
        found.update(session.scalars(select(model.remote_id).where(model.connection_id == connection_id, condition)))
    return found


def mark_deleted(session: Session, stream: type[Stream], connection_id: int,
                 remote_ids: list[str]) -> dict[str, list[str]]:
    """Stage these rows as deleted remotely; object type → the ids that were live until now.

    Ids the store never had (created and deleted between two reads) are left alone.
    """
    marked: dict[str, list[str]] = {}
    for object_type in stream.object_types():
        model = SYNCED_MODELS[object_type]
        for chunk in chunks(list(dict.fromkeys(remote_ids))):
            live = model.connection_id == connection_id, model.remote_id.in_(chunk), model.remote_deleted.is_(False)
            ids = list(session.scalars(select(model.remote_id).where(*live)))
            if ids:
                session.execute(update(model).where(*live).values(remote_deleted=True))
                marked.setdefault(object_type, []).extend(ids)
    return marked


class ChangeLogReads:
    """Mixed into ``SyncEngine``: one delta stream's pull, written with the engine's own page writer."""

    def _pull_changes(self, run: SyncRun, organization_id: int, stream: type[Stream], full: bool) -> None:
        """Read what changed since the stored token; list the stream whole without one or when it expired."""
        with self.sessions() as session:
            cursor = self._cursor(session, run.connection_id, stream.name)
            token = None if full else cursor.change_token
            cursor.run_id = run.id
            session.commit()
        try:
            try:
                next_token = self._read_changes(run, organization_id, stream, token)
            except ChangeTokenExpired as exc:
                if token is None:
                    raise
                log.warning("sync.changes.expired connection=%s stream=%s reason=%s",
                            run.connection_id, stream.name, exc)
                self._forget_token(run, stream)
                token = None
                next_token = self._read_changes(run, organization_id, stream, None)
        except ChangesNotTracked as exc:
            log.info("sync.changes.untracked connection=%s stream=%s reason=%s", run.connection_id, stream.name, exc)
            self._pull_stream(run, organization_id, stream, full)
            with self.sessions() as session:
                self._progress(session, run, stream.name, note=str(exc))
                session.commit()
            return
        self._stream_done(run, stream, change_token=next_token, read="changes" if token else "listing")

    def _read_changes(self, run: SyncRun, organization_id: int, stream: type[Stream],
                      token: str | None) -> str | None:
        """Store every page of one change read; the token it ends with (the old one if it names none)."""
        listed: set[str] | None = set() if token is None else None
        next_token = token
        for page in self.client.read_changes(stream, token):
            with self.sessions() as session:
                self._write_page(session, run, organization_id, stream, page.records)
                self._mark_deleted(session, run, stream, page.deleted)
                session.commit()
            if listed is not None:
                listed.update(str(raw[stream.primary_key]) for raw in page.records)
            next_token = page.token or next_token
            self.heartbeat()
        if listed is not None:
            self._sweep(run, organization_id, stream, listed)
        return next_token

    def _sweep(self, run: SyncRun, organization_id: int, stream: type[Stream], listed: set[str]) -> None:
        """After a whole listing, re-read the stored records it left out: the remote may still have some
        (changed while the listing paged); those it flags deleted are marked so."""
        with self.sessions() as session:
            missing = stored_ids(session, self.provider, stream, run.connection_id) - listed
        for chunk in chunks(sorted(missing)):
            live, gone = [], []
            for raw in self.client.read_records(stream, chunk):
                record = first(self.to_common(stream, raw))
                if record is not None and record.remote_deleted:
                    gone.append(record.remote_id)
                elif record is not None:
                    live.append(raw)
            with self.sessions() as session:
                self._write_page(session, run, organization_id, stream, live)
                self._mark_deleted(session, run, stream, gone)
                session.commit()
        log.info("sync.changes.swept connection=%s stream=%s missing=%d", run.connection_id, stream.name,
                 len(missing))

    def _mark_deleted(self, session: Session, run: SyncRun, stream: type[Stream], remote_ids: list[str]) -> None:
        """Stage remote deletes reported by id (their stored fields stay as they were)."""
        if not remote_ids:
            return
        marked = mark_deleted(session, stream, run.connection_id, remote_ids)
        live = session.get(SyncRun, run.id)
        progress = dict(live.streams or {})
        entry = dict(progress.get(stream.name, {}))
        entry["deleted"] = entry.get("deleted", 0) + sum(len(ids) for ids in marked.values())
        progress[stream.name] = entry
        live.streams = progress
        for object_type, ids in marked.items():
            self._merge_changed_ids(live, object_type, ids)

    def _forget_token(self, run: SyncRun, stream: type[Stream]) -> None:
        with self.sessions() as session:
            self._cursor(session, run.connection_id, stream.name).change_token = None
            session.commit()
