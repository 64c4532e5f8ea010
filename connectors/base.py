"""The connector contract: what a CRM package implements, and all that sync, scoring, embed and web know of it.

A CRM lives in ``connectors/<key>/`` and is registered by one line in ``connectors/registry.py``. Outside
its package nothing imports it or compares its key: everything goes through ``registry.get(key)``.
Every package has these modules, under the same names:

- ``provider.py`` — a ``Provider`` subclass declaring the CRM: OAuth endpoints and scopes (required and
  optional), ``complete_token``/``token_error``/``identity`` for the grant, ``signin_scope`` and
  ``sign_in`` for the console, ``record_url``, the streams, the writable objects and fields with the
  ``writeback_batch_size``, ``field_catalogue``, and how the CRM embeds the panel (``panel``,
  ``panel_objects``, ``panel_theme``, ``embed_body_bytes``). Its ``settings`` name the environment
  variables it reads, under its own prefix (``<KEY>_LOGIN_URL``, ``<KEY>_CLIENT_ID``,
  ``<KEY>_CLIENT_SECRET``, ``<KEY>_API_URL``, and any of its own); ``sync.runtime.config.Config`` reads every
  registered provider's. ``requested_scopes``/``signin_scopes`` give the scopes for the configured
  environment where they depend on it (Dynamics: ``<environment URL>/user_impersonation``).
- ``streams.py`` — ``Stream`` subclasses; every attribute a stream may set is declared on ``Stream``
  below (cursor or full listing, deletes, associations, history, scope, custom fields).
- ``client.py`` — ``build_client(token, oauth, on_token, config)`` returning a ``Client`` (the protocol
  below): reads, targeted reads, batch writes, field provisioning, preflight, org profile. A CRM that
  keeps a change log per object (Dataverse change tracking) marks those streams ``delta`` and implements
  ``read_changes(stream, token)``: pages of ``ChangePage`` (changed raw records and deleted ids), the last
  carrying the next token, which the engine stores as an opaque text per connection and stream once the
  pages before it are stored. Without a token it lists every live record, and the engine then re-reads
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
- ``mapping.py`` — ``to_common(stream, raw)``: a raw record as a ``connectors.common`` object.
- ``fields.py`` — ``CATALOGUE``, a ``FieldCatalogue``: the built-in source of each common field, the
  remote field types that can feed it, and the live listing of an object's fields.
- ``signin.py`` — ``sign_in(oauth, token, config, kept_refresh_tokens)`` → ``SignIn``.
- ``webhooks.py`` — the inbound contract: ``ROUTE`` (below ``/webhooks/<key>``; ``<remote_org_id>`` and
  a trailing ``<secret>`` when the CRM signs nothing), ``MAX_BODY_BYTES``,
  ``verify(inbound, config, secret_matches)`` before any parsing, ``parse(inbound)`` → ``InboundEvent``s
  (``ValueError`` when malformed, ``Refused`` when for another account), ``answer(outcome)`` → ``Answer``
  for "accepted", "malformed" or "refused", and ``test_delivery`` for the console's test event.
- ``panel.py`` — the embed contract, in every package whose provider declares a signed ``panel``
  ("canvas": a signed request POSTed into the CRM's frame; "card": a card fetch signed like the CRM's
  webhooks): ``verify(request, app, checks)`` → ``PanelContext`` (remote org, user, record, app), which
  raises ``InvalidPanelRequest(reason)`` before anything in the ``PanelRequest`` is trusted. ``app`` is
  "rep" (the record's panel) or "team" (the team panel); ``checks`` (``PanelChecks``) gives the
  settings, Redis (to tell a reload from a replay) and the instance URL of an installed remote org. A
  "canvas" panel's module also gives ``approval_required(request)`` (the CRM asks the user to approve
  the app instead of posting), ``app_credentials(config, app)`` (the client id and secret of the app
  that signs each panel, from the provider's ``settings``) and ``APPROVAL_FRAMES`` (the CRM's own
  origins, which may frame the approval page before the org is known). Embed serves each provider
  through the registry at ``/embed/<key>/canvas``, ``/embed/<key>/manager`` (team) or
  ``/embed/<key>/card``; the provider's ``frame_ancestors(instance_url)`` names the origins that may
  frame the panel and ``id_forms(remote_id)`` the forms an org or user id may be stored under.
  Where ``panel = "signin"`` (the CRM frames the panel with unsigned parameters and the
  viewer signs in with the CRM's identity provider; served by ``embed.signin_panel``): ``PARAMETERS`` (the
  query parameters the CRM passes), ``IDENTITY_PROVIDER`` (its name on the sign-in button),
  ``read_context(args)`` → ``FramedRecord``, ``frame_origin(config)``, ``signing_keys(config)`` (a cache
  the app keeps), ``authorize_url(config, redirect_uri, state, nonce, code_challenge, silent)``,
  ``needs_interaction(error)`` and ``sign_in(config, keys, context, code, redirect_uri, code_verifier,
  nonce)`` → ``PanelViewer``; each raises ``PanelRefused`` with what to tell the viewer.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from connectors.common import Remote

_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class Stream:
    """One remote object pulled incrementally; subclasses only declare attributes."""

    name: ClassVar[str]                 # stream key, unique within a provider ("opportunity_history")
    object_type: ClassVar[str]          # common object it maps to (connectors.common.COMMON_TYPES)
    remote_name: ClassVar[str]          # the remote object ("OpportunityHistory")
    fields: ClassVar[tuple[str, ...]]   # remote fields to read
    # Fields read only where the remote has them, without a note when it does not (Salesforce's
    # CurrencyIsoCode exists only in multi-currency orgs).
    when_present: ClassVar[tuple[str, ...]] = ()
    primary_key: ClassVar[str] = "Id"
    cursor_field: ClassVar[str] = "SystemModstamp"
    page_size: ClassVar[int] = 2000
    # Whether the remote reports soft deletes on this stream's pages.
    reports_deletes: ClassVar[bool] = True
    # Further common objects the mapping may produce from this stream (HubSpot contacts are
    # leads or contacts by lifecycle stage).
    also_maps_to: ClassVar[tuple[str, ...]] = ()
    # An object some orgs do not have, have not enabled or do not let the integration read
    # (Salesforce ForecastingQuota, HubSpot goals): when the client raises ``Unavailable`` for it,
    # the sync skips it with a note for the admin instead of failing the run.
    optional: ClassVar[bool] = False
    # An optional object whose absence is an ordinary setup (a single-currency org has no currency
    # rates): skipped without a note for the admin.
    quiet_when_missing: ClassVar[bool] = False
    # Read on ``cursor_field`` from the last cursor on (True), or listed whole on every run (False).
    incremental: ClassVar[bool] = True
    # Remote objects whose links to each record are read with its page, in order of preference
    # (HubSpot's v4 associations); empty where the record's own fields carry its references.
    associations: ClassVar[tuple[str, ...]] = ()
    # Fields whose change history is read with each page (HubSpot's propertiesWithHistory); empty
    # where history is a stream of its own (Salesforce's OpportunityHistory).
    history_properties: ClassVar[tuple[str, ...]] = ()
    # A field holding a remote user id rather than an owner id: the client adds the owner's id.
    user_property: ClassVar[str | None] = None
    # The OAuth scope that reads the object; None when the provider's scopes read every stream.
    scope: ClassVar[str | None] = None
    # How the admin's note ends when an optional stream's scope was not granted.
    unavailable_note: ClassVar[str] = "are not read"
    # Fields that are custom fields of some orgs, not the CRM's own: read only where they exist.
    custom_fields: ClassVar[tuple[str, ...]] = ()
    # The activity kind (call, email, meeting, note, task) of an activity stream; None for others.
    kind: ClassVar[str | None] = None
    # Read through the remote's change log (``Client.read_changes``) where the remote keeps one for this
    # object: changes and deletes since an opaque token. Where it keeps none, read on ``cursor_field``.
    delta: ClassVar[bool] = False
    # Whether a first or full read may go through the client's ``read_backfill``: False for objects that
    # hold a handful of rows in any org (roles, currencies), which a client then does not even size up.
    backfill: ClassVar[bool] = True

    @classmethod
    def object_types(cls) -> tuple[str, ...]:
        """Every common object this stream's records can land in."""
        return (cls.object_type, *cls.also_maps_to)


