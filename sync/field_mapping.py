"""Field mapping: which CRM field feeds each common field, and which Pipewise fields are written back.

A connector's mapping is the built-in source of every common field (the table below says which
remote field that is). An admin may point a common field at another remote field, custom ones
included; the overrides of a connection are read once per sync run, the stream asks the CRM for
the extra fields, and each mapped record gets the override's value, coerced the way the
connector coerces that type. Content hashes cover the mapped fields, so after a change the
re-read records count as changed (and are rescored): that is intended.
"""
from __future__ import annotations

import functools
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors import common, registry
from connectors.base import FieldCatalogue, Provider, Stream
from sync.store import SYNCED_MODELS, Base, Connection, FieldMapping, SyncCursor, WritebackFieldSetting, utcnow

CATALOG_TTL_SECONDS = 300  # how long a CRM's field list is reused before it is fetched again


TABLES = (FieldMapping.__table__, WritebackFieldSetting.__table__)


def ensure_tables(engine: Engine) -> None:
    """Create this module's tables when the migrations have not (idempotent)."""
    Base.metadata.create_all(engine, tables=list(TABLES))


def _has_tables(session: Session) -> bool:
    # Until the migration for these tables is applied everywhere, a store without them simply
    # has no overrides: sync and writeback behave as before instead of failing.
    return inspect(session.connection()).has_table(FieldMapping.__tablename__)


# -- what each connector offers ----------------------------------------------------------------

_KINDS = {str: "str", float: "number", int: "int", date: "date", datetime: "datetime", bool: "bool"}


@functools.cache
def _catalogue(provider_key: str) -> FieldCatalogue:
    return registry.get(provider_key).provider.field_catalogue()


@functools.cache
def field_kind(object_type: str, common_field: str) -> str:
    """The value kind (str, number, int, date, datetime, bool) of a common field."""
    hints = typing.get_type_hints(common.COMMON_TYPES[object_type])
    hint = hints[common_field]
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return _KINDS[args[0]]


def stream_for(provider: type[Provider], object_type: str) -> type[Stream] | None:
    """The stream whose records are first of all this common object."""
    return next((s for s in provider.streams if s.object_type == object_type), None)


def mappable(provider: type[Provider]) -> dict[str, dict[str, str]]:
    """Per object type with a stream of its own: common field → built-in source."""
    defaults = provider.field_catalogue().defaults
    return {o: fields for o, fields in defaults.items() if stream_for(provider, o) is not None}


# -- the CRM's field catalog ---------------------------------------------------------------------

def read_catalog(client, provider_key: str, remote_name: str) -> list[dict[str, Any]]:
    """The remote object's fields as [{name, label, type, custom}], through the connector client."""
    return registry.get(provider_key).provider.field_catalogue().remote_fields(client, remote_name)


def catalog(redis, connection_id: int, provider_key: str, remote_name: str,
            open_client: Callable[[], Any]) -> list[dict[str, Any]]:
    """The remote object's fields, cached briefly in Redis so the screen does not call the CRM each time."""
    key = f"pipewise:remote-fields:{connection_id}:{remote_name}"
    cached = redis.get(key)
    if cached:
        return json.loads(cached)
    fields = read_catalog(open_client(), provider_key, remote_name)
    redis.set(key, json.dumps(fields), ex=CATALOG_TTL_SECONDS)
    return fields


def pipewise_outputs(provider_key: str) -> set[str]:
    """The CRM fields Pipewise writes (score, band, …): never a source, or scores would feed themselves."""
    return {f.remote_name.lower() for f in registry.get(provider_key).provider.writable_fields}


