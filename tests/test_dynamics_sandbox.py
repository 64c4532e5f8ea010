"""The Dataverse sandbox speaks the Web API v9.2 over HTTPS: reads, paging, change tracking, metadata.

Responses are compared with Microsoft's documented examples in tests/fixtures/dynamics/ (see its README).
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests

from connectors.dynamics.sandbox.control import DynamicsSandboxControl
from connectors.dynamics.sandbox.server import DynamicsSandboxServer

FIXTURES = Path(__file__).parent / "fixtures" / "dynamics"
DATASETS = Path(__file__).parents[1] / "datasets"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def web_api_session(server, token: str) -> requests.Session:
    """A session sending what Microsoft's examples send: a bearer token and the OData version headers."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_path)
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                            "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    return session


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sandbox = DynamicsSandboxServer(tmp_path_factory.mktemp("dynamics-sandbox"), seed="small").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def control(server):
    return DynamicsSandboxControl(server.base_url, server.ca_path)


@pytest.fixture
def api(server, control):
    session = web_api_session(server, server.issue_token())
    yield session
    control.reset_knobs()
    control.reset_usage()
    session.close()


def read_all(api, url: str, headers: dict) -> tuple[list[dict], list[requests.Response]]:
    """Follow @odata.nextLink to the end; the rows and every response."""
    rows, responses = [], []
    while url:
        response = api.get(url, headers=headers)
        assert response.status_code == 200, response.text
        responses.append(response)
        body = response.json()
        rows += body["value"]
        url = body.get("@odata.nextLink")
    return rows, responses


def test_pages_follow_opaque_next_links_like_the_documented_example(server, control, api):
    documented = fixture("page-results.json")
    rows, responses = read_all(api, f"{server.web_api}/leads?$select=fullname",
                               {"Prefer": "odata.maxpagesize=150"})
    assert [len(r.json()["value"]) for r in responses] == [150, 150, 100]
    assert len({r["leadid"] for r in rows}) == control.info()["counts"]["leads"] == 400
    first = responses[0]
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=150"
    assert first.headers["OData-Version"] == documented["response_headers"]["OData-Version"]
    body = first.json()
    assert list(body) == [k for k in documented["response"] if k != "@odata.nextLink"] + ["@odata.nextLink"]
    assert body["@odata.context"] == f"{server.web_api}/$metadata#leads(fullname)"
    assert list(body["value"][0]) == list(documented["response"]["value"][0]).__class__(
        ["@odata.etag", "fullname", "leadid"])
    assert body["value"][0]["@odata.etag"].startswith('W/"')
    # The skip token has the documented cookie shape and is opaque to the client.
    token = parse_qs(urlparse(body["@odata.nextLink"]).query)["$skiptoken"][0]
    documented_token = unquote(documented["response"]["@odata.nextLink"].split("$skiptoken=")[1])
    prefix = '<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3c'
    assert token.startswith(prefix + "leadid%20last%3d%22%7b") and documented_token.startswith(prefix + "contactid")
    assert "%253ccookie" in body["@odata.nextLink"] and "%253ccookie" in documented["response"]["@odata.nextLink"]
    assert token.endswith('istracking="False" />') and documented_token.endswith('istracking="False" />')
    tampered = api.get(body["@odata.nextLink"].replace("pagenumber", "page"), headers={"Prefer": "odata.maxpagesize=150"})
    assert tampered.status_code == 400 and "nextLink" in tampered.json()["error"]["message"]


def test_page_size_above_5000_is_ignored_and_top_is_ignored_with_paging(server, api):
    big = api.get(f"{server.web_api}/leads?$select=fullname", headers={"Prefer": "odata.maxpagesize=6000"})
    assert "Preference-Applied" not in big.headers and len(big.json()["value"]) == 400
    paged = api.get(f"{server.web_api}/leads?$select=fullname&$top=3", headers={"Prefer": "odata.maxpagesize=10"})
    assert len(paged.json()["value"]) == 10 and "@odata.nextLink" in paged.json()
    top = api.get(f"{server.web_api}/leads?$select=fullname&$top=3")
    assert len(top.json()["value"]) == 3 and "@odata.nextLink" not in top.json()
    assert api.get(f"{server.web_api}/leads?$skip=3").status_code == 400


