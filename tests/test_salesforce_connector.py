"""The Salesforce connector: mapping, provider identity, and the client over real HTTPS against the sandbox."""
import threading
import time
from datetime import date, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from connectors import common
from connectors.errors import Fatal, QuotaExceeded, ReauthorizationRequired, Retriable, Skippable, Unavailable
from connectors.oauth import OAuthApp
from connectors.retry import call_with_retries
from connectors.salesforce import mapping, streams
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.provider import SalesforceProvider
from connectors.salesforce.sandbox.control import SandboxControl
from connectors.salesforce.sandbox.server import SandboxServer


# -- mapping -----------------------------------------------------------------------------------

def test_salesforce_datetimes_become_naive_utc():
    assert mapping.sf_datetime("2017-03-01T00:00:00.000+0000") == datetime(2017, 3, 1)
    assert mapping.sf_datetime("2017-03-01T02:30:00.000+0200") == datetime(2017, 3, 1, 0, 30)
    assert mapping.sf_datetime("2017-03-01T00:00:00Z") == datetime(2017, 3, 1)
    assert mapping.sf_datetime(None) is None
    assert mapping.sf_date("2017-03-01") == date(2017, 3, 1)


def test_lead_maps_every_common_field():
    raw = {"attributes": {"type": "Lead", "url": "/services/data/v59.0/sobjects/Lead/00Q1"},
           "Id": "00Q1", "IsDeleted": False, "CreatedDate": "2017-06-01T10:00:00.000+0000",
           "SystemModstamp": "2017-06-02T11:00:00.000+0000", "FirstName": "Ana", "LastName": "Lima",
           "Email": " Ana@Example.COM ", "Company": "Acme", "LeadSource": "organic_search",
           "Status": "Converted", "IsConverted": True, "ConvertedDate": "2017-07-01",
           "ConvertedOpportunityId": "0061", "OwnerId": "0051"}
    lead = mapping.to_common(streams.Leads, raw)
    assert isinstance(lead, common.Lead)
    assert (lead.remote_id, lead.remote_deleted) == ("00Q1", False)
    assert lead.remote_modified_at == datetime(2017, 6, 2, 11)
    assert lead.remote_created_at == datetime(2017, 6, 1, 10)
    assert lead.email_key == "ana@example.com"
    assert lead.is_converted and lead.converted_at == datetime(2017, 7, 1)
    assert lead.converted_opportunity_remote_id == "0061" and lead.owner_remote_id == "0051"
    assert "attributes" not in lead.remote_data and lead.remote_data["Company"] == "Acme"


def test_opportunity_and_history_map_numbers_dates_and_flags():
    opp = mapping.to_common(streams.Opportunities, {
        "Id": "0061", "IsDeleted": True, "SystemModstamp": "2017-03-01T00:00:00.000+0000",
        "StageName": "Won", "Amount": 1054.0, "Probability": 100, "CloseDate": "2017-03-01",
        "IsClosed": True, "IsWon": True, "Product__c": "GTX Pro", "AccountId": "0011"})
    assert opp.remote_deleted and opp.is_won and opp.is_closed
    assert (opp.amount, opp.probability, opp.close_date) == (1054.0, 100.0, date(2017, 3, 1))
    # No standard field holds a product: an org's own field reaches it only through field mapping.
    assert opp.product is None and opp.account_remote_id == "0011"
    change = mapping.to_common(streams.OpportunityHistories, {
        "Id": "0081", "OpportunityId": "0061", "StageName": "Engaging",
        "CreatedDate": "2017-01-05T09:00:00.000+0000", "SystemModstamp": "2017-01-05T09:00:00.000+0000"})
    assert isinstance(change, common.OpportunityStageChange)
    assert (change.opportunity_remote_id, change.stage) == ("0061", "Engaging")
    assert change.changed_at == datetime(2017, 1, 5, 9)


@pytest.mark.parametrize("subtype,kind", [("Call", "call"), ("Email", "email"), ("Task", "task"), (None, "task")])
def test_task_kind_follows_its_subtype(subtype, kind):
    task = mapping.to_common(streams.Tasks, {"Id": "00T1", "TaskSubtype": subtype,
                                             "ActivityDate": "2017-02-03", "CallDurationInSeconds": 300})
    assert task.kind == kind and task.occurred_at == datetime(2017, 2, 3) and task.duration_minutes == 5


