"""Every sandbox answer the connector consumes conforms to HubSpot's published contract.

Each answer, fetched over HTTPS the way the connector asks for it, is checked against the model
hubspot-api-client generates for it (see tests/hubspot_conformance.py). Where the installed client has
no model (the 2026-03 OAuth API), or HubSpot's API description adds to it, the test names the fields
read from HubSpot's public API spec collection (HubSpot/HubSpot-public-api-spec-collection):

- OAuth: PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-03/oauth.json and .../155908/v1/oauth.json
- CRM objects: PublicApiSpecs/CRM/Objects/Rollouts/424/v3/objects.json (and Contacts/Deals/... v3)
- Associations: PublicApiSpecs/CRM/Associations/Rollouts/130902/v4/associations.json
- Owners: PublicApiSpecs/CRM/Crm Owners/Rollouts/146888/v3/crmOwners.json
- Users: PublicApiSpecs/Settings/User Provisioning/Rollouts/144927/v3/userProvisioning.json
- Properties: PublicApiSpecs/CRM/Properties/Rollouts/145899/v3/properties.json
- Pipelines: PublicApiSpecs/CRM/Pipelines/Rollouts/145896/v3/pipelines.json
- Webhooks: PublicApiSpecs/Webhooks/Webhooks/Rollouts/147891/v3/webhooks.json
- Cards: PublicApiSpecs/CRM/Public App Crm Cards/Rollouts/147892/2026-03/publicAppCrmCards.json
- Account details: PublicApiSpecs/Account/Account Info/Rollouts/144923/v3/accountInfo.json (no client model)
- The users object: PublicApiSpecs/CRM/Users/Rollouts/424/v3/users.json
A failure here means the sandbox drifted from HubSpot, whatever the connector does.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import requests

from connectors.hubspot import streams
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from embed.card import card, iframe_action, payload
from tests.hubspot_conformance import conform
from tests.hubspot_fixtures import hs_sandbox  # noqa: F401

OBJECTS, ASSOCIATIONS = "hubspot.crm.objects", "hubspot.crm.associations.v4"
REDIRECT_URI = "https://pipewise.test/install/hubspot/callback"
# AccessTokenResponse in the 2026-03 and v1 OAuth descriptions: required fields, then the others.
TOKEN_REQUIRED = {"access_token": str, "expires_in": int, "refresh_token": str, "token_type": str, "token_use": str}
TOKEN_OPTIONAL = {"hub_id": int, "user_id": int, "scopes": list, "id_token": str}
# PublicAccessTokenInfoResponse (2026-03 introspection) required fields, with signed_access_token's own.
INTROSPECTION_REQUIRED = {"active": bool, "app_id": int, "client_id": str, "expires_in": int, "hub_id": int,
                          "is_private_distribution": bool, "scopes": list, "signed_access_token": dict, "token": str,
                          "token_type": str, "token_use": str, "user_id": int}
SIGNED_ACCESS_TOKEN_REQUIRED = ("appId", "appInstallId", "audience", "expiresAt", "hubId", "hublet",
                                "installingUserId", "isPrivateDistribution", "isServiceAccount", "isUserLevel",
                                "newSignature", "scopeToScopeGroupPks", "scopes", "signature",
                                "trialScopeToScopeGroupPks", "trialScopes", "userId")
# PortalInformationResponse (Account Info v3): every field is required; accountType is an enum.
PORTAL_INFORMATION_REQUIRED = {"accountType": str, "additionalCurrencies": list, "companyCurrency": str,
                               "dataHostingLocation": str, "portalId": int, "timeZone": str, "uiDomain": str,
                               "utcOffset": str, "utcOffsetMilliseconds": int}
ACCOUNT_TYPES = ("STANDARD", "DEVELOPER_TEST", "SANDBOX", "APP_DEVELOPER")
# The Error schema every description shares: category, correlationId and message are required.
ERROR_REQUIRED = ("category", "correlationId", "message")


@pytest.fixture(scope="module")
def client(hs_sandbox):
    """The connector's client on a token an install of the app would hold."""
    return HubSpotClient({"access_token": hs_sandbox.issue_token()}, None, api_url=hs_sandbox.base_url,
                         verify=str(hs_sandbox.ca_path))