@dataclass(frozen=True)
class Setting:
    """One environment variable a provider reads, named without its ``<KEY>_`` prefix.

    ``default`` (the sandbox's value, so a fresh checkout runs) may name the provider's earlier
    settings in braces: ``"{LOGIN_URL}"``.
    """

    name: str
    default: str | None
    help: str = ""


@dataclass(frozen=True)
class WritableField:
    """A Pipewise-owned field written back to one remote object."""

    key: str          # score | band | reasons | next_step | model_version | scored_at
    remote_name: str  # "Pipewise_Score__c"
    label: str
    type: str         # number | text | textarea | datetime


class Provider:
    """A remote system, declared by class attributes."""

    key: ClassVar[str]
    name: ClassVar[str]
    # The environment variables it reads (LOGIN_URL, CLIENT_ID and CLIENT_SECRET at least).
    settings: ClassVar[tuple[Setting, ...]] = ()
    authorize_path: ClassVar[str]
    token_path: ClassVar[str]
    revoke_path: ClassVar[str | None] = None
    scopes: ClassVar[tuple[str, ...]] = ()          # asked for; the product cannot work without them
    optional_scopes: ClassVar[tuple[str, ...]] = ()  # asked for when the CRM lets an app; features degrade without them
    # The authorization-URL parameter that carries ``optional_scopes`` (HubSpot: optional_scope); None
    # when the CRM has no such parameter, and then optional scopes are not asked for separately.
    optional_scope_param: ClassVar[str | None] = None
    # How the token endpoint takes the app's credentials, in authlib's names: HTTP Basic
    # ("client_secret_basic") or form fields in the body ("client_secret_post").
    token_endpoint_auth_method: ClassVar[str] = "client_secret_basic"
    # The token endpoint is on the API host (<KEY>_API_URL), not the login host (HubSpot).
    token_on_api_host: ClassVar[bool] = False
    streams: ClassVar[tuple[type[Stream], ...]] = ()
    # common object_type → remote object name and the fields Pipewise owns there
    writable_objects: ClassVar[dict[str, str]] = {}
    writable_fields: ClassVar[tuple[WritableField, ...]] = ()
    # the largest number of records one writeback call may carry
    writeback_batch_size: ClassVar[int] = 200
    # The narrowest scope (space-separated) a console sign-in asks for: enough to read who signs in.
    signin_scope: ClassVar[str] = ""
    # The largest panel request body the CRM sends to /embed/<key>/… (None: the console's default).
    embed_body_bytes: ClassVar[int | None] = None
    # How the CRM embeds Pipewise's panel: "canvas" (a signed request POSTed into a Canvas frame,
    # served by embed.canvas_panel), "card" (a card fetch signed like the CRM's webhooks,
    # served by embed.card; both verified by the package's panel.verify) or "signin" (a frame with unsigned
    # record parameters whose viewer signs in with the CRM's identity provider: the package's panel.py,
    # served by embed.signin_panel); None: no embedded panel.
    panel: ClassVar[str | None] = None
    # A card's or form's record type as the CRM names it (its type id or name; upper-cased for cards)
    # → common object type ("user" opens the team panel).
    panel_objects: ClassVar[dict[str, str]] = {}
    # The panel opened from the CRM takes the CRM's look (embed's pw-theme-<key> styles).
    panel_theme: ClassVar[bool] = False
    # Pipewise registers its webhook in the CRM through the API (the client's ``register_webhooks``),
    # after the install and after each secret rotation; False: an admin configures it in the CRM.
    registers_webhooks: ClassVar[bool] = False

    @classmethod
    def stream(cls, name: str) -> type[Stream]:
        """The declared stream called ``name``."""
        for stream in cls.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"{cls.key} has no stream {name!r}")

    @classmethod
    def requested_scopes(cls, config: Any) -> tuple[str, ...]:
        """The required scopes an install asks for, in this configuration (most: ``scopes`` as declared)."""
        return cls.scopes

    @classmethod
    def signin_scopes(cls, config: Any) -> str:
        """The space-separated scopes a console sign-in asks for (most: ``signin_scope`` as declared)."""
        return cls.signin_scope

    @classmethod
    def complete_token(cls, token: dict[str, Any], oauth: Any) -> dict[str, Any]:
        """Add what the token answer leaves out (HubSpot: the app host); most providers need nothing."""
        return token

    @classmethod
    def token_error(cls, status: int, body: dict[str, Any]) -> tuple[str, str | None] | None:
        """The RFC 6749 error and description of a failed token answer that names none in ``error``.

        Providers whose token endpoint answers in their own error shape map it here, so that a revoked
        grant is recognized (``invalid_grant`` → re-authorization) whatever the shape.
        """
        return None

    @classmethod
    def record_url(cls, instance_url: str, remote_org_id: str, object_type: str, remote_id: str) -> str | None:
        """The record's page in the CRM (a common object type: lead, opportunity); None when unknown."""
        return None

    @classmethod
    def identity(cls, token: dict[str, Any]) -> "Identity":
        """Who and where a token belongs to: remote org id, instance URL, user id."""
        raise NotImplementedError

    @classmethod
    def sign_in(cls, oauth: Any, token: dict[str, Any], config: Any,
                kept_refresh_tokens: Callable[[str], set[str]]) -> "SignIn":
        """Who signs in to the console with this sign-in token: remote org, user and role.

        Implemented by the package's ``signin.sign_in``. ``oauth`` is the provider's OAuthApp and
        ``config`` the application's settings. A provider whose sign-in grant cannot be revoked
        through ``revoke_path`` gives it back here, after reading the identity, but never a refresh
        token in ``kept_refresh_tokens(remote_org_id)`` (those the org's connections sync with).
        Raises ``SignInError`` with a sentence for the person signing in.
        """
        return cls._package_module("signin").sign_in(oauth, token, config, kept_refresh_tokens)

    @classmethod
    def verify_panel(cls, request: "PanelRequest", app: str, checks: "PanelChecks") -> "PanelContext":
        """Who opened the panel, in which org and on which record, from a request the CRM signed.

        Implemented by the package's ``panel.verify``. ``app`` is "rep" or "team" (each may be its
        own app at the CRM, signing with its own secret). Raises ``InvalidPanelRequest`` before
        anything in the request is read when it is not the CRM's, not for this app, or replayed.
        """
        return cls.panel_module().verify(request, app, checks)

    @classmethod
    def panel_module(cls) -> ModuleType:
        """The package's ``panel`` module (``verify``; for a canvas panel also its approval hooks)."""
        return cls._package_module("panel")

    @classmethod
    def frame_ancestors(cls, instance_url: str | None) -> list[str]:
        """The origins that may frame the panel of the org at this instance (most: the instance's origin)."""
        found = url_origin(instance_url)
        return [found] if found else []

    @classmethod
    def id_forms(cls, remote_id: str) -> tuple[str, ...]:
        """The forms an org or user id may be sent or stored under, the synced form first (most: itself)."""
        return (remote_id,)

    @classmethod
    def field_catalogue(cls) -> "FieldCatalogue":
        """How this CRM's remote fields feed the common model (the package's ``fields.CATALOGUE``)."""
        return cls._package_module("fields").CATALOGUE

    @classmethod
    def _package_module(cls, name: str) -> ModuleType:
        """A module of the provider's own package, imported on use (it may import the client and SDK)."""
        return importlib.import_module(f"{cls.__module__.rpartition('.')[0]}.{name}")