def test_event_is_a_meeting():
    event = mapping.to_common(streams.Events, {"Id": "00U1", "StartDateTime": "2017-02-03T15:00:00.000+0000",
                                               "DurationInMinutes": 30, "WhatId": "0061"})
    assert (event.kind, event.occurred_at, event.duration_minutes) == ("meeting", datetime(2017, 2, 3, 15), 30)


@pytest.mark.parametrize("raw,role", [
    ({"Title": "System Administrator", "Profile": {"PermissionsModifyAllData": False}}, "rep"),
    ({"Title": "Sales Manager"}, "rep"),  # leading a team shows in the hierarchy, not in a title
    ({"Profile": {"Name": "Custom: Ops", "PermissionsModifyAllData": True}}, "admin"),
    ({"Profile": None, "UserRoleId": "00E1"}, "rep"),
])
def test_user_role_comes_from_the_profiles_permissions_not_words(raw, role):
    assert mapping.user_role(raw) == role


def test_user_and_role_map_the_hierarchy():
    user = mapping.to_common(streams.Users, {"Id": "0051", "UserRoleId": "00E2", "ManagerId": "0052",
                                             "Profile": {"PermissionsModifyAllData": False}})
    assert (user.crm_role_remote_id, user.manager_remote_id, user.role) == ("00E2", "0052", "rep")
    role = mapping.to_common(streams.UserRoles, {"Id": "00E2", "Name": "West Sales Rep", "ParentRoleId": "00E1",
                                                 "SystemModstamp": "2017-01-01T00:00:00.000+0000"})
    assert isinstance(role, common.UserRole) and role.parent_remote_id == "00E1" and not role.remote_deleted


def test_every_stream_has_a_mapping_and_reads_only_standard_fields():
    for stream in SalesforceProvider.streams:
        assert stream.name in mapping.MAPPERS
        assert stream.cursor_field in stream.fields and "Id" in stream.fields
        assert not [f for f in stream.fields if f.endswith("__c")], "custom fields come through field mapping"
        assert ("IsDeleted" in stream.fields) == stream.reports_deletes
    assert [s.name for s in SalesforceProvider.streams if s.optional] == [
        "currency_type", "dated_conversion_rate", "forecasting_quota"]
    assert [s.name for s in SalesforceProvider.streams if s.quiet_when_missing] == [
        "currency_type", "dated_conversion_rate"]


def test_identity_comes_from_the_id_url():
    identity = SalesforceProvider.identity({
        "instance_url": "https://acme.my.salesforce.com/",
        "id": "https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA"})
    assert identity.remote_org_id == "00D000000000001EAA"
    assert identity.remote_user_id == "005000000000001AAA"
    assert identity.instance_url == "https://acme.my.salesforce.com"


def test_retry_helper_honours_retry_after_and_gives_up_after_max_attempts():
    waits, attempts = [], []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise Retriable("busy", retry_after=7)
        return "done"

    assert call_with_retries(flaky, max_attempts=5, sleep=waits.append) == "done"
    assert waits == [7.0, 7.0]

    def always_busy():
        raise Retriable("busy")

    waits.clear()
    with pytest.raises(Retriable):
        call_with_retries(always_busy, max_attempts=3, sleep=waits.append)
    assert len(waits) == 2 and all(w > 0 for w in waits)


# -- the client against the sandbox over real HTTPS ----------------------------------------------

REDIRECT_URI = "https://pipewise.example/oauth/salesforce/callback"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    server = SandboxServer(tmp_path_factory.mktemp("salesforce"), seed="small").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def control(sandbox):
    return SandboxControl(sandbox.base_url, sandbox.ca_path)


@pytest.fixture(scope="module")
def oauth_app(sandbox):
    return OAuthApp(SalesforceProvider, sandbox.base_url, "pipewise-sandbox-client",
                    "pipewise-sandbox-secret", verify=str(sandbox.ca_path))


@pytest.fixture(autouse=True)
def no_faults_left(request):
    """Every sandbox test starts and ends without fault knobs or spent quota."""
    yield
    if "sandbox" in request.fixturenames:
        control = request.getfixturevalue("control")
        control.reset_knobs()
        control.reset_usage()


