"""The HubSpot sandbox speaks HubSpot to the real clients: hubspot-api-client and authlib over HTTPS."""
from __future__ import annotations

import json
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (BatchInputPublicFetchAssociationsBatchRequest,
                                         PublicFetchAssociationsBatchRequest)
from hubspot.crm.contacts import (ApiException, BatchInputSimplePublicObjectBatchInput, PublicObjectSearchRequest,
                                  SimplePublicObjectBatchInput, SimplePublicObjectInputForCreate)
from hubspot.crm.contacts.exceptions import UnauthorizedException
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.utils.signature import Signature
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connectors.hubspot.sandbox.control import HubSpotSandboxControl
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from connectors.hubspot.sandbox.settings import DEFAULT_CLIENT_SECRET


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Search throttling is switched on only by the test about it, so other tests may search back to back.
    sandbox = HubSpotSandboxServer(tmp_path_factory.mktemp("hubspot-sandbox"), seed="small",
                                   settings={"search_per_second": 0}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def control(server):
    return HubSpotSandboxControl(server.base_url, server.ca_path)


@pytest.fixture(autouse=True)
def clean_knobs(control):
    yield
    control.reset_knobs()
    control.reset_usage()


def hubspot(server, token: str) -> HubSpot:
    return HubSpot(access_token=token, host=server.base_url, ssl_ca_cert=str(server.ca_path))


@pytest.fixture
def client(server):
    return hubspot(server, server.issue_token())


def get(server, path: str, **kwargs) -> requests.Response:
    return requests.get(server.base_url + path, verify=str(server.ca_path), timeout=30, **kwargs)


def bearer(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.issue_token()}"}


def create_contact(client, properties: dict):
    return client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties=properties))


def update_contact(client, contact_id: str, properties: dict):
    return client.crm.contacts.basic_api.update(contact_id=contact_id,
                                                simple_public_object_input={"properties": properties})


def search(client, kind: str = "contacts", **body) -> object:
    api = getattr(client.crm, kind).search_api
    return api.do_search(public_object_search_request=PublicObjectSearchRequest(**body))


# -- tokens (installs, the token endpoints and scopes: tests/test_hubspot_sandbox_oauth.py) ------------

def test_expired_token_answers_401_expired_authentication(server, control):
    client = hubspot(server, server.issue_token())
    control.expire_tokens()
    with pytest.raises(UnauthorizedException) as failure:
        client.crm.contacts.basic_api.get_page(limit=1)
    body = json.loads(failure.value.body)
    assert body["status"] == "error" and body["category"] == "EXPIRED_AUTHENTICATION" and body["correlationId"]


# -- objects -------------------------------------------------------------------------------------

def test_list_pages_with_after_through_every_contact(server, client):
    seen, after = [], None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after,
                                                      properties=["email", "lifecyclestage", "hs_lastmodifieddate"])
        seen += page.results
        if not page.paging:
            break
        after = page.paging.next.after
    assert len(seen) == server.info()["counts"]["contacts"] == len({c.id for c in seen})
    assert [int(c.id) for c in seen] == sorted(int(c.id) for c in seen)
    assert all(isinstance(v, str) for c in seen for v in c.properties.values() if v is not None)
    assert {c.properties["lifecyclestage"] for c in seen} == {"lead", "customer"}
    assert seen[0].properties["hs_lastmodifieddate"].endswith("Z")


def test_archived_records_are_listed_only_with_archived_true(server, client):
    created = create_contact(client, {"email": "gone@example.com", "firstname": "Gone"})
    client.crm.contacts.basic_api.archive(contact_id=created.id)
    archived = client.crm.contacts.basic_api.get_page(limit=100, archived=True).results
    assert [c.id for c in archived] == [created.id] and archived[0].archived and archived[0].archived_at
    live = [c.id for page in [client.crm.contacts.basic_api.get_page(limit=100, after=str(int(created.id)))]
            for c in page.results]
    assert created.id not in live
    found = search(client, filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ",
                                                        "value": "gone@example.com"}]}])
    assert found.total == 0


