"""The webhook contract: an inbound request as the intake received it, the events parsed from it, the answer.

Each package's ``webhooks.py`` gives ``ROUTE`` (below ``/webhooks/<key>``; ``<remote_org_id>`` and
a trailing ``<secret>`` when the CRM signs nothing), ``MAX_BODY_BYTES``,
``verify(inbound, config, secret_matches)`` before any parsing, ``parse(inbound)`` → ``InboundEvent``s
(``ValueError`` when malformed, ``Refused`` when for another account), ``answer(outcome)`` → ``Answer``
for "accepted", "malformed" or "refused", and ``test_delivery`` for the console's test event.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """A webhook request as the intake route received it, before anything in it is parsed."""

    method: str
    url: str                    # the URL the server saw
    path_and_query: str
    headers: Mapping[str, str]
    body: bytes
    path_args: dict[str, str]   # the values of the placeholders in the package's webhooks.ROUTE
    public_url: str | None      # the public origin Pipewise is reached at (behind a proxy)


@dataclass(frozen=True)
class InboundEvent:
    """One change a CRM reported, in the shape the intake stores (``WebhookEvent``)."""

    remote_org_id: str               # the CRM account it belongs to, as its connection stores it
    event_id: str                    # unique per connection: redeliveries are dropped by it
    kind: str
    stream: str                      # the declared stream it is about
    remote_ids: list[str]
    payload: dict[str, Any]
    targets: dict[str, list[str]]    # stream name → remote ids to re-read
    # The fields the event carries, for the check that it only echoes Pipewise's own write; None when
    # it can never be one. ``snapshot``: they are the record's values (Salesforce's outbound message)
    # rather than just the fields that changed (HubSpot's property change).
    echo_fields: dict[str, Any] | None = None
    snapshot: bool = False


@dataclass(frozen=True)
class Answer:
    """What the CRM expects back; with no body and an error status, the console's own error page."""

    status: int
    body: bytes | None = None
    content_type: str | None = None


class Refused(Exception):
    """An inbound request that verified but is not for the account it was sent to; answered as refused."""