def authorize(sandbox, oauth_app) -> dict:
    """The admin's consent, as the browser would post it, then the code exchange."""
    url, state = oauth_app.authorization_url(REDIRECT_URI)
    assert parse_qs(urlparse(url).query)["state"] == [state]
    browser = requests.Session()
    browser.verify, browser.trust_env = str(sandbox.ca_path), False
    answer = browser.post(sandbox.base_url + SalesforceProvider.authorize_path, allow_redirects=False, data={
        "client_id": oauth_app.client_id, "redirect_uri": REDIRECT_URI, "state": state,
        "scope": " ".join(SalesforceProvider.scopes), "username": "", "action": "allow"})
    assert answer.status_code == 302
    query = parse_qs(urlparse(answer.headers["Location"]).query)
    assert query["state"] == [state]
    return oauth_app.exchange_code(query["code"][0], REDIRECT_URI)


class Recorder:
    """What the client handed back: saved tokens and the waits it asked for."""

    def __init__(self):
        self.tokens, self.waits = [], []


@pytest.fixture
def token(sandbox, oauth_app):
    return authorize(sandbox, oauth_app)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def client(sandbox, oauth_app, token, recorder):
    return SalesforceClient(token, oauth_app, on_token=recorder.tokens.append, verify=str(sandbox.ca_path),
                            max_attempts=4, sleep=recorder.waits.append)


class SmallLeads(streams.Leads):
    page_size = 200  # the smallest batch Salesforce allows


def ids_of(pages):
    return [record["Id"] for page in pages for record in page]


def test_oauth_code_flow_gives_a_token_and_identity(sandbox, token):
    assert token["access_token"] and token["refresh_token"]
    identity = SalesforceProvider.identity(token)
    assert identity.remote_org_id == sandbox.org_id
    assert identity.instance_url == sandbox.base_url
    assert identity.remote_user_id == sandbox.info()["admin_user_id"]


def test_read_stream_returns_every_record_once_across_pages_and_resumes(client, control):
    leads = control.records("Lead", include_deleted=True)
    # Most leads share one stamp, so that tie straddles both page boundaries.
    tied = sorted(r["Id"] for r in leads)[50:350]
    stamp = control.touch("Lead", tied, "2017-10-05T00:00:00Z")

    pages = list(client.read_stream(SmallLeads, None))
    assert len(pages) == 2 and all("attributes" not in r for r in pages[0])
    assert sorted(ids_of(pages)) == sorted(r["Id"] for r in leads)
    ordered = [(r["SystemModstamp"], r["Id"]) for page in pages for r in page]
    assert ordered == sorted(ordered)

    # A worker killed after page one resumes from its last (cursor, id).
    last = pages[0][-1]
    assert last["SystemModstamp"] == stamp
    resumed = list(client.read_stream(SmallLeads, mapping.sf_datetime(last["SystemModstamp"]),
                                      after_id=last["Id"]))
    assert ids_of(pages[:1]) + ids_of(resumed) == ids_of(pages)

    # Without after_id the lower bound is inclusive: the whole tie comes again.
    again = ids_of(client.read_stream(SmallLeads, mapping.sf_datetime(stamp)))
    assert sorted(again) == sorted(tied)


def test_deleted_records_come_flagged(client, control):
    lead = control.records("Lead")[0]
    control.delete("Lead", lead["Id"])
    [record] = client.read_records(streams.Leads, [lead["Id"]])
    assert record["IsDeleted"] is True
    assert mapping.to_common(streams.Leads, record).remote_deleted
    since = mapping.sf_datetime(record["SystemModstamp"])
    assert lead["Id"] in ids_of(client.read_stream(streams.Leads, since))


def test_expired_token_is_refreshed_and_handed_back(client, control, recorder, token):
    control.expire_tokens()
    accounts = ids_of(client.read_stream(streams.Accounts, None))
    assert len(accounts) == control.info()["counts"]["Account"]
    [saved] = recorder.tokens
    assert saved["access_token"] != token["access_token"]
    assert saved["refresh_token"] == token["refresh_token"]
    assert client.token == saved


