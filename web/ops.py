"""Operator endpoints: liveness, readiness and Prometheus metrics.

None of them needs a sign-in: load balancers and Prometheus call them. /metrics names
connections and volumes: outside local development it answers only with the bearer token set in
``PIPEWISE_METRICS_TOKEN`` (scrape with ``Authorization: Bearer <token>``), and refuses every
scrape until one is set. On this machine (a loopback public URL) it is open unless a token is set.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable

from flask import Blueprint, Response, jsonify, request
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text

from sync.store import SYNCED_MODELS, Connection, SyncRun, WritebackLedger, utcnow
from web.extensions import runtime

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("healthy", "syncing", "paused_quota", "paused", "needs_reauth", "failing", "disconnected")
WRITEBACK_COUNTERS = (("written", "Records Pipewise wrote back to the CRM."),
                      ("calls", "Writeback API calls made."),
                      ("rejected", "Records the CRM refused on writeback."))


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready when the database and Redis both answer; else 503 naming what failed and why."""
    rt = runtime()
    checks, ready = {}, True
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        ready = False
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    try:
        rt.redis.ping()
        checks["redis"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001
        ready = False
        checks["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    if not ready:
        log.warning("ops.not-ready %s", {k: v.get("error") for k, v in checks.items() if not v["ok"]})
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition of per-connection sync, writeback, usage and queue figures."""
    rt = runtime()
    expected = getattr(rt.config, "METRICS_TOKEN", None)
    if not expected and not rt.config.local_development:
        return Response("Metrics are closed: set PIPEWISE_METRICS_TOKEN on the server, then scrape with "
                        "'Authorization: Bearer <that token>'.\n", 403,
                        {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
    if expected:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return Response("Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'.\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": CONTENT_TYPE})
    return Response(render(collect(rt)), 200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


# -- exposition ----------------------------------------------------------------------------------

class Family:
    """One metric family: name, help, type and its samples (labels, value)."""

    def __init__(self, name: str, kind: str, help_text: str):
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, labels: dict[str, object], value: float) -> None:
        self.samples.append(({k: str(v) for k, v in labels.items()}, float(value)))


def escape_label(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    return str(int(value)) if value.is_integer() else repr(value)


def render(families: Iterable[Family]) -> str:
    """The text exposition format (version 0.0.4) of the families."""
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            rendered = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            lines.append(f"{family.name}{{{rendered}}} {_number(value)}" if rendered
                         else f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"


# -- collection ----------------------------------------------------------------------------------

def collect(rt) -> list[Family]:
    """Every metric, from aggregate queries on the store and counters in Redis."""
    now = utcnow()
    with rt.sessions() as db:
        connections = db.execute(select(Connection.id, Connection.provider, Connection.status,
                                        Connection.last_synced_at, Connection.api_usage_used,
                                        Connection.api_usage_limit).order_by(Connection.id)).all()
        labels = {c.id: {"provider": c.provider, "connection_id": c.id} for c in connections}
        families = _connection_families(connections, labels, now)
        families.append(_records(db, labels))
        families += _last_runs(db, labels)
        families.append(_grouped(db, labels, "pipewise_sync_runs_failed_total", "counter",
                                 "Sync runs of the connection that failed.",
                                 select(SyncRun.connection_id, func.count()).where(SyncRun.status == "failed")
                                 .group_by(SyncRun.connection_id)))
        families.append(_grouped(db, labels, "pipewise_writeback_rejected_fields", "gauge",
                                 "Writeback ledger fields whose last write the CRM rejected.",
                                 select(WritebackLedger.connection_id, func.count())
                                 .where(WritebackLedger.status == "rejected")
                                 .group_by(WritebackLedger.connection_id)))
    families += _writeback_counters(rt.redis, labels)
    families += _queues(rt)
    return families


def _connection_families(connections, labels, now) -> list[Family]:
    status = Family("pipewise_connection_status", "gauge",
                    "1 for the connection's current status, 0 for the others.")
    lag = Family("pipewise_sync_lag_seconds", "gauge",
                 "Seconds since the connection's last completed sync (absent before the first).")
    used = Family("pipewise_api_usage_used", "gauge", "CRM API calls used in the current window, as the CRM reports.")
    limit = Family("pipewise_api_usage_limit", "gauge", "CRM API calls allowed in the current window.")
    for c in connections:
        for name in dict.fromkeys((*STATUSES, c.status)):
            status.add({**labels[c.id], "status": name}, 1 if c.status == name else 0)
        if c.last_synced_at is not None:
            lag.add(labels[c.id], max(0.0, (now - c.last_synced_at).total_seconds()))
        if c.api_usage_used is not None:
            used.add(labels[c.id], c.api_usage_used)
        if c.api_usage_limit is not None:
            limit.add(labels[c.id], c.api_usage_limit)
    return [status, lag, used, limit]


def _records(db, labels) -> Family:
    family = Family("pipewise_records", "gauge", "Live (not deleted) records stored, per common object.")
    for object_type, model in SYNCED_MODELS.items():
        counts = dict(db.execute(select(model.connection_id, func.count()).where(model.deleted_at.is_(None))
                                 .group_by(model.connection_id)).all())
        for connection_id, base in labels.items():
            family.add({**base, "object": object_type}, counts.get(connection_id, 0))
    return family


def _last_runs(db, labels) -> list[Family]:
    latest = select(func.max(SyncRun.id)).group_by(SyncRun.connection_id).scalar_subquery()
    rows = db.execute(select(SyncRun.connection_id, SyncRun.seen, SyncRun.changed, SyncRun.deleted,
                             SyncRun.api_calls).where(SyncRun.id.in_(latest))).all()
    families = {field: Family(f"pipewise_last_run_{field}", "gauge", help_text) for field, help_text in (
        ("seen", "Records read by the connection's latest sync run."),
        ("changed", "Records changed by the connection's latest sync run."),
        ("deleted", "Records deleted by the connection's latest sync run."),
        ("api_calls", "CRM API calls made by the connection's latest sync run."))}
    for row in rows:
        if row.connection_id in labels:
            for field, family in families.items():
                family.add(labels[row.connection_id], getattr(row, field) or 0)
    return list(families.values())


def _grouped(db, labels, name: str, kind: str, help_text: str, query) -> Family:
    family = Family(name, kind, help_text)
    counts = dict(db.execute(query).all())
    for connection_id, base in labels.items():
        family.add(base, counts.get(connection_id, 0))
    return family


def _writeback_counters(redis, labels) -> list[Family]:
    families = {field: Family(f"pipewise_writeback_{field}_total", "counter", help_text)
                for field, help_text in WRITEBACK_COUNTERS}
    pipe = redis.pipeline()
    for connection_id in labels:
        pipe.hgetall(f"pipewise:writeback:{connection_id}")
    for connection_id, counters in zip(labels, pipe.execute() if labels else []):
        for field, family in families.items():
            family.add(labels[connection_id], int(counters.get(field.encode(), 0)))
    return list(families.values())


def _queues(rt) -> list[Family]:
    depth = Family("pipewise_queue_depth", "gauge", "Jobs waiting in the RQ queue.")
    failed = Family("pipewise_queue_failed_jobs", "gauge", "Jobs in the RQ queue's failed job registry.")
    for name, queue in rt.queues.items():
        depth.add({"queue": name}, queue.count)
        failed.add({"queue": name}, FailedJobRegistry(queue=queue).count)
    return [depth, failed]
