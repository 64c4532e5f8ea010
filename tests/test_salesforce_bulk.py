"""Bulk API 2.0 query jobs: the sandbox against the Developer Guide's examples, and the client's backfill over
real HTTPS against it (same records as the REST path, resume mid-job, an expired job, the fallbacks)."""
import csv
import io

import pytest
import requests

from connectors.errors import BackfillNotOffered
from connectors.salesforce import mapping, streams
from connectors.salesforce.bulk import BulkReader, decode_token, rest_datetime, typed
from connectors.salesforce.client import SalesforceClient
# The connector tests' sandbox (one per module), its control API, the connected app, a consented token
# per test and the knob reset after each test.
from tests.test_salesforce_connector import (  # noqa: F401
    Recorder, control, no_faults_left, oauth_app, recorder, sandbox, token)

# "Step 6: Query Jobs" (Bulk API 2.0 Developer Guide): the answer to creating a query job.
CREATE_EXAMPLE = {"id": "7986gEXAMPLE4X2OPT", "operation": "query", "object": "Account",
                  "createdById": "0055fEXAMPLEtG4AAM", "createdDate": "2022-01-02T17:38:59.000+0000",
                  "systemModstamp": "2022-01-02T17:38:59.000+0000", "state": "UploadComplete",
                  "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 58.0, "lineEnding": "LF",
                  "columnDelimiter": "COMMA"}
# "Get Information About a Query Job": the response body example.
JOB_INFO_EXAMPLE = {"id": "750R0000000zlh9IAA", "operation": "query", "object": "Account",
                    "createdById": "005R0000000GiwjIAC", "createdDate": "2018-12-10T17:50:19.000+0000",
                    "systemModstamp": "2018-12-10T17:51:27.000+0000", "state": "JobComplete",
                    "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 46.0, "jobType": "V2Query",
                    "lineEnding": "LF", "columnDelimiter": "COMMA", "numberRecordsProcessed": 500, "retries": 0,
                    "totalProcessingTime": 334}
STATES = {"UploadComplete", "InProgress", "JobComplete", "Aborted", "Failed"}


@pytest.fixture
def http(sandbox, token):
    session = requests.Session()
    session.verify, session.trust_env = str(sandbox.ca_path), False
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


@pytest.fixture
def jobs_url(sandbox):
    return sandbox.base_url + "/services/data/v59.0/jobs/query"


def make_client(sandbox, oauth_app, token, recorder, threshold=50, result_set_records=None):
    client = SalesforceClient(token, oauth_app, verify=str(sandbox.ca_path), max_attempts=3,
                              sleep=recorder.waits.append, bulk_threshold=threshold)
    if result_set_records:
        client.bulk = BulkReader(client, threshold, "59.0", recorder.waits.append, result_set_records)
    return client


def csv_sets(http, url, job_id, max_records, delimiter=",", line_ending="\n"):
    """Every result set of a job: (header, rows, Sforce-NumberOfRecords) each, following Sforce-Locator."""
    sets, locator = [], None
    while locator != "null":
        params = {"maxRecords": max_records, **({"locator": locator} if locator else {})}
        answer = http.get(f"{url}/{job_id}/results", params=params)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
        assert answer.text.endswith(line_ending) and (line_ending == "\r\n") == ("\r\n" in answer.text)
        table = list(csv.reader(io.StringIO(answer.text, newline=""), delimiter=delimiter))
        sets.append((table[0], table[1:], int(answer.headers["Sforce-NumberOfRecords"])))
        locator = answer.headers["Sforce-Locator"]
    return sets


# -- the sandbox against the documented contract ---------------------------------------------------

