"""Running a HubSpot sandbox portal over HTTPS in a background thread (tests, the demo) or in the foreground."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sandbox_kit.https_server import HttpsServer

from .app import create_app
from .clock import iso
from .core import HubSpotSandbox
from .records import UI
from .schema import PRIMARY_TYPES
from .settings import HubSpotSandboxSettings


class HubSpotSandboxServer(HttpsServer):
    """A HubSpot sandbox on https://127.0.0.1:PORT; a fresh data_dir is seeded, an old one reused."""

    thread_prefix = "hubspot-sandbox"

    def __init__(self, data_dir: Path | str, port: int = 0, seed: str = "small",
                 settings: HubSpotSandboxSettings | dict | None = None, reset: bool = False,
                 host: str = "127.0.0.1", quiet: bool = True):
        self.data_dir = Path(data_dir)
        self.sandbox = HubSpotSandbox(self.data_dir, seed, settings, reset=reset)
        self._listen(create_app(self.sandbox), self.data_dir, host, port, quiet)

    @property
    def portal_id(self) -> int:
        return self.sandbox.portal_id

    @property
    def settings(self) -> HubSpotSandboxSettings:
        return self.sandbox.settings

    def reset_knobs(self) -> dict[str, Any]:
        """Back to no faults."""
        return self.knobs(reset=True)

    def reset_usage(self) -> None:
        """Rate-limit windows and the daily counter start again."""
        self.sandbox.limits.reset()

    def issue_token(self, user: str | None = None, scope: str | None = None, ttl_seconds: float | None = None) -> str:
        """An access token for a user (e-mail; the admin by default) without the OAuth dance, for tests.

        Without ``scope`` the token holds what an install of the app grants in this portal.
        """
        owner = self.sandbox.user(user)
        if scope is None:
            s = self.settings
            scope = " ".join([*s.app_required_scopes,
                              *(x for x in s.app_optional_scopes if x not in s.unavailable_scopes)])
        ttl = ttl_seconds if ttl_seconds is not None else self.sandbox.faults.knobs.token_ttl_seconds
        return self.sandbox.tokens.issue_access(owner["user_id"], self.settings.client_id, scope, ttl)

    def records(self, type_name: str, archived: bool | None = False) -> list[dict[str, Any]]:
        """Every record of a type with all properties (archived: True only, False live, None both)."""
        return self.sandbox.records(type_name, archived)

    def create(self, type_name: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        """Create a record as a UI user would; returns its id."""
        owner = self.sandbox.user(as_user)
        return str(self.sandbox.writer.create(type_name, properties, UI, f"userId:{owner['user_id']}",
                                              system=True)["id"])

    def update(self, type_name: str, record_id: str, properties: dict[str, Any], as_user: str | None = None) -> str:
        """Update a record as a UI user would."""
        owner = self.sandbox.user(as_user)
        return str(self.sandbox.writer.update(type_name, record_id, properties, UI, f"userId:{owner['user_id']}",
                                              system=True)["id"])

    def archive(self, type_name: str, record_id: str, as_user: str | None = None) -> None:
        """Archive a record as a UI user would."""
        owner = self.sandbox.user(as_user)
        self.sandbox.writer.archive(type_name, record_id, UI, f"userId:{owner['user_id']}")

    def restore(self, type_name: str, record_id: str, as_user: str | None = None) -> None:
        """Restore an archived record as a UI user would."""
        owner = self.sandbox.user(as_user)
        self.sandbox.writer.restore(type_name, record_id, UI, f"userId:{owner['user_id']}")

    def merge(self, type_name: str, primary_id: str, merged_id: str, as_user: str | None = None) -> None:
        """Merge one record into another as a UI user would."""
        owner = self.sandbox.user(as_user)
        self.sandbox.writer.merge(type_name, primary_id, merged_id, UI, f"userId:{owner['user_id']}")

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, primary: bool = False,
                  remove: bool = False, as_user: str | None = None) -> None:
        """Associate (or, with remove, dissociate) two records as a UI user would; primary adds the label."""
        owner = self.sandbox.user(as_user)
        source = (UI, f"userId:{owner['user_id']}")
        if remove:
            self.sandbox.writer.dissociate(from_type, int(from_id), to_type, int(to_id), *source)
        else:
            type_id = PRIMARY_TYPES[(from_type, to_type)] if primary else None
            self.sandbox.writer.associate([(from_type, int(from_id), to_type, int(to_id))], *source, type_id=type_id)

    def touch(self, type_name: str, record_ids: list[str], modified_at: str | None = None) -> str:
        """Give records one hs_lastmodifieddate; returns it."""
        return self.sandbox.writer.touch(type_name, record_ids, modified_at)

    def bulk_create(self, type_name: str, count: int, properties: dict[str, Any] | None = None,
                    modified_at: str | None = None) -> list[str]:
        """Create count records at once; returns their ids."""
        return [str(i) for i in self.sandbox.writer.bulk_create(type_name, count, properties or {}, modified_at)]

    def advance_clock(self, seconds: float) -> str:
        """Move the sandbox clock forward."""
        return iso(self.sandbox.clock.advance(seconds))

    def configure_webhooks(self, url: str | None, subscriptions: list | None = None, app_id: int | None = None,
                           retry_seconds: float | None = None, max_attempts: int | None = None) -> dict[str, Any]:
        """Send webhook events of these subscriptions to url (None: off); returns the stats."""
        self.sandbox.webhooks.configure(url, subscriptions, app_id, retry_seconds, max_attempts)
        return self.sandbox.webhooks.stats()

    def webhook_stats(self) -> dict[str, Any]:
        """Webhook counters and recent attempts."""
        return self.sandbox.webhooks.stats()

    def redeliver_last_webhook(self) -> list[int] | None:
        """Send the last acknowledged POST again; returns its event ids."""
        return self.sandbox.webhooks.redeliver_last()

    def wait_webhooks_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every event is acknowledged; False on timeout."""
        return self.sandbox.webhooks.wait_idle(timeout)

    def configure_card(self, fetch_url: str | None, title: str | None = None) -> None:
        """Show the app card fetching from fetch_url on record pages (None: no card)."""
        self.settings.card_fetch_url = fetch_url or None
        if title:
            self.settings.card_title = title