def test_revoked_authorization_asks_for_reauthorization(client, control):
    control.revoke_tokens()
    with pytest.raises(ReauthorizationRequired, match="re-authorize"):
        client.describe("Lead")


def test_client_revoke_ends_the_refresh_token(client, control):
    assert client.revoke() is True
    control.expire_tokens()
    with pytest.raises(ReauthorizationRequired):
        client.describe("Lead")


@pytest.mark.parametrize("status", [503, 429])
def test_throttling_and_outages_are_retried_after_the_asked_delay(client, control, recorder, status):
    control.knobs(rate_limit_count=2, rate_limit_status=status, rate_limit_retry_after=3)
    assert client.describe("Account")["name"] == "Account"
    assert recorder.waits == [3.0, 3.0]
    assert client.usage.calls == 3


def test_retries_give_up_after_max_attempts(client, control, recorder):
    control.knobs(fail_count=10, fail_path="/describe", fail_status=500)
    with pytest.raises(Retriable):
        client.describe("Account")
    assert len(recorder.waits) == 3 and client.usage.calls == 4


def test_daily_limit_raises_quota_exceeded_without_retrying(client, control, recorder):
    client.describe("Account")
    assert client.usage.limit == 15000 and client.usage.used >= 1
    control.knobs(daily_api_limit=control.info()["api_usage"]["used"])
    with pytest.raises(QuotaExceeded) as raised:
        client.describe("Account")
    assert raised.value.resume_at is not None and recorder.waits == []


def test_fields_the_org_lacks_are_left_out_and_missing_objects_unavailable(client, control):
    class Mapped(streams.Leads):
        fields = ("Id", "SystemModstamp", "Company", "NoSuchField__c")

    pages = list(client.read_stream(Mapped, None))
    assert pages[0] and set(pages[0][0]) == {"Id", "SystemModstamp", "Company"}
    assert client.left_out_fields == {"lead": ["NoSuchField__c"]}
    with pytest.raises(Skippable):
        client.describe("NoSuchObject")
    with pytest.raises(Fatal, match="MALFORMED_QUERY"):
        client.query("SELECT Id FROM Lead WHERE")

    # Collaborative Forecasts off: the quota object does not exist for this org.
    control.knobs(forecasting_enabled=False)
    fresh = SalesforceClient(client.token, client._oauth, verify=client._verify)
    with pytest.raises(Unavailable, match="Collaborative Forecasts"):
        list(fresh.read_stream(streams.ForecastingQuotas, None))


def test_ensure_fields_creates_them_once_and_grants_them(client, control):
    fields = SalesforceProvider.writable_fields
    assert client.ensure_fields("Opportunity", fields) == [f.remote_name for f in fields]
    assert client.ensure_fields("Opportunity", fields) == []
    described = {f["name"]: f for f in client.describe("Opportunity")["fields"]}
    assert described["Pipewise_Score__c"]["type"] == "double" and described["Pipewise_Score__c"]["updateable"]
    assert described["Pipewise_Reasons__c"]["type"] == "textarea"
    assert described["Pipewise_Scored_At__c"]["type"] == "datetime"
    # Field-level security through Pipewise's permission sets: edit for the integration user, read for reps.
    sets = {p["Name"]: p["Id"] for p in control.records("PermissionSet")}
    grants = [g for g in control.records("FieldPermissions") if g["SobjectType"] == "Opportunity"
              and g["Field"].startswith("Opportunity.Pipewise_")]
    assert {(g["ParentId"], g["PermissionsEdit"]) for g in grants} == {
        (sets["Pipewise_Integration"], True), (sets["Pipewise_Reader"], False)}
    assigned = [a for a in control.records("PermissionSetAssignment") if a["PermissionSetId"] == sets["Pipewise_Integration"]]
    assert [a["AssigneeId"] for a in assigned] == [client.user_id]


