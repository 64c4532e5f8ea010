"""Webhook subscriptions: committed changes become events, batched (≤100 per POST) and signed by a thread.

Classic subscriptions (contact.*, company.*, deal.*) and generic ones (object.* with an objectTypeId, the
only kind engagements such as calls and meetings have) are both served; event fields per "Webhooks API",
"Create generic webhook subscriptions" and the changelog "New subscription types for Webhooks".

Like HubSpot, a POST not answered 2xx is sent again later with the SAME eventIds and attemptNumber + 1,
with a delay that doubles up to a cap, until webhook_max_attempts; events arrive in batches, possibly repeated.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests

from connectors.sandbox_kit.delivery import DeliveryQueue, retry_delay

from .changes import STAMPS, Change
from .schema import ASSOCIATION_TYPES, OBJECT_TYPES, canonical_type
from .settings import HubSpotSandboxSettings
from .signing import signed_headers

logger = logging.getLogger(__name__)
MAX_EVENTS = 100
HISTORY = 30
# Classic subscription types exist for these objects only; every object type has the generic object.* ones
# (the Webhooks v3 description's eventType enum; "Create generic webhook subscriptions").
SUBSCRIBABLE = {"contacts": "contact", "companies": "company", "deals": "deal"}
CHANGES = ("creation", "deletion", "propertyChange", "merge", "restore", "associationChange")
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon"


@dataclass
class Delivery:
    """One POST of up to 100 events, sent (and re-sent) as a unit."""

    number: int
    events: list[dict[str, Any]]
    due: float = 0.0
    attempts: int = 0
    redelivery: bool = False
    ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = [event["eventId"] for event in self.events]


def _object_type_id(name: Any) -> str | None:
    kind = canonical_type(str(name or ""))
    return OBJECT_TYPES[kind][0] if kind else None


def parse_subscriptions(items: list | tuple) -> list[dict[str, Any]]:
    """Subscriptions from "contact.propertyChange[:property]", "object.creation@call[:property]" or dicts.

    A generic (object.*) subscription names its object type after "@" (singular, plural or objectTypeId),
    or as objectType / objectTypeId in a dict.
    """
    parsed = []
    for index, item in enumerate(items or ()):
        if isinstance(item, str):
            kind, _, name = item.partition(":")
            kind, _, object_type = kind.partition("@")
            item = {"subscriptionType": kind, "propertyName": name or None, "objectType": object_type or None}
        if not isinstance(item, dict) or "." not in str(item.get("subscriptionType", "")):
            raise ValueError(f"Subscription {item!r} is not valid: use e.g. 'deal.propertyChange', "
                             "'object.creation@call' or {'subscriptionType': 'contact.propertyChange', "
                             "'propertyName': 'email'}.")
        subject, _, change = item["subscriptionType"].partition(".")
        type_id = _object_type_id(item.get("objectTypeId") or item.get("objectType"))
        if change not in CHANGES or (subject == "object" and type_id is None) or (
                subject != "object" and subject not in SUBSCRIBABLE.values()):
            raise ValueError(f"Subscription type {item['subscriptionType']} is not supported: use contact, company "
                             f"or deal, or object with an object type, and one of {', '.join(CHANGES)}.")
        sub = {"id": 1_800_001 + index, "subscriptionType": item["subscriptionType"],
               "propertyName": item.get("propertyName"), "active": True}
        if subject == "object":
            sub["objectTypeId"] = type_id
        parsed.append(sub)
    return parsed


def _matches(sub: dict[str, Any], change: Change) -> bool:
    subject, _, kind = sub["subscriptionType"].partition(".")
    if kind != change.change:
        return False
    if subject == "object":
        if sub["objectTypeId"] != OBJECT_TYPES[change.kind][0]:
            return False
    elif SUBSCRIBABLE.get(change.kind) != subject:
        return False
    return not (sub["propertyName"] and sub["propertyName"] != change.property_name)


def event_fields(sub: dict[str, Any], change: Change) -> dict[str, Any]:
    """What an event of this change adds to the common fields, in the subscription's format."""
    generic = "objectTypeId" in sub
    fields: dict[str, Any] = {}
    if change.change != "associationChange":
        fields["objectId"] = change.object_id
        if generic:
            fields["objectTypeId"] = sub["objectTypeId"]
    if change.change == "creation":
        fields["changeFlag"] = "NEW"
    elif change.change == "propertyChange":
        fields.update(propertyName=change.property_name, propertyValue=change.property_value or "")
    elif change.change == "merge":
        fields.update({k: change.details[k] for k in ("primaryObjectId", "mergedObjectIds", "newObjectId",
                                                       "numberOfPropertiesMoved")})
    elif change.change == "associationChange":
        other, other_id = change.details["to_kind"], change.details["to_id"]
        fields.update(fromObjectId=change.object_id, toObjectId=other_id,
                      associationRemoved=change.details["removed"], isPrimaryAssociation=change.details["primary"])
        if generic:
            fields.update(fromObjectTypeId=OBJECT_TYPES[change.kind][0], toObjectTypeId=OBJECT_TYPES[other][0],
                          associationCategory="HUBSPOT_DEFINED",
                          associationTypeId=ASSOCIATION_TYPES.get((change.kind, other)))
        else:
            fields["associationType"] = f"{OBJECT_TYPES[change.kind][1]}_TO_{OBJECT_TYPES[other][1]}".upper()
    return fields


