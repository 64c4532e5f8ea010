"""Webhook steps: which registered steps an event reaches, and a sender that posts to their endpoints.

Sources: register-web-hook.md and reference/entities/serviceendpoint.md (contract 8 Webhook; authtype 4 Webhook
Key sent as ?code=<value>, 5 Http Header and 6 Http Query String whose authvalue lists
<settings><setting name="..." value="..." /></settings>), sdkmessageprocessingstep.md (message and filter, stage
40 post-operation, filteringattributes for Update, statecode), use-webhooks.md (the x-ms-dynamics-* headers, a
60-second timeout, one more attempt only after 502, 503 or 504, the 256 KB trim).
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

import requests

from connectors.sandbox_kit.delivery import DeliveryQueue

from . import remote_context

RETRIED = (502, 503, 504)
SETTING = re.compile(r'<setting\s+name="([^"]*)"\s+value="([^"]*)"\s*/>')


def auth_settings(authvalue: str | None) -> list[tuple[str, str]]:
    """The name/value pairs of an HttpHeader or HttpQueryString authvalue; ValueError when it has none."""
    pairs = SETTING.findall(authvalue or "")
    if not pairs:
        raise ValueError("The authvalue must be <settings><setting name=\"...\" value=\"...\" /></settings>.")
    return pairs


@dataclass
class Post:
    """One step's request: where, what, and how it went."""

    url: str
    headers: dict[str, str]
    body: bytes
    entity: str
    message: str
    record_id: str
    trimmed: bool
    attempts: list[int] = field(default_factory=list)
    due: float = 0.0


class WebhookSender(DeliveryQueue):
    """Posts each step's context on its own; a 502/503/504 gets exactly one more attempt."""

    thread_name = "dynamics-webhooks"
    url = ""  # every Post carries its own URL

    def __init__(self, settings):
        super().__init__()
        self.settings = settings
        self.log: list[Post] = []

    def _batch_seconds(self) -> float:
        return 0.0

    def _timeout_seconds(self) -> float:
        return self.settings.webhook_timeout_seconds

    def _session_verify(self) -> str | bool:
        return self.settings.webhook_ca_bundle or True

    def _batch(self) -> None:
        for _queued, post in self._incoming:
            self._pending.append(post)
        self._incoming.clear()

    def send(self, post: Post) -> None:
        with self._cond:
            self._incoming.append((time.monotonic(), post))
            self.log.append(post)
            self._cond.notify_all()
        self._ensure_thread()

    def _deliver(self, session: requests.Session, post: Post) -> None:
        try:
            status = session.post(post.url, data=post.body, headers=post.headers,
                                  timeout=self._timeout_seconds(), allow_redirects=False).status_code
        except requests.RequestException:
            status = 0  # no answer in time: a failure the platform does not retry
        with self._cond:
            post.attempts.append(status)
            if status in RETRIED and len(post.attempts) == 1:
                post.due = time.monotonic() + self.settings.webhook_retry_seconds
            else:
                self._pending.remove(post)
            self._cond.notify_all()


def prepare(endpoint: dict[str, Any], step: dict[str, Any], event: dict[str, Any], org: dict[str, str]) -> Post:
    """The request one step makes for one event, with the endpoint's authentication applied."""
    body, trimmed = remote_context.serialize(remote_context.build(event, step, org))
    headers = {"Content-Type": "application/json", "x-request-id": str(uuid.uuid4()),
               "x-ms-dynamics-organization": org["domain"], "x-ms-dynamics-entity-name": event["table"].logical,
               "x-ms-dynamics-request-name": event["message"], "x-ms-correlation-request-id": event["correlation"]}
    if trimmed:
        headers["x-ms-dynamics-msg-size-exceeded"] = "true"
    url = endpoint["url"]
    query: list[tuple[str, str]] = []
    if endpoint["authtype"] == 4:
        query = [("code", endpoint.get("authvalue") or "")]
    elif endpoint["authtype"] == 5:
        headers.update(dict(auth_settings(endpoint.get("authvalue"))))
    elif endpoint["authtype"] == 6:
        query = auth_settings(endpoint.get("authvalue"))
    if query:
        url += ("&" if urlparse(url).query else "?") + urlencode(query)
    return Post(url, headers, body, event["table"].logical, event["message"], event["id"], trimmed)
