"""Pipewise's webhook registered in a CRM that takes it through its API, after the install and on each rotation.

The job makes the connection's new secret itself, so the secret never travels through the queue, and keeps it
(its hash replaces the old one) only once the CRM has it: a failed registration leaves the old secret working
and says on the Webhooks page what to do. One registration runs at a time per connection, so the secret the
CRM sends and the one Pipewise checks are always the same one.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from connectors import registry
from connectors.errors import ConnectorError
from sync.job_chain import REGISTER_WEBHOOK
from sync.store import Connection, utcnow

log = logging.getLogger(__name__)
STATUS_KEY = "pipewise:webhook-registration:{connection_id}"
LOCK_KEY = "pipewise:webhook-registration-lock:{connection_id}"
# The lock lasts as long as the job may run (its timeout, declared with the job).
LOCK_SECONDS = REGISTER_WEBHOOK.timeout


def offered(provider: str) -> bool:
    """Whether Pipewise registers this CRM's webhook itself (else an admin configures it in the CRM)."""
    return registry.get(provider).provider.registers_webhooks


def intake_url(public_url: str, provider: str, remote_org_id: str, secret: str) -> str:
    """The URL the CRM posts a connection's events to: the package's ROUTE below /webhooks/<key>, filled in."""
    route = registry.get(provider).webhooks.ROUTE
    path = route.replace("<remote_org_id>", remote_org_id).replace("<secret>", secret)
    return f"{public_url.rstrip('/')}/webhooks/{provider}{path}"


def enqueue(queue, connection_id: int, depends_on: Any = None, at_front: bool = False):
    """Queue the registration of one connection's webhook (the worker rotates the secret and registers it).

    ``at_front`` for an admin waiting on the Webhooks page: a few calls, not behind a backfill.
    """
    _record(queue.connection, connection_id, "pending", "Pipewise is registering its webhook in the CRM; this page "
            "shows the outcome once the worker is done.")
    return queue.enqueue(REGISTER_WEBHOOK.path, connection_id, job_timeout=REGISTER_WEBHOOK.timeout,
                         depends_on=depends_on, at_front=at_front)


def status(redis, connection_id: int) -> dict[str, Any] | None:
    """The last registration's outcome: {"status": "ok"|"error", "message", "at", "registered"}; None before any."""
    text = redis.get(STATUS_KEY.format(connection_id=connection_id))
    return json.loads(text) if text else None


def _record(redis, connection_id: int, state: str, message: str, registered: int = 0) -> dict[str, Any]:
    outcome = {"status": state, "message": message, "at": utcnow().isoformat(timespec="seconds") + "Z",
               "registered": registered}
    redis.set(STATUS_KEY.format(connection_id=connection_id), json.dumps(outcome))
    return outcome


def register_job(connection_id: int) -> dict[str, Any]:
    """Give the CRM a new secret and Pipewise's intake URL; keep the secret once the CRM has it."""
    from sync import runtime as runtime_module
    from sync.connections import open_client, rotate_webhook_secret

    rt = runtime_module.current()
    with rt.redis.lock(LOCK_KEY.format(connection_id=connection_id), timeout=LOCK_SECONDS,
                       blocking_timeout=LOCK_SECONDS):
        with rt.sessions() as session:
            connection = session.get(Connection, connection_id)
            if connection is None or not offered(connection.provider):
                return {"status": "skipped"}
            if connection.status == "disconnected":
                return _record(rt.redis, connection_id, "error", "The connection is disconnected, so Pipewise did "
                               "not register its webhook. Connect the CRM again to have it registered.")
            name = registry.get(connection.provider).provider.name
            client = open_client(rt.config, rt.sessions, rt.cipher, connection)
            # A new secret made as a rotation makes it; only its hash is kept, and only once the CRM has it.
            secret = rotate_webhook_secret(connection)
            hashed = connection.webhook_secret_hash
            url = intake_url(rt.config.PUBLIC_URL, connection.provider, connection.remote_org_id, secret)
            session.rollback()  # no transaction stays open while the CRM is called
        try:
            registered = client.register_webhooks(url, secret)
        except (ConnectorError, ValueError) as exc:
            log.warning("webhooks.registration.failed connection=%s error=%s", connection_id, str(exc)[:300])
            advice = "" if isinstance(exc, ValueError) else (
                f" Check that the person who connected {name} may register webhooks there (an admin's "
                "role), then press Register the webhook again on this page.")
            return _record(rt.redis, connection_id, "error", f"Pipewise could not register its webhook in "
                           f"{name}. {exc}{advice} Until it is registered, changes arrive only with the "
                           "scheduled syncs.")
        with rt.sessions() as session:
            session.get(Connection, connection_id).webhook_secret_hash = hashed
            session.commit()
    log.info("webhooks.registration.done connection=%s registrations=%s", connection_id, len(registered))
    public = url.split("/webhooks/")[0]
    return _record(rt.redis, connection_id, "ok", f"{name} sends its changes to {public} with a secret only "
                   "Pipewise and the CRM know; Pipewise registered it there itself.", len(registered))
