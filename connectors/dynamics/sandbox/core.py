"""One Dataverse environment: its store, clock, tables, tenant, limits, writes and webhook sender."""
from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import g, has_request_context, request
from joserfc.jwk import RSAKey

from connectors.sandbox_kit.clock import TickingClock, parse_iso_utc
from connectors.sandbox_kit.datasets import SEEDS
from connectors.sandbox_kit.sqlite_store import fill_or_remove, new_database

from . import goals, remote_context, webhooks
from .faults import Faults
from .limits import ServiceProtection
from .records import Writer
from .schema import DATA_TABLES, TABLES, Column, Table
from .seed import organization_id, seed
from .settings import DynamicsSandboxSettings, datasets_dir
from .store import Store
from .tokens import Tokens


class DynamicsSandbox:
    """State shared by the request threads of one environment."""

    def __init__(self, data_dir: Path, seed_kind: str = "small", settings: Any = None, reset: bool = False):
        self.settings = DynamicsSandboxSettings.coerce(settings)
        if seed_kind not in SEEDS:
            raise ValueError(f"Unknown seed {seed_kind!r}: use one of {', '.join(SEEDS)}.")
        path = Path(data_dir) / "dataverse.sqlite"
        fresh = new_database(path, reset)
        self.store = Store(path)
        self.tables: dict[str, Table] = copy.deepcopy(TABLES)
        if fresh:
            fill_or_remove(self.store, lambda: self._create(seed_kind))
        for logical, name, definition in self.store.fetchall("SELECT tbl, name, definition FROM custom_columns"):
            values = json.loads(definition)
            values["options"] = {int(k): v for k, v in values["options"].items()}
            values["targets"] = tuple(values["targets"])
            self.tables[logical].columns[name] = Column(**values)
        newest = self.store.fetchall("SELECT max(modified) FROM records")[0][0]
        self.clock = TickingClock(self.settings.clock_origin, parse_iso_utc(newest) if newest else None)
        self.faults = Faults()
        self.tokens = Tokens(self.store)
        self.limits = ServiceProtection(self.clock, self.faults)
        self.writer = Writer(self.store, self.clock, self.tables, self._changed)
        self.sender = webhooks.WebhookSender(self.settings)
        self.consents: set[tuple[str, str]] = set()
        self.signing_key = RSAKey.import_key(self.store.meta("signing_key"),
                                             {"kid": self.store.meta("signing_kid"), "use": "sig"})
        self.base_url: str | None = None
        self._lock = threading.Lock()

    def _create(self, seed_kind: str) -> None:
        key = RSAKey.generate_key(2048)
        self.store.set_meta("signing_key", key.as_pem(private=True).decode())
        self.store.set_meta("signing_kid", uuid.uuid4().hex[:27])
        self.store.set_meta("organization_id", organization_id(self.settings))
        for logical, table in self.tables.items():
            on = table.can_track and logical in DATA_TABLES and logical not in self.settings.untracked_tables
            self.store.set_meta(f"tracking:{logical}", "1" if on else "0")
        folder = datasets_dir(self.settings) if seed_kind != "none" else None
        facts = seed(self.store, self.tables, folder, seed_kind, self.settings)
        for name, value in facts.items():
            self.store.set_meta(name, value)

    # -- tables ------------------------------------------------------------------------------------

    def table_for_set(self, entity_set: str) -> Table | None:
        return next((t for t in self.tables.values() if t.entity_set == entity_set), None)

    def tracking_enabled(self, logical: str) -> bool:
        return self.store.meta(f"tracking:{logical}") == "1"

    def enable_tracking(self, logical: str) -> None:
        """Turn change tracking on (it can never be turned off)."""
        self.store.set_meta(f"tracking:{logical}", "1")

    def add_column(self, table: Table, column: Column) -> None:
        definition = {k: v for k, v in asdict(column).items()}
        definition["targets"] = list(column.targets)
        definition["options"] = {int(k): v for k, v in column.options.items()}
        self.store.execute("INSERT INTO custom_columns VALUES (?, ?, ?, ?)",
                           (table.logical, column.name, json.dumps(definition), str(uuid.uuid4())))
        table.columns[column.name] = column

    def customization_prefixes(self, solution: str | None) -> set[str]:
        """Prefixes a new column may carry: the solution's publisher's, or any publisher's without a solution."""
        publishers = {p["publisherid"]: p["customizationprefix"].lower()
                      for p in self.store.rows("publisher") if p.get("customizationprefix")}
        if not solution:
            return set(publishers.values())
        for row in self.store.rows("solution"):
            if row.get("uniquename", "").lower() == solution.lower() and row.get("publisherid"):
                return {publishers.get(row["publisherid"]["id"], "")} - {""}
        return set()

    # -- people ------------------------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return sorted((u for u in self.store.rows("systemuser") if not u.get("isdisabled")),
                      key=lambda u: (u.get("title") != "System Administrator", u.get("fullname") or ""))

    def user(self, key: str | None) -> dict[str, Any] | None:
        """A user by systemuserid or sign-in name (domainname)."""
        if not key:
            return None
        for row in self.store.rows("systemuser"):
            if row["systemuserid"] == key.lower() or (row.get("domainname") or "").lower() == key.lower():
                return row
        return None

    def caller(self) -> str:
        """The systemuserid the current request runs as."""
        if has_request_context():
            return request.environ.get("dynamics.user") or g.get("dynamics_user")
        return self.store.meta("admin_id")

    def name_of(self, logical: str, record_id: str) -> str | None:
        row = self.store.get(logical, record_id)
        table = self.tables.get(logical)
        return row.get(table.primary_name) if row and table else None

    # -- webhooks ----------------------------------------------------------------------------------

    def org(self) -> dict[str, str]:
        return {"business_unit_id": self.store.meta("business_unit_id"),
                "organization_id": self.store.meta("organization_id"),
                "organization_name": self.settings.org_name,
                "domain": urlparse(self.base_url).hostname if self.base_url else self.settings.org_name}

    def _steps(self, message: str, logical: str, changed: set[str]) -> list[tuple[dict, dict]]:
        messages = {r["sdkmessageid"]: r["name"] for r in self.store.rows("sdkmessage")}
        filters = {r["sdkmessagefilterid"]: r for r in self.store.rows("sdkmessagefilter")}
        endpoints = {r["serviceendpointid"]: r for r in self.store.rows("serviceendpoint")}
        found = []
        for step in self.store.rows("sdkmessageprocessingstep"):
            message_ref, filter_ref, handler = step.get("sdkmessageid"), step.get("sdkmessagefilterid"), \
                step.get("eventhandler")
            if step.get("statecode") or not message_ref or not handler or messages.get(message_ref["id"]) != message:
                continue
            if filter_ref and filters.get(filter_ref["id"], {}).get("primaryobjecttypecode") != logical:
                continue
            attributes = {a.strip() for a in (step.get("filteringattributes") or "").split(",") if a.strip()}
            if message == "Update" and attributes and not attributes & changed:
                continue
            endpoint = endpoints.get(handler["id"])
            if endpoint and endpoint.get("contract") == 8 and endpoint.get("url"):
                found.append((endpoint, {"id": step["sdkmessageprocessingstepid"], "name": step.get("name"),
                                         "stage": step.get("stage") or 40}))
        return found

    def _changed(self, message: str, table: Table, record_id: str, attributes: dict, user: str) -> None:
        if table.logical not in DATA_TABLES:
            return
        steps = self._steps(message, table.logical, set(attributes))
        if not steps:
            return
        event = remote_context.new_event(message, table, record_id, attributes, user, time.time())
        for endpoint, step in steps:
            try:
                self.sender.send(webhooks.prepare(endpoint, step, event, self.org()))
            except ValueError:
                continue  # an endpoint whose authvalue cannot be read sends nothing, as a failed system job

    # -- the rest ----------------------------------------------------------------------------------

    def info(self, base_url: str) -> dict[str, Any]:
        admin = self.user(self.store.meta("admin_id"))
        return {"org_url": base_url, "web_api": f"{base_url}/api/data/v9.2", "tenant_id": self.settings.tenant_id,
                "authority": f"{base_url}/{self.settings.tenant_id}", "client_id": self.settings.client_id,
                "organization_id": self.store.meta("organization_id"), "org_name": self.settings.org_name,
                "admin": admin["domainname"] if admin else None, "clock": self.clock.now().isoformat() + "Z",
                "date_shift_days": int(self.store.meta("date_shift_days") or 0),
                "counts": {t.entity_set: self.store.count(t.logical) for t in self.tables.values()
                           if t.logical in DATA_TABLES},
                "quotas": goals.quotas(self.store)}

    def close(self) -> None:
        self.sender.stop()
        self.store.close()
