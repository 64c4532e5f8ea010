"""The record tables' columns, derived from the common model's dataclasses (``connectors.common``).

The common model is declared once, as the dataclasses connectors fill (connectors never import the
store). Each field's type gives its column's type and nullability (``X | None`` is nullable); its
``connectors.common.Stored`` metadata gives a string's length, an index and a default.
"""
from __future__ import annotations

import dataclasses
import types
import typing

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from connectors import common


def common_columns(record: type[common.Remote]) -> type:
    """A declarative mixin with one typed column per field the dataclass declares itself.

    The mixin names its dataclass as ``__common__``, so the store can map each common object to its table.

    Fields inherited from a dataclass base are left to the base's own mixin (``SyncedRecord`` takes
    ``Remote``'s), so each field becomes a column exactly once.
    """
    hints = typing.get_type_hints(record)
    inherited = {f.name for base in record.__mro__[1:] if dataclasses.is_dataclass(base)
                 for f in dataclasses.fields(base)}
    annotations: dict[str, typing.Any] = {}
    columns: dict[str, typing.Any] = {}
    for field in dataclasses.fields(record):
        if field.name in inherited:
            continue
        stored = field.metadata.get(common.STORE, common.Stored())
        if str in _types(hints[field.name]) and stored.length is None:
            raise TypeError(f"{record.__name__}.{field.name} is a string without a length: declare it with "
                            "connectors.common.text(length) or reference().")
        options: dict[str, typing.Any] = {}
        if stored.indexed:
            options["index"] = True
        if stored.default is not None:
            options["default"] = stored.default
        annotations[field.name] = Mapped[hints[field.name]]  # type: ignore[valid-type]
        columns[field.name] = mapped_column(*([String(stored.length)] if stored.length else []), **options)
    return type(f"{record.__name__}Columns", (), {
        "__annotations__": annotations, "__module__": __name__,
        "__doc__": f"The columns of connectors.common.{record.__name__}.", "__common__": record, **columns})


def _types(hint: typing.Any) -> set[typing.Any]:
    """The types a hint allows (``str | None`` → {str, NoneType})."""
    return set(typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union, types.UnionType) else {hint}
