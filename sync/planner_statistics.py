"""Fresh planner statistics after a sync wrote many rows, before the scoring that follows reads them.

A first sync loads a whole CRM into tables the query planner still believes nearly empty.
PostgreSQL's autovacuum analyzes them up to a minute or more later, and a scoring query planned in
that gap joins stage changes to deals by nested loops: measured on 100,000 deals, one such query ran
for over twenty minutes where it takes seconds once analyzed. PostgreSQL's manual advises running
ANALYZE after a bulk load (its chapter "Populating a Database"). SQLite gets the same, bounded by
``PRAGMA analysis_limit`` so it samples rather than reads every index whole (``PRAGMA optimize``
would be its lighter form, but before SQLite 3.46 it analyzes only tables the same connection
has already queried, which a fresh job's connection has not).
"""
from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# A run that wrote at least this many rows refreshes the statistics: first syncs and large catch-ups,
# not the incremental runs of every few minutes (autovacuum keeps up with those).
BULK_ROWS = 5_000
# Rows SQLite's ANALYZE reads per index: enough for the planner's estimates, a fraction of a second.
SQLITE_ANALYSIS_ROWS = 1_000


def is_bulk(changed: int, deleted: int) -> bool:
    """Whether a run wrote enough rows for the planner's picture of the store to be out of date."""
    return changed + deleted >= BULK_ROWS


def refresh(session: Session) -> None:
    """Analyze the store's tables, so the next query is planned for the rows they now hold."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("ANALYZE"))  # allowed inside a transaction, unlike VACUUM
    elif dialect == "sqlite":
        session.execute(text(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_ROWS}"))
        session.execute(text("ANALYZE"))
    session.commit()
    log.info("planner statistics refreshed (%s)", dialect)
