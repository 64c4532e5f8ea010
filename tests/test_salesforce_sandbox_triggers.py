"""The Salesforce sandbox's triggers: Outbound Messages to a real HTTP receiver, and the Canvas signed request."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from html.parser import HTMLParser

import pytest
import requests
from lxml import etree
from simple_salesforce import Salesforce
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connectors.salesforce.sandbox.control import SandboxControl
from connectors.salesforce.sandbox.server import SandboxServer
from connectors.salesforce.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TEAM_CLIENT_SECRET

OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
SF = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"o": OUTBOUND, "s": SOAPENV, "sf": SF}
ACK = (b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
       b'envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
       b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Receiver:
    """A tiny outbound-message endpoint: records every POST, answers an Ack unless told to fail first."""

    def __init__(self):
        self.posts: list[dict] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/salesforce/outbound"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self._lock:
            self.posts.append({"headers": dict(request.headers), "body": request.get_data(), "at": time.monotonic()})
            if self.fail_next:
                self.fail_next -= 1
                return Response("busy", status=500)
        return Response(ACK, content_type="text/xml; charset=utf-8")

    def notifications(self) -> list[tuple[str, str, str, etree._Element]]:
        """(notification id, object, record id, sObject element) of every POST so far, in order."""
        found = []
        for post in list(self.posts):
            root = etree.fromstring(post["body"])
            for note in root.iterfind(".//o:Notification", NS):
                sobject = note.find("o:sObject", NS)
                found.append((note.findtext("o:Id", namespaces=NS), sobject.get(f"{{{XSI}}}type"),
                              sobject.findtext("sf:Id", namespaces=NS), sobject))
        return found

    def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [n for n in self.notifications() if predicate(n)]
            if hits:
                return hits
            time.sleep(0.02)
        raise AssertionError(f"No matching notification in {len(self.posts)} posts")

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sandbox = SandboxServer(tmp_path_factory.mktemp("sf-triggers"), seed="small").start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def control(server):
    return SandboxControl(server.base_url, server.ca_path)


@pytest.fixture
def receiver(control):
    endpoint = Receiver()
    control.configure_outbound(endpoint.url, ["Lead", "Opportunity", "Task", "Event"], retry_seconds=0.1)
    yield endpoint
    control.configure_outbound(None)
    endpoint.stop()


@pytest.fixture(scope="module")
def sf(server):
    """simple-salesforce with a token the sandbox issued to the admin (the canvas control call mints one)."""
    admin = server.info()["admin_user_id"]
    token, _ = server.sandbox.tokens.issue_access(admin, server.settings.client_id, "api", 3600)
    session = requests.Session()
    session.verify = str(server.ca_path)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
    return Salesforce(instance_url=server.base_url, session_id=token, session=session, version="59.0")


def test_rest_update_posts_a_soap_outbound_message(server, sf, receiver, control):
    lead = server.records("Lead")[3]["Id"]
    sf.Lead.update(lead, {"Title": "Head of Buying"})
    (note_id, kind, record_id, sobject), = receiver.wait_for(lambda n: n[2] == lead)
    post = receiver.posts[-1]
    assert post["headers"]["Content-Type"] == "text/xml; charset=utf-8"
    assert post["headers"]["Soapaction"] == '""'
    root = etree.fromstring(post["body"])
    assert root.tag == f"{{{SOAPENV}}}Envelope"
    notifications = root.find("s:Body/o:notifications", NS)
    assert notifications.findtext("o:OrganizationId", namespaces=NS) == server.org_id
    assert notifications.findtext("o:ActionId", namespaces=NS).startswith("04k")
    assert notifications.find("o:SessionId", NS).get(f"{{{XSI}}}nil") == "true"
    assert notifications.findtext("o:EnterpriseUrl", namespaces=NS).startswith(f"{server.base_url}/services/Soap/c/")
    assert notifications.findtext("o:PartnerUrl", namespaces=NS).startswith(f"{server.base_url}/services/Soap/u/")
    assert kind == "sf:Lead" and record_id == lead and note_id.startswith("04l") and len(note_id) == 18
    # Only the fields the message definition chose travel (the shipped one: Id, who changed it, when, and
    # Pipewise's own fields); the changed Title is not among them.
    sent = [child.tag.rpartition("}")[2] for child in sobject]
    assert sent == ["Id", "LastModifiedById", "SystemModstamp"]
    assert sobject.findtext("sf:LastModifiedById", namespaces=NS) == server.info()["admin_user_id"]
    stats = control.wait_outbound_idle()
    assert stats["acked"] >= 1 and stats["pending"] == 0 and stats["url"] == receiver.url

    control.configure_outbound(receiver.url, fields={"Lead": ["Title", "Company"]})
    sf.Lead.update(lead, {"Title": "Head of Purchasing"})
    latest = receiver.wait_for(lambda n: n[2] == lead and n[3].findtext("sf:Title", namespaces=NS))[-1][3]
    assert latest.findtext("sf:Title", namespaces=NS) == "Head of Purchasing"
    assert latest.findtext("sf:Company", namespaces=NS) == control.record("Lead", lead)["Company"]
    assert latest.findtext("sf:IsDeleted", namespaces=NS) is None


def test_custom_field_ui_change_and_batching(server, sf, receiver, control):
    sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": "Lead.Pipewise_Score__c", "Metadata": {"type": "Number", "label": "Pipewise Score",
                                                           "precision": 3, "scale": 0}})
    granted = sf.PermissionSet.create({"Name": "Triggers", "Label": "Triggers"})["id"]
    sf.FieldPermissions.create({"ParentId": granted, "SobjectType": "Lead", "Field": "Lead.Pipewise_Score__c",
                                "PermissionsRead": True, "PermissionsEdit": True})
    sf.PermissionSetAssignment.create({"AssigneeId": server.info()["admin_user_id"], "PermissionSetId": granted})
    control.configure_outbound(receiver.url, fields={"Lead": ["Status", "Pipewise_Score__c"]})
    leads = [r["Id"] for r in server.records("Lead")[10:15]]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "Id": lead, "Pipewise_Score__c": 70 + i} for i, lead in enumerate(leads)]})
    assert all(r["success"] for r in results)
    receiver.wait_for(lambda n: n[2] == leads[-1])
    batch = [post for post in receiver.posts if leads[0].encode() in post["body"]]
    assert len(batch) == 1, "a composite write arrives as one message"
    scores = {n[2]: n[3].findtext("sf:Pipewise_Score__c", namespaces=NS) for n in receiver.notifications()}
    assert [float(scores[lead]) for lead in leads] == [70.0, 71.0, 72.0, 73.0, 74.0]

    control.update("Lead", leads[0], {"Status": "Working - Contacted"})  # a change "in the UI"
    hits = receiver.wait_for(lambda n: n[2] == leads[0] and
                             n[3].findtext("sf:Status", namespaces=NS) == "Working - Contacted")
    assert hits[-1][3].findtext("sf:Pipewise_Score__c", namespaces=NS) == "70.0"

    # Deleted before delivery: the notification carries no data at all (Outbound Messaging considerations).
    before = len(receiver.notifications())
    opportunity = server.create("Opportunity", {"Name": "Triggered", "StageName": "Prospecting",
                                                "CloseDate": "2017-12-01"})
    control.delete("Opportunity", opportunity)
    control.wait_outbound_idle()
    empty = [n for n in receiver.notifications()[before:] if n[1] == "sf:Opportunity"]
    assert empty and all(n[2] is None and len(n[3]) == 0 for n in empty)
    account = server.create("Account", {"Name": "Not watched"})  # Account is not a configured object
    rolled_back = server.records("Lead")[16]["Id"]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "Id": rolled_back, "Title": "Never"},
        {"attributes": {"type": "Lead"}, "Id": rolled_back, "Nope__c": 1}]})
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    control.wait_outbound_idle()
    assert not [n for n in receiver.notifications() if n[2] in (account, rolled_back)]
    ids = [n[0] for n in receiver.notifications()]
    assert len(ids) == len(set(ids)), "every notification has its own id"


def test_unacknowledged_message_is_retried_with_the_same_ids(server, receiver, control):
    receiver.fail_next = 2
    lead = server.records("Lead")[20]["Id"]
    control.update("Lead", lead, {"Rating": "Hot"})
    stats = control.wait_outbound_idle(timeout=15)
    attempts = [n for n in receiver.notifications() if n[2] == lead]
    assert len(attempts) == 3 and len({n[0] for n in attempts}) == 1
    times = [p["at"] for p in receiver.posts if lead.encode() in p["body"]]
    assert times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2, "the delay doubles between retries"
    assert stats["failed"] >= 2 and stats["acked"] >= 1
    assert any(entry["status"] == 500 and not entry["acked"] for entry in stats["recent"])

    again = control.redeliver_last()
    assert again == [attempts[0][0]]
    control.wait_outbound_idle()
    assert [n[0] for n in receiver.notifications() if n[2] == lead] == [attempts[0][0]] * 4


def test_unreachable_receiver_keeps_retrying_until_turned_off(server, control):
    dead = Receiver()
    url = dead.url
    dead.stop()  # nothing listens there now: connection refused
    control.configure_outbound(url, ["Lead"], retry_seconds=0.05, retry_max_seconds=0.2)
    control.update("Lead", server.records("Lead")[21]["Id"], {"Rating": "Cold"})
    deadline = time.monotonic() + 10
    while control.outbound()["failed"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stats = control.outbound()
    assert stats["pending"] == 1 and "could not be reached" in stats["recent"][-1]["error"]
    assert control.configure_outbound(None)["pending"] == 0
    with pytest.raises(requests.HTTPError, match="http:// or https://"):
        control.configure_outbound("ftp://example.com/x")
    with pytest.raises(requests.HTTPError, match="cannot watch OpportunityHistory"):
        control.configure_outbound(url, ["OpportunityHistory"])


class _Forms(HTMLParser):
    """The forms, inputs, iframes and scripts of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _decode(signed: str) -> tuple[dict, str, str]:
    signature, envelope = signed.split(".", 1)
    expected = base64.b64encode(hmac.new(DEFAULT_CLIENT_SECRET.encode(), envelope.encode(),
                                         hashlib.sha256).digest()).decode()
    return json.loads(base64.b64decode(envelope)), signature, expected