def compatible_fields(provider_key: str, object_type: str, common_field: str,
                      fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The remote fields whose type can feed this common field (Pipewise's own outputs left out)."""
    kinds = _catalogue(provider_key).compatible[field_kind(object_type, common_field)]
    outputs = pipewise_outputs(provider_key)
    return [f for f in fields if f.get("type") in kinds and f["name"].lower() not in outputs]


def check(provider_key: str, object_type: str, common_field: str, remote_field: str,
          fields: list[dict[str, Any]]) -> str | None:
    """Why this remote field cannot feed the common field, as a sentence; None when it can."""
    defaults = _catalogue(provider_key).defaults.get(object_type, {})
    if common_field not in defaults:
        return f"{common_field!r} is not a field Pipewise lets you remap on {object_type}."
    if remote_field == "" and defaults[common_field] == "":
        return None  # back to no source at all
    if remote_field.lower() in pipewise_outputs(provider_key):
        return (f"{remote_field} is a field Pipewise itself writes; it cannot feed Pipewise's own scoring. "
                "Pick a field your team or another system fills.")
    found = next((f for f in fields if f["name"] == remote_field), None)
    if found is None:
        return (f"The CRM has no field called {remote_field!r} on this object. Pick one of the listed fields, "
                "or create the field in the CRM first and reload this page.")
    kind = field_kind(object_type, common_field)
    if found.get("type") not in _catalogue(provider_key).compatible[kind]:
        return (f"{remote_field} is a {found.get('type')} field, which cannot feed {common_field.replace('_', ' ')} "
                f"(a {kind} value). Pick a field of a matching type.")
    return None


# -- reading and saving the settings -------------------------------------------------------------

def overrides(session: Session, connection_id: int) -> dict[str, dict[str, str]]:
    """The enabled overrides of a connection: object_type → common field → remote field (one query)."""
    if not _has_tables(session):
        return {}
    out: dict[str, dict[str, str]] = {}
    for row in session.scalars(select(FieldMapping).where(FieldMapping.connection_id == connection_id,
                                                          FieldMapping.enabled.is_(True))):
        out.setdefault(row.object_type, {})[row.common_field] = row.remote_field
    return out


def save_mapping(session: Session, connection: Connection, provider: type[Provider], object_type: str,
                 choices: dict[str, str], fields: list[dict[str, Any]], updated_by: str
                 ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Validate and store one object's choices; (changes as field → (old, new), errors). Nothing is saved on error."""
    defaults = mappable(provider).get(object_type)
    if defaults is None:
        return {}, {"": f"{provider.name} has no {object_type} records for Pipewise to map."}
    current = {**defaults, **overrides(session, connection.id).get(object_type, {})}
    wanted = {f: (r or "").strip() for f, r in choices.items()
              if current.get(f) != (r or "").strip() and ((r or "").strip() or defaults.get(f) == "")}
    errors = {f: message for f, r in wanted.items()
              if (message := check(provider.key, object_type, f, r, fields)) is not None}
    if errors or not wanted:
        return {}, errors
    existing = {row.common_field: row for row in session.scalars(select(FieldMapping).where(
        FieldMapping.connection_id == connection.id, FieldMapping.object_type == object_type))}
    for common_field, remote_field in wanted.items():
        row = existing.get(common_field)
        if remote_field == defaults[common_field]:
            if row is not None:  # back to the built-in source: no override left
                session.delete(row)
            continue
        if row is None:
            row = FieldMapping(connection_id=connection.id, object_type=object_type, common_field=common_field)
            session.add(row)
        row.remote_field, row.enabled, row.updated_by, row.updated_at = remote_field, True, updated_by, utcnow()
    stream = stream_for(provider, object_type)
    # Overrides apply to every record, not only to those modified later: re-read the stream in full.
    session.execute(update(SyncCursor).where(SyncCursor.connection_id == connection.id,
                                             SyncCursor.stream == stream.name)
                    .values(position_modified_at=None, position_remote_id=None, change_token=None))
    return {f: (current.get(f), r) for f, r in wanted.items()}, {}


def writeback_switches(session: Session, connection_id: int, provider: type[Provider]) -> dict[str, bool]:
    """Every Pipewise field's writeback switch (on unless an admin turned it off)."""
    switches = {f.key: True for f in provider.writable_fields}
    if not _has_tables(session):
        return switches
    for key, enabled in session.execute(select(WritebackFieldSetting.field_key, WritebackFieldSetting.enabled)
                                        .where(WritebackFieldSetting.connection_id == connection_id)):
        if key in switches:
            switches[key] = enabled
    return switches


def enabled_writeback_keys(session: Session, connection_id: int, provider: type[Provider]) -> frozenset[str]:
    """The Pipewise field keys that are written back for the connection."""
    return frozenset(k for k, on in writeback_switches(session, connection_id, provider).items() if on)


def save_writeback_switches(session: Session, connection_id: int, provider: type[Provider],
                            enabled: set[str], updated_by: str) -> dict[str, bool]:
    """Store the switches; the ones that changed, as key → now enabled."""
    before = writeback_switches(session, connection_id, provider)
    changed = {k: (k in enabled) for k, was in before.items() if was != (k in enabled)}
    rows = {r.field_key: r for r in session.scalars(select(WritebackFieldSetting).where(
        WritebackFieldSetting.connection_id == connection_id))}
    for key, on in changed.items():
        row = rows.get(key) or WritebackFieldSetting(connection_id=connection_id, field_key=key)
        row.enabled, row.updated_by, row.updated_at = on, updated_by, utcnow()
        session.add(row)
    return changed


# -- applying the overrides in a sync run --------------------------------------------------------

@dataclass(frozen=True)
class RunMapping:
    """One run's overrides, applied to the provider's streams and to each mapped record."""

    provider_key: str
    by_object: dict[str, dict[str, str]]

    def provider(self, base: type[Provider]) -> type[Provider]:
        """A per-run provider whose streams also read the overriding remote fields."""
        streams = []
        for stream in base.streams:
            extra = [r for r in self.by_object.get(stream.object_type, {}).values() if r not in stream.fields]
            streams.append(type(stream.__name__, (stream,), {"fields": (*stream.fields, *dict.fromkeys(extra))})
                           if extra else stream)
        return type(base.__name__, (base,), {"streams": tuple(streams)})

    def to_common(self, base: Callable[[type[Stream], dict], Any]) -> Callable[[type[Stream], dict], Any]:
        """The connector's mapping, then the overridden common fields set from the raw record."""
        spec = _catalogue(self.provider_key)

        def mapped(stream: type[Stream], raw: dict[str, Any]):
            result = base(stream, raw)
            wanted = self.by_object.get(stream.object_type)
            if wanted:
                for record in (result if isinstance(result, list) else [result]):
                    if isinstance(record, common.COMMON_TYPES[stream.object_type]):
                        self._apply(spec, stream.object_type, record, raw, wanted)
            return result
        return mapped

    @staticmethod
    def _apply(spec: FieldCatalogue, object_type: str, record, raw: dict[str, Any],
               wanted: dict[str, str]) -> None:
        for common_field, remote_field in wanted.items():
            value = spec.coerce[field_kind(object_type, common_field)](spec.raw_value(raw, remote_field))
            if isinstance(value, str):
                value = value[:_column_length(object_type, common_field) or None]
            if value is None and field_kind(object_type, common_field) == "bool":
                value = False
            setattr(record, common_field, value)
            if common_field == "email" and hasattr(record, "email_key"):
                record.email_key = common.email_key(value)


@functools.cache
def _column_length(object_type: str, common_field: str) -> int | None:
    column = SYNCED_MODELS[object_type].__table__.c[common_field]
    return getattr(column.type, "length", None)


def run_mapping(session: Session, connection: Connection) -> RunMapping | None:
    """The overrides to apply in this run, or None when the connection has none."""
    by_object = overrides(session, connection.id)
    if not by_object or connection.provider not in registry.keys():
        return None
    return RunMapping(connection.provider, by_object)