ROLES = ("admin", "manager", "rep")  # what a console user is, from their standing in the CRM


@dataclass(frozen=True)
class SignIn:
    """Who signed in to the console, as their CRM tells it."""

    provider: str
    user_id: str
    remote_org_id: str
    username: str
    email: str | None
    name: str
    role: str  # admin | manager | rep


class SignInError(Exception):
    """Sign-in could not complete; the message is shown to the person signing in."""


@dataclass(frozen=True)
class FramedRecord:
    """The record a "signin" panel's frame names, read from the CRM's unsigned parameters (not yet trusted)."""

    object_type: str   # common object type: lead, opportunity, or user (the team panel)
    remote_id: str     # as the connection stores it
    org_name: str      # the organization the form says it belongs to


@dataclass(frozen=True)
class PanelViewer:
    """Who signed in to a "signin" panel, vouched for by the identity provider and the CRM's own API."""

    remote_org_id: str
    user_remote_id: str
    name: str


class PanelRefused(Exception):
    """A "signin" panel that must not open: a title and a sentence saying what to do, shown in the frame."""

    def __init__(self, reason: str, title: str, message: str, status: int = 403):
        super().__init__(reason)
        self.reason, self.title, self.message, self.status = reason, title, message, status


def text_value(value: Any) -> str | None:
    """A remote value as text; None for no value."""
    if value in (None, ""):
        return None
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class FieldCatalogue:
    """How one connector's remote fields feed the common model, for the admin's field mapping."""

    raw_value: Callable[[dict[str, Any], str], Any]
    coerce: dict[str, Callable[[Any], Any]]
    # common value kind → the remote field types that can feed it
    compatible: dict[str, frozenset[str]]
    # object_type → common field → its built-in remote source (the fields an admin may remap);
    # "" when the CRM has no standard field for it and only an admin's mapping can feed it
    defaults: dict[str, dict[str, str]]
    # (client, remote object name) → the object's fields as [{name, label, type, custom}], read live
    remote_fields: Callable[[Any, str], list[dict[str, Any]]]


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


