"""The Dataverse Web API v9.2 client: keyset reads on modifiedon, targeted reads, bulk writes, column provisioning.

Sources (learn.microsoft.com/power-apps/developer/data-platform/webapi/): query/page-results.md (Prefer
odata.maxpagesize, opaque @odata.nextLink), compose-http-requests-handle-errors.md ({"error": {"code",
"message"}}), api-limits.md (429 with Retry-After), bulk-operations.md (UpdateMultiple),
execute-batch-operations-using-web-api.md ($batch, odata.continue-on-error), create-update-column-definitions.md.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import requests

from connectors.base import Finding, OrgProfile, Stream, TokenSaver, WritableField, WriteResult
from connectors.client_base import ClientBase, SessionExpired, create_missing
from connectors.dynamics import writes
from connectors.dynamics.provider import DynamicsProvider
from connectors.errors import ReauthorizationRequired, Retriable, error_for_status
from connectors.oauth import OAuthApp

API_PATH = "/api/data/v9.2"
# Choice labels and a lookup's table come as annotations when asked for (query-data-web-api.md).
ANNOTATIONS = ('odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
               'Microsoft.Dynamics.CRM.lookuplogicalname"')
IDS_PER_READ = 50  # ids per targeted read: keeps the $filter well inside the URL length limit


def odata_time(moment: datetime) -> str:
    """A naive UTC datetime as an Edm.DateTimeOffset literal."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamicsClient(ClientBase):
    """One connection to one Dataverse environment."""

    crm_name = "Dynamics 365"
    batch_limit = DynamicsProvider.writeback_batch_size
    refresh_margin_seconds = 60.0

    def __init__(self, token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None = None, *,
                 api_url: str, verify: str | bool = True, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 60):
        super().__init__(token, oauth, on_token, max_attempts=max_attempts, sleep=sleep)
        self.api_url = api_url.rstrip("/")
        self.service_root = self.api_url + API_PATH
        self._timeout = timeout
        self._http = requests.Session()
        self._http.verify = verify
        self._http.trust_env = verify is True
        self._http.headers.update({"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"})

    # -- plumbing -------------------------------------------------------------------------------------

    def _once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._token['access_token']}"}
        if not url.startswith("https://") and not url.startswith("http://"):
            url = self.service_root + "/" + url.lstrip("/")
        response = self._http.request(method, url, headers=headers, timeout=self._timeout, **kwargs)
        self.usage.calls += 1
        if response.status_code == 401:
            raise SessionExpired()
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: requests.Response):
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        message = f"Dynamics 365 answered {response.status_code}: {error.get('message') or response.reason}"
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            return Retriable(message, retry_after=float(retry_after) if retry_after else None, status=429,
                             code=error.get("code"))
        return error_for_status(response.status_code, message, code=error.get("code"))

    def _refused_after_refresh(self) -> ReauthorizationRequired:
        return ReauthorizationRequired("Dynamics 365 refused a freshly refreshed token: reconnect Dynamics 365 "
                                       "from the admin console.")

    def _after_refresh(self) -> None:
        """Nothing holds the token but ``self._token``, which every call reads."""

    def get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        return self._call("GET", url, **kwargs).json()

    # -- reads ----------------------------------------------------------------------------------------

    def _pages(self, url: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        headers = {"Prefer": f"odata.maxpagesize={page_size},{ANNOTATIONS}"}
        while url:
            body = self.get_json(url, headers=headers)
            yield body.get("value", [])
            url = body.get("@odata.nextLink")

    def read_stream(self, stream: type[Stream], since: datetime | None,
                    after_id: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages ordered by (modifiedon, primary key) from ``since`` on."""
        query = f"{stream.remote_name}?$select={','.join(stream.fields)}"
        if since is not None:
            query += f"&$filter=modifiedon ge {odata_time(since)}"
        query += f"&$orderby=modifiedon asc,{stream.primary_key} asc"
        cutoff = odata_time(since) if since is not None else None
        for page in self._pages(query, stream.page_size):
            if after_id is not None and cutoff is not None:
                page = [r for r in page if not (r.get("modifiedon") == cutoff
                                                and str(r[stream.primary_key]) <= after_id)]
            if page:
                yield page

    def read_records(self, stream: type[Stream], remote_ids: list[str]) -> list[dict[str, Any]]:
        """The rows with these ids; an id no longer there comes back flagged ``@removed``."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(remote_ids), IDS_PER_READ):
            chunk = remote_ids[start:start + IDS_PER_READ]
            condition = " or ".join(f"{stream.primary_key} eq {rid}" for rid in chunk)
            query = f"{stream.remote_name}?$select={','.join(stream.fields)}&$filter={condition}"
            for page in self._pages(query, stream.page_size):
                found.update({str(r[stream.primary_key]).lower(): r for r in page})
        return [found.get(rid.lower()) or {stream.primary_key: rid, "@removed": {"reason": "deleted"}}
                for rid in remote_ids]

    def attributes(self, logical_name: str) -> list[dict[str, Any]]:
        """The table's column definitions."""
        url = (f"EntityDefinitions(LogicalName='{logical_name}')/Attributes"
               "?$select=LogicalName,AttributeType,IsCustomAttribute,DisplayName")
        items = self.get_json(url).get("value", [])
        for item in items:
            labels = ((item.get("DisplayName") or {}).get("UserLocalizedLabel") or {})
            item["label"] = labels.get("Label")
        return items

    # -- writes ---------------------------------------------------------------------------------------

    def update_records(self, remote_name: str, updates: list[dict[str, Any]]) -> list[WriteResult]:
        """UpdateMultiple for the batch; when it refuses the set, $batch with continue-on-error per record."""
        self.check_batch(updates)
        return writes.update(self, remote_name, updates)

    def ensure_fields(self, remote_name: str, fields: tuple[WritableField, ...]) -> list[str]:
        """Create the missing Pipewise columns (and Pipewise's publisher prefix when the environment lacks it)."""
        existing = {a["LogicalName"] for a in self.attributes(remote_name)}
        if any(f.remote_name not in existing for f in fields):
            writes.ensure_publisher(self)
        return create_missing(fields, existing, lambda f: writes.create_column(self, remote_name, f),
                              duplicate_code=writes.DUPLICATE)

    # -- checks ---------------------------------------------------------------------------------------

    def who_am_i(self) -> dict[str, Any]:
        return self.get_json("WhoAmI")

    def preflight(self) -> list[Finding]:
        """WhoAmI, then one row of every table Pipewise reads."""
        findings = [Finding("identity", "ok", f"Signed in to organization {self.who_am_i()['OrganizationId']}.")]
        for stream in DynamicsProvider.streams:
            try:
                self.get_json(f"{stream.remote_name}?$select={stream.primary_key}&$top=1")
            except Exception as exc:  # noqa: BLE001 - each table's failure is a finding, not a crash
                findings.append(Finding(f"object:{stream.remote_name}", "error",
                                        f"Pipewise cannot read {stream.remote_name}: {exc}. Give the integration "
                                        "user a security role that reads this table."))
            else:
                findings.append(Finding(f"object:{stream.remote_name}", "ok", f"{stream.remote_name} can be read."))
        return findings

    def org_profile(self) -> OrgProfile:
        """The organization's name (organizations table)."""
        org = self.who_am_i()["OrganizationId"]
        try:
            body = self.get_json(f"organizations({org})?$select=name")
        except Exception:  # noqa: BLE001 - an environment that hides the table still syncs
            return OrgProfile()
        return OrgProfile(name=body.get("name"))


def build_client(token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, config: Any) -> DynamicsClient:
    """The client for one connection, from the settings object every connector package accepts."""
    return DynamicsClient(token, oauth, on_token, api_url=token.get("instance_url") or config.DYNAMICS_API_URL,
                          verify=config.ca_bundle)
