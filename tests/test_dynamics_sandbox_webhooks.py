"""Webhooks registered through the Web API post RemoteExecutionContext JSON; record forms carry the web resource."""
from __future__ import annotations

import json
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.test_dynamics_sandbox import FIXTURES, web_api_session  # noqa: F401
from tests.test_dynamics_sandbox import api, control, server  # noqa: F401

SECRET = "pipewise-webhook-secret-7f3a"


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Receiver:
    """A local endpoint that records each POST and answers with scripted statuses (then 200)."""

    def __init__(self):
        self.requests, self.statuses = [], []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/dynamics"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @Request.application
    def _app(self, request):
        self.requests.append({"headers": dict(request.headers), "query": request.args.to_dict(),
                              "body": request.get_data()})
        return Response(status=self.statuses.pop(0) if self.statuses else 200)

    def stop(self):
        self._server.shutdown()
        self._thread.join()


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.stop()


def register(server, api, receiver_url: str, table: str, message: str, authtype: int = 5,
             authvalue: str = f'<settings><setting name="x-pipewise-key" value="{SECRET}" /></settings>',
             filtering: str | None = None) -> str:
    """A serviceendpoint and a post-operation asynchronous step, as n8n/Fusebit-style integrations create them."""
    endpoint = api.post(f"{server.web_api}/serviceendpoints", json={
        "name": "Pipewise", "contract": 8, "url": receiver_url, "authtype": authtype, "authvalue": authvalue,
        "messageformat": 2, "namespaceformat": 2, "userclaim": 1, "connectionmode": 1}, headers={"Prefer": "return=representation"})
    assert endpoint.status_code == 201, endpoint.text
    assert "authvalue" not in endpoint.json()  # write-only
    message_id = api.get(f"{server.web_api}/sdkmessages?$select=name&$filter=name eq '{message}'").json()["value"][0][
        "sdkmessageid"]
    filter_id = api.get(f"{server.web_api}/sdkmessagefilters?$select=primaryobjecttypecode&$filter=primaryobjecttypecode"
                        f" eq '{table}' and _sdkmessageid_value eq {message_id}").json()["value"][0]["sdkmessagefilterid"]
    step = {"name": f"Pipewise: {message} of {table}", "stage": 40, "mode": 1, "rank": 1, "asyncautodelete": False,
            "supporteddeployment": 0,
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint.json()['serviceendpointid']})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})"}
    if filtering:
        step["filteringattributes"] = filtering
    created = api.post(f"{server.web_api}/sdkmessageprocessingsteps", json=step)
    assert created.status_code == 204, created.text
    return created.headers["OData-EntityId"]


def test_an_update_posts_the_documented_context_with_the_header_and_one_retry_on_503(server, control, api,
                                                                                      receiver):
    documented = json.loads((FIXTURES / "remote-execution-context-update.json").read_text())
    step = register(server, api, receiver.url, "opportunity", "Update", filtering="estimatedvalue,stepname")
    opportunity = api.get(f"{server.web_api}/opportunities?$select=name&$filter=statecode eq 0&$top=1").json()[
        "value"][0]["opportunityid"]
    receiver.statuses = [503]
    assert api.patch(f"{server.web_api}/opportunities({opportunity})", json={"description": "not watched"}).ok
    assert api.patch(f"{server.web_api}/opportunities({opportunity})", json={"estimatedvalue": 4321.5}).ok
    posts = control.webhooks(wait=5)
    assert [p["attempts"] for p in posts] == [[503, 200]]  # the filtered-out update sent nothing
    assert len(receiver.requests) == 2 and receiver.requests[0]["body"] == receiver.requests[1]["body"]
    headers = receiver.requests[1]["headers"]
    assert headers["X-Pipewise-Key"] == SECRET
    assert headers["X-Ms-Dynamics-Entity-Name"] == "opportunity"
    assert headers["X-Ms-Dynamics-Request-Name"] == "Update"
    assert headers["X-Ms-Dynamics-Organization"] == "127.0.0.1" and headers["X-Ms-Correlation-Request-Id"]
    assert "X-Ms-Dynamics-Msg-Size-Exceeded" not in headers
    context = json.loads(receiver.requests[1]["body"])
    assert list(context) == list(documented)
    assert list(context["ParentContext"]) == list(documented["ParentContext"])
    assert (context["MessageName"], context["PrimaryEntityName"], context["PrimaryEntityId"], context["Stage"],
            context["Mode"], context["Depth"]) == ("Update", "opportunity", opportunity, 40, 1, 1)
    me = api.get(f"{server.web_api}/WhoAmI").json()
    assert context["UserId"] == context["InitiatingUserId"] == me["UserId"]
    assert context["OrganizationId"] == me["OrganizationId"] and context["BusinessUnitId"] == me["BusinessUnitId"]
    assert context["OwningExtension"]["Id"] in step
    target = context["InputParameters"][0]
    documented_target = documented["InputParameters"][0]
    assert target["key"] == documented_target["key"] == "Target"
    assert list(target["value"]) == list(documented_target["value"])
    assert target["value"]["__type"] == documented_target["value"]["__type"]
    attributes = {a["key"]: a["value"] for a in target["value"]["Attributes"]}
    assert attributes["estimatedvalue"] == {"__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts",
                                            "Value": 4321.5}
    assert attributes["opportunityid"] == opportunity
    assert attributes["modifiedon"].startswith("/Date(") and attributes["modifiedon"].endswith(")/")


