"""The push engine: write Pipewise's scores back to the CRM as fields it owns.

Only values that differ from the ledger are written, in the largest batch the API allows. A
rejected record keeps the CRM's reason in the ledger and is retried on the next run even when
its value did not change; it never holds up the other records of its batch. The same ledger
tells a CRM's notification that only echoes Pipewise's own write (``echoes``) from a real change.

It works on a session and a client; the jobs that run it (under the connection's writeback lock)
are ``sync.writeback_jobs``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Client, Provider, Stream
from sync.field_mapping import enabled_writeback_keys
from sync.store import SYNCED_MODELS, Score, WritebackLedger, utcnow
from sync.store.db import upsert

# Fields whose change alone is no reason to write (they travel with a real change).
TRAVELLING = frozenset({"scored_at"})


@dataclass
class WritebackSummary:
    written: int = 0
    rejected: int = 0
    unchanged: int = 0
    calls: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "rejected": self.rejected, "unchanged": self.unchanged,
                "calls": self.calls, "errors": self.errors[:20]}


def format_reasons(reasons: dict[str, Any]) -> str:
    """The reasons as a CRM text field: one line per factor, raising ones first."""
    lines = []
    if reasons.get("limited_history"):
        lines.append("Limited history: scored by rules, not a trained model.")
    lines += [f"+ {r['text']}" for r in reasons.get("up", [])]
    lines += [f"- {r['text']}" for r in reasons.get("down", [])]
    return "\n".join(lines)


def field_values(score: Score) -> dict[str, str]:
    """Pipewise's values for one record, keyed by writable field key, as strings."""
    return {
        "score": str(score.score),
        "band": score.band,
        "reasons": format_reasons(score.reasons or {}),
        "next_step": score.next_step or "",
        "model_version": score.model_version,
        "scored_at": score.computed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def remote_value(kind: str, value: str) -> Any:
    """Convert a ledger string to the type the CRM field takes."""
    if kind == "number":
        return int(float(value)) if value not in ("", None) else None
    return value


def plan(session: Session, connection_id: int, provider: type[Provider],
         remote_ids: dict[str, list[str]] | None = None) -> tuple[dict[str, list[dict]], int]:
    """The records that need writing per object type, as {remote_id, values}; and how many need none."""
    fields = {f.key: f for f in provider.writable_fields}
    # Fields an admin switched off are neither written nor held against the record.
    enabled = enabled_writeback_keys(session, connection_id, provider)
    names = {fields[k].remote_name for k in enabled}
    todo: dict[str, list[dict]] = {}
    unchanged = 0
    for object_type in provider.writable_objects:
        model = SYNCED_MODELS[object_type]
        query = (select(Score).join(model, (model.connection_id == Score.connection_id)
                                    & (model.remote_id == Score.remote_id))
                 .where(Score.connection_id == connection_id, Score.object_type == object_type,
                        model.deleted_at.is_(None)))
        if remote_ids is not None:
            # Records the CRM rejected last time are retried on every run, changed or not.
            wanted = set(remote_ids.get(object_type) or []) | set(session.scalars(
                select(WritebackLedger.remote_id).where(
                    WritebackLedger.connection_id == connection_id,
                    WritebackLedger.object_type == object_type, WritebackLedger.status == "rejected")))
            if not wanted:
                continue
            query = query.where(Score.remote_id.in_(list(wanted)))
        scores = session.scalars(query).all()
        if not scores:
            continue
        ledger = _ledger(session, connection_id, object_type, [s.remote_id for s in scores])
        for score in scores:
            values = {k: v for k, v in field_values(score).items() if k in enabled}
            if not values:
                continue
            previous = ledger.get(score.remote_id, {})
            # Anything not confirmed written (rejected, or cut short mid-call) is sent again; what the CRM
            # refused for good (a converted lead) only when the value changes.
            unconfirmed = any(row.status not in ("written", "refused") for name, row in previous.items()
                              if name in names)
            differs = any(previous.get(fields[k].remote_name) is None
                          or previous[fields[k].remote_name].value != v
                          for k, v in values.items() if k not in TRAVELLING)
            if differs or unconfirmed:
                todo.setdefault(object_type, []).append({"remote_id": score.remote_id, "values": values})
            else:
                unchanged += 1
    return todo, unchanged


def _ledger(session: Session, connection_id: int, object_type: str,
            remote_ids: list[str]) -> dict[str, dict[str, WritebackLedger]]:
    rows: dict[str, dict[str, WritebackLedger]] = {}
    for start in range(0, len(remote_ids), 5000):
        chunk = remote_ids[start:start + 5000]
        for row in session.scalars(select(WritebackLedger).where(
                WritebackLedger.connection_id == connection_id, WritebackLedger.object_type == object_type,
                WritebackLedger.remote_id.in_(chunk))):
            rows.setdefault(row.remote_id, {})[row.field] = row
    return rows


def write(session: Session, client: Client, provider: type[Provider], connection_id: int,
          remote_ids: dict[str, list[str]] | None = None) -> WritebackSummary:
    """Write what changed, batch by batch, recording every outcome in the ledger."""
    todo, unchanged = plan(session, connection_id, provider, remote_ids)
    summary = WritebackSummary(unchanged=unchanged)
    fields = {f.key: f for f in provider.writable_fields}
    size = provider.writeback_batch_size
    for object_type, records in todo.items():
        remote_name = provider.writable_objects[object_type]
        for start in range(0, len(records), size):
            batch = records[start:start + size]
            updates = [{"Id": r["remote_id"], **{fields[k].remote_name: remote_value(fields[k].type, v)
                                                  for k, v in r["values"].items()}} for r in batch]
            # Recorded before the call: the CRM's echo of this write can arrive before it returns.
            _mark_pending(session, connection_id, object_type, batch, fields)
            session.commit()
            results = client.update_records(remote_name, updates)
            summary.calls += 1
            _record(session, connection_id, object_type, batch, results, fields, summary)
            session.commit()
    return summary


def _record(session: Session, connection_id: int, object_type: str, batch: list[dict], results,
            fields, summary: WritebackSummary) -> None:
    """Upsert the ledger rows of one batch from the CRM's per-record answers."""
    now = utcnow()
    attempts = _attempts(session, connection_id, object_type, [r["remote_id"] for r in batch])
    rows = []
    for record, result in zip(batch, results):
        ok = result.ok
        if ok:
            summary.written += 1
        else:
            summary.rejected += 1
            summary.errors.append({"remote_id": record["remote_id"], "code": result.error_code,
                                   "message": result.message})
        for key, value in record["values"].items():
            name = fields[key].remote_name
            rows.append({
                "connection_id": connection_id, "object_type": object_type, "remote_id": record["remote_id"],
                "field": name, "value": value,
                "status": "written" if ok else "refused" if getattr(result, "permanent", False) else "rejected",
                "error": None if ok else f"{result.error_code}: {result.message}",
                "attempts": attempts.get((record["remote_id"], name), 0) + 1,
                "written_at": now if ok else None, "updated_at": now,
            })
    upsert(session, WritebackLedger, rows, conflict=("connection_id", "object_type", "remote_id", "field"))


def _mark_pending(session: Session, connection_id: int, object_type: str, batch: list[dict], fields) -> None:
    """Ledger rows for a write about to be sent, so its echo is recognized even if it beats the answer."""
    now = utcnow()
    rows = [{"connection_id": connection_id, "object_type": object_type, "remote_id": record["remote_id"],
             "field": fields[key].remote_name, "value": value, "status": "pending", "error": None,
             "attempts": 0, "written_at": None, "updated_at": now}
            for record in batch for key, value in record["values"].items()]
    upsert(session, WritebackLedger, rows, conflict=("connection_id", "object_type", "remote_id", "field"),
           update=("value", "status", "updated_at"))


def _attempts(session: Session, connection_id: int, object_type: str,
              remote_ids: list[str]) -> dict[tuple[str, str], int]:
    return {(r, f): a for r, f, a in session.execute(
        select(WritebackLedger.remote_id, WritebackLedger.field, WritebackLedger.attempts).where(
            WritebackLedger.connection_id == connection_id, WritebackLedger.object_type == object_type,
            WritebackLedger.remote_id.in_(remote_ids)))}


def is_echo(session: Session, connection_id: int, object_type: str, remote_id: str,
            incoming: dict[str, Any], provider: type[Provider]) -> bool:
    """Whether a change that names its changed fields (``incoming``) only echoes Pipewise's last write."""
    return remote_id in echoes(session, connection_id, object_type, {remote_id: incoming}, provider)


def echoes(session: Session, connection_id: int, object_type: str, incoming: dict[str, dict[str, Any]],
           provider: type[Provider], *, stream: type[Stream] | None = None,
           to_common: Callable[[type[Stream], dict], Any] | None = None) -> set[str]:
    """The records (remote id → incoming fields) whose notification only echoes our own last write.

    A notification is an echo only when nothing but Pipewise's own fields differs from the stored
    record, and those equal what the ledger says Pipewise wrote. Two kinds of notification:

    - a change (HubSpot's property change) names exactly the fields that changed: every one must be
      a Pipewise field;
    - a snapshot (a Salesforce outbound message, ``stream`` and ``to_common`` given) carries the
      record's values for the fields its definition chose: every field of the stored record must be
      among them (an absent one may have changed unseen) and, mapped, they must give the stored
      content hash. A snapshot that cannot prove this is no echo: the targeted sync it starts finds
      an unchanged hash and starts no rescoring.
    """
    names = {f.remote_name for f in provider.writable_fields}
    carrying = {rid: {k: v for k, v in fields.items() if k in names} for rid, fields in incoming.items()}
    if stream is None:
        candidates = {rid for rid, fields in incoming.items() if fields and set(fields) <= names}
    else:
        candidates = _unchanged_snapshots(session, connection_id, stream, to_common,
                                          {rid: {k: v for k, v in fields.items() if k not in names}
                                           for rid, fields in incoming.items()})
    # Ledger first: a pending write counts, its echo may arrive before the CRM's answer.
    carrying = {rid: seen for rid, seen in carrying.items() if seen and rid in candidates}
    if not carrying:
        return set()
    ledger = _ledger(session, connection_id, object_type, list(carrying))
    found = set()
    for remote_id, seen in carrying.items():
        rows = ledger.get(remote_id, {})
        if all((row := rows.get(name)) is not None and row.status in ("written", "pending")
               and _same(row.value, value) for name, value in seen.items()):
            found.add(remote_id)
    return found


def _unchanged_snapshots(session: Session, connection_id: int, stream: type[Stream], to_common,
                         snapshots: dict[str, dict[str, Any]]) -> set[str]:
    """The records whose snapshot holds every stored field and maps to the stored content hash."""
    from sync.engine import content_hash

    model = SYNCED_MODELS[stream.object_type]
    stored = {row.remote_id: row for row in session.execute(
        select(model.remote_id, model.remote_data, model.content_hash).where(
            model.connection_id == connection_id, model.remote_id.in_(list(snapshots)),
            model.deleted_at.is_(None)))}
    unchanged = set()
    for remote_id, snapshot in snapshots.items():
        row = stored.get(remote_id)
        if row is None or not set(row.remote_data or {}) - {"attributes"} <= set(snapshot):
            continue
        try:
            mapped = to_common(stream, snapshot)
        except (KeyError, TypeError, ValueError):
            continue
        records = mapped if isinstance(mapped, list) else [mapped]
        if len(records) == 1 and records[0] is not None and content_hash(records[0]) == row.content_hash:
            unchanged.add(remote_id)
    return unchanged


def _same(written: str | None, incoming: Any) -> bool:
    if written is None:
        return incoming in (None, "")
    if isinstance(incoming, (int, float)) or _numeric(written):
        try:
            return float(written) == float(incoming)
        except (TypeError, ValueError):
            return False
    if isinstance(incoming, str) and incoming.endswith(("Z", "+0000")) and "T" in incoming:
        return incoming[:19] == written[:19]
    return str(incoming) == written


def _numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False
