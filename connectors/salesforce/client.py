"""The Salesforce REST client over simple-salesforce: paging, token refresh, retries, typed errors."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connectors.base import Stream, TokenSaver, Usage, WritableField, WriteResult
from connectors.errors import Fatal, QuotaExceeded, Retriable, Skippable, error_for_status
from connectors.oauth import OAuthApp
from connectors.retry import call_with_retries, parse_retry_after

COLLECTION_LIMIT = 200  # records per sObject Collections call
IDS_PER_QUERY = 200     # keeps the SOQL inside URL length limits
QUOTA_PAUSE = timedelta(hours=1)  # the limit is a rolling 24 h window: look again in an hour

# Tooling API metadata for each WritableField type.
FIELD_METADATA: dict[str, dict[str, Any]] = {
    "number": {"type": "Number", "precision": 18, "scale": 0},
    "text": {"type": "Text", "length": 255},
    "textarea": {"type": "LongTextArea", "length": 32768, "visibleLines": 5},
    "datetime": {"type": "DateTime"},
}


class _SessionExpired(Exception):
    """The access token was refused (401 INVALID_SESSION_ID): refresh it and try once more."""


def soql_datetime(value: datetime) -> str:
    """A naive-UTC datetime as a SOQL literal (whole seconds)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _errors_of(content: Any) -> tuple[str | None, str]:
    """The first errorCode and the messages of a Salesforce error body."""
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode") or content[0].get("error")
        messages = [str(e.get("message") or e.get("error_description") or "") for e in content]
        return code, "; ".join(m for m in messages if m)
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content or "")[:500]


