"""The Dynamics 365 client registers Pipewise's webhook through the Web API: one serviceendpoint (HttpHeader secret)
and an asynchronous post-operation step per table and message, Update steps filtered to the columns Pipewise reads;
the environment refuses what its documentation says it refuses."""
from __future__ import annotations

import time

import pytest

from connectors.dynamics import registration
from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import DynamicsProvider
from connectors.dynamics.webhooks import BY_LOGICAL, SECRET_HEADER
from connectors.oauth import OAuthApp
from tests.test_dynamics_sandbox import api, control, server  # noqa: F401 - fixtures

RECEIVER = "http://127.0.0.1:9/webhooks/dynamics/org"  # nothing listens: the environment's log shows each post


@pytest.fixture
def client(server, control):
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, "unused",
                     verify=str(server.ca_path))
    issued = control.token()
    token = {"access_token": issued["access_token"], "token_type": "Bearer", "expires_at": time.time() + 3600}
    return DynamicsClient(token, oauth, api_url=server.base_url, verify=str(server.ca_path), sleep=lambda _s: None)


def registered(server) -> tuple[list[dict], list[dict]]:
    store = server.sandbox.store
    return store.rows("serviceendpoint"), store.rows("sdkmessageprocessingstep")


def test_registering_creates_the_endpoint_and_filtered_asynchronous_steps_and_twice_creates_nothing_more(
        server, control, client):
    ids = client.register_webhooks(RECEIVER, "first-secret")
    endpoints, steps = registered(server)
    assert [(e["name"], e["contract"], e["authtype"], e["url"]) for e in endpoints] == [
        ("Pipewise", 8, 5, RECEIVER)]
    assert len(steps) == 3 * len(BY_LOGICAL) and set(ids) == {endpoints[0]["serviceendpointid"]} | {
        s["sdkmessageprocessingstepid"] for s in steps}
    filters = {r["sdkmessagefilterid"]: r["primaryobjecttypecode"] for r in server.sandbox.store.rows("sdkmessagefilter")}
    messages = {r["sdkmessageid"]: r["name"] for r in server.sandbox.store.rows("sdkmessage")}
    for step in steps:
        assert (step["stage"], step["mode"], step["eventhandler"]["id"]) == (40, 1, endpoints[0]["serviceendpointid"])
        table, message = filters[step["sdkmessagefilterid"]["id"]], messages[step["sdkmessageid"]["id"]]
        if message == "Update":
            watched = set(step["filteringattributes"].split(","))
            assert watched and watched <= set(server.sandbox.tables[table].columns)
            assert not {"modifiedon", "createdon"} & watched and not any(c.startswith("pw_") for c in watched)
        else:
            assert not step.get("filteringattributes")
    opportunity = next(s for s in steps if filters[s["sdkmessagefilterid"]["id"]] == "opportunity"
                       and messages[s["sdkmessageid"]["id"]] == "Update")
    assert {"estimatedvalue", "stepname", "statecode", "ownerid", "parentaccountid"} <= set(
        opportunity["filteringattributes"].split(","))

    deal = server.sandbox.store.rows("opportunity")[0]["opportunityid"]
    control.update("opportunity", deal, {"description": "a column Pipewise does not read"})
    control.update("opportunity", deal, {"estimatedvalue": 4321.0})
    sent = control.webhooks(wait=5)
    assert [(p["message"], p["id"], p["headers"][SECRET_HEADER]) for p in sent] == [("Update", deal, "first-secret")]

    again = client.register_webhooks(RECEIVER, "second-secret")
    assert sorted(again) == sorted(ids) and tuple(map(len, registered(server))) == (1, len(steps))
    control.update("opportunity", deal, {"stepname": "3-Close"})
    sent = control.webhooks(wait=5)
    assert len(sent) == 2 and sent[-1]["headers"][SECRET_HEADER] == "second-secret"


@pytest.mark.parametrize("url, says", [
    ("http://pipewise.example.com/webhooks/dynamics/org", "is not https"),
    ("https://pipewise.example.com:8443/webhooks/dynamics/org", "only on port 443"),
])
def test_an_address_dynamics_cannot_call_or_that_would_carry_the_secret_in_clear_is_refused(url, says):
    with pytest.raises(ValueError, match=says) as refused:
        registration.check_url(url, "https://contoso.crm.dynamics.com")
    assert "PIPEWISE_PUBLIC_URL" in str(refused.value)
    with pytest.raises(ValueError, match="cannot reach"):
        registration.check_url("http://127.0.0.1:5000/webhooks/dynamics/org", "https://contoso.crm.dynamics.com")
    registration.check_url("https://pipewise.example.com/webhooks/dynamics/org", "https://contoso.crm.dynamics.com")


def step_body(server, api, endpoint_url: str, **changes) -> dict:
    endpoint = api.post(f"{server.web_api}/serviceendpoints", headers={"Prefer": "return=representation"}, json={
        "name": "Check", "contract": 8, "connectionmode": 1, "userclaim": 1, "url": endpoint_url, "authtype": 5,
        "authvalue": '<settings><setting name="x-key" value="k" /></settings>'})
    assert endpoint.status_code == 201, endpoint.text
    update = api.get(f"{server.web_api}/sdkmessages?$select=name&$filter=name eq 'Update'").json()["value"][0]
    found = api.get(f"{server.web_api}/sdkmessagefilters?$select=primaryobjecttypecode&$filter=primaryobjecttypecode "
                    f"eq 'lead' and _sdkmessageid_value eq {update['sdkmessageid']}").json()["value"][0]
    body = {"name": "Check: Update of lead", "stage": 40, "mode": 1, "rank": 1, "supporteddeployment": 0,
            "filteringattributes": "firstname,lastname",
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint.json()['serviceendpointid']})",
            "sdkmessageid@odata.bind": f"/sdkmessages({update['sdkmessageid']})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({found['sdkmessagefilterid']})"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("changes, says", [
    ({"filteringattributes": "firstname,FirstName"}, "not columns of 'lead'"),
    ({"filteringattributes": "emailaddress1,pw_nosuchcolumn"}, "not columns of 'lead'"),
    ({"stage": 20}, "PostOperation"),
    ({"rank": None}, "'rank' attribute"),
    ({"eventhandler_serviceendpoint@odata.bind": None}, "'eventhandler' attribute"),
])
def test_the_environment_refuses_a_step_its_documentation_does_not_allow(server, api, changes, says):
    answer = api.post(f"{server.web_api}/sdkmessageprocessingsteps",
                      json=step_body(server, api, "https://receiver.example.com/hook", **changes))
    assert answer.status_code == 400 and says in answer.json()["error"]["message"]


@pytest.mark.parametrize("changes, says", [
    ({"url": "https://receiver.example.com:8443/hook"}, "only port 80 for HTTP and port 443 for HTTPS"),
    ({"authtype": 2}, "authtype must be 4"),
    ({"authvalue": "x-key: k"}, "<settings>"),
    ({"connectionmode": None}, "'connectionmode' attribute"),
])
def test_the_environment_refuses_a_webhook_endpoint_its_documentation_does_not_allow(server, api, changes, says):
    body = {"name": "Check", "contract": 8, "connectionmode": 1, "userclaim": 1, "url": "https://receiver.example.com/h",
            "authtype": 5, "authvalue": '<settings><setting name="x-key" value="k" /></settings>', **changes}
    answer = api.post(f"{server.web_api}/serviceendpoints", json={k: v for k, v in body.items() if v is not None})
    assert answer.status_code == 400 and says in answer.json()["error"]["message"]
