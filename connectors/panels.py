"""The embed contract: a panel request, what verifies it, and who it says opened the panel.

Every package whose provider declares a signed ``panel`` ("canvas": a signed request POSTed into the
CRM's frame; "card": a card fetch signed like the CRM's webhooks) has a ``panel.py`` with
``verify(request, app, checks)`` → ``PanelContext`` (remote org, user, record, app), which raises
``InvalidPanelRequest(reason)`` before anything in the ``PanelRequest`` is trusted. ``app`` is "rep"
(the record's panel) or "team" (the team panel); ``checks`` (``PanelChecks``) gives the settings, Redis
(to tell a reload from a replay) and the instance URL of an installed remote org. A "canvas" panel's
module also gives ``approval_required(request)`` (the CRM asks the user to approve the app instead of
posting), ``app_credentials(config, app)`` (the client id and secret of the app that signs each panel,
from the provider's ``settings``) and ``APPROVAL_FRAMES`` (the CRM's own origins, which may frame the
approval page before the org is known). Embed serves each provider through the registry at
``/embed/<key>/canvas``, ``/embed/<key>/manager`` (team) or ``/embed/<key>/card``; the provider's
``frame_ancestors(instance_url)`` names the origins that may frame the panel and ``id_forms(remote_id)``
the forms an org or user id may be stored under.

Where ``panel = "signin"`` (the CRM frames the panel with unsigned parameters and the viewer signs in
with the CRM's identity provider; served by ``embed.signin_panel``), ``panel.py`` gives ``PARAMETERS``
(the query parameters the CRM passes), ``IDENTITY_PROVIDER`` (its name on the sign-in button),
``read_context(args)`` → ``FramedRecord``, ``frame_origin(config)``, ``signing_keys(config)`` (a cache
the app keeps), ``authorize_url(config, redirect_uri, state, nonce, code_challenge, silent)``,
``needs_interaction(error)`` and ``sign_in(config, keys, context, code, redirect_uri, code_verifier,
nonce)`` → ``PanelViewer``; each raises ``PanelRefused`` with what to tell the viewer.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectors.inbound import Inbound

_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

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
