"""Associations between records: stored in both directions with HubSpot's type ids, primary labels included."""
from __future__ import annotations

from collections import defaultdict

from .schema import ASSOCIATION_TYPES, PRIMARY_LABEL, PRIMARY_TYPES
from .store import Store


class AssociationError(Exception):
    """An association HubSpot would refuse."""


def default_type(from_kind: str, to_kind: str) -> int:
    """The unlabeled HUBSPOT_DEFINED type id between two object types."""
    try:
        return ASSOCIATION_TYPES[(from_kind, to_kind)]
    except KeyError:
        raise AssociationError(f"{from_kind} cannot be associated with {to_kind} in this sandbox.") from None


def label_of(from_kind: str, to_kind: str, type_id: int) -> str | None:
    """The v4 label of a HUBSPOT_DEFINED type: "Primary" for the primary-company types, else none."""
    return PRIMARY_LABEL if PRIMARY_TYPES.get((from_kind, to_kind)) == type_id else None


def valid_type(from_kind: str, to_kind: str, type_id: int) -> bool:
    """Whether a HUBSPOT_DEFINED type id joins these two object types."""
    return type_id in (ASSOCIATION_TYPES.get((from_kind, to_kind)), PRIMARY_TYPES.get((from_kind, to_kind)))


def associate_many(store: Store, pairs: list[tuple[str, int, str, int]], category: str = "HUBSPOT_DEFINED",
                   type_id: int | None = None) -> list[tuple[str, int, str, int]]:
    """Associate (from type, from id, to type, to id) pairs in both directions; returns the pairs that are new.

    A primary type comes with the unlabeled one, and replaces the record's earlier primary of that type.
    """
    rows, fresh = [], []
    for from_kind, from_id, to_kind, to_id in pairs:
        from_id, to_id = int(from_id), int(to_id)
        forward = type_id if type_id is not None else default_type(from_kind, to_kind)
        if not associated_pair(store, from_kind, from_id, to_kind, to_id):
            fresh.append((from_kind, from_id, to_kind, to_id))
        rows.append((from_kind, from_id, to_kind, to_id, forward, category))
        rows.append((to_kind, to_id, from_kind, from_id, default_type(to_kind, from_kind), "HUBSPOT_DEFINED"))
        primary = PRIMARY_TYPES.get((from_kind, to_kind))
        if category == "HUBSPOT_DEFINED" and forward == primary:
            _drop_primary(store, from_kind, from_id, to_kind)
            rows.append((from_kind, from_id, to_kind, to_id, default_type(from_kind, to_kind), category))
            rows.append((to_kind, to_id, from_kind, from_id, PRIMARY_TYPES[(to_kind, from_kind)], category))
    if rows:
        store.executemany("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?, ?)", rows)
    return fresh


def _drop_primary(store: Store, from_kind: str, from_id: int, to_kind: str) -> None:
    """Remove a record's current primary association of one type (both directions)."""
    primary, reverse = PRIMARY_TYPES[(from_kind, to_kind)], PRIMARY_TYPES[(to_kind, from_kind)]
    for (to_id,) in store.fetchall("SELECT to_id FROM associations WHERE from_type = ? AND from_id = ? "
                                   "AND to_type = ? AND type_id = ?", (from_kind, from_id, to_kind, primary)):
        store.execute("DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ? "
                      "AND type_id = ?", (from_kind, from_id, to_kind, to_id, primary))
        store.execute("DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ? "
                      "AND type_id = ?", (to_kind, to_id, from_kind, from_id, reverse))


def associated_pair(store: Store, from_kind: str, from_id: int, to_kind: str, to_id: int) -> bool:
    """Whether two records are associated at all."""
    return bool(store.fetchall("SELECT 1 FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                               "AND to_id = ?", (from_kind, int(from_id), to_kind, int(to_id))))


def is_primary(store: Store, from_kind: str, from_id: int, to_kind: str, to_id: int) -> bool:
    """Whether the association carries the Primary label."""
    primary = PRIMARY_TYPES.get((from_kind, to_kind))
    return primary is not None and bool(store.fetchall(
        "SELECT 1 FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ? "
        "AND type_id = ?", (from_kind, int(from_id), to_kind, int(to_id), primary)))


def dissociate(store: Store, from_kind: str, from_id: int, to_kind: str, to_id: int) -> bool:
    """Remove every association between two records (both directions); True when there was one."""
    existed = associated_pair(store, from_kind, from_id, to_kind, to_id)
    for a, a_id, b, b_id in ((from_kind, from_id, to_kind, to_id), (to_kind, to_id, from_kind, from_id)):
        store.execute("DELETE FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ?",
                      (a, int(a_id), b, int(b_id)))
    return existed


def move_all(store: Store, kind: str, from_id: int, into_id: int) -> None:
    """Give every association of one record to another (a merge): the merged record's links move over."""
    rows = store.fetchall("SELECT DISTINCT to_type, to_id FROM associations WHERE from_type = ? AND from_id = ?",
                          (kind, int(from_id)))
    for to_kind, to_id in rows:
        if to_kind == kind and int(to_id) == int(into_id):
            continue
        associate_many(store, [(kind, int(into_id), to_kind, int(to_id))])
        dissociate(store, kind, from_id, to_kind, to_id)


def associated(store: Store, from_kind: str, ids: list[int], to_kind: str) -> dict[int, list[tuple[int, list]]]:
    """For each from id: [(to id, [(category, type id), ...])] of live targets, ordered by to id."""
    found: dict[int, dict[int, list]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = [int(i) for i in ids[start:start + 500]]
        marks = ", ".join("?" for _ in chunk)
        rows = store.fetchall(
            f"SELECT a.from_id, a.to_id, a.category, a.type_id FROM associations a JOIN objects o "
            f"ON o.type = a.to_type AND o.id = a.to_id AND o.archived = 0 "
            f"WHERE a.from_type = ? AND a.to_type = ? AND a.from_id IN ({marks}) ORDER BY a.to_id, a.type_id",
            (from_kind, to_kind, *chunk))
        for from_id, to_id, category, type_id in rows:
            found[from_id].setdefault(to_id, []).append((category, type_id))
    return {from_id: list(targets.items()) for from_id, targets in found.items()}