class WebhookDispatcher(DeliveryQueue):
    """The subscriptions, the queue and its delivery thread; configure() turns it on (a URL) or off (None)."""

    thread_name = "hubspot-sandbox-webhooks"

    def __init__(self, settings: HubSpotSandboxSettings, portal_id: int):
        super().__init__()
        self.settings, self.portal_id = settings, portal_id
        self.subscriptions: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)
        self._last_event_id = int(time.time() * 1000) * 100
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._last_acked: Delivery | None = None
        self._counts = {"events": 0, "posts": 0, "acked": 0, "failed": 0, "dropped_events": 0}
        self.configure(settings.webhook_url, list(settings.webhook_subscriptions))

    def configure(self, url: str | None, subscriptions: list | None = None, app_id: int | None = None,
                  retry_seconds: float | None = None, max_attempts: int | None = None) -> None:
        """Send events of these subscriptions to url; None turns webhooks off and drops what is pending."""
        parsed = parse_subscriptions(subscriptions) if subscriptions is not None else None
        with self._cond:
            self.url = url or None
            if parsed is not None:
                self.subscriptions = parsed
            if app_id is not None:
                self.settings.app_id = int(app_id)
            if retry_seconds is not None:
                self.settings.webhook_retry_seconds = float(retry_seconds)
            if max_attempts is not None:
                self.settings.webhook_max_attempts = int(max_attempts)
            self.settings.webhook_url = self.url
            if self.url is None:
                self._counts["dropped_events"] += len(self._incoming) + sum(len(d.events) for d in self._pending)
                self._incoming.clear()
                self._pending.clear()
            else:
                self._ensure_thread()
            self._cond.notify_all()

    def _event_id(self) -> int:
        # Unique across restarts of one portal: derived from the wall clock, never repeating in a run.
        self._last_event_id = max(self._last_event_id + 1, int(time.time() * 1000) * 100)
        return self._last_event_id

    def on_changes(self, changes: list[Change]) -> None:
        """A RecordWriter listener: matching subscriptions turn committed changes into queued events."""
        with self._cond:
            if self.url is None or not self.subscriptions:
                return
            now = time.monotonic()
            for change in changes:
                if change.property_name in STAMPS:
                    continue
                for sub in self.subscriptions:
                    if not _matches(sub, change):
                        continue
                    event = {"eventId": self._event_id(), "subscriptionId": sub["id"], "portalId": self.portal_id,
                             "appId": self.settings.app_id, "occurredAt": change.occurred_at,
                             "subscriptionType": sub["subscriptionType"], "attemptNumber": 0,
                             **event_fields(sub, change), "changeSource": change.source}
                    if change.source_id:
                        event["sourceId"] = change.source_id
                    self._incoming.append((now, event))
                    self._counts["events"] += 1
            self._cond.notify_all()

    def redeliver_last(self) -> list[int] | None:
        """Send the last acknowledged POST again: same eventIds, attemptNumber + 1; None if there is none."""
        with self._cond:
            last = self._last_acked
            if last is None or self.url is None:
                return None
            events = [{**event, "attemptNumber": event["attemptNumber"] + 1} for event in last.events]
            copy = Delivery(next(self._numbers), events, redelivery=True, attempts=last.attempts)
            self._pending.append(copy)
            self._cond.notify_all()
            return copy.ids

    def stats(self) -> dict[str, Any]:
        """Configuration, counters and the last delivery attempts."""
        with self._cond:
            pending = len(self._incoming) + sum(len(d.events) for d in self._pending)
            return {"url": self.url, "app_id": self.settings.app_id, "portal_id": self.portal_id,
                    "subscriptions": list(self.subscriptions), **self._counts, "pending": pending,
                    "retry_seconds": self.settings.webhook_retry_seconds,
                    "max_attempts": self.settings.webhook_max_attempts, "recent": list(self._history)}

    # -- the delivery thread --------------------------------------------------------------------

    def _batch_seconds(self) -> float:
        return self.settings.webhook_batch_seconds

    def _timeout_seconds(self) -> float:
        return self.settings.webhook_timeout_seconds

    def _session_verify(self) -> str | bool:
        return self.settings.webhook_ca_bundle or True

    def _batch(self) -> None:
        """Turn queued events into POSTs of at most 100 events each."""
        events = [event for _, event in self._incoming]
        self._incoming.clear()
        for start in range(0, len(events), MAX_EVENTS):
            self._pending.append(Delivery(next(self._numbers), events[start:start + MAX_EVENTS]))

    def _deliver(self, session: requests.Session, delivery: Delivery) -> None:
        url = self.url
        if url is None:
            return
        body = json.dumps(delivery.events, separators=(",", ":"))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signed_headers(self.settings.client_secret, "POST", url, body, legacy="v1")}
        status, error = None, None
        try:
            answer = session.post(url, data=body.encode(), headers=headers,
                                  timeout=self.settings.webhook_timeout_seconds)
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"The receiver answered HTTP {status}."
        except requests.RequestException as exc:
            error = f"The receiver could not be reached: {exc.__class__.__name__}: {exc}"
        self._record(delivery, url, status, error)

    def _record(self, delivery: Delivery, url: str, status: int | None, error: str | None) -> None:
        with self._cond:
            self._counts["posts"] += 1
            self._history.append({"post": delivery.number, "event_ids": delivery.ids,
                                  "attempt_number": delivery.events[0]["attemptNumber"],
                                  "redelivery": delivery.redelivery, "url": url, "status": status,
                                  "acked": error is None, "error": error, "at": time.time()})
            if delivery not in self._pending:  # turned off while the request was in flight
                return
            delivery.attempts += 1
            if error is None:
                self._pending.remove(delivery)
                self._counts["acked"] += 1
                self._last_acked = delivery
            else:
                self._counts["failed"] += 1
                if delivery.attempts >= self.settings.webhook_max_attempts:
                    self._pending.remove(delivery)
                    self._counts["dropped_events"] += len(delivery.events)
                else:
                    delay = retry_delay(self.settings.webhook_retry_seconds,
                                        self.settings.webhook_retry_max_seconds, delivery.attempts)
                    delivery.due = time.monotonic() + delay
                    delivery.events = [{**event, "attemptNumber": event["attemptNumber"] + 1}
                                       for event in delivery.events]
                    logger.info("HubSpot sandbox webhook POST %s to %s failed (%s); retrying in %.1f s",
                                delivery.number, url, error, delay)
            self._cond.notify_all()
