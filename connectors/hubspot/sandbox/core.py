"""One sandbox portal: its store, schema, clock, tokens, limits, knobs, webhooks and card, shared by requests."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.sqlite_store import fill_or_remove, new_database

from .clock import SandboxClock, iso, parse_datetime
from .faults import Faults, Knobs, RateLimits
from .quotas import quotas
from .records import RecordWriter
from .pipelines import deal_pipelines, stages_by_id
from .registry import Registry
from .schema import OBJECT_TYPES
from .seed import seed
from .settings import HubSpotSandboxSettings, datasets_dir
from .store import Store
from .tokens import TokenStore
from .views import api_record
from .webhooks import WebhookDispatcher

DB_NAME = "hubspot.sqlite3"


class HubSpotSandbox:
    """The state behind the Flask app; the control API and HubSpotSandboxServer call its methods."""

    def __init__(self, data_dir: Path, seed_name: str = "small",
                 settings: HubSpotSandboxSettings | dict | None = None, reset: bool = False):
        self.settings = HubSpotSandboxSettings.coerce(settings)
        self.data_dir = Path(data_dir)
        db_path = self.data_dir / DB_NAME
        fresh = new_database(db_path, reset)
        datasets = datasets_dir(self.settings) if fresh and seed_name != "none" else None
        self.store = Store(db_path)
        if fresh:
            fill_or_remove(self.store, lambda: self._create(seed_name, datasets))
        self.portal_id = int(self.store.meta("portal_id"))
        self.pipelines = deal_pipelines(self.settings.deal_pipelines)
        self.registry = Registry(self.store, self.pipelines)
        latest = self.store.fetchall("SELECT MAX(updated_at) FROM objects")[0][0]
        self.clock = SandboxClock(self.settings.clock_origin, not_before=parse_datetime(latest) if latest else None)
        s = self.settings
        self.faults = Faults(Knobs(ten_secondly_limit=s.ten_secondly_limit, search_per_second=s.search_per_second,
                                   token_ttl_seconds=s.token_ttl_seconds, daily_limit=s.daily_limit))
        self.limits = RateLimits(self.clock, self.faults)
        self.tokens = TokenStore(self.store)
        self.writer = RecordWriter(self.store, self.registry, self.clock, owner_exists=self.owner_exists,
                                   stages=stages_by_id(self.pipelines))
        self.webhooks = WebhookDispatcher(self.settings, self.portal_id)
        self.writer.listeners.append(self.webhooks.on_changes)

    def _create(self, seed_name: str, datasets: Path | None) -> None:
        portal_id = self.settings.portal_id or random.SystemRandom().randrange(20_000_000, 50_000_000)
        self.store.set_meta("portal_id", portal_id)
        self.store.set_meta("seed", seed_name)
        result = seed(self.store, datasets, seed_name, self.settings.clock_origin,
                      (self.settings.company_currency, self.settings.currencies))
        self.store.set_meta("date_shift_days", result["date_shift_days"])

    # -- owners (users of the portal) -----------------------------------------------------------

    def owners(self, include_archived: bool = False) -> list[dict[str, Any]]:
        """Owners as stored: id, user_id, email, names, role (admin/manager/rep), teams, stamps."""
        where = "" if include_archived else "WHERE archived = 0"
        return [{"id": row[0], "user_id": row[1], "email": row[2], "first_name": row[3], "last_name": row[4],
                 "role": row[5], "teams": json.loads(row[6]), "created_at": row[7], "updated_at": row[8],
                 "archived": bool(row[9])}
                for row in self.store.fetchall(f"SELECT * FROM owners {where} ORDER BY id")]

    def owner_exists(self, owner_id: str) -> bool:
        """True when an active owner has this id."""
        return str(owner_id).isdigit() and bool(self.store.fetchall(
            "SELECT 1 FROM owners WHERE id = ? AND archived = 0", (int(owner_id),)))

    def user(self, email_or_id: str | int | None) -> dict[str, Any] | None:
        """The owner signing in: by e-mail, user id or owner id; the admin when empty."""
        people = self.owners()
        if not email_or_id:
            return next((p for p in people if p["role"] == "admin"), people[0] if people else None)
        key = str(email_or_id).lower()
        return next((p for p in people if key in (p["email"].lower(), str(p["user_id"]), str(p["id"]))), None)

    # -- facts for the control API and tests ----------------------------------------------------

    def counts(self, archived: bool = False) -> dict[str, int]:
        """Records per object type (live, or archived)."""
        found = dict(self.store.fetchall("SELECT type, COUNT(*) FROM objects WHERE archived = ? GROUP BY type",
                                         (int(archived),)))
        return {kind: found.get(kind, 0) for kind in OBJECT_TYPES}

    def info(self, base_url: str) -> dict[str, Any]:
        """What a test or script needs to know about this portal."""
        admin = self.user(None)
        return {
            "portal_id": self.portal_id, "hub_id": self.portal_id, "hub_domain": self.settings.hub_domain,
            "portal_name": self.settings.portal_name, "base_url": base_url, "client_id": self.settings.client_id,
            "app_id": self.settings.app_id, "admin_email": admin["email"] if admin else None,
            "admin_user_id": admin["user_id"] if admin else None, "seed": self.store.meta("seed"),
            "clock": iso(self.clock.now()), "clock_origin": iso(self.clock.origin),
            "date_shift_days": int(self.store.meta("date_shift_days") or 0),
            "counts": self.counts(), "archived_counts": self.counts(archived=True),
            "owners": len(self.owners()),
            "api_usage": {"daily_used": self.limits.daily_used, "daily_limit": self.faults.knobs.daily_limit},
            "quotas": quotas(self.store), "webhooks": self.webhooks.url, "card_fetch_url": self.settings.card_fetch_url,
        }

    def records(self, kind: str, archived: bool | None = False) -> list[dict[str, Any]]:
        """Every record of a type with all its properties (archived: True only, False live, None both)."""
        where = "1=1" if archived is None else f"archived = {int(bool(archived))}"
        names = [p.name for p in self.registry.all(kind)]
        return [api_record(r, self.registry, names) for r in self.store.select(kind, where)]

    def close(self) -> None:
        """Stop webhook delivery and release the SQLite file."""
        self.webhooks.stop()
        self.store.close()
