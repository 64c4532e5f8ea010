"""The common model is declared once: each record table is its connectors.common dataclass plus the
store's own bookkeeping, and the migrations build exactly the tables the store declares."""
from __future__ import annotations

import dataclasses
import types
import typing

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column

from connectors import common
from sync.currency import CONVERTED_MODELS
from sync.store import SYNCED_MODELS, Base
from sync.store.common_columns import common_columns
from sync.store.db import make_engine
from web.cli import upgrade_database

# What every synced row keeps besides its common fields: its key, tenancy and sync bookkeeping.
BOOKKEEPING = {"id", "organization_id", "connection_id", "content_hash", "deleted_at", "synced_at"}


def _comparable(obj, name, type_, reflected, compare_to) -> bool:
    """Leave out indexes on expressions: SQLite cannot reflect them, PostgreSQL reflects them as other text."""
    return not (type_ == "index" and any(not isinstance(e, Column) for e in obj.expressions))


def test_the_migrations_build_the_tables_the_store_declares(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True, "include_object": _comparable})
        drift = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert drift == []


@pytest.mark.parametrize("object_type", sorted(SYNCED_MODELS))
def test_every_common_field_is_a_column_and_every_other_column_is_the_stores_own(object_type):
    record, model = common.COMMON_TYPES[object_type], SYNCED_MODELS[object_type]
    columns = model.__table__.c
    fields = {f.name: f for f in dataclasses.fields(record)}
    # A converted table keeps the CRM's amount as deal_amount and the corporate one as amount (sync.currency).
    store_only = BOOKKEEPING | ({"deal_amount"} if model in CONVERTED_MODELS else set())
    assert set(columns.keys()) == set(fields) | store_only
    assert not set(fields) & store_only

    hints = typing.get_type_hints(record)
    for name, field in fields.items():
        column = columns[name]
        python_type, optional = _python_type(hints[name])
        assert column.type.python_type is python_type, name
        assert column.nullable == optional, name
        stored = field.metadata.get(common.STORE)
        if stored is None:
            continue
        assert getattr(column.type, "length", None) == stored.length, name
        assert bool(column.index) == stored.indexed, name
        assert (column.default.arg if column.default is not None else None) == stored.default, name


def test_a_string_field_without_a_length_is_refused():
    @dataclasses.dataclass
    class Note(common.Remote):
        body: str | None = None

    with pytest.raises(TypeError, match="Note.body is a string without a length"):
        common_columns(Note)


def _python_type(hint: typing.Any) -> tuple[type, bool]:
    """A field's type without None (``dict[str, Any]`` → dict), and whether it allows None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        allowed = typing.get_args(hint)
        return next(a for a in allowed if a is not type(None)), type(None) in allowed
    return typing.get_origin(hint) or hint, False
