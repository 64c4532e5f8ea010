"""The Salesforce REST client over simple-salesforce: paging, token refresh, retries, reads and batch writes.

Somewhat over 300 lines because it is one class over one REST session; what stands apart from that session
already has its own module: the error answers (``failures``), Bulk API 2.0 (``bulk``), describe
(``describe``), field provisioning (``provisioning``) and the preflight (``preflight``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connectors.base import Stream, WritableField
from connectors.client_base import ClientBase
from connectors.client_protocol import ChangePage, Finding, OrgProfile, TokenSaver, WriteResult
from connectors.errors import Fatal, Retriable, Unavailable
from connectors.oauth import OAuthApp
from connectors.salesforce.bulk import DEFAULT_THRESHOLD, BulkReader
from connectors.salesforce.describe import Catalog, selectable
from connectors.salesforce.failures import PERMANENT_REJECTIONS, LocatorGone, translate, unavailable_sentence
from connectors.salesforce.mapping import sf_datetime
from connectors.salesforce.streams import ALL as STREAMS

log = logging.getLogger(__name__)

COLLECTION_LIMIT = 200  # records per sObject Collections call
IDS_PER_QUERY = 200     # keeps the SOQL inside URL length limits
# A query locator can be gone (expired, invalidated): the read restarts from its last record this often.
LOCATOR_RESTARTS = 3
# What Salesforce answers a query naming a field (or an object) the integration user no longer sees:
# a kept describe answer that listed it is stale.
STALE_DESCRIBE = {"INVALID_FIELD", "INVALID_TYPE"}




def soql_datetime(value: datetime) -> str:
    """A naive-UTC datetime as a SOQL literal (whole seconds)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"