def test_get_one_with_history_and_associations(server, client):
    deal = next(d for d in server.records("deals") if d["properties"]["dealstage"] == "closedlost")
    answer = get(server, f"/crm/v3/objects/deals/{deal['id']}", headers=bearer(server),
                 params={"propertiesWithHistory": "dealstage", "associations": "companies",
                         "properties": "amount,dealstage"}).json()
    history = answer["propertiesWithHistory"]["dealstage"]
    assert [h["value"] for h in history][0] == "closedlost" and history[-1]["value"] == "appointmentscheduled"
    assert float(answer["properties"]["amount"]) > 0  # list price, never the leaking 0 of lost deals
    if deal["properties"]["dealname"].split(" ")[0] != "New":
        # The seeded company is the deal's primary one: listed once labelled, once as the unlabeled type.
        types = [r["type"] for r in answer["associations"]["companies"]["results"]]
        assert types == ["deal_to_company", "deal_to_company_unlabeled"]


def test_merging_two_contacts_through_the_api(server):
    keep = server.create("contacts", {"email": "keep@merge.example", "firstname": "Kim"})
    other = server.create("contacts", {"email": "other@merge.example", "jobtitle": "Buyer"})
    answer = requests.post(f"{server.base_url}/crm/v3/objects/contacts/merge", headers=bearer(server), timeout=30,
                           json={"primaryObjectId": keep, "objectIdToMerge": other}, verify=str(server.ca_path))
    assert answer.status_code == 200 and answer.json()["id"] == keep
    merged = server.records("contacts")
    kept = next(c for c in merged if c["id"] == keep)["properties"]
    assert kept["hs_merged_object_ids"] == other and kept["jobtitle"] == "Buyer" and kept["firstname"] == "Kim"
    assert get(server, f"/crm/v3/objects/contacts/{other}", headers=bearer(server)).status_code == 404
    assert get(server, f"/crm/v3/objects/contacts/{other}?archived=true", headers=bearer(server)).status_code == 404


def test_batch_update_answers_207_per_input_errors(server, client, control):
    ids = [c["id"] for c in server.records("contacts")[:3]]
    control.knobs(reject_ids=[ids[1]])
    inputs = [SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Buyer"}) for i in ids] + [
        SimplePublicObjectBatchInput(id="999", properties={"jobtitle": "Buyer"})]
    answer = client.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert answer.status == "COMPLETE" and answer.num_errors == 2
    assert sorted(r.id for r in answer.results) == sorted([ids[0], ids[2]])
    by_category = {e.category: e for e in answer.errors}
    assert by_category["VALIDATION_ERROR"].context == {"ids": [ids[1]]}
    assert by_category["VALIDATION_ERROR"].message == "Property values were not valid"
    assert by_category["OBJECT_NOT_FOUND"].context == {"ids": ["999"]}

    with pytest.raises(ApiException) as failure:
        bad = [SimplePublicObjectBatchInput(id=ids[0], properties={"no_such_property": "x"})]
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=bad))
    assert failure.value.status == 400 and "PROPERTY_DOESNT_EXIST" in json.loads(failure.value.body)["message"]
    with pytest.raises(ApiException) as failure:
        client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id={
            "inputs": [{"id": str(i)} for i in range(101)], "properties": []})
    assert failure.value.status == 400


def test_batch_read_with_history_and_upsert_by_email(server, client):
    deals = [d["id"] for d in server.records("deals")[:2]]
    answer = client.crm.deals.batch_api.read(batch_read_input_simple_public_object_id={
        "inputs": [{"id": i} for i in deals], "properties": ["dealstage"], "propertiesWithHistory": ["dealstage"]})
    assert {r.id for r in answer.results} == set(deals)
    assert all(r.properties_with_history["dealstage"][0].value == r.properties["dealstage"] for r in answer.results)
    upserted = client.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert={
        "inputs": [{"id": "new.person@example.com", "idProperty": "email", "properties": {"firstname": "New"}}]})
    assert upserted.results[0].new is True and upserted.results[0].properties["email"] == "new.person@example.com"