def raw(client, api: str, fn, search: bool = False):
    """The JSON answer of one call, made as the connector makes it."""
    return client._call(api, lambda a: fn(a), search=search)


def _typed(data: dict, fields: dict, where: str) -> None:
    for name, kind in fields.items():
        if name in data:
            assert isinstance(data[name], kind) and not (kind is int and isinstance(data[name], bool)), \
                f"{where}.{name} is {type(data[name]).__name__}, the description says {kind.__name__}"


# -- OAuth -----------------------------------------------------------------------------------------

def _token_answer(server, path: str) -> dict:
    session = requests.Session()
    session.verify, session.trust_env = str(server.ca_path), False
    consent = session.post(f"{server.base_url}/oauth/authorize", allow_redirects=False, data={
        "client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": "s", "action": "allow",
        "scope": " ".join(server.settings.app_required_scopes),
        "optional_scope": " ".join(server.settings.app_optional_scopes)})
    code = parse_qs(urlparse(consent.headers["Location"]).query)["code"][0]
    answer = session.post(server.base_url + path, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("path", ["/oauth/2026-03/token", "/oauth/v1/token"])
def test_token_answers_are_access_token_responses(hs_sandbox, path):
    token = _token_answer(hs_sandbox, path)
    conform({k: v for k, v in token.items() if k in ("access_token", "refresh_token", "token_type", "expires_in")},
            "TokenResponseIF", "hubspot.oauth")
    assert set(TOKEN_REQUIRED) <= set(token) and set(token) <= set(TOKEN_REQUIRED) | set(TOKEN_OPTIONAL)
    _typed(token, {**TOKEN_REQUIRED, **TOKEN_OPTIONAL}, "AccessTokenResponse")
    assert token["token_use"] == "access_token" and all(isinstance(s, str) for s in token["scopes"])


def test_token_metadata_answers_follow_both_descriptions(hs_sandbox):
    token = _token_answer(hs_sandbox, "/oauth/2026-03/token")
    session = requests.Session()
    session.verify, session.trust_env = str(hs_sandbox.ca_path), False
    v1 = session.get(f"{hs_sandbox.base_url}/oauth/v1/access-tokens/{token['access_token']}").json()
    conform(v1, "AccessTokenInfoResponse", "hubspot.oauth")
    v1_refresh = session.get(f"{hs_sandbox.base_url}/oauth/v1/refresh-tokens/{token['refresh_token']}").json()
    conform(v1_refresh, "RefreshTokenInfoResponse", "hubspot.oauth")
    facts = session.post(f"{hs_sandbox.base_url}/oauth/2026-03/token/introspect", data={
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, "token": token["access_token"],
        "token_type_hint": "access_token"}).json()
    assert set(INTROSPECTION_REQUIRED) <= set(facts)
    _typed(facts, INTROSPECTION_REQUIRED, "PublicAccessTokenInfoResponse")
    assert set(SIGNED_ACCESS_TOKEN_REQUIRED) <= set(facts["signed_access_token"])


def test_oauth_errors_carry_the_error_schemas_required_fields(hs_sandbox):
    answer = requests.post(f"{hs_sandbox.base_url}/oauth/2026-03/token", verify=str(hs_sandbox.ca_path), data={
        "grant_type": "refresh_token", "refresh_token": "nope", "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET})
    body = answer.json()
    assert answer.status_code == 400 and set(ERROR_REQUIRED) <= set(body)
    conform({k: v for k, v in body.items() if k != "status"}, "Error", "hubspot.oauth")


# -- the CRM reads and writes -----------------------------------------------------------------------

def test_search_pages_are_collection_responses_with_total(client):
    answer = raw(client, "search", lambda api: api.do_search("deals", {
        "limit": 3, "properties": list(streams.Deals.fields),
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]}, _preload_content=False),
        search=True)
    assert answer["results"] and "paging" in answer
    conform(answer, "CollectionResponseWithTotalSimplePublicObjectForwardPaging", OBJECTS)


def test_archived_listings_are_collection_responses_with_associations(client, hs_sandbox):
    deal = hs_sandbox.records("deals")[-1]["id"]
    hs_sandbox.archive("deals", deal)
    answer = raw(client, "basic", lambda api: api.get_page(
        "deals", limit=50, properties=list(streams.Deals.fields), archived=True,
        properties_with_history=list(streams.Deals.history_properties), associations=["companies"],
        _preload_content=False))
    assert any(r["id"] == deal and r["archived"] and r["archivedAt"] for r in answer["results"])
    conform(answer, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", OBJECTS)


def test_batch_reads_with_history_and_misses_are_batch_responses(client, hs_sandbox):
    ids = [r["id"] for r in hs_sandbox.records("deals")[:3]]
    body = {"inputs": [{"id": i} for i in ids], "properties": list(streams.Deals.fields),
            "propertiesWithHistory": list(streams.Deals.history_properties)}
    found = raw(client, "batch", lambda api: api.read("deals", body, archived=False, _preload_content=False))
    assert len(found["results"]) == 3 and found["results"][0]["propertiesWithHistory"]["dealstage"]
    conform(found, "BatchResponseSimplePublicObject", OBJECTS)
    body["inputs"].append({"id": "3999999"})
    partial = raw(client, "batch", lambda api: api.read("deals", body, archived=False, _preload_content=False))
    assert partial["numErrors"] == 1 and partial["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    conform(partial, "BatchResponseSimplePublicObjectWithErrors", OBJECTS)


def test_batch_updates_answer_batch_responses_and_per_input_errors(client, hs_sandbox):
    contact = hs_sandbox.records("contacts")[0]["id"]
    client.ensure_fields("contacts", ())
    body = {"inputs": [{"id": contact, "properties": {"jobtitle": "Buyer"}}, {"id": "1999999", "properties": {}}]}
    answer = raw(client, "batch", lambda api: api.update("contacts", body, _preload_content=False))
    assert answer["numErrors"] == 1
    conform(answer, "BatchResponseSimplePublicObjectWithErrors", OBJECTS)


def test_association_batch_reads_are_v4_batch_responses_with_string_ids_and_labels(client, hs_sandbox):
    deals = [r["id"] for r in hs_sandbox.records("deals")[:40]]
    answer = raw(client, "associations", lambda api: api.get_page(
        "deals", "companies", {"inputs": [{"id": i} for i in deals]}, _preload_content=False))
    conform(answer, "BatchResponsePublicAssociationMultiWithLabelWithErrors", ASSOCIATIONS)
    target = answer["results"][0]["to"][0]
    assert isinstance(target["toObjectId"], str)  # a string in the v4 description
    assert {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"} in target["associationTypes"]


def test_owners_users_and_roles_are_the_documented_collections(client):
    owners = raw(client, "owners", lambda api: api.get_page(limit=5, _preload_content=False))
    conform(owners, "CollectionResponsePublicOwnerForwardPaging", "hubspot.crm.owners")
    users = raw(client, "users", lambda api: api.get_page(limit=100, _preload_content=False))
    conform(users, "CollectionResponsePublicUserForwardPaging", "hubspot.settings.users")
    roles = raw(client, "roles", lambda api: api.get_all(_preload_content=False))
    conform(roles, "CollectionResponsePublicPermissionSetNoPaging", "hubspot.settings.users")


# Property fields of the current properties description that the installed client's model predates.
PROPERTY_NEWER = {"ModelProperty": {"dataSensitivity": "str"}}


def test_properties_and_groups_are_the_documented_models(client):
    listed = raw(client, "properties", lambda api: api.get_all("deals", _preload_content=False))
    conform(listed, "CollectionResponsePropertyNoPaging", "hubspot.crm.properties", newer=PROPERTY_NEWER)
    created = raw(client, "properties", lambda api: api.create("deals", {
        "name": "conformance_check", "label": "Conformance", "type": "string", "fieldType": "text",
        "groupName": "dealinformation"}, _preload_content=False))
    conform(created, "ModelProperty", "hubspot.crm.properties", newer=PROPERTY_NEWER)
    group = raw(client, "groups", lambda api: api.create("deals", {"name": "conformance", "label": "Conformance"},
                                                         _preload_content=False))
    conform(group, "PropertyGroup", "hubspot.crm.properties")


PIPELINES = "hubspot.crm.pipelines"


def test_deal_pipelines_are_the_documented_collections_and_match_the_dealstage_options(client):
    listed = raw(client, "pipelines", lambda api: api.get_all("deals", _preload_content=False))
    pipelines = conform(listed, "CollectionResponsePipelineNoPaging", PIPELINES).results
    default = next(p for p in pipelines if p.id == "default")
    assert default.label == "Sales Pipeline"
    assert [(s.id, s.label) for s in sorted(default.stages, key=lambda s: s.display_order)][:2] == [
        ("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy")]
    won = next(s for s in default.stages if s.id == "closedwon")
    assert won.metadata == {"isClosed": "true", "probability": "1.0"}
    one = raw(client, "pipelines", lambda api: api.get_by_id("deals", "default", _preload_content=False))
    conform(one, "Pipeline", PIPELINES)
    stages = raw(client, "pipelines", lambda api: api.api_client.call_api(
        "/crm/v3/pipelines/deals/default/stages", "GET", header_params={"Accept": "application/json"},
        auth_settings=["oauth2"], _return_http_data_only=True, _preload_content=False))
    conform(stages, "CollectionResponsePipelineStageNoPaging", PIPELINES)
    # The deal properties offer exactly the pipelines' stages and the pipelines themselves.
    properties = {p["name"]: p for p in raw(client, "properties", lambda api: api.get_all(
        "deals", _preload_content=False))["results"]}
    assert {o["value"]: o["label"] for o in properties["dealstage"]["options"]} == {
        s.id: s.label for p in pipelines for s in p.stages}
    assert {o["value"] for o in properties["pipeline"]["options"]} == {p.id for p in pipelines}


@pytest.mark.parametrize("path, status, category", [
    ("/crm/v3/pipelines/deals/no-such-pipeline", 404, "OBJECT_NOT_FOUND"),
    ("/crm/v3/pipelines/deals", 403, "MISSING_SCOPES"),
])
def test_pipeline_errors_are_the_error_model(hs_sandbox, path, status, category):
    scope = "oauth crm.objects.deals.read" if status == 404 else "oauth crm.objects.contacts.read"
    answer = requests.get(hs_sandbox.base_url + path, verify=str(hs_sandbox.ca_path),
                          headers={"Authorization": f"Bearer {hs_sandbox.issue_token(scope=scope)}"})
    assert answer.status_code == status
    body = answer.json()
    assert body["category"] == category and set(ERROR_REQUIRED) <= set(body)
    conform({k: v for k, v in body.items() if k != "status"}, "Error", PIPELINES)


@pytest.mark.parametrize("status, call", [
    (403, lambda api: api.do_search("goal_targets", {"limit": 1}, _preload_content=False)),
    (400, lambda api: api.do_search("deals", {"filterGroups": [{"filters": [
        {"propertyName": "no_such_property", "operator": "EQ", "value": "x"}]}]}, _preload_content=False)),
    (401, None),
])
def test_error_answers_are_the_error_model(hs_sandbox, status, call):
    scope = "oauth crm.objects.deals.read" if status != 401 else None
    token = hs_sandbox.issue_token(scope=scope) if scope else "not-a-token"
    api = HubSpotClient({"access_token": token}, None, api_url=hs_sandbox.base_url,
                        verify=str(hs_sandbox.ca_path))._api("search")
    with pytest.raises(Exception) as failure:
        (call or (lambda a: a.do_search("deals", {"limit": 1}, _preload_content=False)))(api)
    assert failure.value.status == status
    import json

    body = json.loads(failure.value.body)
    assert set(ERROR_REQUIRED) <= set(body)
    conform({k: v for k, v in body.items() if k != "status"}, "Error", OBJECTS)


# -- what HubSpot reads from Pipewise, and the app-level APIs ----------------------------------------

def test_webhook_subscriptions_are_a_subscription_list_response(hs_sandbox):
    hs_sandbox.configure_webhooks("https://pipewise.test/webhooks/hubspot",
                                  ["contact.creation", "object.propertyChange@call:hs_call_status"])
    try:
        client = HubSpotClient({"access_token": "x"}, None, api_url=hs_sandbox.base_url,
                               verify=str(hs_sandbox.ca_path), app_id=str(hs_sandbox.settings.app_id),
                               developer_api_key=hs_sandbox.settings.developer_api_key)
        subscriptions = client.webhook_subscriptions()
    finally:
        hs_sandbox.configure_webhooks(None)
    assert [s["objectTypeId"] for s in subscriptions if "objectTypeId" in s] == ["0-48"]
    for item in subscriptions:
        # eventType's enum in the installed client predates the generic object.* types the description lists.
        conform(item, "SubscriptionResponse", "hubspot.webhooks", deserialize=item["eventType"][:7] != "object.")


def _action_model(action: dict) -> str:
    return {"IFRAME": "IFrameActionBody", "ACTION_HOOK": "ActionHookActionBody"}[action["type"]]


def test_pipewise_card_payload_is_an_integrator_card_payload_response():
    context = {"score": {"value": 73, "band": "B", "up": ["Came from search"], "down": [], "next_step": "Call",
                         "probability_percent": "73%"}, "probability_label": "Conversion chance"}
    answer = card(context, "1000001", "https://pipewise.test/embed/panel/lead/1000001?pt=x")
    answer["topLevelActions"]["secondary"].append(iframe_action("Open team panel", "https://pipewise.test/m"))
    cards = "hubspot.crm.extensions.cards"
    # The generated IntegratorObjectResultActionsInner merges the oneOf members' required fields, so each
    # action is checked as the member its type names.
    oneof = {"IntegratorObjectResultActionsInner": _action_model}
    conform(answer, "IntegratorCardPayloadResponse", cards, oneof=oneof, deserialize=False)
    without_actions = {**answer, "topLevelActions": {"secondary": []},
                       "sections": [{**s, "actions": []} for s in answer["sections"]]}
    conform(without_actions, "IntegratorCardPayloadResponse", cards)
    for action in [answer["topLevelActions"]["primary"], *answer["topLevelActions"]["secondary"]]:
        conform(action, _action_model(action), cards)
    conform(payload([]), "IntegratorCardPayloadResponse", cards)


def test_account_details_are_a_portal_information_response_behind_the_oauth_scope(hs_sandbox):
    def details(token: str) -> requests.Response:
        return requests.get(f"{hs_sandbox.base_url}/account-info/v3/details", verify=str(hs_sandbox.ca_path),
                            headers={"Authorization": f"Bearer {token}"})

    answer = details(hs_sandbox.issue_token())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == set(PORTAL_INFORMATION_REQUIRED)
    _typed(body, PORTAL_INFORMATION_REQUIRED, "PortalInformationResponse")
    assert body["accountType"] in ACCOUNT_TYPES and body["portalId"] == hs_sandbox.portal_id
    assert all(isinstance(code, str) for code in body["additionalCurrencies"])
    # The offset is the zone's at the portal's clock, in both of the documented spellings.
    hours, minutes = body["utcOffset"].split(":")
    assert int(hours) * 3_600_000 + (1 if hours[0] != "-" else -1) * int(minutes) * 60_000 == body["utcOffsetMilliseconds"]
    refused = details(hs_sandbox.issue_token(scope="crm.objects.contacts.read"))
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"
    assert set(ERROR_REQUIRED) <= set(refused.json())


def test_the_users_object_pages_as_a_crm_object_collection_behind_its_own_scope(client, hs_sandbox):
    """CRM/Users v3 (users.json): the generic objects' collection; hs_standard_time_zone holds an IANA id."""
    first = raw(client, "basic", lambda api: api.get_page(
        "users", limit=2, properties=["hs_internal_user_id", "hs_standard_time_zone", "not_a_property"],
        _preload_content=False))
    conform(first, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", OBJECTS)
    rest = raw(client, "basic", lambda api: api.get_page(
        "users", limit=100, after=first["paging"]["next"]["after"],
        properties=["hs_internal_user_id", "hs_standard_time_zone"], _preload_content=False))
    users = first["results"] + rest["results"]
    assert all(u["id"] == u["properties"]["hs_object_id"] != u["properties"]["hs_internal_user_id"] for u in users)
    assert all("not_a_property" not in u["properties"] for u in users)
    zones = {u["properties"]["hs_standard_time_zone"] for u in users} - {None}
    assert zones and all(ZoneInfo(zone) for zone in zones)
    refused = requests.get(f"{hs_sandbox.base_url}/crm/v3/objects/users", verify=str(hs_sandbox.ca_path),
                           headers={"Authorization": f"Bearer {hs_sandbox.issue_token(scope='oauth')}"})
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"


def test_the_live_listing_pages_with_after_to_its_last_page(client, hs_sandbox):
    pages, after = [], None
    while True:
        answer = raw(client, "basic", lambda api: api.get_page(
            "contacts", limit=100, after=after, properties=list(streams.Contacts.fields), associations=["deals"],
            _preload_content=False))
        conform(answer, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", OBJECTS)
        pages.append(answer["results"])
        after = ((answer.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            break
    ids = [r["id"] for page in pages for r in page]
    assert all(len(page) == 100 for page in pages[:-1]) and len(ids) == len(set(ids))
    assert set(ids) == {c["id"] for c in hs_sandbox.records("contacts")}
    assert not any(r["archived"] for page in pages for r in page)


@pytest.mark.parametrize("query", [{"limit": "101"}, {"limit": "0"}, {"after": "not-a-cursor"}])
def test_the_listing_refuses_a_limit_past_100_or_a_token_it_did_not_issue(hs_sandbox, query):
    answer = requests.get(f"{hs_sandbox.base_url}/crm/v3/objects/contacts", params=query,
                          headers={"Authorization": f"Bearer {hs_sandbox.issue_token()}"},
                          verify=str(hs_sandbox.ca_path))
    assert answer.status_code == 400 and answer.json()["category"] == "VALIDATION_ERROR"
    conform({k: v for k, v in answer.json().items() if k != "status"}, "Error", OBJECTS)


def test_the_listing_answers_429_with_the_burst_headers(hs_sandbox):
    hs_sandbox.reset_usage()  # forget the calls of earlier tests in the rolling window
    hs_sandbox.knobs(ten_secondly_limit=1)
    try:
        session = requests.Session()
        session.verify, session.trust_env = str(hs_sandbox.ca_path), False
        session.headers["Authorization"] = f"Bearer {hs_sandbox.issue_token()}"
        first = session.get(f"{hs_sandbox.base_url}/crm/v3/objects/contacts", params={"limit": 1})
        second = session.get(f"{hs_sandbox.base_url}/crm/v3/objects/contacts", params={"limit": 1})
    finally:
        hs_sandbox.reset_knobs()
    assert first.status_code == 200 and second.status_code == 429
    assert second.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert second.headers["X-HubSpot-RateLimit-Max"] == "1" and second.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert second.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_a_record_with_more_than_100_associations_of_a_type_pages_them(client, hs_sandbox):
    company = hs_sandbox.records("companies")[0]["id"]
    contacts = [c["id"] for c in hs_sandbox.records("contacts")[:101]]
    for contact in contacts:
        hs_sandbox.associate("companies", company, "contacts", contact)
    answer = raw(client, "basic", lambda api: api.get_page(
        "companies", limit=100, associations=["contacts"], _preload_content=False))
    conform(answer, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", OBJECTS)
    block = next(r for r in answer["results"] if r["id"] == company)["associations"]["contacts"]
    assert len(block["results"]) == 100 and block["paging"]["next"]["after"]
