"""Day arithmetic in SQL that SQLite and PostgreSQL answer alike: the views and the rollups share it."""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Float, Integer
from sqlalchemy.types import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class days_between(FunctionElement):
    """Days (fractional) from the first date/time expression to the second."""

    type = Float()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_between_postgresql(element, compiler, **kw):
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return (f"(EXTRACT(EPOCH FROM (CAST({end} AS TIMESTAMP) - CAST({start} AS TIMESTAMP)))"
            f" / 86400.0)")


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(julianday({end}) - julianday({start}))"


class month_start(FunctionElement):
    """The first day of a timestamp's calendar month, as a date."""

    type = Date()
    inherit_cache = True
    name = "month_start"


class day_start(FunctionElement):
    """A timestamp's day, as a date."""

    type = Date()
    inherit_cache = True
    name = "day_start"


# PostgreSQL truncates; SQLite's date() takes modifiers ("start of month") on its stored text.
TRUNCATE = {"month_start": ("CAST(date_trunc('month', {}) AS DATE)", "date({}, 'start of month')"),
            "day_start": ("CAST({} AS DATE)", "date({})")}


@compiles(month_start)
@compiles(day_start)
def _start(element, compiler, **kw):
    postgresql, sqlite = TRUNCATE[element.name]
    return (sqlite if compiler.dialect.name == "sqlite" else postgresql).format(compiler.process(element.clauses, **kw))


def as_date(value) -> date:
    """A ``month_start``/``day_start`` result as a date (SQLite gives the function's date as text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


class whole_days(FunctionElement):
    """The whole days in a non-negative number of days (floor), as an integer."""

    type = Integer()
    inherit_cache = True
    name = "whole_days"


@compiles(whole_days)
def _whole_days(element, compiler, **kw):
    value = compiler.process(element.clauses, **kw)
    # PostgreSQL's cast rounds; SQLite's truncates, which for days never negative is the floor.
    return f"CAST({value} AS INTEGER)" if compiler.dialect.name == "sqlite" else f"CAST(floor({value}) AS INTEGER)"


class stay_microseconds(FunctionElement):
    """Whole microseconds from the first timestamp to the second."""

    type = BigInteger()
    inherit_cache = True
    name = "stay_microseconds"


@compiles(stay_microseconds)
def _stay_microseconds(element, compiler, **kw):
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    if compiler.dialect.name == "sqlite":
        return f"CAST(round((julianday({end}) - julianday({start})) * 86400000000.0) AS INTEGER)"
    return f"CAST(round(EXTRACT(EPOCH FROM ({end} - {start})) * 1000000) AS BIGINT)"
