"""The Salesforce sandbox speaks Salesforce to the real clients: simple-salesforce and authlib over HTTPS."""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceGeneralError,
                                          SalesforceMalformedRequest, SalesforceRefusedRequest)

from connectors.salesforce.sandbox.control import SandboxControl
from connectors.salesforce.sandbox.core import Sandbox
from connectors.salesforce.sandbox.server import SandboxServer
from connectors.salesforce.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

REDIRECT_URI = "https://pipewise.test/install/salesforce/callback"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sandbox = SandboxServer(tmp_path_factory.mktemp("sf-sandbox"), seed="small").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def control(server):
    return SandboxControl(server.base_url, server.ca_path)


@pytest.fixture(autouse=True)
def clean_knobs(control):
    yield
    control.reset_knobs()
    control.reset_usage()


def oauth_session(server, **kwargs) -> OAuth2Session:
    session = OAuth2Session(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, redirect_uri=REDIRECT_URI,
                            scope="api refresh_token", **kwargs)
    session.verify = str(server.ca_path)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
    return session


def install(server, username: str = "") -> dict:
    """The programmatic install: authorize URL, POST the consent form, trade the code."""
    session = oauth_session(server)
    url, state = session.create_authorization_url(server.base_url + "/services/oauth2/authorize")
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    answer = requests.post(server.base_url + "/services/oauth2/authorize", verify=str(server.ca_path),
                           allow_redirects=False, data={**query, "username": username, "action": "allow"})
    assert answer.status_code == 302
    return dict(session.fetch_token(server.base_url + "/services/oauth2/token",
                                    authorization_response=answer.headers["Location"], state=state))


def client(server, token: dict) -> Salesforce:
    session = requests.Session()
    session.verify = str(server.ca_path)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                      version="59.0")


@pytest.fixture
def sf(server):
    return client(server, install(server))


