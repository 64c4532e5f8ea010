"""Webhooks: the endpoint to paste into the CRM, the last events received, and the failures.

A webhook secret is shown whole only once: on the page right after the install (its progress
page) or right after an admin rotates it (this page). The store keeps only its hash; until that
one showing the secret waits in the admin's server-side session. Everywhere else it is masked.
The CRM's echoes of Pipewise's own writes are kept for dedupe but are not counted as events.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from connectors import registry
from sync import webhook_outbox, webhook_registration
from sync.connections import rotate_webhook_secret
from sync.job_chain import PROCESS_EVENTS, REGISTER_WEBHOOK
from sync.store import Connection, WebhookEvent, utcnow
from sync.store import audit_log as audit
from sync.webhook_trace import stage_times
from web.admin import bp, connection_or_404, organization_id, record
from web.extensions import runtime

REVEAL_KEY = "reveal_webhook_secret"
MASK = "•" * 16


def endpoint_url(public_url: str, connection: Connection, secret: str) -> str | None:
    """Where the CRM sends its events for this connection (None when it needs no per-connection URL).

    A CRM that signs nothing declares a webhook ROUTE with the connection's ``<secret>`` in it.
    """
    if "<secret>" not in registry.get(connection.provider).webhooks.ROUTE:
        return None
    return webhook_registration.intake_url(public_url, connection.provider, connection.remote_org_id, secret)


def intake_url(public_url: str, connection: Connection) -> str:
    """Where a CRM that signs its events with the app's secret sends them (one URL for every connection)."""
    return f"{public_url.rstrip('/')}/webhooks/{connection.provider}"


def allow_reveal(connection_id: int, secret: str) -> None:
    """Let the next page that shows this connection's endpoint show it whole, once (server-side session)."""
    session[REVEAL_KEY] = {**session.get(REVEAL_KEY, {}), str(connection_id): secret}


def take_reveal(connection: Connection) -> str | None:
    """The connection's full endpoint if its new secret was not shown yet; it is not shown again."""
    waiting = dict(session.get(REVEAL_KEY, {}))
    secret = waiting.pop(str(connection.id), None)
    if secret is None:
        return None
    session[REVEAL_KEY] = waiting
    return endpoint_url(runtime().config.PUBLIC_URL, connection, secret)


def sent_tests(db) -> dict[int, set[str]]:
    """The event ids of the test events admins sent from this page, per connection (from the audit trail)."""
    entries = db.scalars(select(audit.AuditEntry).where(audit.AuditEntry.organization_id == organization_id(),
                                                        audit.AuditEntry.action == "webhook.test")
                         .order_by(audit.AuditEntry.id.desc()).limit(50))
    sent: dict[int, set[str]] = {}
    for entry in entries:
        connection_id = int((entry.target or ":0").split(":", 1)[1] or 0)
        sent.setdefault(connection_id, set()).add((entry.details or {}).get("event_id", ""))
    return sent


@bp.get("/webhooks")
def webhooks():
    """Per connection: the endpoint, a test event, the recent events (echoes apart) with the time each
    stage took on the way to the CRM field, and the failures."""
    reveal = session.pop(REVEAL_KEY, {})
    public_url = runtime().config.PUBLIC_URL
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    items = []
    with runtime().sessions() as db:
        connections = db.scalars(select(Connection).where(Connection.organization_id == organization_id())
                                 .order_by(Connection.id)).all()
        tests = sent_tests(db)
        for connection in connections:
            events = select(WebhookEvent).where(WebhookEvent.connection_id == connection.id,
                                                WebhookEvent.echo.is_(False))
            recent = db.scalars(events.order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
                                .limit(10)).all()
            day = db.scalar(select(func.count()).select_from(events.where(
                WebhookEvent.received_at >= midnight).subquery()))
            echoes = db.scalar(select(func.count()).select_from(WebhookEvent).where(
                WebhookEvent.connection_id == connection.id, WebhookEvent.echo.is_(True),
                WebhookEvent.received_at >= midnight))
            failures = db.scalars(select(WebhookEvent).where(WebhookEvent.connection_id == connection.id,
                                                             WebhookEvent.error.is_not(None))
                                  .order_by(WebhookEvent.id.desc()).limit(20)).all()
            waiting = db.scalar(select(func.count()).select_from(WebhookEvent).where(
                WebhookEvent.connection_id == connection.id, WebhookEvent.processed_at.is_(None)))
            secret = reveal.get(str(connection.id))
            registers = webhook_registration.offered(connection.provider)
            traces = {event.id: [(name.replace("_", " "), seconds) for name, seconds in stage_times(event)
                                 if seconds is not None] for event in recent}
            items.append({"connection": connection, "recent": recent, "traces": traces, "today": day,
                          "echoes": echoes,
                          "failures": failures, "waiting": waiting, "revealed": secret is not None,
                          "tests": tests.get(connection.id, set()),
                          "url": None if registers else endpoint_url(public_url, connection, secret or MASK),
                          "registers": registers,
                          "registration": webhook_registration.status(runtime().redis, connection.id)
                          if registers else None})
    return render_template("admin/webhooks.html", items=items)


