"""The Salesforce sandbox against Salesforce's documented payloads (tests/fixtures/salesforce/, each naming
its source: REST API guide, OAuth help, Canvas guide, Outbound Messaging WSDL, Object Reference).

These fail when the sandbox drifts from what Salesforce documents, whatever the connector does.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from lxml import etree

from connectors.salesforce.sandbox.outbound_xml import Notification, envelope
from connectors.salesforce.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "salesforce"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def documented(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def assert_shape(example, actual, optional: set[str] = frozenset(), where: str = "$") -> None:
    """The actual payload has the documented keys (optional ones may be missing), no others, same types."""
    if example is None:
        return  # the documentation shows null or leaves the value open
    assert kind(actual) == kind(example) or actual is None and kind(example) != "dict", \
        f"{where}: documented {kind(example)}, got {kind(actual)} ({actual!r:.80})"
    if isinstance(example, dict) and isinstance(actual, dict):
        missing = set(example) - set(actual) - optional
        extra = set(actual) - set(example)
        assert not missing, f"{where}: missing documented keys {sorted(missing)}"
        assert not extra, f"{where}: keys Salesforce does not document {sorted(extra)}"
        for key in set(example) & set(actual):
            assert_shape(example[key], actual[key], optional, f"{where}.{key}")
    elif isinstance(example, list) and isinstance(actual, list) and example and actual:
        for index, item in enumerate(actual):
            assert_shape(example[min(index, len(example) - 1)], item, optional, f"{where}[{index}]")


@pytest.fixture(scope="module")
def http(sf_sandbox):
    session = requests.Session()
    session.verify, session.trust_env = str(sf_sandbox.ca_path), False
    return session


@pytest.fixture(scope="module")
def token(sf_sandbox, http):
    """The web server flow, as the OAuth help describes it (no client library in between)."""
    answer = http.post(sf_sandbox.base_url + "/services/oauth2/authorize", allow_redirects=False, data={
        "client_id": DEFAULT_CLIENT_ID, "redirect_uri": "https://pipewise.test/callback", "state": "s",
        "scope": "api refresh_token id", "response_type": "code", "action": "allow"})
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    return http.post(sf_sandbox.base_url + "/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET, "redirect_uri": "https://pipewise.test/callback"}).json()


def rest(http, sf_sandbox, token, method: str, path: str, **kwargs):
    return http.request(method, f"{sf_sandbox.base_url}/services/data/v59.0/{path}",
                        headers={"Authorization": f"Bearer {token['access_token']}",
                                 "Sforce-Query-Options": "batchSize=200"}, **kwargs)


def test_the_token_answer_is_the_documented_one(token):
    fixture = documented("token.json")
    assert_shape(fixture["example"], token, set(fixture["optional"]))


def test_the_identity_url_answers_as_documented_without_custom_attributes(http, token):
    fixture = documented("identity.json")
    identity = http.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert_shape(fixture["example"], identity, set(fixture["optional"]))
    assert "custom_attributes" not in identity  # the shipped app defines no custom attributes


def test_queries_page_as_the_rest_guide_shows(http, sf_sandbox, token):
    fixture = documented("rest_query.json")
    first = rest(http, sf_sandbox, token, "GET", "queryAll/", params={"q": "SELECT Id, Company FROM Lead"}).json()
    example = {**fixture["example"], "records": [{**fixture["example"]["records"][0], "Id": "", "Company": ""}]}
    assert_shape(example, first, set(fixture["optional"]))
    assert first["done"] is False and first["nextRecordsUrl"].startswith("/services/data/v59.0/queryAll/01g")
    last = http.get(sf_sandbox.base_url + first["nextRecordsUrl"],
                    headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert_shape(example, last, set(fixture["optional"]))


def test_errors_are_the_documented_array(http, sf_sandbox, token):
    fixture = documented("rest_error.json")
    answer = rest(http, sf_sandbox, token, "GET", "query/", params={"q": "SELECT Nope FROM Lead"})
    assert answer.status_code == 400
    assert_shape(fixture["example"], answer.json(), set(fixture["optional"]))
    assert answer.json()[0]["errorCode"] == "INVALID_FIELD"


def test_collection_updates_answer_per_record_as_documented(http, sf_sandbox, token):
    fixture = documented("composite_sobjects_update.json")
    leads = [r["Id"] for r in sf_sandbox.records("Lead") if not r["IsConverted"]][:2]
    answer = rest(http, sf_sandbox, token, "PATCH", "composite/sobjects", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "Id": leads[0], "Title": "Buyer"},
        {"attributes": {"type": "Lead"}, "Id": leads[1], "LastName": ""}]}).json()
    assert_shape(fixture["example"], answer, set(fixture["optional"]))
    assert [r["success"] for r in answer] == [True, False]


def test_composite_and_describe_answer_as_documented(http, sf_sandbox, token):
    composite, field = documented("composite.json"), documented("describe_field.json")
    answer = rest(http, sf_sandbox, token, "POST", "composite", json={"compositeRequest": [
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Lead/describe", "referenceId": "lead"},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/NoSuchThing/describe", "referenceId": "none"}]})
    body = answer.json()
    assert_shape(composite["example"], body)
    assert [r["httpStatusCode"] for r in body["compositeResponse"]] == [200, 404]
    for entry in body["compositeResponse"][0]["body"]["fields"]:
        assert_shape(field["example"], entry, set(field["optional"]), f"Lead.{entry['name']}")
    too_many = [{"method": "GET", "url": "/services/data/v59.0/sobjects/Lead/describe", "referenceId": f"r{i}"}
                for i in range(26)]
    assert rest(http, sf_sandbox, token, "POST", "composite", json={"compositeRequest": too_many}).status_code == 400


def test_introspection_answers_as_documented(http, sf_sandbox, token):
    fixture = documented("introspection.json")
    answer = http.post(sf_sandbox.base_url + "/services/oauth2/introspect", data={
        "token": token["access_token"], "token_type_hint": "access_token", "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET}).json()
    assert_shape(fixture["example"], answer)
    assert answer["active"] is True
    gone = http.post(sf_sandbox.base_url + "/services/oauth2/introspect", data={
        "token": "not-a-token", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}).json()
    assert gone == {"active": False}


def test_a_canvas_request_is_shaped_as_the_canvas_guide_shows(sf_sandbox, sf_control):
    fixture = documented("canvas_request.json")
    opportunity = sf_sandbox.records("Opportunity")[0]["Id"]
    signed = sf_control.signed_request("Opportunity", opportunity)["signed_request"]
    context = json.loads(base64.b64decode(signed.split(".", 1)[1]))
    assert_shape(fixture["example"], context, set(fixture["optional"]))
    environment = context["context"]["environment"]
    assert context["issuedAt"] is None and environment["parameters"] == {}
    assert set(environment["record"]) == {"attributes", "Id"}


def test_an_outbound_message_follows_the_notifications_wsdl(sf_sandbox):
    documented_root = etree.parse(str(FIXTURES / "outbound_message.xml")).getroot()
    sent = etree.fromstring(envelope([Notification("04l5G0000000001AAA", "Lead", "00Q5G0000000001AAA", "updated",
                                                   (("Id", "00Q5G0000000001AAA"),))],
                                     sf_sandbox.org_id, "04k5G0000000001AAA", sf_sandbox.base_url, "59.0"))

    def outline(node):
        return [(etree.QName(child).localname, outline(child)) for child in node
                if isinstance(child.tag, str)]

    assert outline(sent) == outline(documented_root)
    sobject = sent.find(f".//{{{OUTBOUND}}}sObject")
    assert sobject.get(f"{{{XSI}}}type") == "sf:Lead"


def test_the_consoles_test_event_follows_the_notifications_wsdl_and_parses():
    from connectors.salesforce.webhooks import parse_outbound_message, test_delivery

    documented_root = etree.parse(str(FIXTURES / "outbound_message.xml")).getroot()
    body, headers = test_delivery("00Dx0000000BV7zEAG", "Lead", "00Qx0000003ZRdyEAG", "1000000000000001",
                                  instance_url="https://yourInstance.salesforce.com")

    def outline(node):
        return [(etree.QName(child).localname, outline(child)) for child in node if isinstance(child.tag, str)]

    assert outline(etree.fromstring(body)) == outline(documented_root)
    assert headers["Content-Type"] == "text/xml; charset=utf-8"
    message = parse_outbound_message(body)
    [note] = message.notifications
    assert (message.organization_id, note.object_type, note.record_id) == ("00Dx0000000BV7zEAG", "Lead",
                                                                           "00Qx0000003ZRdyEAG")


def test_standard_objects_have_only_their_documented_fields(http, sf_sandbox, token):
    reference = documented("object_fields.json")
    for name, fields in reference["objects"].items():
        answer = rest(http, sf_sandbox, token, "GET", f"sobjects/{name}/describe")
        assert answer.status_code == 200, name
        standard = [f["name"] for f in answer.json()["fields"] if not f["custom"]]
        invented = set(standard) - set(fields)
        assert not invented, f"{name}: {sorted(invented)} are no standard fields of the reference"
        assert ("IsDeleted" in standard) == (name not in reference["without_is_deleted"])
    # A custom field exists only where an org created it: this one's Product__c, nothing of Pipewise's own.
    custom = [f["name"] for f in rest(http, sf_sandbox, token, "GET", "sobjects/Opportunity/describe").json()["fields"]
              if f["custom"]]
    assert custom == ["Product__c"]
