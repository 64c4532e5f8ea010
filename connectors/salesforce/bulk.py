"""First reads of large objects through Bulk API 2.0 query jobs, resumable by job id and result locator.

Salesforce's guidance (Developer Limits, "Bulk API and Bulk API 2.0 Limits and Allocations"): an
operation on more than 2,000 records is a good candidate for Bulk API 2.0; fewer belong to the REST
API. So a stream is first counted (one ``SELECT COUNT()`` through REST queryAll, one API call) and
read in bulk only above the threshold. A job is one create, a few polls and one call per result set
(``maxRecords`` rows each), however many rows the REST path would have paged through 2,000 at a time.

Bulk queries come in no particular order: ORDER BY disables PK chunking ("Troubleshooting Query
Timeouts"; the Summer '24 edition of "Understanding Bulk API 2.0 Query" lists it as unsupported), so
the job's SOQL has none, the pages are in any order and the resume point is the job and the locator of
the next result set, not a cursor value. A job lives 7 days after it ends; a resume that finds it
gone starts a new one.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.base import Stream
from connectors.client_protocol import ChangePage
from connectors.errors import BackfillNotOffered, Fatal, QuotaExceeded, Retriable, Skippable
from connectors.salesforce.mapping import sf_datetime

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 2000
RESULT_SET_RECORDS = 50_000  # maxRecords: rows per result set (one API call each)
# Polls back off from FIRST_POLL doubling to LONGEST_POLL; a job still running after MAX_WAIT seconds
# fails the run with Retriable, and the next sync resumes polling the same job.
FIRST_POLL, LONGEST_POLL, MAX_WAIT = 0.5, 30.0, 3600.0
JOB_RESTARTS = 2  # a job that vanishes mid-read (expired, deleted) is started again this often
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
# Describe types that Bulk API 2.0 cannot select ("Create a Query Job": compound address and
# geolocation fields).
COMPOUND_TYPES = {"address", "location"}


class _JobGone(Exception):
    """The job (and its results) no longer exists."""


def encode_token(job_id: str, locator: str, remote_name: str) -> str:
    """An opaque resume point: the job, the locator of the next result set, the object it reads."""
    raw = json.dumps({"job": job_id, "locator": locator, "object": remote_name}, separators=(",", ":"))
    return "sfbulk2:" + base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str, remote_name: str) -> tuple[str, str] | None:
    """(job id, locator) from a token of this object, or None for anything else."""
    if not token.startswith("sfbulk2:"):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token[len("sfbulk2:"):].encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("object") != remote_name or not data.get("job"):
        return None
    return str(data["job"]), str(data.get("locator") or "")


def rest_datetime(text: str) -> str:
    """A Bulk CSV datetime (``2017-03-01T00:00:00.000Z``) as REST writes it (``...000+0000``)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def typed(value: str, field_type: str | None) -> Any:
    """One CSV cell as the REST JSON value of a field of this describe type."""
    if value == "":
        return None  # Salesforce stores no empty strings: an empty cell is null
    if field_type == "boolean":
        return value.lower() == "true"
    if field_type == "int":
        return int(float(value))
    if field_type in ("double", "currency", "percent"):
        return float(value)
    if field_type == "datetime":
        return rest_datetime(value)
    return value