@bp.get("/webhooks/<int:connection_id>/rotate")
def rotate_confirm(connection_id: int):
    """Say what rotating the secret breaks before doing it."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
    if webhook_registration.offered(connection.provider):
        return render_template("admin/confirm.html", connection=connection, title="Rotate the webhook secret?",
                               points=["Pipewise makes a new secret and gives it to the CRM itself, with the "
                                       "webhook's address.",
                                       "Events carrying the old secret are refused from then on.",
                                       "This page shows whether the CRM took the new secret."],
                               action=url_for("admin.rotate", connection_id=connection_id),
                               button="Rotate the secret", cancel=url_for("admin.webhooks"))
    return render_template("admin/confirm.html", connection=connection, title="Rotate the webhook secret?",
                           points=["Pipewise makes a new secret and shows the new endpoint once.",
                                   "The CRM's events are refused until you paste the new endpoint into the CRM.",
                                   "Scheduled syncs still catch every change meanwhile."],
                           action=url_for("admin.rotate", connection_id=connection_id),
                           button="Rotate the secret", cancel=url_for("admin.webhooks"))


@bp.post("/webhooks/<int:connection_id>/rotate")
def rotate(connection_id: int):
    """Replace the secret, record it (never its value), and show the new one once.

    Where Pipewise registers the webhook itself, the worker makes the new secret and gives it to the CRM.
    """
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        if webhook_registration.offered(connection.provider):
            return _register(db, connection_id, "webhook.rotate_secret")
        secret = rotate_webhook_secret(connection)
        record(db, "webhook.rotate_secret", f"connection:{connection_id}")
        db.commit()
    allow_reveal(connection_id, secret)
    flash("A new webhook secret was made. Copy the endpoint below into the CRM now: it is shown only once.",
          "info")
    return redirect(url_for("admin.webhooks"))


@bp.post("/webhooks/<int:connection_id>/register")
def register(connection_id: int):
    """Register Pipewise's webhook in the CRM again (with a new secret), where Pipewise registers it itself."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        if not webhook_registration.offered(connection.provider):
            abort(404)
        return _register(db, connection_id, "webhook.register")


def _register(db, connection_id: int, action: str):
    """Queue the registration (new secret included), record who asked, and say what happens next."""
    webhook_registration.enqueue(runtime().queues[REGISTER_WEBHOOK.queue], connection_id, at_front=True)
    record(db, action, f"connection:{connection_id}")
    db.commit()
    flash("Pipewise is giving the CRM a new webhook secret; the outcome shows below once the worker is done. "
          "Events carrying the old secret are refused from then on.", "info")
    return redirect(url_for("admin.webhooks") + f"#webhooks-{connection_id}")


@bp.post("/webhooks/<int:connection_id>/retry")
def retry_failed(connection_id: int):
    """Process the connection's failed events again (one event with ``event``, else all of them)."""
    raw = request.form.get("event", "")
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        abort(404)
    rt = runtime()
    with rt.sessions() as db:
        connection_or_404(db, connection_id)
        count = webhook_outbox.retry(db, rt.queues[PROCESS_EVENTS.queue], connection_id, [int(raw)] if raw else None)
        if raw and not count:
            abort(404)
        record(db, "webhook.retry", f"connection:{connection_id}", {"events": count})
        db.commit()
    flash(f"{count} failed event{'s' if count != 1 else ''} queued again. Failures that persist show here "
          "again with the CRM's reason." if count else "There were no failed events to retry.", "info")
    return redirect(url_for("admin.webhooks"))
