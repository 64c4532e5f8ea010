"""CRM search: filterGroups (OR of ANDed filters), sorts, a 200-row page, the 10,000-result cap."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import jsonify

from .api import ApiError, api_blueprint, json_body, object_type, sandbox
from .clock import iso, parse_datetime
from .objects_api import render
from .schema import Prop

bp = api_blueprint("hubspot_search", "/crm/v3/objects")
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, RESULT_CAP = 200, 10_000
RANGE_OPERATORS = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
QUERY_PROPERTIES = {"contacts": ("firstname", "lastname", "email", "company", "phone"),
                    "companies": ("name", "domain"), "deals": ("dealname",),
                    "calls": ("hs_call_title",), "emails": ("hs_email_subject",), "meetings": ("hs_meeting_title",),
                    "notes": ("hs_note_body",), "tasks": ("hs_task_subject",), "goal_targets": ("hs_goal_name",)}


def invalid(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


def _column(prop: Prop) -> tuple[str, list]:
    """The SQL expression of a property and its parameters; numbers compare as numbers, text without case."""
    if prop.name == "hs_object_id":
        return "id", []
    raw = "json_extract(props, ?)"
    path = [f'$."{prop.name}"']
    if prop.type == "number":
        return f"CAST({raw} AS REAL)", path
    if prop.type in ("datetime", "date"):
        return raw, path
    return f"lower({raw})", path


def _value(prop: Prop, value: Any) -> Any:
    """A filter value in the stored form of the property."""
    if value is None:
        raise invalid(f"The filter on {prop.name} needs a value.")
    try:
        if prop.type == "number" or prop.name == "hs_object_id":
            return float(value)
        if prop.type == "datetime":
            return iso(parse_datetime(value))
        if prop.type == "date":
            return parse_datetime(value).date().isoformat()
    except (TypeError, ValueError, OverflowError):
        raise invalid(f"{value!r} is not a valid {prop.type} value for a filter on {prop.name}.") from None
    return str(value).lower()


def _filter(kind: str, item: Any) -> tuple[str, list]:
    if not isinstance(item, dict):
        raise invalid("Each filter must be an object with propertyName and operator.")
    name, operator = item.get("propertyName"), item.get("operator", "EQ")
    prop = sandbox().registry.get(kind, str(name))
    if prop is None:
        raise invalid(f"There was a problem with the request: property {name!r} does not exist on {kind}.")
    if operator not in OPERATORS:
        raise invalid(f"Filter operator {operator!r} is not valid; use one of {', '.join(OPERATORS)}.")
    column, params = _column(prop)
    if operator == "HAS_PROPERTY":
        return f"({column} IS NOT NULL AND {column} != '')", params * 2
    if operator == "NOT_HAS_PROPERTY":
        return f"({column} IS NULL OR {column} = '')", params * 2
    if operator in ("IN", "NOT_IN"):
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise invalid(f"The {operator} filter on {name} needs values: a non-empty list.")
        marks = ", ".join("?" for _ in values)
        converted = [_value(prop, v) for v in values]
        if operator == "IN":
            return f"{column} IN ({marks})", params + converted
        return f"({column} IS NULL OR {column} NOT IN ({marks}))", params * 2 + converted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = "%" + str(item.get("value", "")).lower().replace("*", "%") + "%"
        text = "lower(json_extract(props, ?))" if prop.name != "hs_object_id" else "CAST(id AS TEXT)"
        path = [f'$."{prop.name}"'] if prop.name != "hs_object_id" else []
        if operator == "CONTAINS_TOKEN":
            return f"{text} LIKE ?", path + [pattern]
        return f"({text} IS NULL OR {text} NOT LIKE ?)", path * 2 + [pattern]
    value = _value(prop, item.get("value"))
    if operator == "EQ":
        return f"{column} = ?", params + [value]
    if operator == "NEQ":
        return f"({column} IS NULL OR {column} != ?)", params * 2 + [value]
    if operator == "BETWEEN":
        return f"({column} >= ? AND {column} <= ?)", params + [value] + params + [_value(prop, item.get("highValue"))]
    return f"{column} {RANGE_OPERATORS[operator]} ?", params + [value]


def _where(kind: str, body: dict[str, Any]) -> tuple[str, list]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise invalid(f"filterGroups must be a list of at most {MAX_GROUPS} groups.")
    total = 0
    clauses, params = [], []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise invalid(f"Each filter group holds a list of at most {MAX_FILTERS_PER_GROUP} filters.")
        total += len(filters)
        parts = [_filter(kind, f) for f in filters]
        if parts:
            clauses.append("(" + " AND ".join(sql for sql, _ in parts) + ")")
            params += [p for _, values in parts for p in values]
    if total > MAX_FILTERS:
        raise invalid(f"A search may hold at most {MAX_FILTERS} filters in all; it had {total}.")
    where, values = "archived = 0", []
    if clauses:
        where += " AND (" + " OR ".join(clauses) + ")"
        values += params
    query = body.get("query")
    if query:
        names = QUERY_PROPERTIES[kind]
        where += " AND (" + " OR ".join("lower(json_extract(props, ?)) LIKE ?" for _ in names) + ")"
        for name in names:
            values += [f'$."{name}"', f"%{str(query).lower()}%"]
    lag = sandbox().faults.knobs.search_lag_ms
    if lag:
        where += " AND updated_at <= ?"
        values.append(iso(sandbox().clock.now() - timedelta(milliseconds=lag)))
    return where, values


def _order(kind: str, sorts: Any) -> tuple[str, list]:
    if not sorts:
        return "id", []
    if not isinstance(sorts, list):
        raise invalid("sorts must be a list.")
    parts, params = [], []
    for sort in sorts:
        if isinstance(sort, str):
            name, descending = sort.lstrip("-"), sort.startswith("-")
        elif isinstance(sort, dict):
            name, descending = sort.get("propertyName", ""), str(sort.get("direction", "ASCENDING")).upper() == \
                "DESCENDING"
        else:
            raise invalid("Each sort is a property name or {propertyName, direction}.")
        prop = sandbox().registry.get(kind, str(name))
        if prop is None:
            raise invalid(f"Cannot sort by {name!r}: no such property on {kind}.")
        column, path = _column(prop)
        parts.append(f"{column} {'DESC' if descending else 'ASC'}")
        params += path
    return ", ".join(parts + ["id"]), params


@bp.post("/<object_name>/search")
def search(object_name: str):
    """One page of matching live records, with the total and paging.next.after (an offset)."""
    kind = object_type(object_name)
    body = json_body()
    if not isinstance(body, dict):
        raise invalid("The search body must be a JSON object.")
    try:
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise invalid("limit must be a number and after the offset from paging.next.after.") from None
    if not 1 <= limit <= MAX_LIMIT or after < 0:
        raise invalid(f"limit must be from 1 to {MAX_LIMIT}; after may not be negative.")
    if after + limit > RESULT_CAP:
        raise invalid(f"The search result window is capped at {RESULT_CAP} results (after {after} + limit {limit}). "
                      "Page past it by sorting on hs_object_id and filtering hs_object_id > the last id seen.")
    where, params = _where(kind, body)
    order, order_params = _order(kind, body.get("sorts"))
    store = sandbox().store
    total = store.count(kind, where, params)
    rows = store.select(kind, where, params, order=order, limit=limit, offset=after, order_params=order_params)
    answer: dict[str, Any] = {"total": total, "results": render(rows, [str(p) for p in body.get("properties") or []])}
    if after + limit < total:
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return jsonify(answer)

