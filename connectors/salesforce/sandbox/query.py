"""SOQL over REST: query and queryAll, paged by nextRecordsUrl over a snapshot taken at the first call."""
from __future__ import annotations

import re
import time

from flask import g, jsonify, request

from .api import ApiError, access, rest_blueprint, sandbox
from .cursors import Cursor
from .soql import CompiledQuery, SoqlError, compile_soql

bp = rest_blueprint("salesforce_query")
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def _batch_size() -> int:
    match = _BATCH_OPTION.search(request.headers.get("Sforce-Query-Options", ""))
    if not match:
        return DEFAULT_BATCH
    return min(max(int(match.group(1)), MIN_BATCH), MAX_BATCH)


def _page(cursor: Cursor, locator: str | None, offset: int) -> dict:
    chunk = cursor.records[offset:offset + cursor.batch_size]
    answer = {"totalSize": len(cursor.records), "done": offset + len(chunk) >= len(cursor.records)}
    if not answer["done"]:
        answer["nextRecordsUrl"] = (f"/services/data/v{g.api_version}/{cursor.endpoint}/"
                                    f"{locator}-{offset + len(chunk)}")
    answer["records"] = chunk
    return answer


def compile_for_user(soql: str, include_deleted: bool) -> CompiledQuery:
    """The request user's SOQL compiled, or the 400 Salesforce answers for it."""
    box = sandbox()
    try:
        return compile_soql(soql, box.store, include_deleted=include_deleted, access=access(),
                            available=lambda name: box.object_available(name, g.user_id))
    except SoqlError as error:
        raise ApiError(400, error.code, error.message) from None


def select_records(compiled: CompiledQuery) -> list[dict]:
    """The records a compiled query selects, as the REST API shows them (parents nested)."""
    store = sandbox().store
    rows = store.select(compiled.object_name, compiled.where, compiled.params, compiled.order,
                        compiled.limit, compiled.offset)
    records = [store.api_record(compiled.object_name, row, g.api_version, compiled.fields) for row in rows]
    _add_parents(compiled, rows, records)
    return records


def _run(endpoint: str, include_deleted: bool):
    box = sandbox()
    compiled = compile_for_user(request.args.get("q", ""), include_deleted)
    if compiled.count_only:
        total = box.store.count(compiled.object_name, compiled.where, compiled.params)
        return jsonify({"totalSize": total, "done": True, "records": []})
    records = select_records(compiled)
    cursor = Cursor(records, _batch_size(), endpoint, time.time())
    locator = sandbox().cursors.open(cursor) if len(records) > cursor.batch_size else None
    return jsonify(_page(cursor, locator, 0))


def _add_parents(compiled: CompiledQuery, rows: list[dict], records: list[dict]) -> None:
    """Parent fields as nested records ({"Profile": {"attributes": ..., "Name": ...}}), null without a parent."""
    store = sandbox().store
    for relation in compiled.relations or []:
        ids = sorted({row[relation.reference] for row in rows if row.get(relation.reference)})
        parents = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for parent in store.select(relation.target, f'"Id" IN ({marks})', chunk):
                parents[parent["Id"]] = parent
        for row, record in zip(rows, records):
            parent = parents.get(row.get(relation.reference))
            if parent is None:
                record.setdefault(relation.name, None)
                continue
            nested = record.get(relation.name) or store.api_record(relation.target, parent, g.api_version, [])
            nested.update({k: v for k, v in store.api_record(relation.target, parent, g.api_version,
                                                             [relation.field]).items() if k != "attributes"})
            record[relation.name] = nested


def _more(locator_offset: str):
    locator, _, offset = locator_offset.rpartition("-")
    cursor = sandbox().cursors.get(locator) if offset.isdigit() else None
    if cursor is None or int(offset) > len(cursor.records):
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return jsonify(_page(cursor, locator, int(offset)))


@bp.route("/query/", strict_slashes=False)
def query():
    """Run SOQL over live records."""
    return _run("query", include_deleted=False)


@bp.route("/queryAll/", strict_slashes=False)
def query_all():
    """Run SOQL over live and soft-deleted records."""
    return _run("queryAll", include_deleted=True)


@bp.route("/query/<locator_offset>", strict_slashes=False)
@bp.route("/queryAll/<locator_offset>", strict_slashes=False)
def query_more(locator_offset: str):
    """The next page of an earlier query."""
    return _more(locator_offset)