class BulkReader:
    """Reads one stream of a client through a Bulk API 2.0 query job."""

    def __init__(self, client: "SalesforceClient", threshold: int, api_version: str,
                 sleep: Callable[[float], None], result_set_records: int = RESULT_SET_RECORDS):
        self._client = client
        self._threshold = threshold
        self._version = api_version
        self._sleep = sleep
        self._set_records = result_set_records
        self._created: dict[str, datetime | None] = {}  # job id -> its createdDate (naive UTC)

    # -- the calls ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any):
        """One call under /jobs/query through the client's retries, refresh and usage count."""
        name = "jobs/query" + path
        try:
            return self._client._call(lambda sf: sf._call_salesforce(
                method, sf.base_url + name, name=name, timeout=self._client._timeout, **kwargs))
        except Skippable as exc:  # 404: the job is gone
            raise _JobGone(str(exc)) from exc

    def _create(self, soql: str) -> dict[str, Any]:
        body = {"operation": "queryAll", "query": soql, "contentType": "CSV", "columnDelimiter": "COMMA",
                "lineEnding": "LF"}
        try:
            return self._request("POST", "", json=body).json()
        except _JobGone as exc:  # no jobs/query resource: an API version before 47.0
            raise BackfillNotOffered(f"Salesforce offers no Bulk API 2.0 query jobs here ({exc}); Pipewise reads "
                                     "the object through the REST API instead.") from exc
        except Fatal as exc:
            if isinstance(exc, QuotaExceeded) or exc.status not in (400, 403):
                raise
            # Unsupported query, object or feature, or the daily job allowance spent: REST can still read it.
            raise BackfillNotOffered(f"Salesforce's Bulk API does not take this read ({exc}); Pipewise reads "
                                     "the object through the REST API instead.", status=exc.status,
                                     code=exc.code) from exc

    def _wait(self, job_id: str, fresh: bool) -> dict[str, Any]:
        """Poll until the job ends, backing off; its info once JobComplete.

        A job just created is not polled at once (it would not have run yet): that call would be wasted.
        """
        waited, delay = 0.0, FIRST_POLL
        while True:
            if fresh:
                self._sleep(delay)
                waited += delay
                delay = min(delay * 2, LONGEST_POLL)
            fresh = True
            info = self._request("GET", f"/{job_id}").json()
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                raise BackfillNotOffered(f"Salesforce's bulk query job {job_id} ended {state}"
                                         f"{': ' + info['errorMessage'] if info.get('errorMessage') else ''}; "
                                         "Pipewise reads the object through the REST API instead.")
            if waited >= MAX_WAIT:
                raise Retriable(f"Salesforce's bulk query job {job_id} is still running after {int(waited)} s. "
                                "The next sync picks up the same job.")

    def _results(self, job_id: str, locator: str):
        params: dict[str, Any] = {"maxRecords": self._set_records}
        if locator:
            params["locator"] = locator
        return self._request("GET", f"/{job_id}/results", params=params, headers={"Accept": "text/csv"})

    # -- the rows -------------------------------------------------------------------------------

    def _converter(self, stream: type[Stream]) -> Callable[[dict[str, str]], dict[str, Any]]:
        """CSV rows → the raw records read_stream yields (typed values, parents nested with attributes)."""
        catalog = self._client.catalog
        described = catalog.get(stream.remote_name)
        fields = described.fields if described else {}
        by_relationship = {f["relationshipName"]: f for f in fields.values() if f.get("relationshipName")}

        def parent_type(relationship: str, name: str) -> str | None:
            targets = (by_relationship.get(relationship) or {}).get("referenceTo") or []
            parent = catalog.get(targets[0]) if targets else None
            return (parent.fields.get(name) or {}).get("type") if parent else None

        parent_types: dict[str, str | None] = {}

        def convert(row: dict[str, str]) -> dict[str, Any]:
            record: dict[str, Any] = {}
            nested: dict[str, dict[str, Any]] = {}
            for column, value in row.items():
                relationship, _, name = column.partition(".")
                if not name:
                    record[column] = typed(value, (fields.get(column) or {}).get("type"))
                    continue
                if column not in parent_types:
                    parent_types[column] = parent_type(relationship, name)
                nested.setdefault(relationship, {})[name] = typed(value, parent_types[column])
            for relationship, values in nested.items():
                reference = by_relationship.get(relationship) or {}
                parent_id = record.get(reference.get("name", ""))
                targets = reference.get("referenceTo") or []
                if parent_id is None and all(v is None for v in values.values()):
                    record[relationship] = None  # no parent, as REST shows it
                    continue
                attributes = {"type": targets[0] if targets else relationship,
                              "url": f"/services/data/v{self._version}/sobjects/"
                                     f"{targets[0] if targets else relationship}/{parent_id}"}
                record[relationship] = {"attributes": attributes, **values}
            return record

        return convert

    # -- the read -------------------------------------------------------------------------------

    def offered(self, stream: type[Stream]) -> str:
        """The bulk SOQL for the stream, or BackfillNotOffered when the stream is small or unsuited."""
        client = self._client
        if self._threshold <= 0:
            raise BackfillNotOffered("Bulk reads are turned off (SALESFORCE_BULK_THRESHOLD is 0).")
        if not stream.backfill:
            raise BackfillNotOffered(f"{stream.remote_name} holds a handful of records in any org: the REST API "
                                     "reads it in one call.")
        fields = client._fields(stream)
        described = client.catalog.get(stream.remote_name)
        compound = [f for f in fields if ((described.fields.get(f) or {}).get("type") in COMPOUND_TYPES)]
        if compound:
            raise BackfillNotOffered(f"Bulk API 2.0 cannot select the compound fields {', '.join(compound)} of "
                                     f"{stream.remote_name}; Pipewise reads it through the REST API.")
        soql = f"SELECT {', '.join(fields)} FROM {stream.remote_name}"
        total = client.count(f"SELECT COUNT() FROM {stream.remote_name}")
        client.last_total = total
        if total <= self._threshold:
            raise BackfillNotOffered(f"{stream.remote_name} has {total} records, not more than the bulk "
                                     f"threshold of {self._threshold}: the REST API reads it in fewer calls.")
        return soql

    def read(self, stream: type[Stream], resume: str | None) -> Iterator[ChangePage]:
        """Pages of every record, soft-deleted ones flagged, in the job's order; tokens resume mid-job.

        The count and the job's creation happen in this call, so BackfillNotOffered is raised by it
        rather than by the first iteration.
        """
        found = decode_token(resume, stream.remote_name) if resume else None
        if resume and found is None:
            log.warning("salesforce.bulk.token-ignored object=%s", stream.remote_name)
        fresh = found is None
        if fresh:
            found = self._start(stream)
        return self._pages(stream, found, fresh)

    def _start(self, stream: type[Stream]) -> tuple[str, str]:
        info = self._create(self.offered(stream))
        job_id = info["id"]
        self._created[job_id] = sf_datetime(info.get("createdDate"))
        log.info("salesforce.bulk.job-created object=%s job=%s", stream.remote_name, job_id)
        return job_id, ""

    def _pages(self, stream: type[Stream], found: tuple[str, str], fresh: bool) -> Iterator[ChangePage]:
        restarts = 0
        while True:
            job_id, locator = found
            try:
                if fresh:
                    # A crash while the job runs resumes polling this job instead of starting another.
                    yield ChangePage(token=encode_token(job_id, locator, stream.remote_name),
                                     as_of=self._created.get(job_id))
                yield from self._read_job(stream, job_id, locator, fresh)
                return
            except _JobGone:
                restarts += 1
                if restarts > JOB_RESTARTS:
                    raise Retriable(f"Salesforce kept deleting the bulk query jobs over {stream.remote_name}. "
                                    "Pipewise tries again at the next sync.") from None
                log.warning("salesforce.bulk.job-gone object=%s restart=%d", stream.remote_name, restarts)
                found, fresh = self._start(stream), True

    def _read_job(self, stream: type[Stream], job_id: str, locator: str, fresh: bool) -> Iterator[ChangePage]:
        info = self._wait(job_id, fresh)
        # The job's snapshot is no older than its creation on Salesforce's clock: what changed after that
        # is read by the next incremental pull (the engine keeps the earliest ``as_of``).
        as_of = sf_datetime(info.get("createdDate"))
        delimiter = DELIMITERS.get(info.get("columnDelimiter") or "COMMA", ",")
        convert = self._converter(stream)
        while True:
            answer = self._results(job_id, locator)
            # Bulk API results are UTF-8; without a charset requests would guess ISO-8859-1 for text/csv.
            text = answer.content.decode("utf-8-sig")
            rows = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
            records = [convert(row) for row in rows]
            following = answer.headers.get("Sforce-Locator") or "null"
            done = following == "null"
            yield ChangePage(records=records, as_of=as_of,
                             token=None if done else encode_token(job_id, following, stream.remote_name))
            if done:
                # The job is left for Salesforce to delete 7 days after it ended: a DELETE would be one
                # more API call per object and frees nothing the org's limits count.
                return
            locator = following