def test_properties_create_then_409(server, client):
    create = PropertyCreate(name="pipewise_score", label="Pipewise score", type="number", field_type="number",
                            group_name="contactinformation")
    created = client.crm.properties.core_api.create(object_type="contacts", property_create=create)
    assert created.name == "pipewise_score" and created.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as failure:
        client.crm.properties.core_api.create(object_type="contacts", property_create=create)
    assert failure.value.status == 409 and json.loads(failure.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    names = {p.name for p in client.crm.properties.core_api.get_all(object_type="contacts").results}
    assert {"pipewise_score", "email", "lifecyclestage", "hs_lastmodifieddate"} <= names
    contact = server.records("contacts")[0]["id"]
    update_contact(client, contact, {"pipewise_score": 87})
    read = client.crm.contacts.basic_api.get_by_id(contact, properties=["pipewise_score"])
    assert read.properties["pipewise_score"] == "87"


def test_associations_owners_and_goal_targets(server, client):
    contacts = [c["id"] for c in server.records("contacts")[:3]]
    answer = client.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts", to_object_type="notes",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in contacts]))
    assert all(r.to[0].association_types[0].type_id == 202 for r in answer.results)
    # Contacts that came by e-mail have an email engagement, not a note: those are per-input errors.
    assert len(answer.results) + (getattr(answer, "num_errors", None) or 0) == 3
    company = server.records("companies")[0]["id"]
    created = client.crm.associations.v4.batch_api.create(from_object_type="contacts", to_object_type="companies",
                                                          batch_input_public_association_multi_post={"inputs": [{
                                                              "from": {"id": contacts[0]}, "to": {"id": company},
                                                              "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                         "associationTypeId": 279}]}]})
    assert str(created.results[0].to_object_id) == company
    back = client.crm.companies.basic_api.get_by_id(company, associations=["contacts"])
    assert contacts[0] in [a.id for a in back.associations["contacts"].results]
    owners = client.crm.owners.owners_api.get_page(limit=10)
    assert owners.paging.next.after and owners.results[0].email == "alex.admin@maven-sandbox.example"
    assert owners.results[1].teams[0].name in ("Central", "East", "West")
    goals = client.crm.objects.basic_api.get_page("goal_targets", limit=100,
                                                  properties=["hs_target_amount", "hs_assignee_user_id"])
    quotas = server.info()["quotas"]
    assert len(goals.results) == len(quotas) and all(float(g.properties["hs_target_amount"]) >= 1000
                                                     for g in goals.results)


# -- search --------------------------------------------------------------------------------------

def test_search_filters_sorts_limit_after(server, client, control):
    customers = [c for c in server.records("contacts") if c["properties"]["lifecyclestage"] == "customer"]
    first = search(client, filter_groups=[{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ",
                                                        "value": "customer"}]}],
                   sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}], limit=5,
                   properties=["createdate", "lifecyclestage"])
    assert first.total == len(customers) and len(first.results) == min(5, len(customers))
    dates = [r.properties["createdate"] for r in first.results]
    assert dates == sorted(dates, reverse=True)
    if first.total > 5:
        second = search(client, filter_groups=[{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ",
                                                             "value": "customer"}]}],
                        sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}], limit=5,
                        after=first.paging.next.after)
        assert not {r.id for r in second.results} & {r.id for r in first.results}
    deals = search(client, "deals", filter_groups=[
        {"filters": [{"propertyName": "amount", "operator": "BETWEEN", "value": "1000", "highValue": "5000"},
                     {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]}]},
        {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "appointmentscheduled"}]}],
        properties=["amount", "dealstage"], limit=200)
    assert deals.total and all((1000 <= float(d.properties["amount"]) <= 5000 and d.properties["dealstage"] in
                                ("closedwon", "closedlost")) or d.properties["dealstage"] == "appointmentscheduled"
                               for d in deals.results)
    # Indexing lag: a record changed a moment ago is not yet found.
    target = customers[0] if customers else server.records("contacts")[0]
    by_email = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": target["properties"]["email"]}]}]
    assert search(client, filter_groups=by_email).total == 1
    control.knobs(search_lag_ms=60_000)
    control.update("contacts", target["id"], {"jobtitle": "Founder and CEO"})
    assert search(client, filter_groups=by_email).total == 0
    control.reset_knobs()
    assert search(client, filter_groups=by_email).total == 1
    newest = search(client, filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                                         "value": "1506729600000"}]}])  # epoch ms, 2017-09-30
    assert all(r.properties["lastmodifieddate"] >= "2017-09-30" for r in newest.results)


