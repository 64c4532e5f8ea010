"""The JSON API with API keys: authorization, tenancy (404 for other organizations), paging, the OpenAPI document."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sync import runtime as runtime_module
from sync.jobs import sync_connection
from sync.store import SYNCED_MODELS, Connection, Opportunity, Organization, Score, utcnow
from sync.store.audit_log import AuditEntry
from sync.store.db import upsert
from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app, csrf, sign_in
from tests.test_writeback import give_scores
from web import api_keys


@pytest.fixture(scope="module")
def world(tmp_path_factory, sf_sandbox, redis_server):
    """One synced organization with scores and a key, and a second organization with its own score and key."""
    tmp_path = tmp_path_factory.mktemp("api")
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", redis_server, sf_sandbox)
    rt = app.extensions["pipewise"]
    api_keys.ensure_table(rt.engine)
    connection_id = connect_salesforce(rt, sf_sandbox)
    assert sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    leads = give_scores(rt, connection_id, 7)
    with rt.sessions() as db:
        connection = db.get(Connection, connection_id)
        deal = db.scalar(select(Opportunity.remote_id).where(Opportunity.connection_id == connection_id).limit(1))
        other_org = Organization(name="Someone else")
        db.add(other_org)
        db.flush()
        other = Connection(organization_id=other_org.id, provider="salesforce", remote_org_id="00D-other",
                           instance_url="https://other.example", token_ciphertext=rt.cipher.encrypt_json({}))
        db.add(other)
        db.flush()
        upsert(db, Score, [_score(connection.organization_id, connection_id, "opportunity", deal, 80),
                           _score(other_org.id, other.id, "lead", "00Qother000000001", 40)],
               conflict=("connection_id", "object_type", "remote_id"))
        _, token = api_keys.create(db, connection.organization_id, "BI dashboard")
        _, other_token = api_keys.create(db, other_org.id, "Other org")
        db.commit()
    yield {"app": app, "rt": rt, "connection_id": connection_id, "leads": leads, "deal": deal,
           "token": token, "other_token": other_token, "organization_id": connection.organization_id}
    runtime_module.use(None)
    rt.engine.dispose()


def _score(organization_id, connection_id, object_type, remote_id, score):
    return {"organization_id": organization_id, "connection_id": connection_id, "object_type": object_type,
            "remote_id": remote_id, "model_version": f"{object_type}-test-1", "probability": score / 100,
            "score": score, "band": "A", "next_step": "Book a demo", "limited_history": True,
            "reasons": {"up": [{"feature": "f", "text": "Opened the proposal", "impact": 0.3}], "down": [],
                        "limited_history": True, "note": "Scored by rules."}, "computed_at": utcnow()}


def get(world, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token or world['token']}"} if token != "" else {}
    return world["app"].test_client().get(path, headers=headers, query_string=params)


# -- a minimal JSON-schema check (types, required, enums, items, $ref), enough to hold the document to the answers

def conforms(value, schema, document, where="$"):
    """Fail with the path of the first place the value does not fit the schema."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return conforms(value, document["components"]["schemas"][name], document, where)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  "null": lambda v: v is None}
        assert any(checks[k](value) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name!r}"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                conforms(value[name], sub, document, f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in schema.get("properties", {}):
                    conforms(item, extra, document, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            conforms(item, schema["items"], document, f"{where}[{i}]")


def check_answer(world, answer, path_template, status="200"):
    document = world["app"].test_client().get("/api/v1/openapi.json").json
    responses = document["paths"][path_template]["get"]["responses"]
    assert str(answer.status_code) == status and status in responses, (answer.status_code, answer.data)
    conforms(answer.json, responses[status]["content"]["application/json"]["schema"], document)


# -- authorization ---------------------------------------------------------------------------------

def test_a_call_without_a_key_or_with_a_wrong_one_is_refused_with_what_to_do(world):
    missing = get(world, "/api/v1/connections", token="")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "missing_api_key"
    assert "Authorization: Bearer" in missing.json["error"]["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    key_id = world["token"].split("_")[1]
    for bad in (f"pw_{key_id}_{'0' * 48}", "pw_999999_abc", "not-a-key", world["token"] + "x"):
        refused = get(world, "/api/v1/connections", token=bad)
        assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_api_key", bad
        check_answer(world, refused, "/connections", "401")


def test_the_key_is_stored_only_as_a_salted_hash_and_its_use_is_noted(world):
    key_id = int(world["token"].split("_")[1])
    assert get(world, "/api/v1/connections").status_code == 200
    with world["rt"].sessions() as db:
        key = db.get(api_keys.ApiKey, key_id)
        secret = world["token"].split("_", 2)[2]
        assert secret not in (key.secret_hash, key.salt) and len(key.secret_hash) == 64
        assert key.last_used_at is not None and key.revoked_at is None


def test_a_revoked_key_is_refused(world):
    with world["rt"].sessions() as db:
        key, token = api_keys.create(db, world["organization_id"], "Short-lived")
        db.commit()
        assert get(world, "/api/v1/connections", token=token).status_code == 200
        api_keys.revoke(db, world["organization_id"], key.id, "test")
        db.commit()
    refused = get(world, "/api/v1/connections", token=token)
    assert refused.status_code == 401 and "revoked" in refused.json["error"]["message"]


# -- tenancy and answers ------------------------------------------------------------------------

def test_one_score_with_everything_a_rep_sees(world):
    lead = world["leads"][0]
    answer = get(world, f"/api/v1/scores/lead/{lead}")
    check_answer(world, answer, "/scores/{object_type}/{remote_id}")
    body = answer.json
    assert (body["remote_id"], body["score"], body["band"], body["next_step"]) == (lead, 61, "B",
                                                                                  "Call within 24 hours")
    assert body["reasons"]["up"][0]["text"] == "Replied to the last email"
    assert body["model_version"] == "lead-test-1" and body["computed_at"].endswith("Z")
    deal = get(world, f"/api/v1/scores/opportunity/{world['deal']}").json
    assert deal["limited_history"] is True and deal["reasons"]["note"] == "Scored by rules."


def test_another_organizations_record_is_404_never_403(world):
    theirs = get(world, "/api/v1/scores/lead/00Qother000000001")
    assert theirs.status_code == 404 and theirs.json["error"]["code"] == "not_found"
    check_answer(world, theirs, "/scores/{object_type}/{remote_id}", "404")
    assert get(world, "/api/v1/scores/lead/00Qother000000001", token=world["other_token"]).status_code == 200
    mine = get(world, f"/api/v1/scores/lead/{world['leads'][0]}", token=world["other_token"])
    assert mine.status_code == 404
    listing = get(world, "/api/v1/scores", token=world["other_token"], object_type="lead").json["data"]
    assert [s["remote_id"] for s in listing] == ["00Qother000000001"]
    connections = get(world, "/api/v1/connections", token=world["other_token"]).json["data"]
    assert [c["id"] for c in connections] != [world["connection_id"]] and len(connections) == 1


def test_scores_are_paged_with_after_until_the_last_page(world):
    seen, after, pages = [], None, 0
    while True:
        params = {"object_type": "lead", "limit": 3, **({"after": after} if after else {})}
        answer = get(world, "/api/v1/scores", **params)
        check_answer(world, answer, "/scores")
        seen += [s["remote_id"] for s in answer.json["data"]]
        pages += 1
        after = answer.json["next_after"]
        if after is None:
            break
    assert pages == 3 and sorted(seen) == sorted(world["leads"]) and len(seen) == len(set(seen))
    one = get(world, "/api/v1/scores", object_type="lead", remote_id=world["leads"][2]).json
    assert [s["remote_id"] for s in one["data"]] == [world["leads"][2]] and one["next_after"] is None


@pytest.mark.parametrize("params, code", [
    ({}, "invalid_object_type"), ({"object_type": "account"}, "invalid_object_type"),
    ({"object_type": "lead", "limit": "500"}, "invalid_limit"), ({"object_type": "lead", "after": "x"}, "invalid_after")])
def test_bad_parameters_say_what_is_expected(world, params, code):
    answer = get(world, "/api/v1/scores", **params)
    check_answer(world, answer, "/scores", "400")
    assert answer.json["error"]["code"] == code and answer.json["error"]["message"].endswith(".")


def test_connections_report_health_lag_usage_and_records(world):
    answer = get(world, "/api/v1/connections")
    check_answer(world, answer, "/connections")
    (connection,) = answer.json["data"]
    rt = world["rt"]
    with rt.sessions() as db:
        stored = db.get(Connection, world["connection_id"])
        for name, model in SYNCED_MODELS.items():
            assert connection["records"][name] == db.scalar(select(func.count()).select_from(model).where(
                model.connection_id == stored.id, model.deleted_at.is_(None)))
    assert connection["status"] == "healthy" and connection["records"]["lead"] > 0
    assert connection["api_usage"] == {"used": stored.api_usage_used, "limit": stored.api_usage_limit}
    assert 0 <= connection["lag_seconds"] < 600


def test_the_forecast_answers_per_rep_and_refuses_an_unknown_period(world):
    answer = get(world, "/api/v1/forecast", period="2017-Q4", as_of="2017-10-01", by="rep")
    check_answer(world, answer, "/forecast")
    assert answer.json["period"] == "2017-Q4" and answer.json["by"] == "rep"
    assert answer.json["p10"] <= answer.json["p50"] <= answer.json["p90"]
    bad = get(world, "/api/v1/forecast", period="next spring")
    check_answer(world, bad, "/forecast", "400")
    assert "quarter like 2017-Q4" in bad.json["error"]["message"]


def test_the_openapi_document_names_every_endpoint_and_the_key_scheme(world):
    document = world["app"].test_client().get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    routes = {rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
              for rule in world["app"].url_map.iter_rules() if rule.endpoint.startswith("api.")
              and rule.endpoint not in ("api.openapi_document", "api.unknown_endpoint")}
    assert routes == set(document["paths"])
    unknown = get(world, "/api/v1/nothing-here")
    assert unknown.status_code == 404 and "openapi.json" in unknown.json["error"]["message"]


# -- the admin screen ----------------------------------------------------------------------------

def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(world, sf_sandbox):
    client = world["app"].test_client()
    sign_in(client, sf_sandbox)
    token = csrf(client)
    assert client.post("/admin/api-keys", data={"name": "Warehouse"}).status_code == 400  # no CSRF token
    created = client.post("/admin/api-keys", data={"name": "Warehouse", "csrf_token": token})
    page = created.get_data(as_text=True)
    assert created.status_code == 200 and "only this once" in page
    secret = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert get(world, "/api/v1/connections", token=secret).status_code == 200
    listing = client.get("/admin/api-keys").get_data(as_text=True)
    assert "Warehouse" in listing and secret not in listing
    key_id = int(secret.split("_")[1])
    assert client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 302
    assert get(world, "/api/v1/connections", token=secret).status_code == 401
    other_key = int(world["other_token"].split("_")[1])
    assert client.post(f"/admin/api-keys/{other_key}/revoke", data={"csrf_token": token}).status_code == 404
    with world["rt"].sessions() as db:
        actions = list(db.scalars(select(AuditEntry.action).where(AuditEntry.target == f"api_key:{key_id}")))
    assert actions == ["api_key.create", "api_key.revoke"]