def page_envelope(html: str) -> str:
    """The envelope part of the signed request a page posts."""
    parser = _Forms()
    parser.feed(html)
    return next(a for t, a in parser.tags if t == "input")["value"].split(".", 1)[1]


def _page(server, path: str) -> requests.Response:
    return requests.get(server.base_url + path, verify=str(server.ca_path))


def test_record_page_embeds_the_canvas_app_with_a_signed_request(server, control):
    canvas_url = "https://pipewise.test/embed/salesforce/canvas"
    assert control.configure_canvas(canvas_url) == canvas_url
    opportunity = next(o for o in server.records("Opportunity") if not o["IsClosed"])
    page = _page(server, f"/lightning/r/Opportunity/{opportunity['Id']}/view")
    assert page.status_code == 200 and ">Pipewise</h2>" in page.text
    parser = _Forms()
    parser.feed(page.text)
    frame = next(attrs for tag, attrs in parser.tags if tag == "iframe")
    form = next(attrs for tag, attrs in parser.tags if tag == "form")
    fields = [attrs for tag, attrs in parser.tags if tag == "input"]
    script = next(attrs for tag, attrs in parser.tags if tag == "script")
    assert frame["title"] == "Pipewise" and "width: 100%" in frame["style"]
    assert form["method"] == "post" and form["action"] == canvas_url and form["target"] == frame["name"]
    assert [f["name"] for f in fields] == ["signed_request"]
    assert "<script>" not in page.text and _page(server, script["src"]).text.count("submit()") == 1

    context, signature, expected = _decode(fields[0]["value"])
    assert hmac.compare_digest(signature, expected)
    # Canvas guide, CanvasRequest: issuedAt is for internal use; its example carries null.
    assert context["algorithm"] == "HMACSHA256" and context["issuedAt"] is None
    admin = server.info()["admin_user_id"]
    assert context["userId"] == admin and context["context"]["user"]["userId"] == admin
    assert context["client"]["instanceUrl"] == server.base_url == context["client"]["targetOrigin"]
    environment = context["context"]["environment"]
    assert environment["record"] == {"attributes": {"type": "Opportunity", "url": f"/services/data/v59.0/sobjects/"
                                                    f"Opportunity/{opportunity['Id']}"}, "Id": opportunity["Id"]}
    assert environment["parameters"] == {} and environment["displayLocation"] == "PageLayout"
    assert context["context"]["application"]["canvasUrl"] == canvas_url
    assert context["context"]["application"]["authType"] == "SIGNED_REQUEST"
    assert context["context"]["organization"]["organizationId"] == server.org_id

    session = requests.Session()
    session.verify, session.trust_env = str(server.ca_path), False
    me = session.get(f"{server.base_url}/services/oauth2/userinfo",
                     headers={"Authorization": "Bearer " + context["client"]["oauthToken"]})
    assert me.status_code == 200 and me.json()["user_id"] == admin

    # A reload posts the same token again (the user's session for the app lasts).
    reload = _Forms()
    reload.feed(_page(server, f"/lightning/r/Opportunity/{opportunity['Id']}/view").text)
    assert _decode(next(a for t, a in reload.tags if t == "input")["value"])[0]["client"]["oauthToken"] == \
        context["client"]["oauthToken"]

    # The team panel is a second app: User pages post its own signed request, signed with its own secret.
    team_url = "https://pipewise.test/embed/salesforce/manager"
    control.configure_canvas(canvas_url, team_url)
    rep = next(u for u in server.records("User") if u["Title"] == "Sales Representative")
    page = _page(server, f"/lightning/r/User/{rep['Id']}/view?as={rep['Username']}")
    parser = _Forms()
    parser.feed(page.text)
    assert next(a for t, a in parser.tags if t == "form")["action"] == team_url
    again, signature, expected = _decode(next(a for t, a in parser.tags if t == "input")["value"])
    assert signature != expected, "not signed with the rep panel app's secret"
    assert signature == base64.b64encode(hmac.new(DEFAULT_TEAM_CLIENT_SECRET.encode(),
                                                  page_envelope(page.text).encode(), hashlib.sha256).digest()).decode()
    assert again["userId"] == rep["Id"] and again["context"]["application"]["name"] == "Pipewise Team"
    assert again["context"]["environment"]["record"]["attributes"]["type"] == "User"
    assert again["client"]["oauthToken"] != context["client"]["oauthToken"]
    assert _page(server, f"/lightning/r/Lead/{server.records('Lead')[0]['Id']}/view?as=nobody").status_code == 404

    made = control.signed_request("Lead", server.records("Lead")[0]["Id"])
    assert _decode(made["signed_request"])[0]["context"]["environment"]["record"]["Id"] == \
        server.records("Lead")[0]["Id"]

    home = _page(server, "/")
    assert home.status_code == 200 and "/lightning/r/Opportunity/" in home.text and "/lightning/r/User/" in home.text
    control.configure_canvas(None)
    assert "signed_request" not in _page(server, f"/lightning/r/Opportunity/{opportunity['Id']}/view").text


