"""The Client protocol: what sync and writeback need of a connector's client, and the values it returns.

Each package's ``client.py`` gives ``build_client(token, oauth, on_token, config)`` returning a ``Client``:
reads, targeted reads, batch writes, field provisioning, preflight, org profile.

A CRM that keeps a change log per object (Dataverse change tracking) marks those streams ``delta`` and
implements ``read_changes(stream, token)``: pages of ``ChangePage`` (changed raw records and deleted ids),
the last carrying the next token, which the engine stores as an opaque text per connection and stream once
the pages before it are stored. Without a token it lists every live record, and the engine then re-reads
the stored records the listing left out to find the deletes. It raises
``connectors.errors.ChangesNotTracked`` when the CRM keeps no log for the object (the engine reads the
stream on its cursor instead) and ``ChangeTokenExpired`` when the CRM no longer honours the token (the
engine lists the object again).

A CRM whose webhooks are registered through its own API (Dataverse: a ``serviceendpoint`` and its
``sdkmessageprocessingstep`` rows) sets ``registers_webhooks`` on its provider and implements
``register_webhooks(url, secret)`` on its client: Pipewise calls it after the install and after each
secret rotation. CRMs whose webhooks an admin configures in the CRM's own settings (HubSpot's app
settings, Salesforce's outbound messages) offer neither.

A client may also offer ``read_backfill(stream, resume)`` for a first or full read of a non-delta stream:
pages of every live record in any order, through the remote's cheapest bulk read (HubSpot's list
endpoints, Salesforce Bulk API 2.0), each page optionally carrying an opaque resume point. The engine
stores the resume point once the page is stored, resumes from it after a crash, and afterwards moves the
stream's cursor to the backfill's start, so what changed while it ran is read by the next incremental
pull. ``BackfillNotOffered`` sends the stream through ``read_stream`` instead.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: connectors.base imports this module
    from connectors.base import Stream, WritableField


@dataclass(frozen=True)
class OrgProfile:
    """What the remote organization calls itself, and the time zone it keeps (an IANA id); None: unknown."""

    name: str | None = None
    time_zone: str | None = None


@dataclass
class WriteResult:
    """The remote's answer for one record of a batch write."""

    remote_id: str
    ok: bool
    error_code: str | None = None
    message: str | None = None
    # The remote will never take this write as the record stands (a converted Salesforce lead):
    # retrying it every run cannot help.
    permanent: bool = False


@dataclass(frozen=True)
class Finding:
    """One result of a connection's preflight check, in words an admin acts on."""

    check: str      # what was checked: "scopes", "object:ForecastingQuota", "field:Lead.Pipewise_Score__c", ...
    status: str     # "ok" | "warning" (an optional part is missing; the rest works) | "error" (must be fixed)
    message: str    # one sentence: what is the case and, unless ok, what to do in the CRM


@dataclass
class Usage:
    """API usage against the remote's daily limit, read from its own headers."""

    used: int | None = None
    limit: int | None = None
    calls: int = 0  # calls made by this client instance


TokenSaver = Callable[[dict[str, Any]], None]


class Client(Protocol):
    """What the sync engine and writeback need from a connector's client."""

    usage: Usage

    def read_stream(self, stream: type[Stream], since: datetime | None,
                    after_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of raw records ordered by (cursor, id), from ``since`` inclusive (all when None).

        With ``after_id``, records at exactly ``since`` with an id ≤ ``after_id`` are left out.
        Soft-deleted records are included when the stream reports deletes.
        """

    def read_records(self, stream: type[Stream], remote_ids: list[str]) -> list[dict[str, Any]]:
        """The current raw records with these ids (a targeted sync); deleted ones flagged."""

    def read_changes(self, stream: type[Stream], token: str | None) -> Iterator["ChangePage"]:
        """Pages of what changed in a ``delta`` stream since ``token``; every live record when None.

        Only the last page carries the token the next read starts from. Raises ``ChangesNotTracked``
        when the remote keeps no change log for the object, ``ChangeTokenExpired`` when it no longer
        honours ``token``. Clients without delta streams need not implement it.
        """

    def read_backfill(self, stream: type[Stream], resume: str | None) -> Iterator["ChangePage"]:
        """Pages of every live record of a non-delta stream, in any order; from ``resume`` when given.

        Optional. ``ChangePage.records`` holds raw records (``deleted`` stays empty: the engine re-reads
        the stored records the backfill did not list to find deletes). ``ChangePage.token``, when set, is
        an opaque point to resume from after that page; a page without one leaves the last point in
        place. ``ChangePage.as_of`` (any page; the earliest counts) is when the read began on the remote's
        clock: a CRM clock that differs from Pipewise's would otherwise skip changes made meanwhile. Raises ``BackfillNotOffered`` before its first page when the stream is better read through
        ``read_stream`` (the engine then calls ``read_stream(stream, None)``), and ``ChangeTokenExpired``
        when the remote no longer honours ``resume`` (the engine starts the backfill over).
        """

    def update_records(self, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
        """One batch update call: each update is ``{"Id": ..., field: value}``."""

    def ensure_fields(self, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
        """Create the Pipewise-owned fields that are missing; return the names created."""

    def preflight(self) -> list[Finding]:
        """Check the live CRM: granted scopes, object and field access, optional objects, API allowance."""

    def org_profile(self) -> OrgProfile:
        """The remote organization's own name and default time zone, read live (one or two API calls)."""

    def register_webhooks(self, url: str, secret: str) -> list[str]:
        """Register (or update) Pipewise's webhook in the CRM: events go to ``url`` carrying ``secret``.

        Offered only where the provider sets ``registers_webhooks``. Safe to repeat: what an earlier call
        registered is found and updated, never registered twice, and the CRM sends only ``secret`` from
        then on. Returns what it registered (the CRM's ids, one per registration). Raises a
        ``connectors.errors`` error whose message says what the admin must do when the CRM refuses, or
        ``ValueError`` when ``url`` is one the CRM cannot call.
        """


@dataclass
class ChangePage:
    """One page of a change read (new or changed raw records, ids deleted remotely, and on the last page
    the opaque token the next read starts from), or of a backfill (raw records and a resume point)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    token: str | None = None
    # A backfill's: a moment on the remote's own clock (the one its cursor values use) at or before the
    # read began; the engine starts the next incremental pull there. None: the engine's clock is used.
    as_of: datetime | None = None
