"""Writes to the Dataverse sandbox: PATCH, UpdateMultiple/UpsertMultiple, $batch, new columns, service protection."""
from __future__ import annotations

import json
import re
import threading
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from tests.test_dynamics_sandbox import FIXTURES, fixture, web_api_session  # noqa: F401 (fixtures below)
from tests.test_dynamics_sandbox import api, control, server  # noqa: F401

BOUNDARY_OF = re.compile(r"boundary=\"?([^\";]+)")


def batch_parts(response) -> list[dict]:
    """The application/http parts of a $batch answer (change sets flattened): status line, headers, JSON body."""
    raw = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts = []
    for part in message.walk():
        if part.get_content_type() != "application/http":
            continue
        text = part.get_payload(decode=True).decode()
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        parts.append({"status": lines[0], "headers": headers, "body": body.strip()})
    return parts


def test_patch_updates_and_if_match_prevents_a_create(server, api):
    account = api.get(f"{server.web_api}/accounts?$select=name&$top=1").json()["value"][0]
    url = f"{server.web_api}/accounts({account['accountid']})"
    changed = api.patch(url, json={"telephone1": "555-0100"}, headers={"If-Match": "*"})
    assert changed.status_code == 204 and changed.headers["OData-EntityId"] == url
    assert api.get(url + "?$select=telephone1").json()["telephone1"] == "555-0100"
    missing = api.patch(f"{server.web_api}/accounts(00000000-0000-0000-0000-0000000000aa)", json={"name": "x"},
                        headers={"If-Match": "*"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "0x80040217"
    too_long = api.patch(url, json={"name": "x" * 161})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "0x80044331"
    wrong = api.patch(url, json={"nosuch": 1})
    assert wrong.status_code == 400 and "does not exist on type 'Microsoft.Dynamics.CRM.account'" in \
        wrong.json()["error"]["message"]


def test_update_multiple_is_all_or_nothing(server, control, api):
    documented = fixture("update-multiple.json")
    rows = api.get(f"{server.web_api}/opportunities?$select=name,closeprobability&$top=3").json()["value"]
    action = f"{server.web_api}/opportunities/Microsoft.Dynamics.CRM.UpdateMultiple"

    def targets(ids, value):
        # The documented request's shape, on the opportunity table.
        return {"Targets": [{"closeprobability": value, "@odata.type": "Microsoft.Dynamics.CRM.opportunity",
                             "opportunityid": i} for i in ids]}
    assert set(documented["request"]["Targets"][0]) == {"sample_name", "@odata.type", "sample_exampleid"}
    ids = [r["opportunityid"] for r in rows]
    failed = api.post(action, json=targets(ids + ["00000000-0000-0000-0000-0000000000bb"], 77))
    assert failed.status_code == 404 and failed.json()["error"]["code"] == "0x80040217"
    after = {r["opportunityid"]: r["closeprobability"] for r in
             api.get(f"{server.web_api}/opportunities?$select=closeprobability").json()["value"]}
    assert [after[i] for i in ids] == [r["closeprobability"] for r in rows]  # nothing kept
    untyped = targets(ids, 77)
    del untyped["Targets"][1]["@odata.type"]
    assert api.post(action, json=untyped).status_code == 400
    done = api.post(action, json=targets(ids, 77))
    assert done.status_code == documented["response_status"] and done.content == b""
    assert {api.get(f"{server.web_api}/opportunities({i})?$select=closeprobability").json()["closeprobability"]
            for i in ids} == {77}
    control.knobs(bulk_max_targets=2)
    capped = api.post(action, json=targets(ids, 78))
    assert capped.status_code == 400 and "at most 2" in capped.json()["error"]["message"]


def test_upsert_multiple_creates_missing_rows_and_updates_others(server, api):
    existing = api.get(f"{server.web_api}/leads?$select=subject&$top=1").json()["value"][0]["leadid"]
    fresh = "5d0a4c1e-0000-4000-8000-00000000c0de"
    body = {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.lead", "leadid": existing, "jobtitle": "Buyer"},
        {"@odata.type": "Microsoft.Dynamics.CRM.lead", "leadid": fresh, "lastname": "Novo", "firstname": "Lia"}]}
    answer = api.post(f"{server.web_api}/leads/Microsoft.Dynamics.CRM.UpsertMultiple", json=body)
    assert answer.status_code == 204
    assert api.get(f"{server.web_api}/leads({existing})?$select=jobtitle").json()["jobtitle"] == "Buyer"
    assert api.get(f"{server.web_api}/leads({fresh})?$select=fullname").json()["fullname"] == "Lia Novo"


def test_batch_continue_on_error_matches_the_documented_example(server, control, api):
    documented = fixture("batch-continue-on-error.json")
    control.create("account", {"accountid": "00000000-0000-0000-0000-000000000001", "name": "Batch example"})
    body = (FIXTURES / "batch-continue-on-error.http").read_bytes()
    headers = dict(documented["request_headers"])
    without = {k: v for k, v in headers.items() if k != "Prefer"}
    stopped = api.post(f"{server.web_api}/$batch", data=body, headers=without)
    assert stopped.status_code == documented["without_preference"]["response_status"]
    parts = batch_parts(stopped)
    assert [p["status"] for p in parts] == [p["status"] for p in documented["without_preference"]["response_parts"]]
    assert json.loads(parts[0]["body"]) == documented["without_preference"]["response_parts"][0]["body"]
    answered = api.post(f"{server.web_api}/$batch", data=body, headers=headers)
    assert answered.status_code == documented["response_status"]
    parts = batch_parts(answered)
    assert [p["status"] for p in parts] == [p["status"] for p in documented["response_parts"]]
    assert json.loads(parts[0]["body"]) == documented["response_parts"][0]["body"]
    for part in parts[1:]:
        assert re.fullmatch(rf"{re.escape(server.web_api)}/tasks\([0-9a-f-]{{36}}\)", part["headers"]["Location"])
        assert part["headers"]["OData-EntityId"] == part["headers"]["Location"]
    subjects = {t["subject"] for t in api.get(
        f"{server.web_api}/tasks?$select=subject,_regardingobjectid_value"
        "&$filter=_regardingobjectid_value eq 00000000-0000-0000-0000-000000000001").json()["value"]}
    assert subjects == {"Task 2 in batch", "Task 3 in batch"}


def _change_set(second: str) -> bytes:
    lines = ["--batch_AAA123", "Content-Type: multipart/mixed; boundary=changeset_BBB456", "",
             "--changeset_BBB456", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
             "Content-ID: 1", "", "POST accounts HTTP/1.1", "Content-Type: application/json", "",
             '{"name": "Change set account"}', "--changeset_BBB456", "Content-Type: application/http",
             "Content-Transfer-Encoding: binary", "Content-ID: 2", "", second, "--changeset_BBB456--",
             "--batch_AAA123--", ""]
    return "\r\n".join(lines).encode()


def test_a_change_set_succeeds_or_fails_as_one(server, api):
    headers = {"Content-Type": "multipart/mixed;boundary=batch_AAA123"}
    count = lambda: len(api.get(f"{server.web_api}/accounts?$select=name&$filter=name eq 'Change set account'")
                        .json()["value"])
    failing = "\r\n".join(["PATCH accounts(00000000-0000-0000-0000-0000000000cc) HTTP/1.1",
                           "Content-Type: application/json", "If-Match: *", "", '{"name": "x"}'])
    answer = api.post(f"{server.web_api}/$batch", data=_change_set(failing), headers=headers)
    assert answer.status_code == 400 and count() == 0  # the first request was undone with the second
    contact = "\r\n".join(["POST contacts HTTP/1.1", "Content-Type: application/json", "",
                           '{"lastname": "Set", "parentcustomerid_account@odata.bind": "$1"}'])
    answer = api.post(f"{server.web_api}/$batch", data=_change_set(contact), headers=headers)
    assert answer.status_code == 200 and count() == 1
    parts = batch_parts(answer)
    assert [p["status"] for p in parts] == ["HTTP/1.1 204 No Content"] * 2
    account_id = re.search(r"accounts\(([0-9a-f-]+)\)", parts[0]["headers"]["OData-EntityId"]).group(1)
    contact_id = re.search(r"contacts\(([0-9a-f-]+)\)", parts[1]["headers"]["OData-EntityId"]).group(1)
    linked = api.get(f"{server.web_api}/contacts({contact_id})?$select=_parentcustomerid_value").json()
    assert linked["_parentcustomerid_value"] == account_id


def test_a_new_column_from_the_documented_definition_can_be_written(server, api):
    publisher = api.get(f"{server.web_api}/publishers?$select=customizationprefix").json()["value"][0]
    assert publisher["customizationprefix"] == "new"
    solution = api.post(f"{server.web_api}/solutions", json={
        "uniquename": "examplesolution", "friendlyname": "Example", "version": "1.0.0.0",
        "publisherid@odata.bind": f"/publishers({publisher['publisherid']})"})
    assert solution.status_code == 204
    definition = fixture("create-string-column.json")
    url = f"{server.web_api}/EntityDefinitions(LogicalName='account')/Attributes"
    created = api.post(url, json=definition, headers={"MSCRM.SolutionUniqueName": "examplesolution"})
    assert created.status_code == 204, created.text
    assert re.fullmatch(rf"{re.escape(url)}\([0-9a-f-]{{36}}\)", created.headers["OData-EntityId"])
    column = api.get(f"{url}(LogicalName='new_bankname')").json()
    assert column["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert (column["SchemaName"], column["MaxLength"], column["IsCustomAttribute"]) == ("new_BankName", 100, True)
    assert api.post(url, json=definition).status_code == 400  # it exists now
    wrong_prefix = dict(definition, SchemaName="pw_BankName")
    refused = api.post(url, json=wrong_prefix, headers={"MSCRM.SolutionUniqueName": "examplesolution"})
    assert refused.status_code == 400 and "new_" in refused.json()["error"]["message"]
    score = {"@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", "SchemaName": "new_Score",
             "DisplayName": {"LocalizedLabels": [{"Label": "Score", "LanguageCode": 1033}]},
             "RequiredLevel": {"Value": "None"}}
    assert api.post(url, json=score).status_code == 204
    account = api.get(f"{server.web_api}/accounts?$select=name&$top=1").json()["value"][0]["accountid"]
    row_url = f"{server.web_api}/accounts({account})"
    assert api.patch(row_url, json={"new_bankname": "Banco Sandbox", "new_score": 87}).status_code == 204
    assert api.get(row_url + "?$select=new_bankname,new_score").json()["new_score"] == 87
    assert api.patch(row_url, json={"new_score": "high"}).status_code == 400
    assert api.patch(row_url, json={"new_bankname": "b" * 101}).json()["error"]["code"] == "0x80044331"


def test_service_protection_limits_answer_429_with_retry_after(server, control, api):
    control.knobs(requests_per_window=5)
    answers = [api.get(f"{server.web_api}/WhoAmI") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    throttled = answers[-1]
    assert 1 <= int(throttled.headers["Retry-After"]) <= 300
    assert throttled.json()["error"] == {"code": "0x80072322", "message": "Number of requests exceeded the limit "
                                         "of 5 over time window of 300 seconds."}
    control.advance_clock(int(throttled.headers["Retry-After"]) + 1)
    assert api.get(f"{server.web_api}/WhoAmI").status_code == 200
    control.reset_usage()
    control.knobs(requests_per_window=6000, concurrent_limit=1, slow_seconds=0.5)
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(api.get(f"{server.web_api}/WhoAmI")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s.status_code for s in statuses) == [200, 429]
    busy = next(s for s in statuses if s.status_code == 429)
    assert busy.json()["error"]["code"] == "0x80072326" and busy.headers["Retry-After"]
    control.knobs(concurrent_limit=52, slow_seconds=0, throttle_next=1)
    assert api.get(f"{server.web_api}/WhoAmI").status_code == 429
    assert api.get(f"{server.web_api}/WhoAmI").status_code == 200
    control.knobs(fail_next=1, fail_status=503)
    assert api.get(f"{server.web_api}/WhoAmI").status_code == 503
    control.reset_usage()
    control.knobs(execution_ms_per_window=350, slow_seconds=0.2)
    # Each request takes at least 200 ms: the first is always served, and by the third the window holds more
    # than 350 ms of execution time.
    answers = [api.get(f"{server.web_api}/WhoAmI") for _ in range(3)]
    assert answers[0].status_code == 200 and answers[-1].status_code == 429
    assert answers[-1].json()["error"]["code"] == "0x80072321"
    assert answers[-1].json()["error"]["message"].startswith("Combined execution time of incoming requests "
                                                             "exceeded limit of 350 milliseconds")