def test_oauth_code_flow_answers_salesforce_token_shape(server):
    consent = requests.get(server.base_url + "/services/oauth2/authorize", verify=str(server.ca_path),
                           params={"response_type": "code", "client_id": DEFAULT_CLIENT_ID,
                                   "redirect_uri": REDIRECT_URI, "state": "s1"})
    assert consent.status_code == 200 and "Pipewise" in consent.text and "Allow" in consent.text

    token = install(server)
    assert {"access_token", "refresh_token", "signature", "scope", "instance_url", "id", "token_type",
            "issued_at"} <= set(token)
    assert token["token_type"] == "Bearer" and token["instance_url"] == server.base_url
    assert token["id"] == f"{server.base_url}/id/{server.org_id}/{server.info()['admin_user_id']}"
    expected = hmac.new(DEFAULT_CLIENT_SECRET.encode(), (token["id"] + token["issued_at"]).encode(), hashlib.sha256)
    assert token["signature"] == base64.b64encode(expected.digest()).decode()

    identity = requests.get(token["id"], headers={"Authorization": "Bearer " + token["access_token"]},
                            verify=str(server.ca_path)).json()
    assert identity["organization_id"] == server.org_id
    # Salesforce adds custom_attributes only when the app defines custom attributes; Pipewise's defines none.
    assert "custom_attributes" not in identity

    refreshed = requests.post(server.base_url + "/services/oauth2/token", verify=str(server.ca_path),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                    "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}).json()
    assert "refresh_token" not in refreshed and refreshed["access_token"] != token["access_token"]
    assert client(server, refreshed).query("SELECT Id FROM User")["totalSize"] == 42


def test_consent_deny_and_wrong_secret(server):
    denied = requests.post(server.base_url + "/services/oauth2/authorize", verify=str(server.ca_path),
                           allow_redirects=False, data={"client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT_URI,
                                                        "state": "xyz", "action": "deny"})
    params = parse_qs(urlparse(denied.headers["Location"]).query)
    assert params["error"] == ["access_denied"] and params["state"] == ["xyz"]

    wrong = requests.post(server.base_url + "/services/oauth2/token", verify=str(server.ca_path),
                          data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": DEFAULT_CLIENT_ID,
                                "client_secret": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"


def test_a_users_standing_is_read_from_profile_permission_sets_and_hierarchy(server):
    rep = next(u for u in server.records("User") if u["Title"] == "Sales Representative")
    token = install(server, username=rep["Username"])
    identity = requests.get(token["id"], headers={"Authorization": "Bearer " + token["access_token"]},
                            verify=str(server.ca_path)).json()
    assert identity["user_id"] == rep["Id"]
    sf = client(server, token)
    me = sf.query(f"SELECT Profile.Name, Profile.PermissionsModifyAllData, UserRole.ParentRoleId, UserRoleId "
                  f"FROM User WHERE Id = '{rep['Id']}'")["records"][0]
    assert me["Profile"]["Name"] == "Standard User" and me["Profile"]["PermissionsModifyAllData"] is False
    assert me["Profile"]["attributes"]["type"] == "Profile"
    # The rep's role sits right below their manager's; the manager holds that role.
    manager = sf.query(f"SELECT Id, UserRoleId FROM User WHERE Id = '{rep['ManagerId']}'")["records"][0]
    assert me["UserRole"]["ParentRoleId"] == manager["UserRoleId"]
    below = sf.query(f"SELECT COUNT() FROM User WHERE UserRole.ParentRoleId = '{manager['UserRoleId']}'")
    assert below["totalSize"] >= 1
    # Permission set assignments are only for users with View Setup and Configuration: not for a rep.
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT AssigneeId FROM PermissionSetAssignment")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"
    # Every user holds the permission set their profile owns; only the admin's grants Modify All Data.
    admins = client(server, install(server)).query("SELECT AssigneeId FROM PermissionSetAssignment "
                                                   "WHERE PermissionSet.PermissionsModifyAllData = true")["records"]
    assert [a["AssigneeId"] for a in admins] == [server.info()["admin_user_id"]]


def test_a_token_without_the_api_scope_cannot_call_the_rest_api(server):
    session = oauth_session(server)
    session.scope = "id"
    url, state = session.create_authorization_url(server.base_url + "/services/oauth2/authorize")
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    answer = requests.post(server.base_url + "/services/oauth2/authorize", verify=str(server.ca_path),
                           allow_redirects=False, data={**query, "action": "allow"})
    token = session.fetch_token(server.base_url + "/services/oauth2/token",
                                authorization_response=answer.headers["Location"], state=state)
    refused = requests.get(server.base_url + "/services/data/v59.0/limits/", verify=str(server.ca_path),
                           headers={"Authorization": "Bearer " + token["access_token"]})
    assert refused.status_code == 401
    assert refused.json() == [{"message": "This session is not valid for use with the REST API",
                               "errorCode": "INVALID_SESSION_ID"}]


def test_revoked_refresh_token_gets_invalid_grant(server, control):
    token = install(server)
    revoked = requests.post(server.base_url + "/services/oauth2/revoke", data={"token": token["refresh_token"]},
                            verify=str(server.ca_path))
    assert revoked.status_code == 200
    with pytest.raises(OAuthError) as caught:
        oauth_session(server).refresh_token(server.base_url + "/services/oauth2/token",
                                            refresh_token=token["refresh_token"])
    assert caught.value.error == "invalid_grant"
    with pytest.raises(SalesforceExpiredSession):  # the access tokens went with it
        client(server, token).query("SELECT Id FROM User")

    other = install(server)
    control.revoke_tokens()
    raw = requests.post(server.base_url + "/services/oauth2/token", verify=str(server.ca_path),
                        data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"],
                              "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET})
    assert raw.status_code == 400 and raw.json()["error"] == "invalid_grant" and raw.json()["error_description"]


def test_expired_token_answers_401_invalid_session(server, sf, control):
    sf.query("SELECT Id FROM User LIMIT 1")
    control.expire_tokens()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_short_token_ttl_expires(server, control):
    control.knobs(token_ttl_seconds=0)
    token = install(server)
    with pytest.raises(SalesforceExpiredSession):
        client(server, token).query("SELECT Id FROM User LIMIT 1")


def test_paging_follows_next_records_url_at_batch_size(server, sf):
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY Id", headers=headers)
    live = len(server.records("Lead"))
    assert first["done"] is False and len(first["records"]) == 200 and first["totalSize"] == live > 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert first["nextRecordsUrl"].endswith("-200")
    assert first["records"][0]["attributes"] == {"type": "Lead",
                                                 "url": f"/services/data/v59.0/sobjects/Lead/{first['records'][0]['Id']}"}
    everything = sf.query_all("SELECT Id, LastName FROM Lead", headers=headers)
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == len(set(ids)) == live
    assert set(ids) == {r["Id"] for r in server.records("Lead")}
    assert len(sf.query_all("SELECT Id FROM OpportunityHistory")["records"]) == server.info()["counts"][
        "OpportunityHistory"]


def test_query_snapshot_is_stable_while_paging(server, sf):
    first = sf.query("SELECT Id FROM Lead ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=200"})
    created = server.create("Lead", {"LastName": "Newcomer", "Company": "Snapshot Ltd"})
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert created not in [r["Id"] for r in rest["records"]] and rest["done"] is True
    server.delete("Lead", created)


def test_query_all_returns_soft_deleted_rows(server, sf):
    lead = sf.query("SELECT Id FROM Lead ORDER BY Id DESC LIMIT 1")["records"][0]["Id"]
    sf.Lead.delete(lead)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead}'"
    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query(soql, include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert lead in {r["Id"] for r in server.records("Lead", include_deleted=True)}
    assert lead not in {r["Id"] for r in server.records("Lead")}


def test_modstamp_cursor_pages_ties_by_id(server, sf, control):
    leads = sorted(r["Id"] for r in server.records("Lead"))[:12]
    stamp = control.touch("Lead", leads, "2017-09-30T12:00:00Z")
    assert stamp == "2017-09-30T12:00:00.000+0000"
    after = leads[4]
    soql = ("SELECT Id, SystemModstamp FROM Lead WHERE (SystemModstamp > 2017-09-30T12:00:00Z OR "
            f"(SystemModstamp = 2017-09-30T12:00:00.000+0000 AND Id > '{after}')) ORDER BY SystemModstamp, Id")
    got = [(r["SystemModstamp"], r["Id"]) for r in sf.query_all(soql)["records"]]
    expected = sorted((r["SystemModstamp"], r["Id"]) for r in server.records("Lead")
                      if (r["SystemModstamp"], r["Id"]) > (stamp, after))
    assert got == expected and got[:7] == [(stamp, i) for i in leads[5:]]

    edited = leads[0]
    sf.Lead.update(edited, {"Title": "Buyer"})
    newest = sf.query("SELECT Id, SystemModstamp, LastModifiedDate FROM Lead ORDER BY SystemModstamp DESC LIMIT 1")
    assert newest["records"][0]["Id"] == edited
    assert newest["records"][0]["SystemModstamp"] >= "2017-10-01T00:00:00.000+0000"


def test_where_clause_operators(server, sf):
    records = server.records("Lead")
    converted = [r for r in records if r["IsConverted"]]
    got = sf.query_all("SELECT Id FROM Lead WHERE IsConverted = true AND ConvertedDate >= 2016-01-01")
    assert {r["Id"] for r in got["records"]} == {r["Id"] for r in converted}
    sources = {"social", "email"}
    got = sf.query_all("SELECT Id, LeadSource FROM Lead WHERE LeadSource IN ('social', 'EMAIL') "
                       "AND NOT (Email LIKE 'ana.%')")
    assert {r["Id"] for r in got["records"]} == {r["Id"] for r in records if r["LeadSource"] in sources
                                                 and not r["Email"].startswith("ana.")}
    got = sf.query("SELECT COUNT() FROM Lead WHERE Company != null")
    assert got["totalSize"] == len(records) and got["records"] == []
    won = sf.query_all("SELECT Id, Amount, CloseDate FROM Opportunity WHERE StageName = 'Closed Won' "
                       "AND Amount > 1000.5 ORDER BY Amount DESC, Id")["records"]
    assert won and all(r["Amount"] > 1000.5 for r in won)
    assert [r["Amount"] for r in won] == sorted((r["Amount"] for r in won), reverse=True)


def test_soql_errors(server, sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Nope__c FROM Lead")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Nothing")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"
    for bad in ("SELECT Id FROM Lead WHERE", "SELECT Id Lead", "SELECT Id FROM Lead GROUP BY Id",
                "SELECT Id FROM Lead WHERE Email = ", "SELECT Id FROM Lead WHERE (Email = 'a'"):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(bad)
        assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY", bad


def test_limit_header_and_daily_quota(server, sf, control):
    sf.query("SELECT Id FROM User LIMIT 1")
    used = sf.api_usage["api-usage"].used
    assert used >= 1 and sf.api_usage["api-usage"].total == 15000
    control.knobs(daily_api_limit=used + 1)
    sf.query("SELECT Id FROM User LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    refused = requests.get(server.base_url + "/services/data/v59.0/limits", verify=str(server.ca_path),
                           headers={"Authorization": "Bearer " + sf.session_id})
    assert refused.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{used + 1}"


def test_rate_limit_and_server_error_knobs(server, sf, control):
    control.knobs(rate_limit_count=1, rate_limit_retry_after=3)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert caught.value.status == 429
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    control.knobs(fail_count=1, fail_path="composite", fail_status=503)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": []})
    assert caught.value.status == 503
    raw = requests.get(server.base_url + "/services/data/v59.0/limits", verify=str(server.ca_path),
                       headers={"Authorization": "Bearer " + sf.session_id})
    assert raw.status_code == 200 and raw.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_composite_update_results_per_record_and_all_or_none(server, sf, control):
    leads = [r["Id"] for r in server.records("Lead")[:3]]
    control.knobs(reject_ids=[leads[1]])
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "Id": leads[0], "Title": "Owner"},
        {"attributes": {"type": "Lead"}, "Id": leads[1], "Title": "Owner"},
        {"attributes": {"type": "Lead"}, "Id": leads[2], "Nope__c": 1}]}
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert results[0] == {"id": leads[0], "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[2]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert control.record("Lead", leads[0])["Title"] == "Owner"

    body["allOrNone"] = True
    body["records"][0]["Title"] = "Changed"
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert control.record("Lead", leads[0])["Title"] == "Owner"

    too_many = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "Id": leads[0]}] * 201}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="PATCH", json=too_many)


