"""Outbound Messages: record changes queued, batched per object and POSTed by a background thread.

Like Salesforce, a message that is not acknowledged (non-2xx, no connection, or no <Ack>true</Ack>) is
sent again later with the SAME notification ids, with a delay that doubles up to a cap; here it is retried
until it is acknowledged, outbound messages are turned off, or the sandbox stops.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from connectors.sandbox_kit.delivery import DeliveryQueue, retry_delay

from .outbound_xml import HEADERS, MAX_PER_MESSAGE, Notification, envelope, is_ack
from .schema import canonical_object
from .settings import SandboxSettings

logger = logging.getLogger(__name__)
HISTORY = 20  # delivery attempts kept for GET /_sandbox/outbound


@dataclass
class Message:
    """Up to 100 notifications of one object type, sent (and re-sent) as one SOAP request."""

    number: int
    object_name: str
    notifications: list[Notification]
    due: float = 0.0
    attempts: int = 0
    redelivery: bool = False
    last_error: str | None = None
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = [note.id for note in self.notifications]


class OutboundDispatcher(DeliveryQueue):
    """The queue and its delivery thread; configure() turns it on (a URL) or off (None)."""

    thread_name = "sf-sandbox-outbound"

    def __init__(self, settings: SandboxSettings, org_id: str, action_id: str, api_version: str,
                 instance_url: str = "https://127.0.0.1",
                 current: Callable[[Notification], Notification] = lambda note: note):
        super().__init__()
        self.settings = settings
        self.current = current  # the notification with the record's values as of now (None once deleted)
        self.org_id, self.action_id, self.api_version = org_id, action_id, api_version
        self.instance_url = instance_url
        self.objects: tuple[str, ...] = ()
        self._numbers = itertools.count(1)
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._last_acked: Message | None = None
        self._counts = {"notifications": 0, "sent": 0, "acked": 0, "acked_notifications": 0, "failed": 0,
                        "dropped_notifications": 0}
        self.configure(settings.outbound_url, settings.outbound_objects)

    # -- configuration and intake (request threads) ---------------------------------------------

    def configure(self, url: str | None, objects: tuple[str, ...] | list[str] | None = None,
                  retry_seconds: float | None = None, retry_max_seconds: float | None = None,
                  ca_bundle: str | None = None) -> None:
        """Send to url for these objects; None turns outbound messages off and drops what is pending."""
        with self._cond:
            if ca_bundle is not None:
                self.settings.outbound_ca_bundle = ca_bundle or None
            self.url = url or None
            if objects is not None:
                self.objects = tuple(canonical_object(name) or name for name in objects)
            if retry_seconds is not None:
                self.settings.outbound_retry_seconds = float(retry_seconds)
            if retry_max_seconds is not None:
                self.settings.outbound_retry_max_seconds = float(retry_max_seconds)
            self.settings.outbound_url, self.settings.outbound_objects = self.url, self.objects
            if self.url is None:
                dropped = len(self._incoming) + sum(len(m.notifications) for m in self._pending)
                self._counts["dropped_notifications"] += dropped
                self._incoming.clear()
                self._pending.clear()
            else:
                for message in self._pending:  # a new endpoint gets the backlog now, as after a fix
                    message.due = 0.0
                self._ensure_thread()
            self._cond.notify_all()

    def wants(self, object_name: str) -> bool:
        """True when changes of this object become notifications."""
        return self.url is not None and object_name in self.objects

    def enqueue(self, notification: Notification) -> None:
        """Queue one notification; the thread sends it shortly, batched with its neighbours."""
        with self._cond:
            if self.url is None:
                return
            self._incoming.append((time.monotonic(), notification))
            self._counts["notifications"] += 1
            self._cond.notify_all()

    def redeliver_last(self) -> list[str] | None:
        """Queue the last acknowledged message again, same notification ids; None if there is none."""
        with self._cond:
            last = self._last_acked
            if last is None or self.url is None:
                return None
            copy = Message(next(self._numbers), last.object_name, list(last.notifications), redelivery=True)
            self._pending.append(copy)
            self._cond.notify_all()
            return copy.ids

    def stats(self) -> dict[str, Any]:
        """Configuration, counters and the last delivery attempts."""
        with self._cond:
            pending = len(self._incoming) + sum(len(m.notifications) for m in self._pending)
            return {"url": self.url, "objects": list(self.objects), "action_id": self.action_id,
                    **self._counts, "pending": pending, "pending_messages": len(self._pending),
                    "retry_seconds": self.settings.outbound_retry_seconds,
                    "retry_max_seconds": self.settings.outbound_retry_max_seconds,
                    "recent": list(self._history)}

    # -- the delivery thread --------------------------------------------------------------------

    def _batch_seconds(self) -> float:
        return self.settings.outbound_batch_seconds

    def _timeout_seconds(self) -> float:
        return self.settings.outbound_timeout_seconds

    def _batch(self) -> None:
        """Turn queued notifications into messages: per object type, at most 100 each."""
        by_object: dict[str, list[Notification]] = {}
        for _, note in self._incoming:
            by_object.setdefault(note.object_name, []).append(note)
        self._incoming.clear()
        for object_name, notes in by_object.items():
            for start in range(0, len(notes), MAX_PER_MESSAGE):
                self._pending.append(Message(next(self._numbers), object_name, notes[start:start + MAX_PER_MESSAGE]))

    def _deliver(self, session: requests.Session, message: Message) -> None:
        url = self.url
        if url is None:
            return
        notes = [self.current(note) for note in message.notifications]
        body = envelope(notes, self.org_id, self.action_id, self.instance_url, self.api_version)
        status, error = None, None
        try:
            answer = session.post(url, data=body, headers=HEADERS, timeout=self.settings.outbound_timeout_seconds,
                                  verify=self.settings.outbound_ca_bundle or True)
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"The receiver answered HTTP {status}."
            elif not is_ack(answer.content):
                error = "The receiver's reply holds no <Ack>true</Ack>."
        except requests.RequestException as exc:
            error = f"The receiver could not be reached: {exc.__class__.__name__}: {exc}"
        self._record(message, url, status, error)

    def _record(self, message: Message, url: str, status: int | None, error: str | None) -> None:
        with self._cond:
            message.attempts += 1
            self._counts["sent"] += 1
            self._history.append({"message": message.number, "object": message.object_name,
                                  "notification_ids": message.ids, "attempt": message.attempts,
                                  "redelivery": message.redelivery, "url": url, "status": status,
                                  "acked": error is None, "error": error, "at": time.time()})
            if message not in self._pending:  # turned off while the request was in flight
                return
            if error is None:
                self._pending.remove(message)
                self._counts["acked"] += 1
                self._counts["acked_notifications"] += len(message.notifications)
                self._last_acked = message
            else:
                self._counts["failed"] += 1
                message.last_error = error
                delay = retry_delay(self.settings.outbound_retry_seconds, self.settings.outbound_retry_max_seconds,
                                    message.attempts)
                message.due = time.monotonic() + delay
                logger.info("Outbound message %s to %s not acknowledged (%s); retrying in %.1f s",
                            message.number, url, error, delay)
            self._cond.notify_all()


def notification_listener(dispatcher: OutboundDispatcher, make_notification: Callable[[str, str, str],
                          Notification | None]) -> Callable[[str, str, str], None]:
    """A RecordWriter listener that turns committed changes of configured objects into notifications."""

    def listener(object_name: str, record_id: str, change: str) -> None:
        if dispatcher.wants(object_name):
            notification = make_notification(object_name, record_id, change)
            if notification is not None:
                dispatcher.enqueue(notification)

    return listener