PANEL_APPS = ("rep", "team")  # the record's panel, and the manager's team panel


@dataclass(frozen=True)
class PanelRequest(Inbound):
    """A request for an embedded panel, as an ``Inbound`` with its parsed query and form, nothing trusted yet."""

    args: Mapping[str, str]     # the query parameters
    form: Mapping[str, str]     # the form fields of a POST


@dataclass(frozen=True)
class PanelChecks:
    """What a panel's ``verify`` may consult besides the request."""

    config: Any
    redis: Any
    # The instance URL of the live connection of a remote org id (any of its ``id_forms``); None
    # when Pipewise is not installed there.
    instance_url_of: Callable[[str], str | None]


@dataclass(frozen=True)
class PanelContext:
    """Who opened the panel, where and on which record, as a verified panel request tells it."""

    remote_org_id: str
    remote_user_id: str                      # in the form the CRM's users are synced under
    # (common object type, or None when Pipewise has none for it; remote id), None off a record page.
    record: tuple[str | None, str] | None
    app: str                                 # rep | team
    # The instance the request names: trusted once verified, to frame a message before the org is known.
    instance_url: str | None = None
    user_email: str | None = None            # where the CRM sends it (a card fetch), to find a team viewer


class InvalidPanelRequest(Exception):
    """A panel request that must not be trusted; ``reason`` is a short slug safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def url_origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, or None when it is not a plain http(s) origin."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not _HOST.match(host):
        return None
    default = {"https": 443, "http": 80}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


@dataclass(frozen=True)
class Identity:
    remote_org_id: str
    instance_url: str
    remote_user_id: str | None = None


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


@dataclass
class MappedPage:
    records: list[Remote] = field(default_factory=list)
