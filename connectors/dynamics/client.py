"""The Dataverse Web API v9.2 client: change tracking (delta links), keyset reads on modifiedon where it is off,
targeted reads, bulk writes, column provisioning.

Sources (learn.microsoft.com/power-apps/developer/data-platform/webapi/): query/page-results.md (Prefer
odata.maxpagesize, opaque @odata.nextLink), compose-http-requests-handle-errors.md ({"error": {"code",
"message"}}), api-limits.md (429 with Retry-After), bulk-operations.md (UpdateMultiple),
execute-batch-operations-using-web-api.md ($batch, odata.continue-on-error), create-update-column-definitions.md,
../use-change-tracking-synchronize-data-external-systems.md (Prefer odata.track-changes, @odata.deltaLink,
$deletedEntity rows, EntityDefinitions ChangeTrackingEnabled), reference/web-service-error-codes.md (the codes).

Just over 300 lines because it is one class over one Web API session; the batch writes and the webhook
registration already have their own modules (``writes``, ``registration``).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.base import Stream, WritableField
from connectors.client_base import ClientBase, SessionExpired, create_missing
from connectors.client_protocol import ChangePage, Finding, OrgProfile, TokenSaver, WriteResult
from connectors.dynamics import registration, writes
from connectors.dynamics.provider import DynamicsProvider
from connectors.errors import (ChangesNotTracked, ChangeTokenExpired, ConnectorError, Fatal, ReauthorizationRequired,
                               Retriable, Skippable, Unavailable, error_for_status)
from connectors.oauth import OAuthApp

API_PATH = "/api/data/v9.2"
# Choice labels and a lookup's table come as annotations when asked for (query-data-web-api.md).
ANNOTATIONS = ('odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
               'Microsoft.Dynamics.CRM.lookuplogicalname"')
IDS_PER_READ = 50  # ids per targeted read: keeps the $filter well inside the URL length limit
# Error codes (web-service-error-codes.md): ChangeTrackingNotEnabledForEntity, ExpiredVersionStamp, InvalidArgument.
CHANGE_TRACKING_OFF, EXPIRED_VERSION_STAMP, INVALID_ARGUMENT = "0x80072491", "0x80044352", "0x80040203"
DELETED_ENTITY = "/$deletedEntity"  # the @odata.context suffix of a deleted row in a delta response


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
        try:
            for page in self._pages(query, stream.page_size):
                if after_id is not None and cutoff is not None:
                    page = [r for r in page if not (r.get("modifiedon") == cutoff
                                                    and str(r[stream.primary_key]) <= after_id)]
                if page:
                    yield page
        except (Fatal, Skippable) as exc:
            raise self._missing(stream, exc) or exc

    def read_changes(self, stream: type[Stream], token: str | None) -> Iterator[ChangePage]:
        """Change tracking: the stored delta link's changes and deletes, or every row when ``token`` is None.

        The token holds the @odata.deltaLink, followed exactly as returned, and the columns the read asked
        for (the docs' own example returns a link whose $select differs from the request's); the last page
        carries the new one. A delta response without a link (the docs' "empty JSON response") keeps the old.
        """
        select = ",".join(stream.fields)
        url = self._delta_link(stream, token, select) if token else f"{stream.remote_name}?$select={select}"
        # Every page repeats the preference (as the documented request does): the nextLink alone is a query.
        headers = {"Prefer": f"odata.track-changes,odata.maxpagesize={stream.page_size},{ANNOTATIONS}"}
        listing = token is None
        while url:
            try:
                response = self._call("GET", url, headers=headers)
            except (Fatal, Skippable) as exc:
                raise self._change_error(stream, exc, token) from exc
            if listing and "odata.track-changes" not in response.headers.get("Preference-Applied", ""):
                raise self._untracked(stream)  # an environment may ignore the preference rather than refuse it
            listing = False
            body = response.json()
            page = ChangePage()
            for item in body.get("value", []):
                if str(item.get("@odata.context", "")).endswith(DELETED_ENTITY):
                    page.deleted.append(str(item["id"]).lower())
                else:
                    page.records.append(item)
            url = body.get("@odata.nextLink")
            if not url:
                link = body.get("@odata.deltaLink")
                page.token = json.dumps({"select": select, "link": link}) if link else token
            yield page

    def _delta_link(self, stream: type[Stream], token: str, select: str) -> str:
        """The stored delta link, if it is this environment's, for this table, asking for these columns."""
        try:
            saved = json.loads(token)
            link, asked = str(saved["link"]), saved["select"]
        except (ValueError, TypeError, KeyError):
            link, asked = "", None
        # The bearer token goes only to this environment's host, and the link must be for this table.
        parts, root = urlsplit(link), urlsplit(self.service_root)
        if (asked != select or (parts.scheme, parts.netloc) != (root.scheme, root.netloc)
                or not parts.path.endswith(f"/{stream.remote_name}")):
            raise ChangeTokenExpired(f"The stored Dynamics 365 delta link does not match {stream.remote_name} as "
                                     "Pipewise reads it now; Pipewise reads the table whole again.")
        return link

    def _change_error(self, stream: type[Stream], exc: Fatal | Skippable, token: str | None) -> Exception:
        missing = self._missing(stream, exc)
        if missing is not None:
            return missing
        if exc.code == CHANGE_TRACKING_OFF:
            return self._untracked(stream)
        if token and exc.code in (EXPIRED_VERSION_STAMP, INVALID_ARGUMENT):
            return ChangeTokenExpired(f"{exc} Pipewise reads {stream.remote_name} whole again.", code=exc.code,
                                      status=exc.status)
        return exc

    @staticmethod
    def _missing(stream: type[Stream], exc: ConnectorError) -> Unavailable | None:
        """An optional table the environment does not have (404) or does not let Pipewise read (403)."""
        if not stream.optional or exc.status not in (403, 404):
            return None
        return Unavailable(f"Pipewise cannot read {stream.remote_name} in Dynamics 365 ({exc}), so they "
                           f"{stream.unavailable_note}. To read them, give the connecting user a role that reads "
                           f"the table, then sync again.", status=exc.status, code=exc.code)

    @staticmethod
    def _untracked(stream: type[Stream]) -> ChangesNotTracked:
        return ChangesNotTracked(
            f"Change tracking is off for {stream.remote_name} in Dynamics 365, so Pipewise reads its changes by "
            "modifiedon and learns of deleted rows only from webhooks. To have deletes read too, turn on Track "
            "changes for the table in Power Apps (Tables, Properties, Advanced options); it cannot be turned off.")

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

    # -- webhooks -------------------------------------------------------------------------------------

    def register_webhooks(self, url: str, secret: str) -> list[str]:
        """Pipewise's serviceendpoint (HttpHeader secret) and its asynchronous steps (registration.py)."""
        return registration.register(self, url, secret)

    # -- checks ---------------------------------------------------------------------------------------

    def who_am_i(self) -> dict[str, Any]:
        return self.get_json("WhoAmI")

    def tracked_tables(self) -> set[str]:
        """Entity sets whose table has change tracking on (EntityDefinitions.ChangeTrackingEnabled)."""
        body = self.get_json("EntityDefinitions?$select=EntitySetName&$filter=ChangeTrackingEnabled eq true")
        return {item.get("EntitySetName") for item in body.get("value", [])}

    def preflight(self) -> list[Finding]:
        """WhoAmI, one row of every table Pipewise reads, and which of them keep a change log."""
        findings = [Finding("identity", "ok", f"Signed in to organization {self.who_am_i()['OrganizationId']}.")]
        try:
            tracked = self.tracked_tables()
        except Exception as exc:  # noqa: BLE001 - the sync finds out per table; this is advice
            findings.append(Finding("change-tracking", "warning", f"Pipewise could not read which tables track "
                                    f"changes ({exc}); it finds out at the first sync."))
        else:
            untracked = [s.remote_name for s in DynamicsProvider.streams if s.delta and s.remote_name not in tracked]
            findings.append(Finding("change-tracking", "warning" if untracked else "ok",
                                    f"Change tracking is off for {', '.join(untracked)}: Pipewise reads their "
                                    "changes by modifiedon and learns of their deletes only from webhooks. Turn on "
                                    "Track changes for them in Power Apps to have deletes read too."
                                    if untracked else "Every table Pipewise reads tracks changes."))
        for stream in DynamicsProvider.streams:
            try:
                self.get_json(f"{stream.remote_name}?$select={stream.primary_key}&$top=1")
            except Exception as exc:  # noqa: BLE001 - each table's failure is a finding, not a crash
                if stream.optional:  # the rest works without it
                    findings.append(Finding(f"object:{stream.remote_name}", "warning",
                                            f"Pipewise cannot read {stream.remote_name} ({exc}), so they "
                                            f"{stream.unavailable_note}. Give the integration user a security "
                                            "role that reads this table to have them read."))
                    continue
                findings.append(Finding(f"object:{stream.remote_name}", "error",
                                        f"Pipewise cannot read {stream.remote_name}: {exc}. Give the integration "
                                        "user a security role that reads this table."))
            else:
                findings.append(Finding(f"object:{stream.remote_name}", "ok", f"{stream.remote_name} can be read."))
        return findings

    def org_profile(self) -> OrgProfile:
        """The organization's name (organizations table, organization.md); never a time zone.

        Dataverse keeps no default time zone for the organization: time zones are per user
        (usersettings.timezonecode, a Windows zone through timezonedefinitions.standardname), and turning a
        Windows zone into an IANA id needs CLDR's windowsZones table, which Pipewise does not ship.
        """
        org = self.who_am_i()["OrganizationId"]
        try:
            body = self.get_json(f"organizations({org})?$select=name")
        except Fatal:  # an environment that hides the table still syncs
            return OrgProfile()
        return OrgProfile(name=(body.get("name") or "").strip() or None)


def build_client(token: dict[str, Any], oauth: OAuthApp, on_token: TokenSaver | None, config: Any) -> DynamicsClient:
    """The client for one connection, from the settings object every connector package accepts."""
    return DynamicsClient(token, oauth, on_token, api_url=token.get("instance_url") or config.DYNAMICS_API_URL,
                          verify=config.ca_bundle)
