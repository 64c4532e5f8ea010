"""Bulk API 2.0 query jobs over REST: create, poll, read results as CSV, abort, delete.

Bulk API 2.0 and Bulk API Developer Guide (developer.salesforce.com/docs/atlas.en-us.api_asynch.meta):
- "Understanding Bulk API 2.0 Query" (queries.htm): the URIs and methods below; SOQL considerations.
- "Create a Query Job" (query_create_job.htm): operation query|queryAll, query, contentType CSV,
  columnDelimiter BACKQUOTE|CARET|COMMA|PIPE|SEMICOLON|TAB, lineEnding LF|CRLF. Unsupported: GROUP BY,
  OFFSET, TYPEOF, aggregate functions such as COUNT(), compound fields, parent-to-child subqueries. The
  Summer '24 edition of the page (release 250) lists LIMIT and ORDER BY as unsupported too ("they
  disable PKChunking"; the current "Troubleshooting Query Timeouts" page still says so of ORDER BY);
  the sandbox takes that stricter reading and refuses them.
- "Get Results for a Query Job" (query_get_job_results.htm): the job must be JobComplete; ``locator``
  and ``maxRecords``; headers Sforce-NumberOfRecords and Sforce-Locator (a pseudo-random string such as
  MTAwMDA, the string "null" after the last set); a locator stays valid as long as the job exists; the
  results must be read with the API version the job was created with, else 409. Columns come in the
  order the query asked for them (API 50.0 and later).
- "Abort a Query Job" / "Delete a Query Job": PATCH {"state": "Aborted"}; DELETE answers 204.
- "Errors" (bulk_api_2_0_errors.htm): InvalidJob, InvalidJobState, NotFound and friends; unsupported
  queries answer 400 with API_ERROR ("Selecting compound data not supported in Bulk Query") and
  objects Bulk API does not serve with INVALIDENTITY, as integrations written against the live API
  match them.

The rows of a job are exactly what REST query/queryAll returns for the same SOQL (the same evaluator),
frozen when the job is created.
"""
from __future__ import annotations

import base64
import csv
import io
import re

from flask import Response, g, jsonify, request

from .api import ApiError, json_body, rest_blueprint, sandbox
from .bulk_jobs import TERMINAL, QueryJob
from .query import compile_for_user, select_records

bp = rest_blueprint("salesforce_bulk_query")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
# Not documented ("a default value based on the service"): what one set holds without maxRecords.
DEFAULT_MAX_RECORDS = 50_000
_SUBQUERY = re.compile(r"\(\s*select\b", re.IGNORECASE)
_UNSUPPORTED_WORDS = re.compile(r"\b(GROUP\s+BY|TYPEOF|FIELDS\s*\()", re.IGNORECASE)


def _job_or_404(job_id: str) -> QueryJob:
    job = sandbox().query_jobs.get(job_id)
    if job is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def _unsupported(soql: str) -> str | None:
    """Why Bulk API 2.0 refuses this SOQL, or None."""
    if _SUBQUERY.search(soql):
        return "Aggregate Relationships not supported in Bulk Query"
    found = _UNSUPPORTED_WORDS.search(soql)
    if found:
        return f"{' '.join(found.group(1).split()).rstrip('(')} is not supported in Bulk Query"
    return None


@bp.route("/jobs/query", methods=["POST"], strict_slashes=False)
def create_job():
    """Create a query job: 200 with the job info, state UploadComplete."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "INVALIDJOB", "The request body must be a JSON object.")
    operation, soql = body.get("operation"), body.get("query")
    if operation not in ("query", "queryAll"):
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}. "
                       "Use query or queryAll.")
    if not isinstance(soql, str) or not soql.strip():
        raise ApiError(400, "INVALIDJOB", "InvalidJob : the query is required.")
    if body.get("contentType", "CSV") != "CSV":
        raise ApiError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV.")
    delimiter, line_ending = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
    if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", "InvalidJob : columnDelimiter must be one of "
                       f"{', '.join(DELIMITERS)} and lineEnding LF or CRLF.")
    reason = _unsupported(soql)
    if reason:
        raise ApiError(400, "API_ERROR", reason)
    compiled = compile_for_user(soql, include_deleted=operation == "queryAll")
    if compiled.count_only:
        raise ApiError(400, "API_ERROR", "Aggregate functions such as COUNT() are not supported in Bulk Query")
    if compiled.offset or compiled.limit is not None or compiled.order != "rowid":
        raise ApiError(400, "API_ERROR", "ORDER BY, LIMIT and OFFSET are not supported in Bulk Query")
    box = sandbox()
    if compiled.object_name in box.faults.knobs.bulk_unsupported_objects:
        raise ApiError(400, "INVALIDENTITY", f"Entity '{compiled.object_name}' is not supported by the Bulk API.")
    if not box.query_jobs.allowance_left():
        raise ApiError(400, "LIMIT_EXCEEDED", "Max bulk v2 query jobs (10000) per 24 hrs has been reached")
    relations = compiled.relations or []
    columns = compiled.fields + [f"{r.name}.{r.field}" for r in relations]
    types = [box.store.field(compiled.object_name, name).type for name in compiled.fields]
    types += [box.store.field(r.target, r.field).type for r in relations]
    job = box.query_jobs.add(
        operation=operation, object=compiled.object_name, created_by=g.user_id, api_version=g.api_version,
        column_delimiter=delimiter, line_ending=line_ending, columns=columns, records=select_records(compiled),
        datetime_columns={c for c, t in zip(columns, types) if t == "datetime"}, fails=box.faults.take_bulk_failure())
    return jsonify(job.info(full=False))


@bp.route("/jobs/query", methods=["GET"], strict_slashes=False)
def all_jobs():
    """Every query job of the org (one page)."""
    return jsonify({"done": True, "records": [job.info() for job in sandbox().query_jobs.all()],
                    "nextRecordsUrl": None})


@bp.route("/jobs/query/<job_id>", methods=["GET"], strict_slashes=False)
def job_info(job_id: str):
    """A job's info; each look moves a running job one state on."""
    job = sandbox().query_jobs.poll(job_id)
    if job is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return jsonify(job.info())


