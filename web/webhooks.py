"""Inbound CRM events: verify, store, answer, then queue. Nothing is synced inline.

The outbox order (``sync.webhook_outbox``): an event is committed with its work before the CRM
gets its 2xx, so an answered event is never lost; queueing comes last, and when Redis cannot take
the job the sweeper does it later. A CRM that gets no 2xx (the store failed) delivers again.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from sqlalchemy import select, update

from connectors import registry
from sync.connections import webhook_secret_matches
from sync.db import insert_ignore
from sync.field_mapping import run_mapping
from sync.models import Connection, WebhookEvent, utcnow
from sync.webhook_outbox import enqueue
from sync.writeback import echoes
from web.extensions import runtime

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

SOAP = "text/xml; charset=utf-8"
# Errors a hostile or broken body can raise while it is parsed: each is a 400, never a 500.
MALFORMED = (ValueError, TypeError, RecursionError, OverflowError, OSError)


def _soap(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=SOAP)


@bp.post("/salesforce/<remote_org_id>/<secret>")
def salesforce_outbound(remote_org_id: str, secret: str):
    """Salesforce Outbound Messages: the org id and the connection's secret are in the path."""
    rt = runtime()
    package = registry.get("salesforce")
    with rt.sessions() as session:
        connection = session.scalar(select(Connection).where(
            Connection.provider == "salesforce", Connection.remote_org_id == remote_org_id))
        # Hashed and compared in constant time even when the org is unknown: timing tells nothing.
        if not webhook_secret_matches(connection, secret) or connection.status == "disconnected":
            log.warning("salesforce.outbound.refused org=%s", remote_org_id[:18])
            abort(403)
        try:
            message = package.webhooks.parse_outbound_message(request.get_data(cache=False))
        except MALFORMED as exc:
            log.warning("salesforce.outbound.malformed org=%s error=%s", remote_org_id, str(exc)[:200])
            return _soap(package.webhooks.ack_response(False), 400)
        if message.organization_id[:15] != remote_org_id[:15]:
            log.warning("salesforce.outbound.wrong-org path=%s body=%s", remote_org_id, message.organization_id[:18])
            abort(403)
        provider, to_common = package.provider, package.mapping.to_common
        overrides = run_mapping(session, connection)
        if overrides is not None:  # the admin's field mapping decides what the stored hash covers
            provider, to_common = overrides.provider(provider), overrides.to_common(to_common)
        streams = {s.remote_name: s for s in provider.streams}
        now = utcnow()
        rows = []
        for note in message.notifications:
            stream = streams.get(note.object_type)
            # A record deleted before delivery comes without data: its deletion arrives with the next sync.
            if stream is None or note.record_id is None:
                continue
            rows.append({"connection_id": connection.id, "event_id": note.id[:128], "kind": "outbound_message",
                         "object_type": stream.object_type, "remote_ids": [note.record_id],
                         "payload": {"stream": stream.name, "fields": note.fields},
                         "targets": {stream.name: [note.record_id]}, "received_at": now, "enqueued_at": now})
        fresh = insert_ignore(session, WebhookEvent, rows, conflict=("connection_id", "event_id"), key="event_id")
        new_rows = [row for row in rows if row["event_id"] in fresh]
        # Our own writes come back as messages too: one store and one ledger query per stream.
        echoed: set[str] = set()
        for name in {row["payload"]["stream"] for row in new_rows}:
            stream = provider.stream(name)
            if stream.object_type not in provider.writable_objects:
                continue
            incoming = {row["remote_ids"][0]: row["payload"]["fields"] for row in new_rows
                        if row["payload"]["stream"] == name}
            found = echoes(session, connection.id, stream.object_type, incoming, provider, stream=stream,
                           to_common=to_common)
            echoed |= {row["event_id"] for row in new_rows
                       if row["payload"]["stream"] == name and row["remote_ids"][0] in found}
        _settle_echoes(session, connection.id, echoed)
        work = _work(session, connection.id, fresh - echoed)
        session.commit()
        connection_id = connection.id
    enqueue(rt.queues["webhooks"], connection_id, work)
    log.info("salesforce.outbound.accepted connection=%s new=%d duplicates=%d echoes=%d",
             connection_id, len(fresh), len(rows) - len(fresh), len(echoed))
    return _soap(package.webhooks.ack_response(True))