def test_custom_field_through_tooling_is_invisible_until_a_permission_set_grants_it(server, sf):
    field = {"FullName": "Lead.Pipewise_Score__c",
             "Metadata": {"type": "Number", "label": "Pipewise Score", "precision": 3, "scale": 0}}
    created = sf.restful("tooling/sobjects/CustomField", method="POST", json=field)
    assert created["success"] is True and created["id"].startswith("00N")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("tooling/sobjects/CustomField", method="POST", json=field)
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": "Lead.Pipewise_Reasons__c",
        "Metadata": {"type": "LongTextArea", "label": "Pipewise Reasons", "length": 32768, "visibleLines": 3}})

    # No field-level security yet, for the admin too: the fields do not exist for the API.
    lead = server.records("Lead")[5]["Id"]
    assert "Pipewise_Score__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Pipewise_Score__c FROM Lead")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    refused = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "Id": lead, "Pipewise_Score__c": 87}]})
    assert refused[0]["errors"][0]["statusCode"] == "INVALID_FIELD"

    # A permission set with edit on both fields, assigned to the user: now they exist.
    permission_set = sf.PermissionSet.create({"Name": "Scores", "Label": "Scores"})["id"]
    grants = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "FieldPermissions"}, "ParentId": permission_set, "SobjectType": "Lead",
         "Field": f"Lead.{name}", "PermissionsRead": True, "PermissionsEdit": True}
        for name in ("Pipewise_Score__c", "Pipewise_Reasons__c")]})
    assert all(g["success"] for g in grants)
    sf.PermissionSetAssignment.create({"AssigneeId": server.info()["admin_user_id"], "PermissionSetId": permission_set})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.PermissionSetAssignment.create({"AssigneeId": server.info()["admin_user_id"],
                                           "PermissionSetId": permission_set})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"

    described = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert described["Pipewise_Score__c"]["custom"] is True and described["Pipewise_Score__c"]["type"] == "double"
    assert described["Pipewise_Reasons__c"]["type"] == "textarea" and described["Pipewise_Reasons__c"]["updateable"]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "Id": lead, "Pipewise_Score__c": 87, "Pipewise_Reasons__c": "Fast reply"}]})
    assert results == [{"id": lead, "success": True, "errors": []}]
    read = sf.query("SELECT Id, Pipewise_Score__c, Pipewise_Reasons__c FROM Lead WHERE Pipewise_Score__c >= 80")
    assert read["records"][0]["Pipewise_Score__c"] == 87.0 and read["records"][0]["Pipewise_Reasons__c"] == "Fast reply"

    # A rep holds no such permission set: to them the fields still do not exist.
    rep = next(u for u in server.records("User") if u["Title"] == "Sales Representative")
    as_rep = client(server, install(server, username=rep["Username"]))
    assert "Pipewise_Score__c" not in {f["name"] for f in as_rep.Lead.describe()["fields"]}

    page = requests.get(f"{server.base_url}/lightning/r/Lead/{lead}/view", verify=str(server.ca_path))
    assert page.status_code == 200 and "Pipewise Score" in page.text and "canvas-slot" in page.text


