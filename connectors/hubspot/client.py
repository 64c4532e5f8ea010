"""The HubSpot CRM client over hubspot-api-client: search paging, token refresh, retries, typed errors.

A first or full read (``read_backfill``) pages through the objects list endpoint under the general
burst limit (``connectors.hubspot.backfill``). Incremental reads go through the search API in cursor
order (see ``connectors.hubspot.search`` for why no record is ever skipped), then one pass over the
archived listing (the search API never returns archived records) yields the records archived since the
window's start, flagged deleted. Each page is completed with the associations and property histories its
stream declares (``connectors.hubspot.batch_reads``).

Calls use the official client with ``_preload_content=False``: the JSON answer and the rate-limit
headers are read as HubSpot sent them, with no model (de)serialization in between.

Over 300 lines because it is one class over one portal's session (its token, pacing and usage); what needs
only a call already has its own module: search paging, the list endpoint, batch reads, owners, pipelines,
currencies, writes, and the error answers (``failures``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import urllib3

from connectors.base import Stream, WritableField
from connectors.client_base import ClientBase
from connectors.client_protocol import ChangePage, Finding, OrgProfile, TokenSaver, WriteResult
from connectors.errors import BackfillNotOffered, Fatal, ReauthorizationRequired, Retriable, Skippable, Unavailable
from connectors.hubspot.account_info import portal_profile
from connectors.hubspot.backfill import LIST_LIMIT, list_pages, newest_body, newest_change
from connectors.hubspot.batch_reads import BATCH_LIMIT, complete, read_by_ids
from connectors.hubspot.currencies import read_currencies
from connectors.hubspot.failures import MISSING_SCOPES, translate
from connectors.hubspot.mapping import epoch_ms, hs_datetime
from connectors.hubspot.sdk import raw_json, sdk
from connectors.hubspot.owners import owner_listing, owner_order, read_owners
from connectors.hubspot.pacing import BurstPacer
from connectors.hubspot.pipelines import read_stages
from connectors.hubspot.search import RateLimiter, search_in_cursor_order
from connectors.hubspot.tokens import granted_scopes
from connectors.hubspot.writes import ensure_properties, update_batch
from connectors.oauth import OAuthApp

HISTORY_LIST_LIMIT = 50                 # list pages carrying propertiesWithHistory are capped at 50
REFRESH_MARGIN_SECONDS = 300            # refresh when less than this is left of the 30 minutes
# Streams read whole on every run, in one answer, by a helper module: remote name → reader(call).
LISTINGS = {"exchange_rates": read_currencies, "pipelines": read_stages}


class HubSpotClient(ClientBase):
    """One portal's CRM client; refreshes its token itself and reports every new token."""

    crm_name = "HubSpot"
    batch_limit = BATCH_LIMIT
    refresh_margin_seconds = REFRESH_MARGIN_SECONDS

    def __init__(self, token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None = None, *,
                 api_url: str, verify: str | bool = True, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 search_per_second: float = 4.0, monotonic: Callable[[], float] = time.monotonic,
                 timeout: float = 60.0, app_id: str | None = None, developer_api_key: str | None = None):
        super().__init__(token, oauth, on_token, max_attempts=max_attempts, sleep=sleep, clock=clock)
        self.last_total: int | None = None
        self.last_headers: dict[str, str] = {}  # the rate-limit headers of the last answer
        self._app_id, self._developer_api_key = app_id, developer_api_key
        self._api_url = api_url
        self._verify = verify
        self._timeout = timeout
        self._search_limiter = RateLimiter(search_per_second, clock=monotonic, sleep=sleep)
        self._pacer = BurstPacer(clock=monotonic, sleep=sleep)
        self._apis: dict[str, Any] = {}
        # Per object type, the property names its properties API lists (None: the listing was refused).
        self._listed: dict[str, set[str] | None] = {}
        self.left_out_fields: dict[str, list[str]] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        """One API object of the official client, kept (each builds its own connection pool)."""
        if name not in self._apis:
            hub = sdk(self._token.get("access_token"), self._api_url, self._verify)
            self._apis[name] = {
                "search": lambda: hub.crm.objects.search_api, "batch": lambda: hub.crm.objects.batch_api,
                "basic": lambda: hub.crm.objects.basic_api, "owners": lambda: hub.crm.owners.owners_api,
                "properties": lambda: hub.crm.properties.core_api, "groups": lambda: hub.crm.properties.groups_api,
                "associations": lambda: hub.crm.associations.v4.batch_api,
                "users": lambda: hub.settings.users.users_api, "roles": lambda: hub.settings.users.roles_api,
                "pipelines": lambda: hub.crm.pipelines.pipelines_api,
            }[name]()
        return self._apis[name]

    def _refused_after_refresh(self) -> ReauthorizationRequired:
        return ReauthorizationRequired("HubSpot refused a freshly refreshed token: the app may have "
                                       "been uninstalled. An admin must re-authorize the connection.", status=401)

    def _once(self, api: str, fn: Callable[[Any], Any], search: bool = False) -> Any:
        """One call of an API object of the official client (rate-limited when a search); its JSON answer."""
        if search:
            self._search_limiter.wait()
        self._pacer.wait()
        self.usage.calls += 1
        try:
            response = fn(self._api(api))
        except urllib3.exceptions.HTTPError as exc:
            raise Retriable(f"HubSpot could not be reached ({type(exc).__name__}); "
                            "Pipewise will try again.") from exc
        except Exception as exc:
            # Each sub-package of the official client has its own ApiException class.
            if not (type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status")):
                raise
            self._note_usage(getattr(exc, "headers", None))
            raise translate(exc) from exc
        self._note_usage(response.headers)
        return raw_json(response)

    def _note_usage(self, headers: Any) -> None:
        if not headers:
            return
        self.last_headers = {k: v for k, v in headers.items() if k.lower().startswith("x-hubspot-ratelimit")}
        self._pacer.note(headers)
        daily, remaining = headers.get("X-HubSpot-RateLimit-Daily"), headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily and remaining and daily.isdigit() and remaining.isdigit():
            self.usage.limit, self.usage.used = int(daily), int(daily) - int(remaining)

    def _after_refresh(self) -> None:
        self._apis.clear()

    # -- reading ------------------------------------------------------------------------------

    def read_stream(self, stream: type[Stream], since: datetime | None,
                    after_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages in cursor order from ``since`` inclusive, then the records archived since then.

        An optional stream whose scope the portal did not grant raises ``Unavailable``.
        """
        yield from self._granted(stream, self._read_stream(stream, since, after_id))

    def read_backfill(self, stream: type[Stream], resume: str | None) -> Iterator[ChangePage]:
        """Every live record of an object through the list endpoint, 100 a page; ``after`` resumes it."""
        if stream.remote_name in LISTINGS or not stream.incremental:
            raise BackfillNotOffered(f"HubSpot {stream.remote_name} are listed whole on every run.")
        yield from self._granted(stream, self._read_backfill(stream, resume))

    def _read_backfill(self, stream: type[Stream], resume: str | None) -> Iterator[ChangePage]:
        associations = list(stream.associations)
        # One search for the newest record, before the listing: its total is the progress bar's (the
        # listing tells none) and its cursor value is the read's start on the portal's clock (nothing
        # changed between it and the first page, or it would be newer).
        self.last_total = None
        answer = self._call("search", lambda api: api.do_search(stream.remote_name, newest_body(stream),
                                                                _preload_content=False,
                                                                _request_timeout=self._timeout), search=True)
        as_of = newest_change(answer or {}, stream)
        if answer and answer.get("total") is not None:
            self._set_total(int(answer["total"]))

        def page(after: str | None) -> dict[str, Any]:
            return self._call("basic", lambda api: api.get_page(
                stream.remote_name, limit=LIST_LIMIT, after=after, properties=self.fields_for(stream),
                associations=associations or None, archived=False, _preload_content=False,
                _request_timeout=self._timeout))

        for records, after in list_pages(page, resume):
            yield ChangePage(records=self._complete(stream, records, archived=False, listed=True) if records
                             else [], token=after, as_of=as_of)

    def _granted(self, stream: type[Stream], pages: Iterator[Any]) -> Iterator[Any]:
        """The pages of a read, an optional stream whose scope the portal did not grant as ``Unavailable``."""
        self._check_granted(stream)
        try:
            yield from pages
        except Fatal as exc:
            if exc.code == MISSING_SCOPES and stream.optional:
                raise self._unavailable(stream) from exc
            raise

    def _check_granted(self, stream: type[Stream]) -> None:
        granted = granted_scopes(self._token)
        scope = stream.scope
        if stream.optional and granted is not None and scope and scope not in granted:
            raise self._unavailable(stream)

    @staticmethod
    def _unavailable(stream: type[Stream]) -> Unavailable:
        scope = stream.scope or "its scope"
        note = stream.unavailable_note
        return Unavailable(f"HubSpot did not grant Pipewise {scope}, so {stream.remote_name.replace('_', ' ')} "
                           f"{note}.", code=MISSING_SCOPES)

    def _read_stream(self, stream: type[Stream], since: datetime | None,
                     after_id: str | None) -> Iterator[list[dict[str, Any]]]:
        listing = LISTINGS.get(stream.remote_name)
        if listing is not None:
            yield listing(self._timed_call)
            return
        if not stream.incremental:
            yield from self._pages_of(sorted(self._owners(), key=owner_order), stream.page_size)
            return
        since_ms = epoch_ms(since) if since is not None else None

        def search(body: dict[str, Any]) -> dict[str, Any]:
            return self._call("search", lambda api: api.do_search(
                stream.remote_name, body, _preload_content=False, _request_timeout=self._timeout), search=True)

        self.last_total = None
        for page in search_in_cursor_order(search, stream.cursor_field, self.fields_for(stream), stream.page_size,
                                           since_ms, on_total=self._set_total):
            if after_id is not None and since_ms is not None:
                page = [r for r in page if not _at_or_before(r, stream, since_ms, after_id)]
            if page:
                yield self._complete(stream, page, archived=False)
        archived = [r for r in self._archived(stream)
                    if since is None or (hs_datetime(r.get("archivedAt")) or since) >= since]
        archived.sort(key=lambda r: (hs_datetime(r.get("archivedAt")) or datetime.min, int(r["id"])))
        yield from self._pages_of(archived, stream.page_size)

    def fields_for(self, stream: type[Stream]) -> list[str]:
        """The stream's properties that this portal has, as its properties API lists them (read once).

        HubSpot answers nothing for a property a portal lacks, so asking for it fails nothing; but a
        missing HubSpot property means a mapping path without data, which the admin is told about (the
        run's note), while a portal's own custom property (``custom_fields``) is simply not asked for.
        """
        if stream.remote_name not in self._listed:
            try:
                self._listed[stream.remote_name] = {p.get("name") for p in self.properties(stream.remote_name)}
            except (Fatal, Skippable):
                self._listed[stream.remote_name] = None
        listed = self._listed[stream.remote_name]
        if listed is None:
            return list(stream.fields)
        custom = stream.custom_fields
        missing = [f for f in stream.fields if f not in listed and f not in custom]
        if missing:
            self.left_out_fields[stream.name] = missing
        return [f for f in stream.fields if f in listed]

    def _set_total(self, total: int) -> None:
        self.last_total = total

    @staticmethod
    def _pages_of(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(records), size):
            yield records[start:start + size]

    def _owners(self) -> list[dict[str, Any]]:
        """Every owner, with its role and its manager (see ``connectors.hubspot.owners``)."""
        return read_owners(lambda api, fn: self._call(api, lambda a: fn(a, self._timeout)))

    def _owner_ids_by_user(self) -> dict[str, str]:
        """Owner ids by their user id (goals name users, the rest of the CRM names owners)."""
        owners = owner_listing(lambda api, fn: self._call(api, lambda a: fn(a, self._timeout)))
        return {str(o["userId"]): str(o["id"]) for o in owners if o.get("userId") not in (None, "")}

    def _archived(self, stream: type[Stream]) -> list[dict[str, Any]]:
        """Every archived record of the stream's object (the listing has no filter on archivedAt)."""
        history = list(stream.history_properties)
        associations = list(stream.associations)
        limit = HISTORY_LIST_LIMIT if history else BATCH_LIMIT

        def page(after: str | None) -> dict[str, Any]:
            return self._call("basic", lambda api: api.get_page(
                stream.remote_name, limit=limit, after=after, properties=self.fields_for(stream),
                properties_with_history=history or None, associations=associations or None, archived=True,
                _preload_content=False, _request_timeout=self._timeout))

        return [{**r, "archived": True} for records, _after in list_pages(page, None) for r in records]

    def _batch_read(self, stream: type[Stream], ids: list[str], archived: bool) -> list[dict[str, Any]]:
        """Batch reads of these ids, with the stream's property histories."""
        return read_by_ids(self._timed_call, stream.remote_name, ids, self.fields_for(stream),
                           list(stream.history_properties), archived)

    def _complete(self, stream: type[Stream], page: list[dict[str, Any]], archived: bool,
                  listed: bool = False) -> list[dict[str, Any]]:
        """The page with the property histories, owner ids and associations its stream declares."""
        return complete(self._timed_call, stream, page, archived, self.fields_for(stream), self._owner_ids_by_user,
                        listed)

    def read_records(self, stream: type[Stream], remote_ids: list[str]) -> list[dict[str, Any]]:
        """The current records with these ids; archived ones flagged, vanished ones as tombstones."""
        self._check_granted(stream)
        ids = list(dict.fromkeys(str(i) for i in remote_ids))
        if not stream.incremental:
            wanted = set(ids)
            return [o for o in self._owners() if str(o.get("id")) in wanted]
        live = self._batch_read(stream, ids, archived=False)
        seen = {str(r["id"]) for r in live}
        missing = [i for i in ids if i not in seen]
        gone = [{**r, "archived": True} for r in self._batch_read(stream, missing, archived=True)] \
            if missing else []
        seen |= {str(r["id"]) for r in gone}
        # Neither live nor archived: purged (GDPR delete) or never there. Either way it is gone.
        purged = [{"id": i, "properties": {}, "archived": True} for i in missing if i not in seen]
        records = []
        if live:
            records += self._complete(stream, live, archived=False)
        if gone:
            records += self._complete(stream, gone, archived=True)
        return records + purged

    # -- writing ------------------------------------------------------------------------------

    def update_records(self, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
        """One batch update (at most 100): a result per update, in order, from the 200/207 answer."""
        self.check_batch(updates, "per batch update")
        return update_batch(self._timed_call, remote_name, updates)

    def ensure_fields(self, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
        """Create the "pipewise" property group and the missing properties; the names created."""
        return ensure_properties(self._timed_call, remote_name, fields)

    def _timed_call(self, api: str, fn: Callable[[Any, float], Any]) -> Any:
        """A retrying, refreshing call for the helper modules: fn(api, timeout)."""
        return self._call(api, lambda a: fn(a, self._timeout))

    @property
    def token(self) -> dict[str, Any]:
        """The current token set (after any refresh)."""
        return dict(self._token)

    @property
    def oauth(self) -> OAuthApp:
        return self._oauth

    def org_profile(self) -> OrgProfile:
        """The portal's hub domain and time zone, with the current token (two calls at most)."""
        self.usage.calls += 1
        return portal_profile(self._token, self._oauth, self._api_url, self._verify, self._timeout)

    # -- the preflight ------------------------------------------------------------------------

    def preflight(self) -> list[Finding]:
        """Check the live portal: scopes, objects, properties, API allowance, webhook subscriptions."""
        from connectors.hubspot.preflight import run

        return run(self)

    def probe(self, stream: type[Stream]) -> None:
        """Read one record of a stream (a search of one), to prove the object can be read."""
        listing = LISTINGS.get(stream.remote_name)
        if listing is not None:
            listing(self._timed_call)
            return
        if not stream.incremental:
            self._call("owners", lambda api: api.get_page(limit=1, _preload_content=False,
                                                           _request_timeout=self._timeout))
            return
        body = {"limit": 1, "properties": [stream.primary_key]}
        self._call("search", lambda api: api.do_search(stream.remote_name, body, _preload_content=False,
                                                       _request_timeout=self._timeout), search=True)

    def properties(self, remote_name: str) -> list[dict[str, Any]]:
        """Every property definition of an object type."""
        answer = self._call("properties", lambda api: api.get_all(remote_name, _preload_content=False,
                                                                  _request_timeout=self._timeout)) or {}
        return list(answer.get("results") or [])

    def webhook_subscriptions(self) -> list[dict[str, Any]] | None:
        """The app's webhook subscriptions, read with the developer account's key; None without one."""
        if not (self._app_id and self._developer_api_key):
            return None
        hub = sdk(None, self._api_url, self._verify, api_key=self._developer_api_key)
        try:
            answer = raw_json(hub.webhooks.subscriptions_api.get_all(
                int(self._app_id), _preload_content=False, _request_timeout=self._timeout))
        except Exception as exc:  # noqa: BLE001 - each sub-package has its own ApiException class
            if type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status"):
                return None
            raise
        return list((answer or {}).get("results") or [])


def _at_or_before(record: dict[str, Any], stream: type[Stream], since_ms: int, after_id: str) -> bool:
    """Whether a record sits at exactly ``since`` with an id not past ``after_id`` (already synced)."""
    value = hs_datetime((record.get("properties") or {}).get(stream.cursor_field))
    return value is not None and epoch_ms(value) == since_ms and int(record["id"]) <= int(after_id)


def build_client(token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, config: Any) -> HubSpotClient:
    """The client for one connection, from the settings object every connector package accepts."""
    return HubSpotClient(token, oauth, on_token, api_url=config.HUBSPOT_API_URL, verify=config.ca_bundle,
                         app_id=getattr(config, "HUBSPOT_APP_ID", None),
                         developer_api_key=getattr(config, "HUBSPOT_DEVELOPER_API_KEY", None))
