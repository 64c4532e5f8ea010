"""One sandbox org: its store, clock, tokens, knobs and API counter, shared by every request."""
from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from connectors.sandbox_kit.sqlite_store import fill_or_remove, new_database

from .clock import SandboxClock, format_datetime, parse_datetime
from .bulk_jobs import QueryJobs
from .cursors import Cursors
from .faults import ApiUsage, Concurrency, Faults, Knobs
from .ids import make_id
from .outbound import OutboundDispatcher, notification_listener
from .outbound_xml import Notification, snapshot
from .records import RecordWriter
from .schema import CURRENCY_MODES, CURRENCY_OBJECTS, OBJECTS, SETUP_ACCESS, readable_by
from .security import FieldAccess, field_access, user_permissions
from .seed import ADMIN_PROFILE, seed, seed_organization
from .settings import SandboxSettings, datasets_dir
from .store import Store
from .tokens import TokenStore

DB_NAME = "salesforce.sqlite3"
# Objects an org has only with a feature turned on (Collaborative Forecasts for ForecastingQuota).
FEATURE_OBJECTS = {"ForecastingQuota": "forecasting_enabled"}


class Sandbox:
    """The state behind the Flask app; the control API and SandboxServer call its methods."""

    def __init__(self, data_dir: Path, seed_name: str = "small", settings: SandboxSettings | dict | None = None,
                 reset: bool = False):
        self.settings = SandboxSettings.coerce(settings)
        self.data_dir = Path(data_dir)
        db_path = self.data_dir / DB_NAME
        fresh = new_database(db_path, reset)
        datasets = datasets_dir(self.settings) if fresh and seed_name != "none" else None
        self.store = Store(db_path)
        if fresh:
            fill_or_remove(self.store, lambda: self._create(seed_name, datasets))
        self.org_id = self.store.meta("org_id")
        seed_organization(self.store, self.org_id, self.settings.org_name, self.settings.org_time_zone,
                          self.settings.clock_origin)
        self.clock = SandboxClock(self.settings.clock_origin, not_before=self._latest_stamp())
        self.faults = Faults(Knobs(token_ttl_seconds=self.settings.token_ttl_seconds,
                                   daily_api_limit=self.settings.daily_api_limit,
                                   refresh_token_rotation=self.settings.refresh_token_rotation))
        self.usage = ApiUsage(self.clock, self.faults)
        self.concurrency = Concurrency(self.faults)
        self.tokens = TokenStore(self.store, self.org_id)
        self.cursors = Cursors()
        self.query_jobs = QueryJobs(self.clock, lambda: self.store.allocate("750"))
        self.writer = RecordWriter(self.store, self.clock, self.faults.rejects)
        admin_profile = self.store.fetchall('SELECT "Id" FROM "Profile" WHERE "Name" = ?', (ADMIN_PROFILE,))[0][0]
        if not self.store.count("User"):
            self.writer.create("User", {"FirstName": "Alex", "LastName": "Admin", "Title": ADMIN_PROFILE,
                                        "Department": "Sales Operations", "ProfileId": admin_profile,
                                        "Username": "alex.admin@maven-sandbox.example",
                                        "Email": "alex.admin@maven-sandbox.example",
                                        "TimeZoneSidKey": self.settings.org_time_zone, "LocaleSidKey": "en_US"},
                               actor_id="", system=True)
        self.admin_id = self.store.fetchall(
            'SELECT "Id" FROM "User" ORDER BY "ProfileId" = ? DESC, rowid LIMIT 1', (admin_profile,))[0][0]
        action_id = self.store.meta("outbound_action_id")
        if action_id is None:
            action_id = make_id("04k", self.store.allocate("04k"))
            self.store.set_meta("outbound_action_id", action_id)
        self.outbound = OutboundDispatcher(self.settings, self.org_id, action_id, self.settings.api_version,
                                           current=self._at_delivery)
        self.writer.listeners.append(notification_listener(self.outbound, self._notification))

    def _notification(self, object_name: str, record_id: str, change: str) -> Notification | None:
        """A committed change as an outbound notification with a new 04l id; its data is read at delivery."""
        notification_id = make_id("04l", self.store.allocate("04l"))  # persisted: unique across restarts
        return Notification(notification_id, object_name, record_id, change)

    def _at_delivery(self, note: Notification) -> Notification:
        """The notification with the fields its definition chose, as the record is now; no data once deleted."""
        row = self.store.get(note.object_name, note.record_id)
        if row is None or row["IsDeleted"]:
            return replace(note, values=None)
        chosen = (self.settings.outbound_fields or {}).get(note.object_name, ("Id",))
        return replace(note, values=snapshot(self.store.fields(note.object_name), row, chosen))

    def _create(self, seed_name: str, datasets: Path | None) -> None:
        org_id = self.settings.org_id or make_id("00D", random.SystemRandom().randrange(10 ** 8, 10 ** 9))
        self.store.set_meta("org_id", org_id)
        self.store.set_meta("seed", seed_name)
        result = seed(self.store, datasets, seed_name, self.settings.clock_origin, self.settings.currencies)
        self.store.set_meta("date_shift_days", result["date_shift_days"])

    def _latest_stamp(self):
        stamps = [self.store.fetchall(f'SELECT MAX("SystemModstamp") FROM "{name}"')[0][0] for name in OBJECTS]
        stamps = [s for s in stamps if s]
        return parse_datetime(max(stamps)) if stamps else None

    # -- facts for the control API and tests ----------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Live (not deleted) records per object."""
        return {name: self.store.count(name, '"IsDeleted" = 0') for name in OBJECTS}

    def info(self, instance_url: str) -> dict[str, Any]:
        """What a test or script needs to know about this org."""
        admin = self.store.get("User", self.admin_id)
        return {
            "org_id": self.org_id, "org_name": self.settings.org_name, "instance_url": instance_url,
            "login_url": instance_url, "api_version": self.settings.api_version,
            "client_id": self.settings.client_id, "admin_user_id": self.admin_id,
            "admin_username": admin["Username"], "seed": self.store.meta("seed"),
            "clock": format_datetime(self.clock.now()), "clock_origin": format_datetime(self.clock.origin),
            "date_shift_days": int(self.store.meta("date_shift_days") or 0),
            "counts": self.counts(), "api_usage": {"used": self.usage.used, "limit": self.usage.limit},
            "canvas_url": self.settings.canvas_url, "outbound_url": self.outbound.url,
        }

    def user_role(self, user: dict[str, Any]) -> str:
        """admin (Modify All Data), manager (someone reports to them) or rep, for the sandbox's own pages."""
        if user_permissions(self.store, user["Id"])["PermissionsModifyAllData"]:
            return "admin"
        leads = self.store.count("User", '"ManagerId" = ? AND "IsActive" = 1', (user["Id"],))
        if not leads and user.get("UserRoleId"):
            leads = self.store.count("User", '"IsActive" = 1 AND "UserRoleId" IN (SELECT "Id" FROM "UserRole" '
                                     'WHERE "ParentRoleId" = ?)', (user["UserRoleId"],))
        return "manager" if leads else "rep"

    def field_access(self, user_id: str) -> FieldAccess:
        """The custom fields this user may read and edit (field-level security)."""
        return field_access(self.store, user_id)

    def corporate_currency(self) -> str:
        """The org's corporate currency: CurrencyType's IsCorporate one, else USD (the default org's)."""
        found = self.store.fetchall('SELECT "IsoCode" FROM "CurrencyType" WHERE "IsCorporate" = 1 LIMIT 1')
        return found[0][0] if found else "USD"

    def object_available(self, object_name: str, user_id: str | None = None) -> bool:
        """Whether the org has this object (a feature object only when its feature is on), for this user."""
        needs = CURRENCY_OBJECTS.get(object_name)
        if needs and CURRENCY_MODES.index(self.store.currency_mode) < CURRENCY_MODES.index(needs):
            return False
        knob = FEATURE_OBJECTS.get(object_name)
        if knob is not None and not getattr(self.faults.knobs, knob):
            return False
        if user_id is None or object_name not in SETUP_ACCESS:
            return True
        return readable_by(object_name, user_permissions(self.store, user_id))

    def records(self, object_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of an object as the API shows it."""
        where = "1=1" if include_deleted else '"IsDeleted" = 0'
        return [self.store.api_record(object_name, row, self.settings.api_version)
                for row in self.store.select(object_name, where)]

    def close(self) -> None:
        """Stop outbound delivery and release the SQLite file."""
        self.outbound.stop()
        self.store.close()