@bp.route("/jobs/query/<job_id>", methods=["PATCH"], strict_slashes=False)
def abort_job(job_id: str):
    """Abort a job that has not finished."""
    job = _job_or_404(job_id)
    body = json_body()
    if not isinstance(body, dict) or body.get("state") != "Aborted":
        raise ApiError(400, "INVALIDJOBSTATE", "A query job can only be set to the state Aborted.")
    if job.state in TERMINAL:
        raise ApiError(400, "INVALIDJOBSTATE", f"Job is in state {job.state} and can no longer be aborted.")
    sandbox().query_jobs.set_state(job, "Aborted")
    return jsonify(job.info())


@bp.route("/jobs/query/<job_id>", methods=["DELETE"], strict_slashes=False)
def delete_job(job_id: str):
    """Delete a job and its results: 204. A running job must be aborted first."""
    job = _job_or_404(job_id)
    if job.state == "InProgress":
        raise ApiError(400, "INVALIDJOBSTATE", "Job is in state InProgress: abort it before deleting it.")
    sandbox().query_jobs.remove(job.id)
    return "", 204


def _locator(offset: int) -> str:
    # The docs' example locator MTAwMDA is base64 of "10000": the offset of the next set.
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None) -> int | None:
    if not locator:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _cell(value, is_datetime: bool) -> str:
    """A REST value as Bulk API CSV writes it: empty for null, true/false, datetimes in UTC with Z."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_datetime and value.endswith("+0000"):
        return value[:-5] + "Z"
    return str(value)


def _row(record: dict, job: QueryJob) -> list[str]:
    cells = []
    for column in job.columns:
        parent, _, name = column.partition(".")
        value = (record.get(parent) or {}).get(name) if name else record.get(column)
        cells.append(_cell(value, column in job.datetime_columns))
    return cells


@bp.route("/jobs/query/<job_id>/results", methods=["GET"], strict_slashes=False)
def results(job_id: str):
    """One set of a completed job's rows as CSV, with the locator of the next set."""
    job = _job_or_404(job_id)
    if job.api_version != g.api_version:
        raise ApiError(409, "INVALIDJOB", f"Read the results with API version {job.api_version}, the version "
                       "the job was created with.")
    if job.state != "JobComplete":
        raise ApiError(400, "INVALIDJOBSTATE", f"Job is in state {job.state}: results are ready once it is "
                       "JobComplete.")
    offset = _offset(request.args.get("locator"))
    if offset is None or offset > len(job.records):
        raise ApiError(400, "INVALIDLOCATOR", "The locator is not one this job gave out.")
    raw_max = request.args.get("maxRecords")
    if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
        raise ApiError(400, "INVALIDREQUEST", "maxRecords must be a positive whole number.")
    size = int(raw_max) if raw_max else DEFAULT_MAX_RECORDS
    chunk = job.records[offset:offset + size]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITERS[job.column_delimiter], quoting=csv.QUOTE_ALL,
                        lineterminator=LINE_ENDINGS[job.line_ending])
    writer.writerow(job.columns)
    writer.writerows(_row(record, job) for record in chunk)
    following = offset + len(chunk)
    answer = Response(out.getvalue(), mimetype="text/csv")
    answer.headers["Sforce-NumberOfRecords"] = str(len(chunk))
    answer.headers["Sforce-Locator"] = _locator(following) if following < len(job.records) else "null"
    return answer
