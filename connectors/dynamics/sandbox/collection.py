"""Reading an entity set: $select, $filter, $orderby, $top, $count, paging, and change tracking (delta links).

Sources: webapi/query/page-results.md (maxpagesize, nextLink, $top ignored with maxpagesize, no $skip),
use-change-tracking-synchronize-data-external-systems.md (track-changes, deltaLink, $deletedEntity, the
refused options, new/updated rows first then deletes, token expiry), query-data-web-api.md (annotations).
"""
from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

from flask import jsonify, request

from .api import CHANGE_TRACKING_OFF, INVALID_ARGUMENT, ApiError, preferences, sandbox, service_root
from .odata_filter import Filter
from .paging import Cookie, delta_token, page_size, read_delta_token, read_skip_token, skip_token
from .schema import Table
from .values import Annotations, not_a_property, to_wire

TRACKING_REFUSED = ("$filter", "$orderby", "$expand", "$top")


def parse_select(table: Table) -> list[str] | None:
    text = request.args.get("$select")
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        _check_property(table, name)
    return names


def _check_property(table: Table, name: str) -> None:
    if name.startswith("_") and name.endswith("_value"):
        column = table.columns.get(name[1:-6])
        if column is not None and column.is_lookup:
            return
    column = table.columns.get(name)
    if column is None or column.is_lookup or column.write_only:
        raise not_a_property(name, table)


def getter(table: Table, row: dict[str, Any]):
    def get(name: str) -> Any:
        _check_property(table, name)
        if name.startswith("_") and name.endswith("_value"):
            value = row.get(name[1:-6])
            return value["id"] if value else None
        return row.get(name)
    return get


def _context(table: Table, select: list[str] | None, suffix: str = "") -> str:
    columns = f"({','.join(select)})" if select else ""
    return f"{service_root()}/$metadata#{table.entity_set}{columns}{suffix}"


def _sort_key(value: Any) -> tuple:
    return (value is not None, value if not isinstance(value, dict) else value.get("id"))


