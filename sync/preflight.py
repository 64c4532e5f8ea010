"""The preflight: what a live CRM lets Pipewise do, checked by an admin or before the first backfill.

Each connector's client checks its own CRM (``Client.preflight()``: scopes, objects and fields with
their security, optional objects, the API allowance); this module adds what is the same for every
CRM (whether the CRM's change notifications reach Pipewise, what the last sync had to leave out),
keeps the last report per connection in Redis and runs as a job. Every finding is one sentence an
admin acts on; a missing optional part is a warning, never a failure.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select

from connectors import registry
from connectors.base import Finding
from connectors.errors import ConnectorError, ReauthorizationRequired
from sync import runtime as runtime_module
from sync.connections import apply_org_profile, mark, open_client
from sync.store import Connection, SyncRun, WebhookEvent, utcnow

log = logging.getLogger(__name__)
REPORT_KEY = "pipewise:preflight:{connection_id}"
REPORT_TTL_SECONDS = 30 * 24 * 3600


@dataclass
class Report:
    """One preflight run of one connection."""

    connection_id: int
    provider: str
    checked_at: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "warning"]

    def ordered(self) -> list[Finding]:
        """Problems first, then what to know, then what passed."""
        rank = {"error": 0, "warning": 1, "ok": 2}
        return sorted(self.findings, key=lambda f: rank.get(f.status, 3))

    def summary(self) -> str:
        """One sentence for the top of the report."""
        if self.errors:
            return (f"{len(self.errors)} problem{'s' if len(self.errors) != 1 else ''} to fix in the CRM"
                    + (f", {len(self.warnings)} to know about" if self.warnings else "") + ".")
        if self.warnings:
            return f"Ready, with {len(self.warnings)} thing{'s' if len(self.warnings) != 1 else ''} to know about."
        return "Ready: every check passed."

    def as_json(self) -> str:
        return json.dumps({"connection_id": self.connection_id, "provider": self.provider,
                           "checked_at": self.checked_at, "findings": [asdict(f) for f in self.findings]})

    @classmethod
    def from_json(cls, text: str | bytes) -> "Report":
        data = json.loads(text)
        return cls(data["connection_id"], data["provider"], data["checked_at"],
                   [Finding(**f) for f in data["findings"]])


def run_preflight(rt, connection_id: int) -> Report:
    """Check one connection against its live CRM, keep the report, and return it."""
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            raise LookupError(f"No connection {connection_id}: list them with `flask connections check`.")
        provider = registry.get(connection.provider).provider
        report = Report(connection_id, connection.provider, utcnow().isoformat(timespec="seconds"))
        if connection.status == "disconnected":
            report.findings.append(Finding("connection", "error", f"This {provider.name} connection is "
                                           "disconnected: re-authorize it to check it."))
            return _keep(rt, report)
        client = None
        try:
            client = open_client(rt.config, rt.sessions, rt.cipher, connection)
            check = getattr(client, "preflight", None)
            if check is None:
                report.findings.append(Finding("connection", "warning", f"Pipewise has no preflight for "
                                               f"{provider.name} yet; the first sync shows what works."))
            else:
                report.findings.extend(check())
            _refresh_org_profile(session, connection, client)
        except ReauthorizationRequired as exc:
            report.findings.append(Finding("connection", "error", f"{exc} Choose Re-authorize on the connection."))
            mark(session, connection, "needs_reauth", str(exc))
        except ConnectorError as exc:
            report.findings.append(Finding("connection", "error", f"Pipewise could not reach {provider.name}: {exc}"))
        if client is not None and client.usage.used is not None:
            connection.api_usage_used, connection.api_usage_limit = client.usage.used, client.usage.limit
        report.findings.append(_notifications(session, connection, provider.name, rt.config))
        report.findings.extend(_last_sync_notes(session, connection))
        session.commit()
    return _keep(rt, report)


def _refresh_org_profile(session, connection: Connection, client) -> None:
    """Re-read the CRM organization's name and time zone (an install before they were read gets them here)."""
    try:
        apply_org_profile(session, connection, client.org_profile())
    except ConnectorError as exc:
        log.warning("preflight.org-profile-unreadable connection=%s error=%s", connection.id, str(exc)[:200])


def _notifications(session, connection: Connection, crm: str, config) -> Finding:
    """Whether the CRM's change notifications (webhooks, outbound messages) have reached Pipewise."""
    last = session.scalar(select(func.max(WebhookEvent.received_at)).where(
        WebhookEvent.connection_id == connection.id))
    if last is None:
        minutes = max(1, config.SYNC_INTERVAL_SECONDS // 60)
        return Finding("notifications", "warning", f"No change notification from {crm} has reached Pipewise yet: "
                       f"set them up as docs/{connection.provider}/INSTALL.md describes, then change a record to "
                       f"test the delivery. Until then changes arrive with the sync every {minutes} minutes.")
    return Finding("notifications", "ok", f"{crm}'s change notifications reach Pipewise; the last one arrived "
                   f"{last:%Y-%m-%d %H:%M} UTC.")


def _last_sync_notes(session, connection: Connection) -> list[Finding]:
    """What the last completed sync skipped or left out, as the sync recorded it."""
    return [Finding(f"sync:{name}", "warning", note) for name, note in sync_notes(session, connection.id)]


def sync_notes(session, connection_id: int) -> list[tuple[str, str]]:
    """(stream, sentence) for each stream the latest finished run skipped or read only in part."""
    run = session.scalar(select(SyncRun).where(SyncRun.connection_id == connection_id,
                                               SyncRun.status == "completed", SyncRun.kind != "targeted")
                         .order_by(SyncRun.id.desc()).limit(1))
    if run is None:
        return []
    return [(name, entry["note"]) for name, entry in (run.streams or {}).items() if entry.get("note")]


def _keep(rt, report: Report) -> Report:
    rt.redis.set(REPORT_KEY.format(connection_id=report.connection_id), report.as_json(), ex=REPORT_TTL_SECONDS)
    log.info("preflight.checked connection=%s errors=%d warnings=%d", report.connection_id, len(report.errors),
             len(report.warnings))
    return report


def latest_report(redis, connection_id: int) -> Report | None:
    """The last preflight report of a connection, if one was kept."""
    text = redis.get(REPORT_KEY.format(connection_id=connection_id))
    return Report.from_json(text) if text else None


def preflight_job(connection_id: int) -> dict:
    """The preflight as an RQ job (the install runs it before the first backfill)."""
    rt = runtime_module.current()
    report = run_preflight(rt, connection_id)
    return {"errors": len(report.errors), "warnings": len(report.warnings)}