def test_single_record_crud_and_history(server, sf):
    account = sf.Account.create({"Name": "Sandbox Test Co", "Industry": "software"})
    assert account["success"] is True and account["id"].startswith("001")
    opportunity = sf.Opportunity.create({"Name": "Test deal", "AccountId": account["id"], "StageName": "Prospecting",
                                         "CloseDate": "2017-12-01", "Amount": 1000})["id"]
    assert sf.Opportunity.update(opportunity, {"StageName": "Closed Won", "Amount": 1200}) == 204
    record = sf.Opportunity.get(opportunity)
    assert record["IsWon"] is True and record["IsClosed"] is True and record["Probability"] == 100.0
    history = sf.query_all(f"SELECT StageName, Amount FROM OpportunityHistory WHERE OpportunityId = '{opportunity}' "
                           "ORDER BY CreatedDate, Id")["records"]
    assert [(h["StageName"], h["Amount"]) for h in history] == [("Prospecting", 1000.0), ("Closed Won", 1200.0)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Opportunity.update(opportunity, {"IsWon": False})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(Exception) as caught:
        sf.Opportunity.get("0065G0000099999ZZZ")
    assert caught.value.status == 404


def test_seed_is_deterministic_and_follows_the_rules(server, tmp_path):
    again = Sandbox(tmp_path / "again", "small")
    try:
        assert [r["Id"] for r in again.records("Opportunity")][:50] == \
            [r["Id"] for r in server.records("Opportunity", include_deleted=True)][:50]
    finally:
        again.close()
    info = server.info()
    assert info["date_shift_days"] == -410
    users = server.records("User")
    assert {u["Title"] for u in users} == {"System Administrator", "Sales Manager", "Sales Representative"}
    profiles = {p["Id"]: p["Name"] for p in server.records("Profile")}
    assert {profiles[u["ProfileId"]] for u in users} == {"System Administrator", "Standard User"}
    reps = [u for u in users if u["Title"] == "Sales Representative"]
    assert all(u["ManagerId"] and u["Department"] in ("Central", "East", "West") for u in reps)
    roles = {r["Id"]: r for r in server.records("UserRole")}
    managers = {u["Id"]: u for u in users if u["Title"] == "Sales Manager"}
    assert all(roles[u["UserRoleId"]]["ParentRoleId"] == managers[u["ManagerId"]]["UserRoleId"] for u in reps)
    opportunities = server.records("Opportunity")
    # Maven deals have amounts; the Closed Won opportunities of converted olist leads have none (no value).
    converted_opportunities = {l["ConvertedOpportunityId"] for l in server.records("Lead") if l["IsConverted"]}
    assert all(o["Amount"] > 0 for o in opportunities if o["Id"] not in converted_opportunities)
    assert {o["StageName"] for o in opportunities} >= {"Prospecting", "Engaging", "Closed Won", "Closed Lost"}
    leads = server.records("Lead")
    assert all(l["CreatedDate"] < info["clock_origin"] for l in leads)
    converted = [l for l in leads if l["IsConverted"]]
    assert converted and all(l["Status"] == "Closed - Converted" and l["ConvertedContactId"] for l in converted)
    seeded = [l for l in server.records("Lead", include_deleted=True) if l["CreatedDate"] < info["clock_origin"]]
    assert len(server.records("CampaignMember")) == len(server.records("Task")) == len(seeded) == 400


def test_converted_leads_point_at_what_conversion_made_and_only_conversion_sets_it(server, sf):
    converted = sf.query_all("SELECT Id, OwnerId, LeadSource, ConvertedAccountId, ConvertedContactId, "
                             "ConvertedOpportunityId FROM Lead WHERE IsConverted = true")["records"]
    assert len(converted) == 46  # the small seed's leads with an olist closed deal
    opportunities = {o["Id"]: o for o in sf.query_all(
        "SELECT Id, AccountId, OwnerId, StageName, IsWon, LeadSource FROM Opportunity")["records"]}
    contacts = {c["Id"]: c for c in sf.query_all("SELECT Id, AccountId FROM Contact")["records"]}
    for lead in converted:
        opportunity = opportunities[lead["ConvertedOpportunityId"]]
        assert (opportunity["StageName"], opportunity["IsWon"]) == ("Closed Won", True)
        assert opportunity["AccountId"] == contacts[lead["ConvertedContactId"]]["AccountId"] == \
            lead["ConvertedAccountId"]
        assert (opportunity["OwnerId"], opportunity["LeadSource"]) == (lead["OwnerId"], lead["LeadSource"])
    # Read-only as the Object Reference has them: describe says so, and neither create nor update may set them.
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    for name in ("IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId",
                 "ConvertedOpportunityId"):
        assert (fields[name]["createable"], fields[name]["updateable"]) == (False, False), name
    some_opportunity = converted[0]["ConvertedOpportunityId"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "Souza", "Company": "Souza Shop", "ConvertedOpportunityId": some_opportunity})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    open_lead = sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(open_lead, {"ConvertedOpportunityId": some_opportunity})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_refresh_token_rotation_kills_the_old_token(server, control):
    control.knobs(refresh_token_rotation=True)
    token = install(server)
    form = {"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    first = requests.post(server.base_url + "/services/oauth2/token", verify=str(server.ca_path),
                          data={**form, "refresh_token": token["refresh_token"]}).json()
    assert first["refresh_token"] != token["refresh_token"]
    again = requests.post(server.base_url + "/services/oauth2/token", verify=str(server.ca_path),
                          data={**form, "refresh_token": token["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_ui_changes_share_the_api_rules(server, sf, control):
    opportunity = next(o for o in control.records("Opportunity") if o["StageName"] == "Engaging")
    control.update("Opportunity", opportunity["Id"], {"StageName": "Closed Lost"})
    changed = control.record("Opportunity", opportunity["Id"])
    assert changed["IsClosed"] is True and changed["IsWon"] is False
    assert changed["SystemModstamp"] == changed["LastModifiedDate"] >= server.info()["clock_origin"]
    history = sf.query(f"SELECT StageName FROM OpportunityHistory WHERE OpportunityId = '{opportunity['Id']}' "
                       "ORDER BY CreatedDate DESC, Id DESC LIMIT 1")["records"]
    assert history[0]["StageName"] == "Closed Lost"
    before = control.info()["clock"]
    assert control.advance_clock(3600) > before
    with pytest.raises(requests.HTTPError, match="no object called Widget"):
        control.records("Widget")


def test_the_organization_is_one_readable_row_with_its_name_and_time_zone(server, sf):
    """Object Reference, Organization: describe lists it, a query answers one row, the API cannot create one."""
    describe = sf.Organization.describe()
    names = {f["name"] for f in describe["fields"]}
    assert {"Id", "Name", "TimeZoneSidKey", "DefaultLocaleSidKey"} <= names and "IsDeleted" not in names
    assert not describe["createable"] and not describe["deletable"]
    [org] = sf.query("SELECT Id, Name, TimeZoneSidKey, DefaultLocaleSidKey FROM Organization")["records"]
    assert org["Id"] == server.org_id and org["Name"] == server.info()["org_name"]
    assert ZoneInfo(org["TimeZoneSidKey"]) and org["DefaultLocaleSidKey"] == "en_US"
    refused = requests.post(f"{server.base_url}/services/data/v59.0/sobjects/Organization", json={"Name": "Other"},
                            headers={"Authorization": f"Bearer {sf.session_id}"}, verify=str(server.ca_path))
    assert refused.status_code >= 400


def test_every_user_has_a_real_time_zone_and_the_identity_url_tells_it(server, sf):
    users = sf.query("SELECT Id, Username, Department, TimeZoneSidKey FROM User")["records"]
    zones = {u["TimeZoneSidKey"] for u in users}
    assert all(ZoneInfo(zone) for zone in zones)  # IANA ids, as the Object Reference's picklist holds
    assert {"America/New_York", "America/Chicago", "America/Los_Angeles"} <= zones
    east = next(u for u in users if u["Department"] == "East")
    token = install(server, username=east["Username"])
    identity = requests.get(token["id"], headers={"Authorization": "Bearer " + token["access_token"]},
                            verify=str(server.ca_path)).json()
    # Using Identity URLs: timezone is the user's zone, utcOffset its standard offset in milliseconds.
    assert identity["timezone"] == "America/New_York" and identity["utcOffset"] == -5 * 3600 * 1000
