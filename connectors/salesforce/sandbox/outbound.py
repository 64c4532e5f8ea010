"""Outbound Messages: record changes queued, batched per object and POSTed by a background thread.

Like Salesforce, a message that is not acknowledged (non-2xx, no connection, or no <Ack>true</Ack>) is
sent again later with the SAME notification ids, with a delay that doubles up to a cap; here it is retried
until it is acknowledged, outbound messages are turned off, or the sandbox stops.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

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


class OutboundDispatcher:
    """The queue and its delivery thread; configure() turns it on (a URL) or off (None)."""

    def __init__(self, settings: SandboxSettings, org_id: str, action_id: str, api_version: str,
                 instance_url: str = "https://127.0.0.1"):
        self.settings = settings
        self.org_id, self.action_id, self.api_version = org_id, action_id, api_version
        self.instance_url = instance_url
        self.url: str | None = None
        self.objects: tuple[str, ...] = ()
        self._cond = threading.Condition()
        self._incoming: list[tuple[float, Notification]] = []
        self._pending: list[Message] = []
        self._numbers = itertools.count(1)
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._last_acked: Message | None = None
        self._counts = {"notifications": 0, "sent": 0, "acked": 0, "acked_notifications": 0, "failed": 0,
                        "dropped_notifications": 0}
        self._thread: threading.Thread | None = None
        self._stopping = False
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

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or awaiting a retry; True if that happened in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._incoming or self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        """Stop the thread; unsent messages are dropped (Salesforce would keep trying for 24 h)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.outbound_timeout_seconds + 1)
            self._thread = None

    # -- the delivery thread --------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="sf-sandbox-outbound", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxies or REQUESTS_CA_BUNDLE from the environment: verify is per post
        try:
            while True:
                due = self._next_due()
                if due is None:
                    return
                for message in due:
                    self._deliver(session, message)
        finally:
            session.close()

    def _next_due(self) -> list[Message] | None:
        """Block until some messages are due (new batches or retries); None when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._incoming:
                    gather_until = self._incoming[0][0] + self.settings.outbound_batch_seconds
                    if now < gather_until:
                        self._cond.wait(gather_until - now)
                        continue
                    self._batch()
                due = [m for m in self._pending if m.due <= now]
                if due and self.url is not None:
                    return due
                waits = [m.due - now for m in self._pending]
                self._cond.wait(min(waits) if waits else None)
            return None

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
        body = envelope(message.notifications, self.org_id, self.action_id, self.instance_url, self.api_version)
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
                delay = min(self.settings.outbound_retry_seconds * 2 ** (message.attempts - 1),
                            self.settings.outbound_retry_max_seconds)
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
