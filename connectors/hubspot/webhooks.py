"""HubSpot webhooks and signed requests: the v3 signature, event parsing, and coalescing.

The v3 signature is base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) over the
full public URL HubSpot called (scheme, host, path and query), with the timestamp in epoch
milliseconds from ``X-HubSpot-Request-Timestamp``. HubSpot signs the URI with a few
percent-encoded characters decoded (``%3A``, ``%2F``, ``%3F``, ``%40`` and the sub-delimiters), so
the check decodes those too; the URI as received is accepted as well.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from connectors.hubspot.streams import ALL as DECLARED_STREAMS
from connectors.inbound import Answer, Inbound, InboundEvent

# The app's subscriptions Pipewise relies on, as (event type, objectTypeId of a generic subscription,
# property of a property change). Engagements have generic (object.*) subscriptions only.
_ENGAGEMENTS = {"0-48": "hs_call_status", "0-49": None, "0-47": "hs_meeting_outcome", "0-46": None,
                "0-27": "hs_task_status"}
REQUIRED_SUBSCRIPTIONS: tuple[tuple[str, str | None, str | None], ...] = (
    *((f"contact.{c}", None, None) for c in ("creation", "deletion", "merge", "restore", "associationChange")),
    *(("contact.propertyChange", None, p) for p in ("lifecyclestage", "hs_lead_status", "email", "hubspot_owner_id")),
    *((f"company.{c}", None, None) for c in ("creation", "deletion", "merge", "restore")),
    ("company.propertyChange", None, "industry"),
    *((f"deal.{c}", None, None) for c in ("creation", "deletion", "merge", "restore", "associationChange")),
    *(("deal.propertyChange", None, p) for p in ("dealstage", "amount", "closedate", "hubspot_owner_id")),
    *((f"object.{c}", type_id, None) for type_id in _ENGAGEMENTS
      for c in ("creation", "deletion", "restore", "associationChange")),
    *(("object.propertyChange", type_id, p) for type_id, p in _ENGAGEMENTS.items() if p),
)


def subscription_key(event_type: object, object_type_id: object = None,
                     property_name: object = None) -> tuple[str, str | None, str | None]:
    """A subscription as (event type, objectTypeId, property), the shape REQUIRED_SUBSCRIPTIONS uses."""
    return str(event_type), (str(object_type_id) if object_type_id else None), (str(property_name)
                                                                                  if property_name else None)


SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 300_000
# HubSpot sends at most 100 events per request; far more than that is not HubSpot.
MAX_EVENTS = 1000
MAX_BODY_BYTES = 1024 * 1024
# Characters HubSpot decodes in the URI before signing (its v3 validation guide).
SIGNED_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                  "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
# Subscription object → Pipewise stream name (connectors.hubspot.streams).
STREAMS = {"contact": "contact", "company": "company", "deal": "deal", "call": "call", "email": "email",
           "meeting": "meeting", "note": "note", "task": "task"}
# Generic subscriptions (object.creation, object.propertyChange, ...) name the object by its objectTypeId;
# engagements have only these ("Create generic webhook subscriptions"; HubSpot's object type ids).
OBJECT_TYPE_IDS = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-48": "call", "0-49": "email",
                   "0-47": "meeting", "0-46": "note", "0-27": "task"}


def decode_signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded, any case."""
    out, i = [], 0
    while i < len(uri):
        chunk = uri[i:i + 3].upper()
        if uri[i] == "%" and chunk in SIGNED_DECODED:
            out.append(SIGNED_DECODED[chunk])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def signature_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature of a request, base64 text."""
    message = method.upper().encode() + uri.encode("utf-8") + body + str(timestamp).encode()
    digest = hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp_ms: str | int | None,
                        signature: str | None, now_ms: int | None = None, max_age_ms: int = MAX_AGE_MS) -> bool:
    """Whether a request carries a valid, fresh v3 signature (constant-time compare)."""
    if not client_secret or not signature or timestamp_ms in (None, ""):
        return False
    text = str(timestamp_ms).strip()
    if not text.isdigit():
        return False
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(text)) > max_age_ms:
        return False
    given = signature.strip().encode("ascii", "replace")
    valid = False
    for candidate in dict.fromkeys((decode_signed_uri(uri), uri)):
        expected = signature_v3(client_secret, method, candidate, body, text).encode("ascii")
        valid |= hmac.compare_digest(expected, given)
    return valid


@dataclass(frozen=True)
class Event:
    """One webhook event, validated."""

    event_id: str
    portal_id: str
    subscription_type: str       # "contact.propertyChange"
    object_type: str             # "contact"
    action: str                  # "propertyChange"
    object_ids: tuple[str, ...]  # the records the event is about (two for an association change)
    occurred_at: datetime
    property_name: str | None = None
    property_value: str | None = None
    change_source: str | None = None
    attempt: int = 0
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def stream(self) -> str | None:
        """The Pipewise stream the object belongs to, None for objects Pipewise does not read."""
        return STREAMS.get(self.object_type)


def _integer(raw: dict, key: str, required: bool = True) -> int | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValueError(f"A HubSpot event has no valid {key}.")
    return int(value)


def _event(raw: object) -> Event:
    if not isinstance(raw, dict):
        raise ValueError("A HubSpot webhook event is not a JSON object.")
    subscription = raw.get("subscriptionType")
    if not isinstance(subscription, str) or "." not in subscription:
        raise ValueError("A HubSpot event has no subscriptionType like 'contact.creation'.")
    object_type, _, action = subscription.partition(".")
    if object_type == "object":
        # A generic event: the object type is in objectTypeId (fromObjectTypeId for an association change).
        type_id = str(raw.get("objectTypeId") or raw.get("fromObjectTypeId") or "")
        object_type = OBJECT_TYPE_IDS.get(type_id) or f"object:{type_id}"
    event_id, portal_id = _integer(raw, "eventId"), _integer(raw, "portalId")
    occurred = _integer(raw, "occurredAt")
    if action == "associationChange":
        ids = (_integer(raw, "fromObjectId"), _integer(raw, "toObjectId"))
    else:
        ids = (_integer(raw, "objectId"),)
        if action == "merge":
            merged = raw.get("mergedObjectIds") or []
            extra = [raw.get("primaryObjectId"), raw.get("newObjectId"), *merged]
            ids += tuple(int(i) for i in extra if isinstance(i, int) or (isinstance(i, str) and i.isdigit()))
    value = raw.get("propertyValue")
    return Event(event_id=str(event_id), portal_id=str(portal_id), subscription_type=subscription,
                 object_type=object_type.lower(), action=action, object_ids=tuple(dict.fromkeys(str(i) for i in ids)),
                 occurred_at=datetime.fromtimestamp(occurred / 1000, tz=timezone.utc).replace(tzinfo=None),
                 property_name=raw.get("propertyName") if isinstance(raw.get("propertyName"), str) else None,
                 property_value=None if value is None else str(value),
                 change_source=raw.get("changeSource") if isinstance(raw.get("changeSource"), str) else None,
                 attempt=_integer(raw, "attemptNumber", required=False) or 0, raw=raw)


def parse_events(body: bytes) -> list[Event]:
    """The events of a webhook body (a JSON array); ValueError when it is not one."""
    if not body or len(body) > MAX_BODY_BYTES:
        raise ValueError("The HubSpot webhook body is empty or larger than HubSpot ever sends.")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"The HubSpot webhook body is not JSON: {exc}") from exc
    if not isinstance(data, list) or len(data) > MAX_EVENTS:
        raise ValueError("The HubSpot webhook body is not an array of events.")
    return [_event(item) for item in data]


def association_streams(event: Event) -> tuple[str | None, ...]:
    """The streams of the two sides of an association change.

    A classic event names them in associationType (``CONTACT_TO_COMPANY``), a generic one by
    fromObjectTypeId and toObjectTypeId.
    """
    if event.raw.get("toObjectTypeId") is not None:
        right = OBJECT_TYPE_IDS.get(str(event.raw.get("toObjectTypeId")))
        return event.stream, STREAMS.get(right or "")
    kind = str(event.raw.get("associationType") or "")
    left, _, right = kind.lower().partition("_to_")
    return STREAMS.get(left) or event.stream, STREAMS.get(right)


def coalesce(events: list[Event]) -> dict[str, list[str]]:
    """Stream name → the distinct record ids the events are about: one re-read per record."""
    targets: dict[str, dict[str, None]] = {}
    for event in events:
        if event.action == "associationChange":
            pairs = zip(association_streams(event), event.object_ids)
        else:
            pairs = ((event.stream, object_id) for object_id in event.object_ids)
        for stream, object_id in pairs:
            if stream is not None:
                targets.setdefault(stream, {})[object_id] = None
    return {stream: sorted(ids, key=int) for stream, ids in targets.items()}


def signed_uri_candidates(request_url: str, path_and_query: str, public_url: str | None) -> list[str]:
    """The URLs HubSpot may have signed: the one the request reached, and the public one.

    Behind a proxy or load balancer the URL Flask sees (internal host, http) is not the one
    HubSpot called; PIPEWISE_PUBLIC_URL names the public origin, joined with the path and query.
    """
    candidates = [request_url]
    if public_url:
        candidates.append(public_url.rstrip("/") + path_and_query)
    return list(dict.fromkeys(candidates))


def verify_request(client_secret: str, method: str, uris: list[str], body: bytes, timestamp_ms: str | None,
                   signature: str | None, now_ms: int | None = None) -> bool:
    """Whether any of the candidate URIs verifies (each compared in constant time)."""
    results = [verify_signature_v3(client_secret, method, uri, body, timestamp_ms, signature, now_ms)
               for uri in uris]
    return any(results)


def dedupe_key(event: Event) -> str:
    """The inbox key: HubSpot does not promise eventId alone is unique, so with subscription and object."""
    subscription = event.raw.get("subscriptionId")
    return f"{event.event_id}:{subscription}:{'-'.join(event.object_ids)}"[:128]


def test_delivery(remote_org_id: str, object_name: str, record_id: str, event_id: str, *, url: str,
                  client_secret: str, app_id: str = "0", now_ms: int | None = None,
                  **_context: str) -> tuple[bytes, dict[str, str]]:
    """A signed batch of one ``<object>.creation`` event naming one record, as HubSpot sends it.

    The admin's "Send a test event". Event fields from HubSpot's webhooks API guide (eventId,
    subscriptionId, portalId, appId, occurredAt, subscriptionType, attemptNumber, objectId,
    changeSource); signed with the v3 signature over the URL the request goes to.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    singular = {"contacts": "contact", "companies": "company", "deals": "deal"}.get(object_name, object_name)
    event = {"eventId": int(event_id), "subscriptionId": 0, "portalId": int(remote_org_id),
             "appId": int(app_id) if str(app_id).isdigit() else 0, "occurredAt": now_ms,
             "subscriptionType": f"{singular}.creation", "attemptNumber": 0, "objectId": int(record_id),
             "changeSource": "INTEGRATION"}
    body = json.dumps([event]).encode()
    timestamp = str(now_ms)
    return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                  SIGNATURE_HEADER: signature_v3(client_secret, "POST", url, body, timestamp)}