def test_only_502_503_504_are_retried_and_a_key_goes_in_the_query(server, control, api, receiver):
    register(server, api, receiver.url, "lead", "Create", authtype=4, authvalue="function-key-123")
    before = len(control.webhooks())
    receiver.statuses = [500]
    created = api.post(f"{server.web_api}/leads", json={"lastname": "Retry", "firstname": "No"})
    assert created.status_code == 204
    posts = control.webhooks(wait=5)[before:]
    assert [p["attempts"] for p in posts] == [[500]] and len(receiver.requests) == 1
    assert receiver.requests[0]["query"] == {"code": "function-key-123"}
    context = json.loads(receiver.requests[0]["body"])
    lead_id = created.headers["OData-EntityId"].split("(")[1].rstrip(")")
    assert context["MessageName"] == "Create" and context["PrimaryEntityId"] == lead_id
    assert context["OutputParameters"] == [{"key": "id", "value": lead_id}]


def test_payloads_above_256_kb_are_trimmed_as_documented(server, control, api, receiver):
    url = f"{server.web_api}/EntityDefinitions(LogicalName='account')/Attributes"
    notes = {"@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", "SchemaName": "new_LongNotes",
             "MaxLength": 1048576, "DisplayName": {"LocalizedLabels": [{"Label": "Long notes", "LanguageCode": 1033}]}}
    assert api.post(url, json=notes).status_code == 204
    register(server, api, receiver.url, "account", "Update")
    account = api.get(f"{server.web_api}/accounts?$select=name&$top=1").json()["value"][0]["accountid"]
    before = len(control.webhooks())
    assert api.patch(f"{server.web_api}/accounts({account})", json={"new_longnotes": "n" * 300_000}).ok
    post = control.webhooks(wait=5)[before]
    assert post["trimmed"] and post["bytes"] < 256 * 1024
    request = receiver.requests[-1]
    assert request["headers"]["X-Ms-Dynamics-Msg-Size-Exceeded"]
    context = json.loads(request["body"])
    for dropped in ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages"):
        assert dropped not in context
    assert (context["PrimaryEntityId"], context["PrimaryEntityName"]) == (account, "account")


def test_a_delete_sends_an_entity_reference(server, control, api, receiver):
    register(server, api, receiver.url, "contact", "Delete")
    contact = api.get(f"{server.web_api}/contacts?$select=fullname&$top=1").json()["value"][0]["contactid"]
    assert api.delete(f"{server.web_api}/contacts({contact})").status_code == 204
    control.webhooks(wait=5)
    target = json.loads(receiver.requests[-1]["body"])["InputParameters"][0]["value"]
    assert target["__type"].startswith("EntityReference:") and target["Id"] == contact
    assert api.delete(f"{server.web_api}/contacts({contact})").status_code == 404


class FrameFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.frames, self.cells = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.frames.append(dict(attrs))

    def handle_data(self, data):
        if data.strip():
            self.cells.append(data.strip())


def test_the_opportunity_form_hosts_the_pipewise_web_resource(server, control, api):
    opportunity = api.get(f"{server.web_api}/opportunities?$select=name,estimatedvalue&$top=1").json()["value"][0]
    form_url = (f"{server.base_url}/main.aspx?appid=00000000-0000-0000-0000-000000000000&pagetype=entityrecord"
                f"&etn=opportunity&id={opportunity['opportunityid']}")
    session = web_api_session(server, "unused")
    plain = FrameFinder()
    plain.feed(session.get(form_url).text)
    assert plain.frames == [] and opportunity["name"] in plain.cells
    control.set_web_resource("https://pipewise.example/embed/dynamics?v=1")
    page = FrameFinder()
    page.feed(session.get(form_url).text)
    source = urlparse(page.frames[0]["src"])
    assert (source.scheme, source.netloc, source.path) == ("https", "pipewise.example", "/embed/dynamics")
    params = {k: v[0] for k, v in parse_qs(source.query).items()}
    assert params == {"v": "1", "id": "{" + opportunity["opportunityid"].upper() + "}", "orglcid": "1033",
                      "orgname": server.settings.org_name, "type": "3", "typename": "opportunity", "userlcid": "1033"}
    assert list(params)[1:] == sorted(list(params)[1:])  # the documented order
    account_form = f"{server.base_url}/main.aspx?etn=account&id={api.get(f'{server.web_api}/accounts?$top=1').json()['value'][0]['accountid']}"
    other = FrameFinder()
    other.feed(session.get(account_form).text)
    assert other.frames == []
    control.set_web_resource(None)