def _order(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = request.args.get("$orderby")
    if not text:
        return sorted(rows, key=lambda r: r[table.pk])
    for part in reversed([p.strip() for p in text.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise ApiError(400, INVALID_ARGUMENT, f"The $orderby direction '{direction}' is not asc or desc.")
        _check_property(table, name)
        rows = sorted(rows, key=lambda r, n=name: _sort_key(getter(table, r)(n)), reverse=direction == "desc")
    return rows


def _applied(prefs: dict, size_applied: bool, size: int, tracking: bool) -> str | None:
    applied = []
    if tracking:
        applied.append("odata.track-changes")
    if size_applied:
        applied.append(f"odata.maxpagesize={size}")
    if prefs.get("odata.include-annotations"):
        applied.append(f'odata.include-annotations="{prefs["odata.include-annotations"]}"')
    return ",".join(applied) or None


def _link(table: Table, params: list[tuple[str, str]]) -> str:
    query = "&".join(f"{k}={quote(v, safe=',=')}" for k, v in params)
    return f"{service_root()}/{table.entity_set}" + (f"?{query}" if query else "")


def read_collection(table: Table):
    """GET [Organization URI]/api/data/v9.2/<entity set>."""
    box = sandbox()
    prefs = preferences()
    tracking = "odata.track-changes" in prefs or "$deltatoken" in request.args
    if "$skip" in request.args:
        raise ApiError(400, INVALID_ARGUMENT, "The query parameter $skip is not supported.")
    if "$expand" in request.args and not tracking:
        raise ApiError(400, INVALID_ARGUMENT, "This sandbox does not serve $expand; read the related table "
                                              "with its own query.")
    if tracking:
        if not box.tracking_enabled(table.logical):
            raise ApiError(400, CHANGE_TRACKING_OFF, f"Entity {table.logical} isn't enabled for change tracking.")
        for option in TRACKING_REFUSED:
            if option in request.args:
                raise ApiError(400, INVALID_ARGUMENT,
                               f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.')
    select = parse_select(table)
    annotations = Annotations(prefs.get("odata.include-annotations"))
    size, size_applied = page_size(prefs.get("odata.maxpagesize"))
    cookie = Cookie(1, "", tracking)
    if request.args.get("$skiptoken"):
        cookie = read_skip_token(request.args["$skiptoken"], table.pk)
        if cookie.tracking != tracking:
            # The docs' requests repeat the preference; a next link is not a change-tracking query by itself.
            raise ApiError(400, INVALID_ARGUMENT, "The $skiptoken belongs to a query with a different "
                                                  "Prefer: odata.track-changes; send the same headers with it.")
    body: dict[str, Any]
    if tracking:
        body, more = _delta(box, table, select, annotations, size, cookie)
    else:
        body, more = _query(box, table, select, annotations, size, size_applied, cookie.page, cookie.last or None)
    response = jsonify(body)
    applied = _applied(prefs, size_applied, size, tracking)
    if applied:
        response.headers["Preference-Applied"] = applied
    response.headers["OData-Version"] = "4.0"
    return response


def _query(box, table, select, annotations, size, size_applied, page, last):
    rows = box.store.rows(table.logical)
    if request.args.get("$filter"):
        condition = Filter(request.args["$filter"])
        for name in condition.properties:
            _check_property(table, name)
        rows = [r for r in rows if condition.matches(getter(table, r))]
    rows = _order(table, rows)
    total = len(rows)
    if "$top" in request.args and not size_applied:
        try:
            rows = rows[:max(0, int(request.args["$top"]))]
        except ValueError:
            raise ApiError(400, INVALID_ARGUMENT, "The $top value must be a whole number.") from None
    keyset = not request.args.get("$orderby")
    if keyset and last:
        rows = [r for r in rows if r[table.pk] > last]
        chunk = rows[:size]
    else:
        chunk = rows[(page - 1) * size:page * size] if page > 1 else rows[:size]
    remaining = len(rows) - (len(chunk) if keyset and last else min(len(rows), page * size))
    body: dict[str, Any] = {"@odata.context": _context(table, select)}
    if request.args.get("$count", "").lower() == "true":
        body["@odata.count"] = min(total, 5000)
    body["value"] = [to_wire(table, r, select, annotations, box.name_of) for r in chunk]
    if remaining > 0 and chunk:
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
        token = skip_token(page, table.pk, chunk[-1][table.pk], chunk[0][table.pk], False)
        body["@odata.nextLink"] = _link(table, params + [("$skiptoken", token)])
    return body, remaining > 0


def _delta(box, table, select, annotations, size, cookie: Cookie):
    """A change-tracking page: rows changed after the token's version (all live rows without a token), then
    rows deleted since, up to the version the first page saw.

    Pages are keyed on (phase, row version), not on offsets: a row that changes while a client pages moves
    past the snapshot and comes with the next delta link instead of shifting rows out of this read.
    """
    seen = 0
    token = request.args.get("$deltatoken")
    if token:
        knobs = box.faults.knobs
        seen = read_delta_token(token, box.clock.now(), box.settings.change_tracking_expiry_days,
                                knobs.expire_delta_tokens, box.store.version)
    upto = box.store.version if cookie.upto is None else cookie.upto
    after = cookie.after
    # Only this page's rows (and one more, to know whether another page follows) are read and
    # shaped: shaping every remaining row for each page made a large table's read quadratic.
    items: list[tuple[tuple[int, int], dict[str, Any]]] = []
    if after is None or after[0] == 0:
        start = seen if after is None else max(seen, after[1])
        items = [((0, r["versionnumber"]), r) for r in box.store.rows(table.logical, start, upto, limit=size + 1)]
    if token and len(items) <= size:
        deleted_context = f"{service_root()}/$metadata#{table.entity_set}/$deletedEntity"
        items += [((1, version), {"@odata.context": deleted_context, "id": record_id, "reason": "deleted"})
                  for record_id, version in box.store.deleted(table.logical, seen, upto)
                  if after is None or (1, version) > after]
    chunk, more = items[:size], len(items) > size
    name_of = functools.lru_cache(maxsize=None)(box.name_of)  # a page names the same few owners and accounts
    chunk = [(key, to_wire(table, row, select, annotations, name_of) if key[0] == 0 else row) for key, row in chunk]
    body: dict[str, Any] = {"@odata.context": _context(table, select, "/$delta" if token else "")}
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("$skiptoken", "$deltatoken")]
    if more:
        ids = [i.get(table.pk) or i.get("id") for _key, i in chunk]
        next_cookie = skip_token(cookie.page, table.pk, ids[-1], ids[0], True, upto, chunk[-1][0])
        extra = [("$deltatoken", token)] if token else []
        body["@odata.nextLink"] = _link(table, params + extra + [("$skiptoken", next_cookie)])
    else:
        body["@odata.deltaLink"] = _link(table, params + [("$deltatoken", delta_token(upto, box.clock.now()))])
    body["value"] = [item for _key, item in chunk]
    return body, more