class SalesforceClient:
    """One connection's REST client; refreshes its token itself and reports every new token."""

    def __init__(self, token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None = None,
                 api_version: str = "59.0", verify: str | bool = True, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 120.0):
        self.usage = Usage()
        self._token = dict(token)
        self._oauth = oauth
        self._on_token = on_token
        self._api_version = api_version
        self._verify = verify
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._timeout = timeout
        self._last_response: requests.Response | None = None
        self._session = requests.Session()
        self._session.verify = verify
        # An explicit CA file (or verify=False) must win over REQUESTS_CA_BUNDLE and friends.
        self._session.trust_env = verify is True
        # simple-salesforce drops the headers of failed answers; keep them for Retry-After.
        self._session.hooks["response"].append(self._remember)
        self._sf = self._build()

    # -- plumbing -----------------------------------------------------------------------------

    def _build(self) -> Salesforce:
        return Salesforce(instance_url=self._token["instance_url"],
                          session_id=self._token["access_token"],
                          session=self._session, version=self._api_version)

    def _remember(self, response: requests.Response, *args, **kwargs) -> None:
        self._last_response = response

    def _call(self, fn: Callable[[Salesforce], Any]) -> Any:
        """Run one REST call with token refresh and retries; raise connector errors."""
        return call_with_retries(lambda: self._with_refresh(fn), max_attempts=self._max_attempts,
                                 sleep=self._sleep)

    def _with_refresh(self, fn: Callable[[Salesforce], Any]) -> Any:
        try:
            return self._once(fn)
        except _SessionExpired:
            self._refresh()
        try:
            return self._once(fn)
        except _SessionExpired as exc:
            raise Fatal("Salesforce refused a freshly refreshed token. An admin should check "
                        "the connected app's session policies, then re-authorize.",
                        status=401, code="INVALID_SESSION_ID") from exc

    def _once(self, fn: Callable[[Salesforce], Any]) -> Any:
        self.usage.calls += 1
        try:
            return fn(self._sf)
        except SalesforceError as exc:
            raise self._translate(exc) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retriable(f"Salesforce could not be reached ({type(exc).__name__}); "
                            "Pipewise will try again.") from exc
        finally:
            self._note_usage()

    def _note_usage(self) -> None:
        api_usage = self._sf.api_usage.get("api-usage")
        if api_usage is not None:
            self.usage.used, self.usage.limit = api_usage.used, api_usage.total

    def _translate(self, exc: SalesforceError) -> Exception:
        code, message = _errors_of(exc.content)
        status = exc.status
        where = exc.resource_name or "a request"
        if status == 401 and code in ("INVALID_SESSION_ID", None):
            return _SessionExpired(message)
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            resume_at = datetime.now(timezone.utc).replace(tzinfo=None) + QUOTA_PAUSE
            return QuotaExceeded(
                f"Salesforce's daily API limit for this org is used up ({message}). Pipewise "
                "pauses this connection and tries again in an hour.",
                status=status, code=code, resume_at=resume_at)
        if status == 400:
            return Fatal(f"Salesforce rejected {where}: {code or 'error'}: {message}",
                         status=status, code=code)
        if status == 404:
            return Skippable(f"Salesforce has no such resource ({where}): {message}",
                             status=status, code=code)
        retry_after = None
        if self._last_response is not None and self._last_response.status_code == status:
            retry_after = parse_retry_after(self._last_response.headers.get("Retry-After"))
        return error_for_status(status, f"Salesforce answered {status} to {where}: "
                                f"{code or 'error'}: {message}", code=code, retry_after=retry_after)

    def _refresh(self) -> None:
        """Get a new access token (authlib), hand it to the caller to persist, rebuild the client."""
        self._token = self._oauth.refresh(self._token)
        if self._on_token is not None:
            self._on_token(dict(self._token))
        self._sf = self._build()

    # -- reading ------------------------------------------------------------------------------

    def _soql(self, stream: type[Stream], where: str | None) -> str:
        cursor, key = stream.cursor_field, stream.primary_key
        query = f"SELECT {', '.join(stream.fields)} FROM {stream.remote_name}"
        if where:
            query += f" WHERE {where}"
        return query + f" ORDER BY {cursor}, {key}"

    def _pages(self, query: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Each page of a queryAll, records without ``attributes``."""
        options = {"headers": {"Sforce-Query-Options": f"batchSize={page_size}"}, "timeout": self._timeout}
        result = self._call(lambda sf: sf.query(query, include_deleted=True, **options))
        while True:
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in result["records"]]
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            result = self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True,
                                                         include_deleted=True, **options))

    def read_stream(self, stream: type[Stream], since: datetime | None,
                    after_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages ordered by (cursor, id) from ``since`` inclusive, soft deletes included."""
        cursor, key = stream.cursor_field, stream.primary_key
        where = None
        if since is not None:
            literal = soql_datetime(since)
            # SOQL literals carry whole seconds: with a fractional ``since`` an exact tie cannot be
            # expressed, so fall back to the inclusive bound (a few repeats, never a loss).
            if after_id and since.microsecond == 0:
                where = (f"({cursor} > {literal} OR ({cursor} = {literal} "
                         f"AND {key} > {soql_string(after_id)}))")
            else:
                where = f"{cursor} >= {literal}"
        yield from self._pages(self._soql(stream, where), stream.page_size)

    def read_records(self, stream: type[Stream], remote_ids: list[str]) -> list[dict[str, Any]]:
        """The current records with these ids, deleted ones flagged (queryAll)."""
        records: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(remote_ids))
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ", ".join(soql_string(i) for i in ids[start:start + IDS_PER_QUERY])
            query = self._soql(stream, f"{stream.primary_key} IN ({chunk})")
            for page in self._pages(query, stream.page_size):
                records.extend(page)
        return records

    # -- writing ------------------------------------------------------------------------------

    def update_records(self, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
        """One sObject Collections PATCH (allOrNone false): a result per record, in order."""
        if len(updates) > COLLECTION_LIMIT:
            raise ValueError(f"Salesforce takes at most {COLLECTION_LIMIT} records per call, "
                             f"got {len(updates)}; batch them first.")
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
            results.append(WriteResult(
                result.get("id") or update["Id"], False, error_code=errors[0].get("statusCode"),
                message="; ".join(str(e.get("message") or "") for e in errors) or None))
        return results

    def describe(self, remote_name: str) -> dict[str, Any]:
        """The object's describe answer (fields and their types)."""
        return self._call(lambda sf: sf.restful(f"sobjects/{remote_name}/describe",
                                                timeout=self._timeout))

    def ensure_fields(self, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
        """Create the missing Pipewise fields through the Tooling API; the names created."""
        existing = {f["name"] for f in self.describe(remote_name).get("fields", [])}
        created = []
        for writable in fields:
            if writable.remote_name in existing:
                continue
            metadata = {"label": writable.label, **FIELD_METADATA[writable.type]}
            body = {"FullName": f"{remote_name}.{writable.remote_name}", "Metadata": metadata}
            try:
                self._call(lambda sf: sf.restful("tooling/sobjects/CustomField", method="POST",
                                                 json=body, timeout=self._timeout))
            except Fatal as exc:
                # A retried create whose first attempt went through: the field exists now.
                if exc.code != "DUPLICATE_DEVELOPER_NAME":
                    raise
                continue
            created.append(writable.remote_name)
        return created

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



def build_client(token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, config: Any) -> SalesforceClient:
    """The client for one connection, from the settings object every connector package accepts."""
    return SalesforceClient(token, oauth, on_token, api_version=config.SALESFORCE_API_VERSION,
                            verify=config.ca_bundle)