# -- the inbound contract (connectors.inbound) -------------------------------------------------

# One URL for every portal: the events are signed with the app's client secret and name their portal.
ROUTE = ""
MALFORMED_BODY = b"The body is not a JSON array of HubSpot webhook events.\n"


def verify(inbound: Inbound, config: Any, secret_matches: Callable[[str, str], bool]) -> bool:
    """The v3 signature with the app's client secret, over the URL HubSpot called (see signed_uri_candidates)."""
    uris = signed_uri_candidates(inbound.url, inbound.path_and_query, inbound.public_url)
    return verify_request(config.HUBSPOT_CLIENT_SECRET, inbound.method, uris, inbound.body,
                          inbound.headers.get(TIMESTAMP_HEADER), inbound.headers.get(SIGNATURE_HEADER))


def parse(inbound: Inbound) -> list[InboundEvent]:
    """The body's events about declared streams; ValueError when it is not an array of events."""
    declared = {s.name for s in DECLARED_STREAMS}
    return [InboundEvent(remote_org_id=e.portal_id, event_id=dedupe_key(e), kind=e.subscription_type[:64],
                         stream=e.stream, remote_ids=list(e.object_ids), payload=e.raw, targets=coalesce([e]),
                         # Only a property change can echo a write, and it names the one property changed.
                         echo_fields={e.property_name: e.property_value}
                         if e.action == "propertyChange" and e.property_name else None)
            for e in parse_events(inbound.body) if e.stream in declared]


def answer(outcome: str) -> Answer:
    """accepted: 204; malformed: 400 with a sentence (HubSpot retries); refused: a plain 401."""
    if outcome == "refused":
        return Answer(401)
    if outcome == "malformed":
        return Answer(400, MALFORMED_BODY, "text/plain; charset=utf-8")
    return Answer(204)
