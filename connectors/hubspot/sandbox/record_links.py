"""The writes that change which records exist and how they are linked: restore, merge, (dis)associate.

Each emits the change a webhook subscription sees. The event fields follow HubSpot's changelog "New
subscription types for Webhooks" (merge: primaryObjectId, mergedObjectIds, newObjectId,
numberOfPropertiesMoved; association change: associationType, fromObjectId, toObjectId,
associationRemoved, isPrimaryAssociation; restore adds nothing) and the generic-webhooks guide (the
object.* format adds the objectTypeIds of the sides).
"""
from __future__ import annotations

from typing import Any

from .associations import associate_many, dissociate, is_primary, move_all
from .changes import STAMPS, Change, RecordError
from .clock import epoch_ms, iso
from .schema import PRIMARY_TYPES

# Set by HubSpot itself, so a merge never moves them from the merged record to the primary one.
NOT_MOVED = ("hs_object_id", "createdate", "hs_merged_object_ids", *STAMPS)


class LinkWriter:
    """Restores, merges and association changes; a mixin of RecordWriter (store, clock, _emit, live, update)."""

    def _stamp(self, record: dict[str, Any], stamp: str) -> None:
        record["props"]["hs_lastmodifieddate"] = stamp
        if record["type"] == "contacts":
            record["props"]["lastmodifieddate"] = stamp
        record["updated_at"] = stamp

    def restore(self, kind: str, record_id: Any, source: str, source_id: str | None = None) -> dict[str, Any]:
        """Bring an archived record back (HubSpot keeps archived records for 90 days)."""
        now = self.clock.now()
        with self.store.transaction():
            record = self.store.get(kind, record_id)
            if record is None or not record["archived"]:
                raise RecordError(404, "OBJECT_NOT_FOUND", "No archived record has that id.",
                                  context={"id": [str(record_id)]})
            record.update(archived=False, archived_at=None)
            self._stamp(record, iso(now))
            self.store.save_record(record)
            self._emit([Change(kind, record["id"], "restore", epoch_ms(now), source, source_id)])
        return record

    def merge(self, kind: str, primary_id: Any, merged_id: Any, source: str,
              source_id: str | None = None) -> dict[str, Any]:
        """Merge one record into another: the primary keeps its values and takes the other's where it has
        none, and its associations; the merged record stops existing."""
        now = self.clock.now()
        with self.store.transaction():
            primary, merged = self.live(kind, primary_id), self.live(kind, merged_id)
            if primary["id"] == merged["id"]:
                raise RecordError(400, "VALIDATION_ERROR", "A record cannot be merged into itself.")
            props = primary["props"]
            moved = {name: value for name, value in merged["props"].items()
                     if name not in NOT_MOVED and value not in (None, "") and props.get(name) in (None, "")}
            props.update(moved)
            earlier = [i for i in str(props.get("hs_merged_object_ids") or "").split(";") if i]
            props["hs_merged_object_ids"] = ";".join([*earlier, str(merged["id"])])
            self._stamp(primary, iso(now))
            self.store.save_record(primary)
            move_all(self.store, kind, merged["id"], primary["id"])
            self.store.execute("DELETE FROM objects WHERE type = ? AND id = ?", (kind, merged["id"]))
            details = {"primaryObjectId": primary["id"], "mergedObjectIds": [merged["id"]],
                       "newObjectId": primary["id"], "numberOfPropertiesMoved": len(moved)}
            self._emit([Change(kind, primary["id"], "merge", epoch_ms(now), source, source_id, details=details)])
        return primary

    def associate(self, pairs: list[tuple[str, int, str, int]], source: str, source_id: str | None = None,
                  category: str = "HUBSPOT_DEFINED", type_id: int | None = None) -> None:
        """Associate pairs of records (a primary type also relabels); each new link is an event both ways."""
        now = self.clock.now()
        with self.store.transaction():
            fresh = set(associate_many(self.store, pairs, category, type_id))
            changes = []
            for from_kind, from_id, to_kind, to_id in pairs:
                key = (from_kind, int(from_id), to_kind, int(to_id))
                primary = is_primary(self.store, *key)
                if key not in fresh and not (primary and type_id == PRIMARY_TYPES.get((from_kind, to_kind))):
                    continue
                changes += _both_ways(key, epoch_ms(now), source, source_id, removed=False, primary=primary)
                if primary and from_kind == "contacts" and to_kind == "companies":
                    self.update("contacts", from_id, {"associatedcompanyid": str(to_id)}, source, source_id,
                                system=True)
            self._emit(changes)

    def dissociate(self, from_kind: str, from_id: int, to_kind: str, to_id: int, source: str,
                   source_id: str | None = None) -> None:
        """Remove the association of two records (every type, both ways); an event both ways if there was one."""
        now = self.clock.now()
        key = (from_kind, int(from_id), to_kind, int(to_id))
        with self.store.transaction():
            primary = is_primary(self.store, *key)
            if not dissociate(self.store, *key):
                return
            self._emit(_both_ways(key, epoch_ms(now), source, source_id, removed=True, primary=primary))
            if primary and from_kind == "contacts" and to_kind == "companies":
                self.update("contacts", from_id, {"associatedcompanyid": None}, source, source_id, system=True)


def _both_ways(key: tuple[str, int, str, int], occurred: int, source: str, source_id: str | None,
               removed: bool, primary: bool) -> list[Change]:
    from_kind, from_id, to_kind, to_id = key
    return [Change(a, a_id, "associationChange", occurred, source, source_id,
                   details={"to_kind": b, "to_id": b_id, "removed": removed, "primary": primary})
            for a, a_id, b, b_id in ((from_kind, from_id, to_kind, to_id), (to_kind, to_id, from_kind, from_id))]