def test_update_records_reports_each_record(client, control):
    client.ensure_fields("Lead", SalesforceProvider.writable_fields)
    first, second, locked = [r["Id"] for r in control.records("Lead")[:3]]
    control.knobs(reject_ids=[locked])
    results = client.update_records("Lead", [
        {"Id": first, "Pipewise_Score__c": 42, "Pipewise_Band__c": "hot"},
        {"Id": second, "Pipewise_Score__c": 7},
        {"Id": locked, "Pipewise_Score__c": 99},
    ])
    assert [(r.remote_id, r.ok) for r in results] == [(first, True), (second, True), (locked, False)]
    assert results[2].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and results[2].message
    assert control.record("Lead", first)["Pipewise_Score__c"] == 42
    assert control.record("Lead", locked)["Pipewise_Score__c"] is None
    with pytest.raises(ValueError):
        client.update_records("Lead", [{"Id": first}] * 201)


def test_a_converted_lead_is_refused_for_good(client, control):
    client.ensure_fields("Lead", SalesforceProvider.writable_fields)
    converted = next(r["Id"] for r in control.records("Lead") if r["IsConverted"])
    [result] = client.update_records("Lead", [{"Id": converted, "Pipewise_Score__c": 50}])
    assert (result.ok, result.error_code, result.permanent) == (False, "CANNOT_UPDATE_CONVERTED_LEAD", True)


def test_too_many_concurrent_long_requests_are_waited_out_not_taken_for_a_spent_quota(client, control):
    # API Request Limits and Allocations: requests of 20 s or more count; a Developer Edition org takes 5 at
    # once. Here one long request (1.5 s, "long" from 0.2 s) fills a limit of one.
    control.knobs(long_request_seconds=0.2, concurrent_long_limit=1, delay_ms=1500)
    slow = threading.Thread(target=lambda: SalesforceClient(client.token, client._oauth, verify=client._verify,
                                                            max_attempts=1).describe("Lead"))
    slow.start()
    time.sleep(0.6)  # the other request has now run for longer than a "long" one
    control.knobs(delay_ms=0)
    waits = []
    patient = SalesforceClient(client.token, client._oauth, verify=client._verify,
                               sleep=lambda seconds: (waits.append(seconds), slow.join()))
    assert patient.describe("Account")["name"] == "Account"
    assert waits == [20.0], "it waited for long requests to end instead of pausing for a day"


def test_a_query_locator_that_is_gone_restarts_from_the_last_record_handed_out(client, control):
    leads = control.records("Lead", include_deleted=True)
    pages = client.read_stream(SmallLeads, None)
    first = next(pages)
    control.expire_query_locators()
    rest = [r["Id"] for page in pages for r in page]
    seen = [r["Id"] for r in first] + rest
    assert sorted(seen) == sorted(r["Id"] for r in leads) and len(seen) == len(set(seen))


def test_describe_answers_are_kept_by_the_process_and_described_again_when_a_field_is_taken_away(
        client, control, sandbox, oauth_app, token):
    client.ensure_fields("Lead", SalesforceProvider.writable_fields)

    class Scored(streams.Leads):
        fields = ("Id", "SystemModstamp", "Company", "Pipewise_Score__c")

    lead = control.records("Lead")[0]["Id"]
    first = SalesforceClient(token, oauth_app, verify=str(sandbox.ca_path))
    assert set(first.read_records(Scored, [lead])[0]) == {"Id", "SystemModstamp", "Company", "Pipewise_Score__c"}
    assert first.usage.calls == 2  # the describe of every object (one composite call), then the query

    # A webhook's next job opens another client: the process's answers spare it the describe.
    second = SalesforceClient(token, oauth_app, verify=str(sandbox.ca_path))
    assert "Pipewise_Score__c" in second.read_records(Scored, [lead])[0] and second.usage.calls == 1

    # An admin takes the field away from the integration user: Salesforce refuses the query that the
    # kept answer built; the client describes again once and reads without the field.
    sets = {p["Name"]: p["Id"] for p in control.records("PermissionSet")}
    (grant,) = [g["Id"] for g in control.records("FieldPermissions")
                if g["Field"] == "Lead.Pipewise_Score__c" and g["ParentId"] == sets["Pipewise_Integration"]]
    control.delete("FieldPermissions", grant)
    third = SalesforceClient(token, oauth_app, verify=str(sandbox.ca_path))
    assert set(third.read_records(Scored, [lead])[0]) == {"Id", "SystemModstamp", "Company"}
    assert third.left_out_fields == {"lead": ["Pipewise_Score__c"]}
    assert third.usage.calls == 3  # the refused query, the describe, the query
