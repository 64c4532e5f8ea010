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
- ``client.py`` — ``build_client(token, oauth, on_token, config)`` returning a ``Client``: reads, targeted
  reads, change and backfill reads, batch writes, field provisioning, preflight, org profile, webhook
  registration (the protocol and what it returns: ``connectors.client_protocol``).
- ``mapping.py`` — ``to_common(stream, raw)``: a raw record as a ``connectors.common`` object.
- ``fields.py`` — ``CATALOGUE``, a ``FieldCatalogue`` (``connectors.field_catalogue``): the built-in source
  of each common field, the remote field types that can feed it, and the live listing of an object's fields.
- ``signin.py`` — ``sign_in(oauth, token, config, kept_refresh_tokens)`` → ``SignIn`` (``connectors.signin``).
- ``webhooks.py`` — the inbound contract (``connectors.inbound``): ``ROUTE``, ``MAX_BODY_BYTES``, ``verify``
  before any parsing, ``parse`` → ``InboundEvent``s, ``answer`` and ``test_delivery``.
- ``panel.py`` — the embed contract (``connectors.panels``), in every package whose provider declares a
  ``panel``.

This module declares the Provider and Stream protocols. The rest of the contract lives in the modules
named above; its names are imported here too, so that sync, scoring, embed and web reach the whole
contract through one door (``from connectors.base import ...``), while connectors import each from its home.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from connectors.client_protocol import ChangePage, Client, Finding, OrgProfile, TokenSaver, Usage, WriteResult
from connectors.field_catalogue import FieldCatalogue
from connectors.inbound import Answer, Inbound, InboundEvent, Refused
from connectors.panels import (PANEL_APPS, FramedRecord, InvalidPanelRequest, PanelChecks, PanelContext, PanelRefused,
                               PanelRequest, PanelViewer, url_origin)
from connectors.signin import ROLES, SignIn, SignInError

# The whole contract, as the layers above import it (see the docstring).
__all__ = ["Provider", "Stream", "Setting", "WritableField", "Identity",
           "Client", "ChangePage", "Finding", "OrgProfile", "TokenSaver", "Usage", "WriteResult",
           "FieldCatalogue", "Answer", "Inbound", "InboundEvent", "Refused",
           "PANEL_APPS", "FramedRecord", "InvalidPanelRequest", "PanelChecks", "PanelContext", "PanelRefused",
           "PanelRequest", "PanelViewer", "url_origin", "ROLES", "SignIn", "SignInError"]


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


@dataclass(frozen=True)
class Identity:
    """Who and where a token belongs to, as ``Provider.identity`` reads it."""

    remote_org_id: str
    instance_url: str
    remote_user_id: str | None = None