def test_filter_orderby_and_select_on_modifiedon(server, api):
    everything = api.get(f"{server.web_api}/opportunities?$select=name,modifiedon,statecode").json()["value"]
    cutoff = sorted(r["modifiedon"] for r in everything)[len(everything) // 2]
    url = (f"{server.web_api}/opportunities?$select=name,modifiedon,statecode"
           f"&$filter=modifiedon gt {cutoff} and (statecode eq 0 or statecode eq 1)&$orderby=modifiedon desc")
    rows = api.get(url).json()["value"]
    expected = [r for r in everything if r["modifiedon"] > cutoff and r["statecode"] in (0, 1)]
    assert len(rows) == len(expected) > 0
    assert [r["modifiedon"] for r in rows] == sorted((r["modifiedon"] for r in expected), reverse=True)
    unknown = api.get(f"{server.web_api}/opportunities?$select=name,nosuchcolumn")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {"code": "0x80060888", "message": "Could not find a property named "
                                       "'nosuchcolumn' on type 'Microsoft.Dynamics.CRM.opportunity'."}


def test_lookups_carry_formatted_values_and_the_user_hierarchy(server, api):
    prefer = {"Prefer": 'odata.include-annotations="*"'}
    opportunity = api.get(f"{server.web_api}/opportunities?$select=name,_parentaccountid_value,statecode"
                          "&$filter=statecode eq 1&$top=1", headers=prefer)
    assert opportunity.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    row = opportunity.json()["value"][0]
    account = api.get(f"{server.web_api}/accounts({row['_parentaccountid_value']})?$select=name").json()
    assert row["_parentaccountid_value@OData.Community.Display.V1.FormattedValue"] == account["name"]
    assert row["_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Won"
    users = api.get(f"{server.web_api}/systemusers?$select=fullname,title,_parentsystemuserid_value").json()["value"]
    by_id = {u["systemuserid"]: u for u in users}
    teams = list(csv.DictReader((DATASETS / "maven-crm" / "sales_teams.csv").open()))
    for team in teams:
        agent = next(u for u in users if u["fullname"] == team["sales_agent"])
        assert by_id[agent["_parentsystemuserid_value"]]["fullname"] == team["manager"]
    names = {a["name"] for a in api.get(f"{server.web_api}/accounts?$select=name").json()["value"]}
    assert {a["account"] for a in csv.DictReader((DATASETS / "maven-crm" / "accounts.csv").open())} <= names


def test_who_am_i_and_a_missing_token(server, api):
    me = api.get(f"{server.web_api}/WhoAmI").json()
    assert set(me) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
    admin = api.get(f"{server.web_api}/systemusers({me['UserId']})?$select=fullname").json()
    assert admin["fullname"] == "Alex Admin"
    anonymous = requests.get(f"{server.web_api}/accounts", verify=str(server.ca_path))
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith(f"Bearer authorization_uri={server.base_url}/")


def _tracked_read(api, url: str) -> tuple[list[dict], str]:
    rows, responses = read_all(api, url, {"Prefer": "odata.track-changes,odata.maxpagesize=40"})
    assert all("odata.track-changes" in r.headers["Preference-Applied"] for r in responses)
    assert all("@odata.deltaLink" not in r.json() for r in responses[:-1])
    return rows, responses[-1].json()["@odata.deltaLink"]


def test_delta_link_returns_changed_rows_then_deleted_rows(server, control, api):
    documented = fixture("change-tracking.json")
    rows, delta_link = _tracked_read(api, f"{server.web_api}/accounts?$select=name,telephone1,fax")
    assert len(rows) == control.info()["counts"]["accounts"]
    assert "$deltatoken=" in delta_link and "%21" in delta_link  # version!timestamp, as documented
    assert list(rows[0]) == list(documented["initial_response"]["value"][0]).__class__(
        ["@odata.etag", "name", "telephone1", "fax", "accountid"])
    changed, gone = rows[0]["accountid"], rows[1]["accountid"]
    control.update("account", changed, {"telephone1": "555000"})
    created = control.create("account", {"name": "Monte Orton", "fax": "10101"})
    control.delete("account", gone)
    delta = api.get(delta_link)
    body = delta.json()
    assert body["@odata.context"] == f"{server.web_api}/$metadata#accounts(name,telephone1,fax)/$delta"
    assert [r.get("accountid") or r.get("id") for r in body["value"]] == [changed, created, gone]
    documented_deleted = documented["delta_response"]["value"][1]
    deleted = body["value"][2]
    assert list(deleted) == list(documented_deleted)
    assert deleted == {"@odata.context": f"{server.web_api}/$metadata#accounts/$deletedEntity", "id": gone,
                       "reason": "deleted"}
    assert body["value"][0]["telephone1"] == "555000"
    quiet = api.get(body["@odata.deltaLink"]).json()
    assert quiet["value"] == [] and "@odata.deltaLink" in quiet


def test_a_row_changed_while_a_tracked_read_pages_comes_with_the_next_delta_and_shifts_no_other_out(server, control,
                                                                                                      api):
    headers = {"Prefer": "odata.track-changes,odata.maxpagesize=40"}
    first = api.get(f"{server.web_api}/opportunities?$select=name", headers=headers).json()
    changed, name = first["value"][3]["opportunityid"], first["value"][3]["name"]
    control.update("opportunity", changed, {"name": "Renamed while paging"})
    # A next link is not a change-tracking query by itself: the documented requests repeat the preference.
    assert api.get(first["@odata.nextLink"]).status_code == 400
    rest, responses = read_all(api, first["@odata.nextLink"], headers)
    listed = [r["opportunityid"] for r in first["value"] + rest]
    assert len(listed) == len(set(listed)) == control.info()["counts"]["opportunities"]
    delta = api.get(responses[-1].json()["@odata.deltaLink"], headers=headers).json()["value"]
    assert [(r["opportunityid"], r["name"]) for r in delta] == [(changed, "Renamed while paging")]
    control.update("opportunity", changed, {"name": name})


@pytest.mark.parametrize("option", ["$filter=name eq 'x'", "$orderby=name", "$top=5", "$expand=parentaccountid"])
def test_track_changes_refuses_the_documented_query_options(server, api, option):
    template = fixture("change-tracking.json")["refused_options_message"]
    name = option.split("=")[0][1:]
    response = api.get(f"{server.web_api}/accounts?$select=name&{option}", headers={"Prefer": "odata.track-changes"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == template.replace("${filter|orderby|expand|top}", f"${name}")


def test_an_expired_delta_token_asks_for_a_full_resync(server, control, api):
    _rows, delta_link = _tracked_read(api, f"{server.web_api}/contacts?$select=fullname")
    control.advance_clock(8 * 86400)  # Organization.ExpireChangeTrackingInDays defaults to 7
    expired = api.get(delta_link)
    assert expired.status_code == 400
    assert expired.json()["error"] == {"code": "0x80044352", "message": "Version stamp associated with the client "
                                       "has expired. Please perform a full sync."}
    rows, fresh_link = _tracked_read(api, f"{server.web_api}/contacts?$select=fullname")
    assert len(rows) == control.info()["counts"]["contacts"]
    assert api.get(fresh_link).status_code == 200
    control.knobs(expire_delta_tokens=True)
    assert api.get(fresh_link).json()["error"]["code"] == "0x80044352"


def test_tables_without_change_tracking_say_so(server, api):
    tracked = api.get(f"{server.web_api}/EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true")
    names = {e["LogicalName"] for e in tracked.json()["value"]}
    assert {"account", "contact", "lead", "opportunity", "systemuser"} <= names and "campaign" not in names
    refused = api.get(f"{server.web_api}/campaigns?$select=name", headers={"Prefer": "odata.track-changes"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "0x80072491",
                                       "message": "Entity campaign isn't enabled for change tracking."}
    plain = api.get(f"{server.web_api}/campaigns?$select=name&$filter=modifiedon ge 2000-01-01T00:00:00Z")
    assert plain.status_code == 200 and plain.json()["value"]
    definition = api.get(f"{server.web_api}/EntityDefinitions(LogicalName='campaign')").json()
    assert definition["ChangeTrackingEnabled"] is False and definition["CanChangeTrackingBeEnabled"]["Value"] is True
    assert definition["EntitySetName"] == "campaigns" and definition["PrimaryIdAttribute"] == "campaignid"
    assert api.put(f"{server.web_api}/EntityDefinitions(LogicalName='campaign')",
                   json={"ChangeTrackingEnabled": True}).status_code == 204
    assert api.get(f"{server.web_api}/campaigns?$select=name", headers={"Prefer": "odata.track-changes"}).ok
    assert api.put(f"{server.web_api}/EntityDefinitions(LogicalName='campaign')",
                   json={"ChangeTrackingEnabled": False}).status_code == 400


def test_metadata_document_marks_the_tracked_entity_sets(server, api):
    """$metadata?annotations=true carries the documented Org.OData.Capabilities.V1.ChangeTracking annotation."""
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    root = ElementTree.fromstring(api.get(f"{server.web_api}/$metadata?annotations=true").content)
    assert root.tag == "{http://docs.oasis-open.org/odata/ns/edmx}Edmx" and root.get("Version") == "4.0"
    schema = root.find(f".//{edm}Schema")
    assert schema.get("Namespace") == "Microsoft.Dynamics.CRM"
    sets = {s.get("Name"): s for s in schema.iter(f"{edm}EntitySet")}
    assert sets["accounts"].get("EntityType") == "Microsoft.Dynamics.CRM.account"
    annotation = sets["accounts"].find(f"{edm}Annotation")
    assert annotation.get("Term") == "Org.OData.Capabilities.V1.ChangeTracking"
    value = annotation.find(f"{edm}Record/{edm}PropertyValue")
    assert (value.get("Property"), value.get("Bool")) == ("Supported", "true")
    assert sets["businessunits"].find(f"{edm}Annotation") is None
    account = next(t for t in schema.iter(f"{edm}EntityType") if t.get("Name") == "account")
    assert account.find(f"{edm}Key/{edm}PropertyRef").get("Name") == "accountid"
    properties = {p.get("Name"): p.get("Type") for p in account.iter(f"{edm}Property")}
    assert properties["_parentaccountid_value"] == "Edm.Guid" and properties["modifiedon"] == "Edm.DateTimeOffset"
    plain = ElementTree.fromstring(api.get(f"{server.web_api}/$metadata").content)
    assert not list(plain.iter(f"{edm}Annotation"))


def test_the_seed_has_the_people_and_deals_of_the_hubspot_sandbox(server, api, tmp_path):
    """One olist lead and one maven deal carry the same names and e-mails in both CRMs (cross-CRM tests rely on it)."""
    from connectors.hubspot.sandbox.server import HubSpotSandboxServer

    hubspot = HubSpotSandboxServer(tmp_path / "hubspot", seed="small")
    try:
        contacts = {c["properties"]["email"] for c in hubspot.records("contacts")}
        deals = {d["properties"]["dealname"] for d in hubspot.records("deals")}
    finally:
        hubspot.stop()
    leads = {row["emailaddress1"] for row in api.get(f"{server.web_api}/leads?$select=emailaddress1").json()["value"]}
    names = {row["name"] for row in api.get(f"{server.web_api}/opportunities?$select=name").json()["value"]}
    assert leads == contacts and names == deals