def test_a_self_authorized_app_opens_with_a_get_until_the_user_allows_it(server, control):
    canvas_url = "https://pipewise.test/embed/salesforce/canvas"
    control.configure_canvas(canvas_url)
    server.sandbox.settings.canvas_permitted_users = "self_authorized"
    try:
        rep = next(u for u in server.records("User") if u["Title"] == "Sales Representative")
        lead = server.records("Lead")[1]["Id"]
        parser = _Forms()
        parser.feed(_page(server, f"/lightning/r/Lead/{lead}/view?as={rep['Username']}").text)
        frame = next(a for t, a in parser.tags if t == "iframe")
        assert frame["src"] == f"{canvas_url}?_sfdc_canvas_authvalue=user_approval_required"
        assert not [a for t, a in parser.tags if t == "input" and a.get("name") == "signed_request"]

        # The user allows the app once (the OAuth consent); from then on the page posts the signed request.
        allowed = requests.post(server.base_url + "/services/oauth2/authorize", verify=str(server.ca_path),
                                allow_redirects=False, data={"client_id": DEFAULT_CLIENT_ID, "action": "allow",
                                                             "redirect_uri": "https://pipewise.test/approved",
                                                             "username": rep["Username"], "state": "s"})
        assert allowed.status_code == 302
        parser = _Forms()
        parser.feed(_page(server, f"/lightning/r/Lead/{lead}/view?as={rep['Username']}").text)
        assert [a for t, a in parser.tags if t == "input" and a.get("name") == "signed_request"]
    finally:
        server.sandbox.settings.canvas_permitted_users = "admin_approved"
        control.configure_canvas(None)
