"""The plumbing every connector client shares: retries through the typed errors, token refresh under a
lock, API usage and the batch-size guard.

A client subclasses ``ClientBase`` and implements three hooks:

- ``_once(*args, **kwargs)``: one API call, counting it in ``usage`` and raising ``SessionExpired`` when
  the CRM refuses the access token, or a ``connectors.errors`` error for anything else;
- ``_after_refresh()``: rebuild whatever holds the old access token;
- ``_refused_after_refresh()``: the error for a CRM that refuses even a freshly refreshed token.

``_call(*args, **kwargs)`` runs ``_once`` with a refresh when the token expires (or is about to, with
``refresh_margin_seconds``) and the retries of ``connectors.retry`` around it. ``create_missing`` is
the custom-field provisioning both CRMs share.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from connectors.base import WritableField
from connectors.client_protocol import TokenSaver, Usage
from connectors.errors import ConnectorError, Fatal
from connectors.oauth import OAuthApp
from connectors.retry import call_with_retries


class SessionExpired(Exception):
    """The CRM refused the access token (401): refresh it and try once more."""


class ClientBase:
    """One connection's client: the token it calls with, its refresh, its retries and its API usage."""

    # The CRM's name in the client's errors ("HubSpot takes at most 100 records per batch update").
    crm_name: ClassVar[str]
    # The most records one write call may carry (the provider's writeback_batch_size).
    batch_limit: ClassVar[int]
    # Refresh before a call when less than this is left of the token's life; None: only when refused.
    refresh_margin_seconds: ClassVar[float | None] = None

    def __init__(self, token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, *,
                 max_attempts: int, sleep: Callable[[float], None], clock: Callable[[], float] = time.time):
        self.usage = Usage()
        self._token = dict(token)
        self._oauth = oauth
        self._on_token = on_token
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        # Threads sharing a client refresh once: a refresh token may be single-use.
        self._refresh_lock = threading.Lock()

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        """One API call with token refresh and retries; raises connector errors."""
        return call_with_retries(lambda: self._with_refresh(*args, **kwargs),
                                 max_attempts=self._max_attempts, sleep=self._sleep)

    def _with_refresh(self, *args: Any, **kwargs: Any) -> Any:
        expires_at = self._token.get("expires_at")
        if (self.refresh_margin_seconds is not None and expires_at
                and float(expires_at) - self._clock() < self.refresh_margin_seconds):
            self._refresh()
        try:
            return self._once(*args, **kwargs)
        except SessionExpired:
            self._refresh()
        try:
            return self._once(*args, **kwargs)
        except SessionExpired as exc:
            raise self._refused_after_refresh() from exc

    def _once(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _refused_after_refresh(self) -> ConnectorError:
        raise NotImplementedError

    def _after_refresh(self) -> None:
        """Rebuild what holds the old access token (the SDK's API objects)."""

    def _refresh(self) -> None:
        """Get a new access token (authlib), hand it to the caller to persist, rebuild; once across threads."""
        seen = self._token.get("access_token")
        with self._refresh_lock:
            if self._token.get("access_token") != seen:
                return  # another thread refreshed while this one waited
            self._token = self._oauth.refresh(self._token)
            if self._on_token is not None:
                self._on_token(dict(self._token))
            self._after_refresh()

    def check_batch(self, updates: list[Any], what: str = "per call") -> None:
        """The batch-size guard: a write call never carries more records than the CRM takes."""
        if len(updates) > self.batch_limit:
            raise ValueError(f"{self.crm_name} takes at most {self.batch_limit} records {what}, "
                             f"got {len(updates)}; batch them first.")


def create_missing(fields: tuple[WritableField, ...], existing: set[str], create: Callable[[WritableField], Any],
                   duplicate_code: str) -> list[str]:
    """Create the Pipewise fields not in ``existing``, one call each; the names created.

    A create the CRM refuses with ``duplicate_code`` counts as done: a retried create whose first
    attempt went through, or a field that exists but the integration cannot see yet.
    """
    created = []
    for writable in fields:
        if writable.remote_name in existing:
            continue
        try:
            create(writable)
        except Fatal as exc:
            if exc.code != duplicate_code:
                raise
            continue
        created.append(writable.remote_name)
    return created