def test_a_query_job_runs_as_the_guide_shows_and_returns_what_query_all_returns(sandbox, control, http, jobs_url):
    deleted = control.records("Opportunity")[0]["Id"]
    control.delete("Opportunity", deleted)
    soql = "SELECT Id, Name, Amount, IsDeleted, IsWon, CloseDate, SystemModstamp FROM Opportunity"
    # The guide's optional parameters example: CARET and CRLF.
    created = http.post(jobs_url, json={"operation": "queryAll", "query": soql, "contentType": "CSV",
                                        "columnDelimiter": "CARET", "lineEnding": "CRLF"})
    assert created.status_code == 200
    job = created.json()
    assert list(job) == list(CREATE_EXAMPLE)
    assert job["state"] == "UploadComplete" and job["id"].startswith("750") and len(job["id"]) == 18
    assert (job["object"], job["operation"], job["apiVersion"]) == ("Opportunity", "queryAll", 59.0)
    assert (job["columnDelimiter"], job["lineEnding"]) == ("CARET", "CRLF")

    # Results are there only once the job is JobComplete, which takes at least one poll.
    early = http.get(f"{jobs_url}/{job['id']}/results")
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    seen = []
    while not seen or seen[-1] != "JobComplete":
        info = http.get(f"{jobs_url}/{job['id']}").json()
        assert set(info) >= set(JOB_INFO_EXAMPLE) and info["state"] in STATES and info["jobType"] == "V2Query"
        seen.append(info["state"])
    assert seen == ["InProgress", "JobComplete"]

    expected = sandbox.records("Opportunity", include_deleted=True)
    assert info["numberRecordsProcessed"] == len(expected)
    sets = csv_sets(http, jobs_url, job["id"], 100, delimiter="^", line_ending="\r\n")
    assert len(sets) == -(-len(expected) // 100) and all(count <= 100 for _, _, count in sets)
    assert all(header == ["Id", "Name", "Amount", "IsDeleted", "IsWon", "CloseDate", "SystemModstamp"]
               for header, _, _ in sets)
    rows = [row for _, chunk, count in sets for row in chunk]
    assert sum(count for _, _, count in sets) == len(rows)
    by_id = {r["Id"]: r for r in expected}
    assert sorted(row[0] for row in rows) == sorted(by_id)
    for row in rows:
        rest = by_id[row[0]]
        assert row[1] == rest["Name"] and (float(row[2]) if row[2] else None) == rest["Amount"]
        assert row[3] == ("true" if rest["IsDeleted"] else "false") and row[5] == rest["CloseDate"]
        assert row[6] == rest["SystemModstamp"].replace("+0000", "Z")
    assert dict((row[0], row[3]) for row in rows)[deleted] == "true"

    # A locator stays valid while the job exists; a job that is read can be deleted.
    assert csv_sets(http, jobs_url, job["id"], 100, "^", "\r\n") == sets
    assert http.delete(f"{jobs_url}/{job['id']}").status_code == 204
    gone = http.get(f"{jobs_url}/{job['id']}")
    assert gone.status_code == 404 and gone.json() == [{"message": "The requested resource does not exist",
                                                        "errorCode": "NOT_FOUND"}]


@pytest.mark.parametrize("soql", [
    "SELECT COUNT() FROM Lead",
    "SELECT Id FROM Lead ORDER BY Id",
    "SELECT Id FROM Lead LIMIT 10",
    "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
    "SELECT LeadSource FROM Lead GROUP BY LeadSource",
    "SELECT FIELDS(STANDARD) FROM Lead",
])
def test_soql_bulk_api_does_not_support_is_refused_with_salesforces_error_shape(http, jobs_url, soql):
    answer = http.post(jobs_url, json={"operation": "query", "query": soql})
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == "API_ERROR" and "not supported in Bulk Query" in error["message"]


def test_bad_jobs_and_objects_are_refused(http, jobs_url, control):
    assert http.post(jobs_url, json={"operation": "upsert", "query": "SELECT Id FROM Lead"}).json()[0][
        "errorCode"] == "INVALIDJOB"
    assert http.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Lead",
                                     "columnDelimiter": "COLON"}).status_code == 400
    assert http.post(jobs_url, json={"operation": "query", "query": "SELECT Nope FROM Lead"}).json()[0][
        "errorCode"] == "INVALID_FIELD"
    control.knobs(bulk_unsupported_objects=["Lead"])
    refused = http.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Lead"})
    assert refused.status_code == 400
    assert refused.json() == [{"message": "Entity 'Lead' is not supported by the Bulk API.",
                               "errorCode": "INVALIDENTITY"}]


