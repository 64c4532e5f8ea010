"""Associations between records: stored in both directions with HubSpot's type ids."""
from __future__ import annotations

from collections import defaultdict

from .schema import ASSOCIATION_TYPES
from .store import Store


class AssociationError(Exception):
    """An association HubSpot would refuse."""


def default_type(from_kind: str, to_kind: str) -> int:
    """The unlabeled HUBSPOT_DEFINED type id between two object types."""
    try:
        return ASSOCIATION_TYPES[(from_kind, to_kind)]
    except KeyError:
        raise AssociationError(f"{from_kind} cannot be associated with {to_kind} in this sandbox.") from None


def associate_many(store: Store, pairs: list[tuple[str, int, str, int]], category: str = "HUBSPOT_DEFINED",
                   type_id: int | None = None) -> None:
    """Associate (from type, from id, to type, to id) pairs, each in both directions."""
    rows = []
    for from_kind, from_id, to_kind, to_id in pairs:
        forward = type_id if type_id is not None else default_type(from_kind, to_kind)
        rows.append((from_kind, int(from_id), to_kind, int(to_id), forward, category))
        rows.append((to_kind, int(to_id), from_kind, int(from_id), default_type(to_kind, from_kind),
                     "HUBSPOT_DEFINED"))
    if rows:
        store.executemany("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?, ?)", rows)


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