def test_search_caps_at_ten_thousand_results(server, client, control):
    stamp = "2017-09-15T12:00:00.000Z"
    made = control.bulk_create("contacts", 10_500, {"company": "Bulk Corp", "email": "bulk{n}@example.com"},
                               modified_at=stamp)
    assert made["count"] == 10_500
    same_stamp = [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": stamp},
                               {"propertyName": "company", "operator": "EQ", "value": "bulk corp"}]}]
    page = search(client, filter_groups=same_stamp, limit=100, after="9900",
                  sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    assert page.total == 10_500 and len(page.results) == 100
    with pytest.raises(ApiException) as failure:
        search(client, filter_groups=same_stamp, limit=100, after="10000")
    body = json.loads(failure.value.body)
    assert failure.value.status == 400 and body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    # Past the cap: restart on hs_object_id greater than the last id seen.
    last = page.results[-1].id
    rest = search(client, limit=200, filter_groups=[{"filters": same_stamp[0]["filters"] + [
        {"propertyName": "hs_object_id", "operator": "GT", "value": last}]}],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    assert rest.total == 500 and int(rest.results[0].id) == int(last) + 1


def test_search_rate_limit_answers_429_secondly(server, client, control):
    control.knobs(search_per_second=4)
    statuses, bodies = [], []
    for _ in range(8):
        try:
            search(client, limit=1)
            statuses.append(200)
        except ApiException as error:
            statuses.append(error.status)
            bodies.append(json.loads(error.body))
    assert statuses[:4] == [200] * 4 and 429 in statuses
    assert bodies[0]["policyName"] == "SECONDLY" and bodies[0]["errorType"] == "RATE_LIMIT"
    assert bodies[0]["message"] == "You have reached your secondly limit."
    time.sleep(1.05)
    assert search(client, limit=1).total


def test_ten_secondly_limit_headers_and_faults(server, control):
    token = server.issue_token()
    headers = {"Authorization": f"Bearer {token}"}
    answer = get(server, "/crm/v3/objects/companies", headers=headers)
    assert answer.headers["X-HubSpot-RateLimit-Max"] == "110"
    assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    # OAuth apps have no daily limit, so HubSpot sends them no daily headers.
    assert "X-HubSpot-RateLimit-Daily" not in answer.headers
    control.reset_usage()
    control.knobs(ten_secondly_limit=2)
    codes = [get(server, "/crm/v3/objects/companies", headers=headers) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[2].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    control.reset_knobs()
    control.knobs(fail_count=1, fail_path="/deals", fail_status=502)
    failed = get(server, "/crm/v3/objects/deals", headers=headers)
    assert failed.status_code == 502 and failed.json()["status"] == "error"
    assert get(server, "/crm/v3/objects/deals", headers=headers).status_code == 200
    control.knobs(daily_limit=0)  # counted for the control API, never enforced on an OAuth token
    assert get(server, "/crm/v3/objects/deals", headers=headers).status_code == 200


# -- webhooks and the record page ----------------------------------------------------------------

class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Endpoint:
    """A tiny HTTP app for webhooks and card fetches: records requests, fails the first N when told."""

    def __init__(self, answer=None):
        self.requests: list[dict] = []
        self.fail_next = 0
        self.answer = answer
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hubspot"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self._lock:
            self.requests.append({"method": request.method, "url": request.url, "headers": dict(request.headers),
                                  "body": request.get_data(as_text=True)})
            if self.fail_next:
                self.fail_next -= 1
                return Response("busy", status=503)
        if self.answer is not None:
            return Response(json.dumps(self.answer), content_type="application/json")
        return Response("", status=204)

    def events(self) -> list[dict]:
        return [event for r in list(self.requests) for event in json.loads(r["body"] or "[]")]

    def wait_for(self, predicate, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [e for e in self.events() if predicate(e)]
            if hits:
                return hits
            time.sleep(0.02)
        raise AssertionError(f"No matching event among {self.events()}")

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(control):
    endpoint = Endpoint()
    control.configure_webhooks(endpoint.url, ["contact.propertyChange", "contact.creation", "deal.propertyChange"],
                               retry_seconds=0.1)
    yield endpoint
    control.configure_webhooks(None)
    endpoint.stop()


def test_webhooks_are_signed_batched_and_redelivered(server, client, control, receiver):
    contact = server.records("contacts")[5]["id"]
    update_contact(client, contact, {"jobtitle": "CEO"})
    control.update("contacts", contact, {"hs_lead_status": "BAD_TIMING"})
    api_event = receiver.wait_for(lambda e: e.get("propertyName") == "jobtitle")[0]
    ui_event = receiver.wait_for(lambda e: e.get("propertyName") == "hs_lead_status")[0]
    assert api_event["changeSource"] == "INTEGRATION" and ui_event["changeSource"] == "CRM_UI"
    assert api_event["objectId"] == int(contact) and api_event["propertyValue"] == "CEO"
    assert api_event["portalId"] == server.portal_id and api_event["subscriptionType"] == "contact.propertyChange"
    assert api_event["attemptNumber"] == 0 and api_event["appId"] == server.settings.app_id
    post = receiver.requests[0]
    assert Signature.is_valid(signature=post["headers"]["X-Hubspot-Signature-V3"], client_secret=DEFAULT_CLIENT_SECRET,
                              request_body=post["body"], http_uri=receiver.url, http_method="POST",
                              signature_version="v3", timestamp=post["headers"]["X-Hubspot-Request-Timestamp"])
    assert Signature.is_valid(signature=post["headers"]["X-Hubspot-Signature"], client_secret=DEFAULT_CLIENT_SECRET,
                              request_body=post["body"], signature_version="v1")

    # Not answered 2xx: the same events come again with attemptNumber + 1.
    receiver.fail_next = 1
    update_contact(client, contact, {"jobtitle": "CTO"})
    tries = receiver.wait_for(lambda e: e.get("propertyValue") == "CTO" and e["attemptNumber"] == 1)
    first = [e for e in receiver.events() if e.get("propertyValue") == "CTO"]
    assert {e["eventId"] for e in first} == {tries[0]["eventId"]}
    assert sorted(e["attemptNumber"] for e in first) == [0, 1]
    control.wait_webhooks_idle()
    again = control.redeliver_last()
    assert again == [tries[0]["eventId"]]
    receiver.wait_for(lambda e: e["eventId"] == again[0] and e["attemptNumber"] == 2)
    stats = control.webhooks()
    assert stats["failed"] == 1 and stats["acked"] >= 3
    made = create_contact(client, {"email": "hook@example.com"})
    created = receiver.wait_for(lambda e: e["subscriptionType"] == "contact.creation")[0]
    assert created["objectId"] == int(made.id) and "propertyName" not in created


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.iframe_buttons: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "data-iframe-uri" in attributes:
            self.iframe_buttons.append(attributes)


CARD = {"responseVersion": "v3", "totalCount": 1, "sections": [
    {"id": "1", "title": "Lead score 87 (hot)", "tokens": [
        {"name": "next", "label": "Next step", "dataType": "STRING", "value": "Call this week"}], "actions": [
        {"type": "IFRAME", "width": 800, "height": 600, "url": "https://pipewise.test/panel/x", "label": "Open panel",
         "propertyNamesIncluded": []}]}], "topLevelActions": {"secondary": []}}


def test_record_page_fetches_a_signed_card_and_renders_its_iframe_action(server, control):
    card = Endpoint(answer=CARD)
    try:
        control.configure_card(card.url, title="Pipewise")
        contact = server.records("contacts")[0]
        page = get(server, f"/contacts/{server.portal_id}/record/0-1/{contact['id']}",
                   params={"as": "anna.snelling@maven-sandbox.example"})
        assert page.status_code == 200 and "Lead score 87 (hot)" in page.text and "Call this week" in page.text
        links = _Links()
        links.feed(page.text)
        assert links.iframe_buttons[0]["data-iframe-uri"] == "https://pipewise.test/panel/x"
        fetch = card.requests[0]
        query = parse_qs(urlparse(fetch["url"]).query)
        assert query["associatedObjectType"] == ["0-1"] and query["associatedObjectId"] == [contact["id"]]
        assert query["portalId"] == [str(server.portal_id)] and query["appId"] == [str(server.settings.app_id)]
        assert query["userEmail"] == ["anna.snelling@maven-sandbox.example"]
        # werkzeug's request.url has the reserved characters decoded, as HubSpot's v3 signature expects.
        assert Signature.is_valid(signature=fetch["headers"]["X-Hubspot-Signature-V3"],
                                  client_secret=DEFAULT_CLIENT_SECRET, request_body="", http_uri=fetch["url"],
                                  http_method="GET", signature_version="v3",
                                  timestamp=fetch["headers"]["X-Hubspot-Request-Timestamp"])
        deal = server.records("deals")[0]
        assert get(server, f"/contacts/{server.portal_id}/record/0-3/{deal['id']}").status_code == 200
        # The legacy results[] format is no card HubSpot renders any more: the page says so.
        card.answer = {"results": [{"objectId": 1, "title": "Old card"}]}
        page = get(server, f"/contacts/{server.portal_id}/record/0-1/{contact['id']}")
        assert "Old card" not in page.text and "not HubSpot&#39;s card format" in page.text
        home = get(server, "/")
        assert home.status_code == 200 and f"/record/0-3/" in home.text
    finally:
        control.configure_card(None)
        card.stop()


def test_seed_follows_the_rules(server):
    info = server.info()
    # 382 maven deals, then the 46 closed deals of the small seed's converted olist leads (no amount).
    assert info["date_shift_days"] == -410 and info["counts"]["deals"] == 382 + 46
    deals = sorted(server.records("deals"), key=lambda d: int(d["id"]))[:428]
    assert all(float(d["properties"]["amount"]) > 0 for d in deals[:382])
    assert all(not d["properties"].get("amount") and d["properties"]["dealstage"] == "closedwon" for d in deals[382:])
    stages = {d["properties"]["dealstage"] for d in deals}
    assert stages == {"appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"}
    contacts = sorted(server.records("contacts"), key=lambda c: int(c["id"]))[:400]  # the seeded ones
    customers = [c for c in contacts if c["properties"]["lifecyclestage"] == "customer"]
    assert customers and all(c["properties"]["hs_lifecyclestage_customer_date"] for c in customers)
    leads = [c for c in contacts if c["properties"]["lifecyclestage"] == "lead"]
    # Nothing but HubSpot's lifecycle properties (and the primary company HubSpot copies from the association)
    # tells a converted lead apart.
    lead_keys = {k for c in leads for k, v in c["properties"].items() if v is not None}
    customer_keys = {k for c in customers for k, v in c["properties"].items() if v is not None}
    assert customer_keys - lead_keys <= {"hs_lifecyclestage_customer_date", "associatedcompanyid"}
    assert max(c["properties"]["createdate"] for c in contacts) < "2017-10-01"


def _links(client, from_type: str, to_type: str, ids: list[str]) -> dict[str, list]:
    """The v4 batch read of associations, as the SDK's models parse it: {from id: [to]}."""
    answer = client.crm.associations.v4.batch_api.get_page(
        from_object_type=from_type, to_object_type=to_type,
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]))
    return {str(r._from.id): r.to for r in answer.results}


def test_customers_are_associated_with_their_company_and_deal(server, client):
    seeded = sorted(server.records("contacts"), key=lambda c: int(c["id"]))[:400]
    customers = {c["id"]: c for c in seeded if c["properties"]["lifecyclestage"] == "customer"}
    assert len(customers) == 46  # the small seed's leads with an olist closed deal
    deals = _links(client, "contacts", "deals", list(customers))
    companies = _links(client, "contacts", "companies", list(customers))
    assert set(deals) == set(companies) == set(customers)
    # HUBSPOT_DEFINED types of the Associations v4 guide: contact→deal 4; contact→company 279 and Primary 1.
    for contact_id, contact in customers.items():
        (deal,) = deals[contact_id]
        assert [(t.category, t.type_id) for t in deal.association_types] == [("HUBSPOT_DEFINED", 4)]
        (company,) = companies[contact_id]
        assert {(t.category, t.type_id, t.label) for t in company.association_types} == {
            ("HUBSPOT_DEFINED", 1, "Primary"), ("HUBSPOT_DEFINED", 279, None)}
        assert contact["properties"]["associatedcompanyid"] == str(company.to_object_id)
    read = client.crm.deals.batch_api.read(batch_read_input_simple_public_object_id={
        "inputs": [{"id": str(d[0].to_object_id)} for d in deals.values()],
        "properties": ["dealstage", "hubspot_owner_id", "amount"]})
    assert {r.properties["dealstage"] for r in read.results} == {"closedwon"}
    owner_of = {str(deals[c][0].to_object_id): customers[c]["properties"]["hubspot_owner_id"] for c in customers}
    assert all(r.properties["hubspot_owner_id"] == owner_of[r.id] and not r.properties.get("amount")
               for r in read.results)
    deal_companies = _links(client, "deals", "companies", list(owner_of))
    assert {deal: [c.to_object_id for c in linked] for deal, linked in deal_companies.items()} == {
        str(deals[c][0].to_object_id): [companies[c][0].to_object_id] for c in customers}
