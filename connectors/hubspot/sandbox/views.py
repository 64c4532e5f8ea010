"""Records as the CRM v3 API shows them: chosen properties, history and associations."""
from __future__ import annotations

from typing import Any

from .associations import associated
from .schema import (DEFAULT_ENGAGEMENT_PROPERTIES, DEFAULT_PROPERTIES, PRIMARY_TYPES, association_label,
                     canonical_type)
from .store import Store
from .registry import Registry


def split_names(values: list[str] | str | None) -> list[str]:
    """Names from repeated or comma-separated query values (properties=a,b&properties=c)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [name.strip() for value in values for name in str(value).split(",") if name.strip()]


def api_record(record: dict[str, Any], registry: Registry, names: list[str] | None = None,
               history: dict[str, list] | None = None, associations: dict[str, list] | None = None
               ) -> dict[str, Any]:
    """One record: requested properties (null when empty), or the type's defaults when none are named."""
    kind, props = record["type"], record["props"]
    wanted = names or list(DEFAULT_PROPERTIES.get(kind, DEFAULT_ENGAGEMENT_PROPERTIES))
    properties = {name: props.get(name) for name in wanted if registry.get(kind, name) is not None}
    answer: dict[str, Any] = {"id": str(record["id"]), "properties": properties, "createdAt": record["created_at"],
                              "updatedAt": record["updated_at"], "archived": record["archived"]}
    if record["archived"]:
        answer["archivedAt"] = record["archived_at"]
    if history is not None:
        answer["propertiesWithHistory"] = history
    if associations:
        answer["associations"] = associations
    return answer


def histories(store: Store, records: list[dict[str, Any]], names: list[str]) -> dict[int, dict[str, list]]:
    """propertiesWithHistory per record: newest first; a value never changed shows as one entry."""
    if not records or not names:
        return {}
    kind = records[0]["type"]
    ids = [r["id"] for r in records]
    found: dict[int, dict[str, list]] = {r["id"]: {name: [] for name in names} for r in records}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = store.fetchall(
            f"SELECT id, name, value, timestamp, source_type, source_id FROM history WHERE type = ? "
            f"AND id IN ({', '.join('?' for _ in chunk)}) AND name IN ({', '.join('?' for _ in names)}) "
            f"ORDER BY timestamp DESC, rowid DESC", (kind, *chunk, *names))
        for record_id, name, value, timestamp, source, source_id in rows:
            entry = {"value": value if value is not None else "", "timestamp": timestamp, "sourceType": source}
            if source_id:
                entry["sourceId"] = source_id
            found[record_id][name].append(entry)
    for record in records:
        for name in names:
            value = record["props"].get(name)
            if not found[record["id"]][name] and value is not None:
                found[record["id"]][name] = [{"value": value, "timestamp": record["created_at"],
                                              "sourceType": "CRM_UI"}]
    return found


def v3_associations(store: Store, records: list[dict[str, Any]], to_names: list[str]) -> dict[int, dict]:
    """The v3 `associations` block per record: {contacts: {results: [{id, type}]}}, non-empty types only."""
    if not records or not to_names:
        return {}
    kind = records[0]["type"]
    blocks: dict[int, dict] = {r["id"]: {} for r in records}
    for name in to_names:
        to_kind = canonical_type(name)
        if to_kind is None or to_kind == kind:
            continue
        label = association_label(kind, to_kind)
        primary = PRIMARY_TYPES.get((kind, to_kind))
        for from_id, targets in associated(store, kind, [r["id"] for r in records], to_kind).items():
            # One entry per type: with a primary label defined, the primary one carries the plain name and
            # the default one "<name>_unlabeled", as the v3 objects API shows them.
            results = [{"id": str(to_id), "type": label if primary is None or type_id == primary
                        else f"{label}_unlabeled"}
                       for to_id, types in targets for _category, type_id in types]
            blocks[from_id][to_kind] = associations_page(kind, from_id, to_kind, results)
    return blocks


# HubSpot pages a record's associations of one type in the v3 objects APIs at 100 (developer changelog
# "Announcing a change to how v3 CRM APIs return association data", 2020-10): the block then carries
# paging.next (CollectionResponseAssociatedId in the official client's models), pointing at the
# record's associations endpoint.
ASSOCIATIONS_PER_BLOCK = 100


def associations_page(kind: str, from_id: int, to_kind: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The first page of one record's associations of one type, with paging.next when there are more."""
    if len(results) <= ASSOCIATIONS_PER_BLOCK:
        return {"results": results}
    after = str(ASSOCIATIONS_PER_BLOCK)
    return {"results": results[:ASSOCIATIONS_PER_BLOCK], "paging": {"next": {
        "after": after, "link": f"/crm/v3/objects/{kind}/{from_id}/associations/{to_kind}?after={after}"}}}