def test_jobs_abort_need_their_version_and_are_cleaned_up_after_seven_days(sandbox, control, http, jobs_url):
    job = http.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()
    aborted = http.patch(f"{jobs_url}/{job['id']}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert http.patch(f"{jobs_url}/{job['id']}", json={"state": "Aborted"}).status_code == 400

    done = http.post(jobs_url, json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()
    while http.get(f"{jobs_url}/{done['id']}").json()["state"] != "JobComplete":
        pass
    limits = http.get(f"{sandbox.base_url}/services/data/v59.0/limits").json()["DailyBulkV2QueryJobs"]
    assert limits["Max"] == 10_000 and limits["Remaining"] <= 10_000 - 2
    other_version = http.get(f"{sandbox.base_url}/services/data/v60.0/jobs/query/{done['id']}/results")
    assert other_version.status_code == 409
    listed = http.get(jobs_url).json()
    assert {job["id"], done["id"]} <= {j["id"] for j in listed["records"]} and listed["done"] is True

    control.advance_clock(8 * 24 * 3600)
    for job_id in (job["id"], done["id"]):
        assert http.get(f"{jobs_url}/{job_id}/results").status_code == 404


# -- the client's backfill ---------------------------------------------------------------------------

def read_all(pages):
    return [record for page in pages for record in page.records]


def test_a_bulk_read_returns_the_records_rest_returns_and_they_map_alike(sandbox, control, oauth_app, token,
                                                                       recorder):
    control.delete("Lead", control.records("Lead")[0]["Id"])
    client = make_client(sandbox, oauth_app, token, recorder, threshold=20)
    for stream in (streams.Leads, streams.Opportunities, streams.Users, streams.Tasks):
        rest = {r["Id"]: r for page in client.read_stream(stream, None) for r in page}
        assert len(rest) > 20, f"the small seed has too few {stream.remote_name} records for this test"
        bulk = read_all(client.read_backfill(stream, None))
        assert len(bulk) == len(rest) and {r["Id"] for r in bulk} == set(rest)
        for record in bulk:
            assert record == rest[record["Id"]], f"{stream.remote_name} {record['Id']} differs"
            assert mapping.to_common(stream, record) == mapping.to_common(stream, rest[record["Id"]])
    assert any(r["IsDeleted"] for r in read_all(client.read_backfill(streams.Leads, None)))
    admin = [r for r in read_all(client.read_backfill(streams.Users, None))
             if r["Id"] == sandbox.info()["admin_user_id"]]
    assert mapping.to_common(streams.Users, admin[0]).role == "admin"


def test_a_read_resumes_from_a_token_mid_job_and_polls_with_backoff(sandbox, control, oauth_app, token, recorder):
    client = make_client(sandbox, oauth_app, token, recorder, result_set_records=100)
    pages = client.read_backfill(streams.Leads, None)
    first = next(pages)
    assert first.records == [] and decode_token(first.token, "Lead")[1] == ""  # the job, before any set
    page_one, page_two = next(pages), next(pages)
    assert len(page_one.records) == len(page_two.records) == 100 and page_two.token
    assert recorder.waits == [0.5, 1.0]  # two polls: the job takes one poll to start and one to finish

    # A new worker (a new client) resumes after page two without duplicates or gaps.
    calls_before = client.usage.calls
    resumed = make_client(sandbox, oauth_app, token, Recorder(), result_set_records=100)
    rest_of_it = list(resumed.read_backfill(streams.Leads, page_two.token))
    assert rest_of_it[-1].token is None and all(p.token for p in rest_of_it[:-1])
    ids = [r["Id"] for r in page_one.records + page_two.records + read_all(rest_of_it)]
    assert len(ids) == len(set(ids)) == len(control.records("Lead", include_deleted=True))
    # Resuming a finished job costs one poll, then one call per remaining set (the process kept the describe).
    assert resumed.usage.calls == 1 + len(rest_of_it) and client.usage.calls == calls_before
    # The first client's calls: describe, COUNT(), create, two polls, two result sets.
    assert calls_before == 7


def test_a_resume_whose_job_expired_starts_a_new_job(sandbox, control, oauth_app, token, recorder):
    client = make_client(sandbox, oauth_app, token, recorder, result_set_records=100)
    pages = client.read_backfill(streams.Leads, None)
    next(pages), next(pages)
    middle = next(pages)
    old_job = decode_token(middle.token, "Lead")[0]
    assert control.expire_query_jobs() >= 1
    again = list(make_client(sandbox, oauth_app, token, Recorder(), result_set_records=100)
                 .read_backfill(streams.Leads, middle.token))
    assert decode_token(again[0].token, "Lead")[0] != old_job  # a new job, announced before its sets
    ids = [r["Id"] for r in read_all(again)]
    assert sorted(ids) == sorted(r["Id"] for r in control.records("Lead", include_deleted=True))


def test_small_or_unsuited_streams_are_not_offered(sandbox, control, oauth_app, token, recorder):
    client = make_client(sandbox, oauth_app, token, recorder, threshold=2000)
    leads = len(control.records("Lead", include_deleted=True))
    assert leads <= 2000
    with pytest.raises(BackfillNotOffered, match=f"Lead has {leads} records"):
        client.read_backfill(streams.Leads, None)
    assert client.usage.calls == 2 and client.last_total == leads  # one describe, one COUNT()

    bulk = make_client(sandbox, oauth_app, token, recorder)
    control.knobs(bulk_unsupported_objects=["Lead"])
    with pytest.raises(BackfillNotOffered, match="not supported by the Bulk API"):
        bulk.read_backfill(streams.Leads, None)
    control.knobs(bulk_unsupported_objects=[], bulk_failing_jobs=1)
    with pytest.raises(BackfillNotOffered, match="ended Failed"):
        list(bulk.read_backfill(streams.Leads, None))
    calls = client.usage.calls
    with pytest.raises(BackfillNotOffered, match="handful"):
        client.read_backfill(streams.UserRoles, None)
    assert client.usage.calls == calls  # not even counted
    with pytest.raises(BackfillNotOffered, match="turned off"):
        make_client(sandbox, oauth_app, token, recorder, threshold=0).read_backfill(streams.Leads, None)


def test_csv_cells_become_rest_values():
    assert rest_datetime("2017-03-01T10:00:00.000Z") == "2017-03-01T10:00:00.000+0000"
    assert rest_datetime("2017-03-01T12:00:00.250+0200") == "2017-03-01T10:00:00.250+0000"
    assert typed("", "string") is None and typed("true", "boolean") is True and typed("false", "boolean") is False
    assert typed("12", "int") == 12 and typed("1054.0", "currency") == 1054.0 and typed("2017-03-01", "date") == "2017-03-01"
    assert typed("00Q1", "reference") == "00Q1"
