"""Webhooks: the endpoint to paste into the CRM, the last events received, and the failures.

A webhook secret is shown whole only once: right after the install or right after an admin
rotates it. Everywhere else it is masked.
"""
from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, session, url_for
from sqlalchemy import func, select

from sync.models import Connection, WebhookEvent, utcnow
from web.admin import bp, connection_or_404, organization_id, record
from web.extensions import runtime

REVEAL_KEY = "reveal_webhook_secret"


def endpoint_url(public_url: str, connection: Connection, secret: str) -> str | None:
    """Where the CRM sends its events for this connection (None when it needs no per-connection URL)."""
    if connection.provider == "salesforce":
        return f"{public_url.rstrip('/')}/webhooks/salesforce/{connection.remote_org_id}/{secret}"
    return None


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, not to use it."""
    return secret[:4] + "•" * 12


def allow_reveal(connection_id: int) -> None:
    """Let the next Webhooks page show this connection's secret, once."""
    session[REVEAL_KEY] = sorted({*session.get(REVEAL_KEY, []), connection_id})


@bp.get("/webhooks")
def webhooks():
    """Per connection: the endpoint, the last event, and recent failures."""
    reveal = set(session.pop(REVEAL_KEY, []))
    public_url = runtime().config.PUBLIC_URL
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    items = []
    with runtime().sessions() as db:
        connections = db.scalars(select(Connection).where(Connection.organization_id == organization_id())
                                 .order_by(Connection.id)).all()
        for connection in connections:
            last = db.scalar(select(WebhookEvent).where(WebhookEvent.connection_id == connection.id)
                             .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(1))
            day = db.scalar(select(func.count()).select_from(WebhookEvent).where(
                WebhookEvent.connection_id == connection.id,
                WebhookEvent.received_at >= midnight))
            failures = db.scalars(select(WebhookEvent).where(WebhookEvent.connection_id == connection.id,
                                                             WebhookEvent.error.is_not(None))
                                  .order_by(WebhookEvent.id.desc()).limit(20)).all()
            shown = connection.id in reveal
            secret = connection.webhook_secret if shown else mask(connection.webhook_secret)
            items.append({"connection": connection, "last": last, "today": day, "failures": failures,
                          "revealed": shown, "url": endpoint_url(public_url, connection, secret)})
    return render_template("admin/webhooks.html", items=items)


@bp.get("/webhooks/<int:connection_id>/rotate")
def rotate_confirm(connection_id: int):
    """Say what rotating the secret breaks before doing it."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
    return render_template("admin/confirm.html", connection=connection, title="Rotate the webhook secret?",
                           points=["Pipewise makes a new secret and shows the new endpoint once.",
                                   "The CRM's events are refused until you paste the new endpoint into the CRM.",
                                   "Scheduled syncs still catch every change meanwhile."],
                           action=url_for("admin.rotate", connection_id=connection_id),
                           button="Rotate the secret", cancel=url_for("admin.webhooks"))


@bp.post("/webhooks/<int:connection_id>/rotate")
def rotate(connection_id: int):
    """Replace the secret, record it (never its value), and show the new one once."""
    with runtime().sessions() as db:
        connection = connection_or_404(db, connection_id)
        connection.webhook_secret = secrets.token_urlsafe(24)
        record(db, "webhook.rotate_secret", f"connection:{connection_id}")
        db.commit()
    allow_reveal(connection_id)
    flash("A new webhook secret was made. Copy the endpoint below into the CRM now: it is shown only once.",
          "info")
    return redirect(url_for("admin.webhooks"))