@bp.post("/hubspot")
def hubspot_events():
    """HubSpot webhook events: v3 signature with the app's client secret, then parse, store, enqueue."""
    rt = runtime()
    package = registry.get("hubspot")
    hooks = package.webhooks
    body = request.get_data(cache=False)
    # The signature covers the URL HubSpot called: see hooks.signed_uri_candidates about proxies.
    query = request.query_string.decode("latin-1")
    uris = hooks.signed_uri_candidates(request.url, request.path + (f"?{query}" if query else ""),
                                       rt.config.PUBLIC_URL)
    if not hooks.verify_request(rt.config.HUBSPOT_CLIENT_SECRET, request.method, uris, body,
                                request.headers.get(hooks.TIMESTAMP_HEADER),
                                request.headers.get(hooks.SIGNATURE_HEADER)):
        log.warning("hubspot.webhook.invalid-signature")
        abort(401)
    try:
        events = hooks.parse_events(body)
    except MALFORMED as exc:
        log.warning("hubspot.webhook.malformed error=%s", str(exc)[:200])
        return Response("The body is not a JSON array of HubSpot webhook events.\n", 400,
                        content_type="text/plain; charset=utf-8")
    provider = package.provider
    streams = {s.name: s for s in provider.streams}
    work: list[tuple[int, list[int]]] = []
    now = utcnow()
    with rt.sessions() as session:
        for portal_id in dict.fromkeys(e.portal_id for e in events):
            connection = session.scalar(select(Connection).where(
                Connection.provider == "hubspot", Connection.remote_org_id == portal_id))
            if connection is None or connection.status == "disconnected":
                # Retrying cannot help a portal Pipewise is not installed in: accept and drop.
                log.warning("hubspot.webhook.unknown-portal portal=%s", portal_id[:32])
                continue
            mine = [e for e in events if e.portal_id == portal_id and e.stream in streams]
            rows = [{"connection_id": connection.id, "event_id": hooks.dedupe_key(e), "kind": e.subscription_type[:64],
                     "object_type": streams[e.stream].object_type, "remote_ids": list(e.object_ids),
                     "payload": e.raw, "targets": hooks.coalesce([e]), "received_at": now, "enqueued_at": now}
                    for e in mine]
            fresh = insert_ignore(session, WebhookEvent, rows, conflict=("connection_id", "event_id"),
                                  key="event_id") if rows else set()
            echoed = {hooks.dedupe_key(e) for e in mine if hooks.dedupe_key(e) in fresh
                      and _hubspot_echo(session, connection.id, streams[e.stream], e, provider)}
            _settle_echoes(session, connection.id, echoed)
            work.append((connection.id, _work(session, connection.id, fresh - echoed)))
            log.info("hubspot.webhook.accepted connection=%s new=%d duplicates=%d echoes=%d", connection.id,
                     len(fresh), len(rows) - len(fresh), len(echoed))
        session.commit()
    for connection_id, event_ids in work:
        enqueue(rt.queues["webhooks"], connection_id, event_ids)
    return Response(status=204)


def _hubspot_echo(session, connection_id: int, stream, event, provider) -> bool:
    """Whether a property change names only a Pipewise property, set to what Pipewise last wrote."""
    if event.action != "propertyChange" or not event.property_name:
        return False
    changed = {event.property_name: event.property_value}
    return any(event.object_ids[0] in echoes(session, connection_id, object_type, {event.object_ids[0]: changed},
                                             provider)
               for object_type, remote_name in provider.writable_objects.items()
               if remote_name == stream.remote_name)


def _settle_echoes(session, connection_id: int, event_ids: set[str]) -> None:
    """Echoes of our own writes need no work: stored as processed, so the sweeper leaves them."""
    if event_ids:
        session.execute(update(WebhookEvent).where(WebhookEvent.connection_id == connection_id,
                                                   WebhookEvent.event_id.in_(list(event_ids)))
                        .values(processed_at=utcnow(), targets={}, echo=True))


def _work(session, connection_id: int, event_ids: set[str]) -> list[int]:
    """The row ids of the stored events that need processing."""
    if not event_ids:
        return []
    return list(session.scalars(select(WebhookEvent.id).where(WebhookEvent.connection_id == connection_id,
                                                              WebhookEvent.event_id.in_(list(event_ids)))))