class SalesforceClient(ClientBase):
    """One connection's REST client; refreshes its token itself and reports every new token."""

    crm_name = "Salesforce"
    batch_limit = COLLECTION_LIMIT

    def __init__(self, token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None = None,
                 api_version: str = "59.0", verify: str | bool = True, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 120.0,
                 bulk_threshold: int = DEFAULT_THRESHOLD):
        super().__init__(token, oauth, on_token, max_attempts=max_attempts, sleep=sleep)
        self.last_total: int | None = None  # the current stream's totalSize, for the progress page
        self._api_version = api_version
        self._verify = verify
        self._timeout = timeout
        self._last_response: requests.Response | None = None
        self._session = requests.Session()
        self._session.verify = verify
        # An explicit CA file (or verify=False) must win over REQUESTS_CA_BUNDLE and friends.
        self._session.trust_env = verify is True
        # simple-salesforce drops the headers of failed answers; keep them for Retry-After.
        self._session.hooks["response"].append(self._remember)
        self._sf = self._build()
        # Kept by the process per org and integration user (the identity URL names both).
        self.catalog = Catalog(self._composite, api_version, [s.remote_name for s in STREAMS],
                               key=f"{token.get('instance_url')} {token.get('id') or ''} v{api_version}")
        # stream name → fields the org does not let Pipewise read (the engine notes them for the admin)
        self.left_out_fields: dict[str, list[str]] = {}
        self.bulk = BulkReader(self, bulk_threshold, api_version, sleep)

    # -- plumbing -----------------------------------------------------------------------------

    def _build(self) -> Salesforce:
        return Salesforce(instance_url=self._token["instance_url"],
                          session_id=self._token["access_token"],
                          session=self._session, version=self._api_version)

    def _remember(self, response: requests.Response, *args, **kwargs) -> None:
        self._last_response = response

    def _refused_after_refresh(self) -> Fatal:
        return Fatal("Salesforce refused a freshly refreshed token. An admin should check "
                     "the connected app's session policies, then re-authorize.",
                     status=401, code="INVALID_SESSION_ID")

    def _once(self, fn: Callable[[Salesforce], Any]) -> Any:
        """One REST call through simple-salesforce; connector errors for its failures."""
        self.usage.calls += 1
        try:
            return fn(self._sf)
        except SalesforceError as exc:
            raise translate(exc, self._last_response) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retriable(f"Salesforce could not be reached ({type(exc).__name__}); "
                            "Pipewise will try again.") from exc
        finally:
            self._note_usage()

    def _note_usage(self) -> None:
        api_usage = self._sf.api_usage.get("api-usage")
        if api_usage is not None:
            self.usage.used, self.usage.limit = api_usage.used, api_usage.total


    def _after_refresh(self) -> None:
        self._sf = self._build()

    def _composite(self, subrequests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One Composite call (one API call however many subrequests); the answers in order."""
        answer = self._call(lambda sf: sf.restful("composite", method="POST", timeout=self._timeout,
                                                  json={"allOrNone": False, "compositeRequest": subrequests}))
        return answer.get("compositeResponse", [])

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every live record of a small query, without attributes."""
        records = []
        for page in self._pages(soql, 2000, include_deleted=False):
            records.extend(page)
        return records

    def count(self, soql: str) -> int:
        """A ``SELECT COUNT()`` query's totalSize over queryAll (soft-deleted records count, as read_stream reads them)."""
        return int(self._call(lambda sf: sf.query(soql, include_deleted=True, timeout=self._timeout))["totalSize"])

    def org_profile(self) -> OrgProfile:
        """Organization.Name and TimeZoneSidKey (Object Reference: one row, readable with the api scope)."""
        rows = self.query("SELECT Id, Name, TimeZoneSidKey, DefaultLocaleSidKey FROM Organization")
        if not rows:
            return OrgProfile()
        return OrgProfile(name=(rows[0].get("Name") or "").strip() or None, time_zone=rows[0].get("TimeZoneSidKey"))

    # -- reading ------------------------------------------------------------------------------

    def _fields(self, stream: type[Stream]) -> list[str]:
        """The stream's fields that the org lets Pipewise read; Unavailable when the object is not there."""
        described = self.catalog.get(stream.remote_name)
        if described is None:
            raise Unavailable(unavailable_sentence(stream.remote_name), code="NOT_FOUND")
        chosen, missing = selectable(stream, described)
        needed = {stream.primary_key, stream.cursor_field} - set(chosen)
        if needed:
            raise Unavailable(f"Salesforce does not let Pipewise read {', '.join(sorted(needed))} on "
                              f"{stream.remote_name}. Give the integration user read access to the object and "
                              "its fields, then sync again.", code="INVALID_FIELD")
        if missing:
            self.left_out_fields[stream.name] = missing
            log.info("salesforce.fields.left-out object=%s fields=%s", stream.remote_name, ",".join(missing))
        return chosen

    def _soql(self, stream: type[Stream], where: str | None) -> str:
        cursor, key = stream.cursor_field, stream.primary_key
        query = f"SELECT {', '.join(self._fields(stream))} FROM {stream.remote_name}"
        if where:
            query += f" WHERE {where}"
        return query + f" ORDER BY {cursor}, {key}"

    def _described_pages(self, stream: type[Stream], where: str | None, page_size: int,
                         on_total=None) -> Iterator[list[dict[str, Any]]]:
        """The pages of the stream's query over the fields describe lists; describes again once when refused.

        The answers are kept for minutes (``describe.KEPT``): a field or object taken away from the
        integration user meanwhile fails the query before its first page, and a fresh describe leaves it out.
        """
        for attempt in (1, 2):
            kept = self.catalog.kept(stream.remote_name)
            pages = self._pages(self._soql(stream, where), page_size, on_total=on_total)
            try:
                first = next(pages)
            except (Fatal, Unavailable) as exc:
                if attempt == 2 or not kept or exc.code not in STALE_DESCRIBE:
                    raise
                log.info("salesforce.describe.stale object=%s code=%s", stream.remote_name, exc.code)
                self.catalog.forget(stream.remote_name)
                continue
            yield first
            yield from pages
            return

    def _pages(self, query: str, page_size: int, include_deleted: bool = True,
               on_total=None) -> Iterator[list[dict[str, Any]]]:
        """Each page of a queryAll (or a query), records without ``attributes``."""
        options = {"headers": {"Sforce-Query-Options": f"batchSize={page_size}"}, "timeout": self._timeout}
        result = self._call(lambda sf: sf.query(query, include_deleted=include_deleted, **options))
        if on_total is not None and result.get("totalSize") is not None:
            on_total(int(result["totalSize"]))  # the query's whole result, told on its first page
        while True:
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in result["records"]]
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            result = self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True,
                                                         include_deleted=include_deleted, **options))

    @staticmethod
    def _after(stream: type[Stream], since: datetime | None, after_id: str | None) -> str | None:
        cursor, key = stream.cursor_field, stream.primary_key
        if since is None:
            return None
        literal = soql_datetime(since)
        # SOQL literals carry whole seconds: with a fractional ``since`` an exact tie cannot be
        # expressed, so fall back to the inclusive bound (a few repeats, never a loss).
        if after_id and since.microsecond == 0:
            return f"({cursor} > {literal} OR ({cursor} = {literal} AND {key} > {soql_string(after_id)}))"
        return f"{cursor} >= {literal}"

    def read_stream(self, stream: type[Stream], since: datetime | None,
                    after_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages ordered by (cursor, id) from ``since`` inclusive, soft deletes included.

        When a query locator is gone mid-way, the query runs again from the last record handed out.
        """
        restarts = 0
        self.last_total = None
        while True:
            try:
                # The first query's totalSize is the stream's total (for the progress page); a restart
                # after a lost locator counts only what is left, so it does not replace it.
                on_total = (lambda total: setattr(self, "last_total", total)) if restarts == 0 else None
                for page in self._described_pages(stream, self._after(stream, since, after_id), stream.page_size,
                                                  on_total=on_total):
                    yield page
                    if page and page[-1].get(stream.cursor_field):
                        since = sf_datetime(page[-1][stream.cursor_field])
                        after_id = page[-1][stream.primary_key]
                return
            except LocatorGone:
                restarts += 1
                if restarts > LOCATOR_RESTARTS:
                    raise Retriable(f"Salesforce kept dropping the query over {stream.remote_name} before its "
                                    "last page. Pipewise resumes from its checkpoint at the next sync.") from None
                log.warning("salesforce.query.locator-gone object=%s restart=%d", stream.remote_name, restarts)

    def read_backfill(self, stream: type[Stream], resume: str | None) -> Iterator[ChangePage]:
        """Every record of a large stream through a Bulk API 2.0 query job, in any order; ``resume`` continues a job.

        Raises BackfillNotOffered for a stream at or below the bulk threshold or one Bulk API 2.0 cannot read.
        """
        return self.bulk.read(stream, resume)

    def read_records(self, stream: type[Stream], remote_ids: list[str]) -> list[dict[str, Any]]:
        """The current records with these ids, deleted ones flagged (queryAll)."""
        records: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(remote_ids))
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ", ".join(soql_string(i) for i in ids[start:start + IDS_PER_QUERY])
            for page in self._described_pages(stream, f"{stream.primary_key} IN ({chunk})", stream.page_size):
                records.extend(page)
        return records

    # -- writing ------------------------------------------------------------------------------

    def update_records(self, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
        """One sObject Collections PATCH (allOrNone false): a result per record, in order."""
        self.check_batch(updates)
        if not updates:
            return []
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": remote_name}, **u} for u in updates]}
        answer = self._call(lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body,
                                                  timeout=self._timeout)) or []
        results = []
        for update, result in zip(updates, answer):
            if result.get("success"):
                results.append(WriteResult(result.get("id") or update["Id"], True))
                continue
            errors = result.get("errors") or [{}]
            code = errors[0].get("statusCode")
            results.append(WriteResult(
                result.get("id") or update["Id"], False, error_code=code,
                message="; ".join(str(e.get("message") or "") for e in errors) or None,
                permanent=code in PERMANENT_REJECTIONS))
        return results

    def describe(self, remote_name: str) -> dict[str, Any]:
        """The object's describe answer (fields and their types)."""
        return self._call(lambda sf: sf.restful(f"sobjects/{remote_name}/describe",
                                                timeout=self._timeout))

    def ensure_fields(self, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
        """Create the missing Pipewise fields and let the integration user edit them; the names created."""
        from connectors.salesforce.provisioning import ensure_fields

        created = ensure_fields(self, remote_name, fields)
        self.catalog.forget(remote_name)
        return created

    def preflight(self) -> list[Finding]:
        """Check the live org: scopes, objects, fields and their security, optional objects, API allowance."""
        from connectors.salesforce.preflight import preflight

        return preflight(self)

    # -- lifecycle ----------------------------------------------------------------------------

    def revoke(self) -> bool:
        """Revoke the refresh token at Salesforce (best effort): whether Salesforce confirmed."""
        token = self._token.get("refresh_token") or self._token.get("access_token")
        if not token or not self._oauth.provider.revoke_path:
            return False
        url = self._oauth.base_url.rstrip("/") + self._oauth.provider.revoke_path
        try:
            self.usage.calls += 1
            response = self._session.post(url, data={"token": token}, timeout=30)
        except requests.RequestException:
            return False
        return response.status_code == 200

    @property
    def token(self) -> dict[str, Any]:
        """The current token set (after any refresh)."""
        return dict(self._token)

    @property
    def user_id(self) -> str:
        """The integration user: the one whose grant this connection uses."""
        return (self._token.get("id") or "").rstrip("/").rpartition("/")[2]




def build_client(token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, config: Any) -> SalesforceClient:
    """The client for one connection, from the settings object every connector package accepts."""
    threshold = getattr(config, "SALESFORCE_BULK_THRESHOLD", None)
    return SalesforceClient(token, oauth, on_token, api_version=config.SALESFORCE_API_VERSION,
                            verify=config.ca_bundle,
                            bulk_threshold=int(threshold) if threshold not in (None, "") else DEFAULT_THRESHOLD)
