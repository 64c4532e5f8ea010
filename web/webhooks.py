"""Inbound CRM events: verify, deduplicate, enqueue a targeted sync. Nothing is synced inline."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, request
from sqlalchemy import select

from connectors import registry
from sync.db import insert_ignore
from sync.models import Connection, WebhookEvent
from sync.writeback import echoes, is_echo
from web.extensions import runtime

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

SOAP = "text/xml; charset=utf-8"


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
        # Constant-time even when the org is unknown, so the answer time tells nothing.
        expected = connection.webhook_secret if connection else "-" * len(secret)
        if not hmac.compare_digest(expected.encode(), secret.encode()) or connection is None \
                or connection.status == "disconnected":
            log.warning("salesforce.outbound.refused org=%s", remote_org_id)
            abort(403)
        try:
            message = package.webhooks.parse_outbound_message(request.get_data())
        except ValueError as exc:
            log.warning("salesforce.outbound.malformed org=%s error=%s", remote_org_id, exc)
            return _soap(package.webhooks.ack_response(False), 400)
        if message.organization_id[:15] != remote_org_id[:15]:
            log.warning("salesforce.outbound.wrong-org path=%s body=%s", remote_org_id, message.organization_id)
            abort(403)
        streams = {s.remote_name: s for s in package.provider.streams}
        rows = []
        for note in message.notifications:
            stream = streams.get(note.object_type)
            # A record deleted before delivery comes without data: its deletion arrives with the next sync.
            if stream is None or note.record_id is None:
                continue
            rows.append({"connection_id": connection.id, "event_id": note.id, "kind": "outbound_message",
                         "object_type": stream.object_type, "remote_ids": [note.record_id],
                         "payload": {"stream": stream.name, "fields": note.fields}})
        fresh = insert_ignore(session, WebhookEvent, rows, conflict=("connection_id", "event_id"),
                              key="event_id")
        new_rows = [row for row in rows if row["event_id"] in fresh]
        # Our own writes come back as messages too: one ledger query per object type finds them.
        echoed: set[tuple[str, str]] = set()
        for object_type in {row["object_type"] for row in new_rows} & set(package.provider.writable_objects):
            incoming = {row["remote_ids"][0]: row["payload"]["fields"]
                        for row in new_rows if row["object_type"] == object_type}
            echoed |= {(object_type, rid) for rid in echoes(session, connection.id, object_type, incoming,
                                                            package.provider)}
        targets: dict[str, list[str]] = {}
        for row in new_rows:
            if (row["object_type"], row["remote_ids"][0]) not in echoed:
                targets.setdefault(row["payload"]["stream"], []).extend(row["remote_ids"])
        session.commit()
        connection_id = connection.id
    if targets:
        rt.queues["webhooks"].enqueue("sync.jobs.sync_records", connection_id,
                                      {k: sorted(set(v)) for k, v in targets.items()})
    log.info("salesforce.outbound.accepted connection=%s new=%d duplicates=%d echoes=%d",
             connection_id, len(fresh), len(rows) - len(fresh), len(echoed))
    return _soap(package.webhooks.ack_response(True))


@bp.post("/hubspot")
def hubspot_events():
    """HubSpot webhook events: v3 signature with the app's client secret, then parse, dedupe, enqueue."""
    rt = runtime()
    package = registry.get("hubspot")
    hooks = package.webhooks
    if (request.content_length or 0) > hooks.MAX_BODY_BYTES:
        abort(413)
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
    except ValueError as exc:
        log.warning("hubspot.webhook.malformed error=%s", exc)
        abort(400)
    provider = package.provider
    streams = {s.name: s for s in provider.streams}
    jobs: list[tuple[int, dict[str, list[str]]]] = []
    with rt.sessions() as session:
        for portal_id in dict.fromkeys(e.portal_id for e in events):
            connection = session.scalar(select(Connection).where(
                Connection.provider == "hubspot", Connection.remote_org_id == portal_id))
            if connection is None or connection.status == "disconnected":
                # Retrying cannot help a portal Pipewise is not installed in: accept and drop.
                log.warning("hubspot.webhook.unknown-portal portal=%s", portal_id)
                continue
            mine = [e for e in events if e.portal_id == portal_id and e.stream in streams]
            rows = [{"connection_id": connection.id, "event_id": hooks.dedupe_key(e), "kind": e.subscription_type,
                     "object_type": streams[e.stream].object_type, "remote_ids": list(e.object_ids),
                     "payload": e.raw} for e in mine]
            fresh = insert_ignore(session, WebhookEvent, rows, conflict=("connection_id", "event_id"),
                                  key="event_id") if rows else set()
            wanted = [e for e in mine if hooks.dedupe_key(e) in fresh
                      and not _hubspot_echo(session, connection.id, streams[e.stream], e, provider)]
            targets = hooks.coalesce(wanted)
            if targets:
                jobs.append((connection.id, targets))
            log.info("hubspot.webhook.accepted connection=%s new=%d duplicates=%d echoes=%d", connection.id,
                     len(fresh), len(rows) - len(fresh), len(fresh) - len(wanted))
        session.commit()
    for connection_id, targets in jobs:
        rt.queues["webhooks"].enqueue("sync.jobs.sync_records", connection_id, targets)
    return Response(status=204)


def _hubspot_echo(session, connection_id: int, stream, event, provider) -> bool:
    """Whether a property change only echoes what Pipewise itself wrote (pipewise_* properties)."""
    if event.action != "propertyChange" or not (event.property_name or "").startswith("pipewise_"):
        return False
    incoming = {event.property_name: event.property_value}
    return any(is_echo(session, connection_id, object_type, event.object_ids[0], incoming, provider)
               for object_type, remote_name in provider.writable_objects.items()
               if remote_name == stream.remote_name)
