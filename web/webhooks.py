"""Inbound CRM events: verify, store, answer, then queue. Nothing is synced inline.

The outbox order (``sync.webhook_outbox``): an event is committed with its work before the CRM
gets its 2xx, so an answered event is never lost; queueing comes last, and when Redis cannot take
the job the sweeper does it later. A CRM that gets no 2xx (the store failed) delivers again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, abort, request
from sqlalchemy import select, update

from connectors import registry
from connectors.base import Answer, Inbound, InboundEvent, Refused
from sync.connections import webhook_secret_matches
from sync.field_mapping import run_mapping
from sync.job_chain import PROCESS_EVENTS
from sync.store import Connection, WebhookEvent, utcnow
from sync.store.db import insert_ignore
from sync.webhook_outbox import enqueue
from sync.writeback import echoes
from web.extensions import runtime

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

# Errors a hostile or broken body can raise while it is parsed: each is a 400, never a 500.
MALFORMED = (ValueError, TypeError, RecursionError, OverflowError, OSError)


def _respond(answer: Answer) -> Response:
    if answer.body is None and answer.status >= 400:
        abort(answer.status)
    return Response(answer.body or b"", status=answer.status, content_type=answer.content_type)


def _secret_matches(provider: str) -> Callable[[str, str], bool]:
    """Whether a secret is the one of a live connection to this CRM account (constant time, even when unknown)."""
    def matches(remote_org_id: str, secret: str) -> bool:
        with runtime().sessions() as session:
            connection = session.scalar(select(Connection).where(
                Connection.provider == provider, Connection.remote_org_id == remote_org_id))
            return webhook_secret_matches(connection, secret) and connection.status != "disconnected"
    return matches


def intake(provider: str, **path_args: str):
    """One CRM's webhook: the package verifies it (before parsing), parses it into events, and answers."""
    received = utcnow()  # the trace's first stage (sync.webhook_trace)
    rt = runtime()
    package = registry.get(provider)
    hooks = package.webhooks
    query = request.query_string.decode("latin-1")
    inbound = Inbound(method=request.method, url=request.url,
                      path_and_query=request.path + (f"?{query}" if query else ""), headers=request.headers,
                      body=request.get_data(cache=False), path_args=path_args, public_url=rt.config.PUBLIC_URL)
    if not hooks.verify(inbound, rt.config, _secret_matches(provider)):
        log.warning("%s.webhook.invalid-signature org=%s", provider, path_args.get("remote_org_id", "")[:18])
        return _respond(hooks.answer("refused"))
    verified = utcnow()
    try:
        events = hooks.parse(inbound)
    except Refused as exc:
        log.warning("%s.webhook.refused %s", provider, str(exc)[:200])
        return _respond(hooks.answer("refused"))
    except MALFORMED as exc:
        log.warning("%s.webhook.malformed error=%s", provider, str(exc)[:200])
        return _respond(hooks.answer("malformed"))
    work: list[tuple[int, list[int]]] = []
    now = utcnow()
    with rt.sessions() as session:
        for remote_org_id in dict.fromkeys(e.remote_org_id for e in events):
            connection = session.scalar(select(Connection).where(
                Connection.provider == provider, Connection.remote_org_id == remote_org_id))
            if connection is None or connection.status == "disconnected":
                # Retrying cannot help an account Pipewise is not installed in: accept and drop.
                log.warning("%s.webhook.unknown-account org=%s", provider, remote_org_id[:32])
                continue
            declared, to_common = package.provider, package.mapping.to_common
            overrides = run_mapping(session, connection)
            if overrides is not None:  # the admin's field mapping decides what the stored hash covers
                declared, to_common = overrides.provider(declared), overrides.to_common(to_common)
            mine = [e for e in events if e.remote_org_id == remote_org_id]
            rows = [{"connection_id": connection.id, "event_id": e.event_id, "kind": e.kind,
                     "object_type": declared.stream(e.stream).object_type, "remote_ids": e.remote_ids,
                     "payload": e.payload, "targets": e.targets, "received_at": received,
                     "verified_at": verified, "enqueued_at": now}
                    for e in mine]
            # event id → row id of the events stored now; redeliveries of stored ones are not among them.
            fresh = insert_ignore(session, WebhookEvent, rows, conflict=("connection_id", "event_id"), key="event_id")
            echoed = _echoes(session, connection.id, [e for e in mine if e.event_id in fresh], declared, to_common)
            _settle_echoes(session, [fresh[event_id] for event_id in echoed])
            work.append((connection.id, sorted(row for event_id, row in fresh.items() if event_id not in echoed)))
            log.info("%s.webhook.accepted connection=%s new=%d duplicates=%d echoes=%d", provider, connection.id,
                     len(fresh), len(rows) - len(fresh), len(echoed))
        session.commit()
    for connection_id, event_ids in work:
        enqueue(rt.queues[PROCESS_EVENTS.queue], connection_id, event_ids)
    return _respond(hooks.answer("accepted"))


def _echoes(session, connection_id: int, events: list[InboundEvent], provider, to_common) -> set[str]:
    """The events that only echo Pipewise's own last write: one store and one ledger query per stream and round."""
    groups: dict[tuple[str, bool], list[InboundEvent]] = {}
    for event in events:
        if event.echo_fields is not None:
            groups.setdefault((event.stream, event.snapshot), []).append(event)
    echoed: set[str] = set()
    for (name, snapshot), pending in groups.items():
        stream = provider.stream(name)
        object_types = [o for o, remote in provider.writable_objects.items() if remote == stream.remote_name]
        while pending:
            # A record named twice in one delivery is checked in a second round: each event on its own fields.
            batch = list({e.remote_ids[0]: e for e in reversed(pending)}.values())
            chosen = {id(e) for e in batch}
            pending = [e for e in pending if id(e) not in chosen]
            incoming = {e.remote_ids[0]: e.echo_fields for e in batch}
            found: set[str] = set()
            for object_type in object_types:
                found |= echoes(session, connection_id, object_type, incoming, provider,
                                stream=stream if snapshot else None, to_common=to_common if snapshot else None)
            echoed |= {e.event_id for e in batch if e.remote_ids[0] in found}
    return echoed


def _register(provider: str) -> None:
    # /webhooks/<provider><its ROUTE>: Salesforce's carries the org and the connection's secret.
    bp.add_url_rule(f"/{provider}{registry.get(provider).webhooks.ROUTE}", endpoint=f"{provider}_intake",
                    view_func=lambda **path_args: intake(provider, **path_args), methods=["POST"])


for _provider in registry.keys():
    _register(_provider)


def _settle_echoes(session, row_ids: list[int]) -> None:
    """Echoes of our own writes need no work: stored as processed, so the sweeper leaves them."""
    if row_ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(row_ids))
                        .values(processed_at=utcnow(), targets={}, echo=True))
