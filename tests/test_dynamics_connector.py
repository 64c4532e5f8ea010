"""The Dynamics 365 connector against the Dataverse sandbox over real HTTPS: reads, changes, writeback, webhooks."""
from __future__ import annotations

import json
import time
import types
from datetime import datetime

import pytest

from connectors.base import Inbound, Refused
from connectors.dynamics import mapping, webhooks
from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import DynamicsProvider
from connectors.dynamics.streams import ALL as STREAMS, Leads
from connectors.errors import Retriable
from connectors.oauth import OAuthApp
from tests.test_dynamics_sandbox import api, control, server, web_api_session  # noqa: F401 - fixtures
from tests.test_dynamics_sandbox_webhooks import Receiver, register


def make_client(server, **kwargs) -> DynamicsClient:
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, "unused", verify=str(server.ca_path))
    token = {"access_token": server.issue_token(), "token_type": "Bearer", "expires_at": time.time() + 3600}
    return DynamicsClient(token, oauth, api_url=server.base_url, verify=str(server.ca_path), **kwargs)


def read_all(client, stream, since=None, after_id=None):
    return [row for page in client.read_stream(stream, since, after_id) for row in page]


@pytest.fixture
def client(server, control):
    yield make_client(server, sleep=lambda seconds: None)
    control.reset_knobs()
    control.reset_usage()


def test_a_full_read_brings_every_row_of_every_table_once_in_cursor_order(client, control):
    counts = control.info()["counts"]
    for stream in STREAMS:
        rows = read_all(client, stream)
        ids = [r[stream.primary_key] for r in rows]
        assert len(ids) == len(set(ids)) == counts[stream.remote_name], stream.name
        keys = [(r["modifiedon"], r[stream.primary_key]) for r in rows]
        assert keys == sorted(keys)
        mapped = [mapping.to_common(stream, r) for r in rows]
        assert all(m.remote_id and m.remote_modified_at for m in mapped)


def test_a_qualified_lead_is_converted_to_its_opportunity_and_a_closed_deal_is_won_or_lost(client):
    leads = [mapping.to_common(Leads, r) for r in read_all(client, Leads)]
    qualified = [lead for lead in leads if lead.remote_data["statecode"] == 1]
    assert qualified and all(lead.is_converted for lead in qualified)
    assert all(lead.converted_opportunity_remote_id == lead.remote_data["_qualifyingopportunityid_value"]
               for lead in qualified)
    assert not any(lead.is_converted for lead in leads if lead.remote_data["statecode"] != 1)
    sourced = [lead for lead in leads if lead.remote_data.get("leadsourcecode") is not None]
    # Choices arrive as their labels (the FormattedValue annotation), not their numbers.
    assert sourced and all(lead.lead_source and not lead.lead_source.isdigit() for lead in sourced)
    opportunities = DynamicsProvider.stream("opportunities")
    deals = [mapping.to_common(opportunities, r) for r in read_all(client, opportunities)]
    won = [d for d in deals if d.remote_data["statecode"] == 1]
    lost = [d for d in deals if d.remote_data["statecode"] == 2]
    assert won and lost and all(d.is_closed and d.is_won for d in won)
    assert all(d.is_closed and not d.is_won for d in lost)
    users = DynamicsProvider.stream("systemusers")
    managed = [mapping.to_common(users, r) for r in read_all(client, users) if r["_parentsystemuserid_value"]]
    assert managed and all(u.manager_remote_id for u in managed)


def test_an_incremental_read_brings_just_the_changed_rows_and_a_deleted_one_reads_as_deleted(server, client, control):
    before = read_all(client, Leads)
    last = before[-1]
    since = mapping.to_datetime(last["modifiedon"])
    assert read_all(client, Leads, since, last["leadid"]) == []
    control.advance_clock(60)
    changed = before[0]["leadid"]
    control.update("lead", changed, {"jobtitle": "Head of Procurement"})
    created = control.create("lead", {"lastname": "Okafor", "companyname": "Northwind"})
    later = read_all(client, Leads, since, last["leadid"])
    assert {r["leadid"] for r in later} == {changed, created}
    assert next(r for r in later if r["leadid"] == changed)["jobtitle"] == "Head of Procurement"
    control.delete("lead", created)
    deleted, kept = client.read_records(Leads, [created, changed])
    assert mapping.to_common(Leads, deleted).remote_deleted and not mapping.to_common(Leads, kept).remote_deleted


def test_throttling_is_waited_out_as_the_retry_after_says(server, control):
    waits = []
    client = make_client(server, sleep=waits.append)
    control.knobs(throttle_next=2)
    try:
        assert read_all(client, DynamicsProvider.stream("campaigns"))
        assert len(waits) == 2 and all(w > 0 for w in waits)
        control.knobs(throttle_next=10)
        with pytest.raises(Retriable):
            read_all(make_client(server, sleep=lambda s: None, max_attempts=2), DynamicsProvider.stream("campaigns"))
    finally:
        control.reset_knobs()


def test_writeback_creates_the_columns_and_writes_in_calls_of_at_most_the_batch_size(server, client, control):
    created = client.ensure_fields("lead", DynamicsProvider.writable_fields)
    assert sorted(created) == sorted(f.remote_name for f in DynamicsProvider.writable_fields)
    assert client.ensure_fields("lead", DynamicsProvider.writable_fields) == []
    ids = [r["leadid"] for r in read_all(client, Leads)]
    client.batch_limit = 150
    calls = client.usage.calls
    results = []
    for start in range(0, len(ids), client.batch_limit):
        results += client.update_records("lead", [{"Id": rid, "pw_score": 71.5, "pw_band": "B"}
                                                  for rid in ids[start:start + client.batch_limit]])
    assert client.usage.calls - calls == -(-len(ids) // 150)
    assert len(results) == len(ids) and all(r.ok for r in results)
    with pytest.raises(ValueError):
        client.update_records("lead", [{"Id": rid} for rid in ids[:151]])
    check = web_api_session(server, server.issue_token())
    row = check.get(f"{server.web_api}/leads({ids[-1]})?$select=pw_score,pw_band").json()
    assert row["pw_score"] == 71.5 and row["pw_band"] == "B"


def test_a_refused_update_multiple_falls_back_to_a_batch_with_each_records_own_answer(server, client, control):
    client.ensure_fields("lead", DynamicsProvider.writable_fields)
    ids = [r["leadid"] for r in read_all(client, Leads)][:5]
    control.knobs(bulk_max_targets=3)
    gone = control.create("lead", {"lastname": "Temp"})
    control.delete("lead", gone)
    results = client.update_records("lead", [{"Id": rid, "pw_band": "A"} for rid in ids] + [{"Id": gone, "pw_band": "A"}])
    assert [r.ok for r in results] == [True] * 5 + [False]
    assert results[-1].permanent and results[-1].message


def test_a_webhook_the_sandbox_delivers_verifies_and_parses_into_an_event(server, control, api):
    receiver = Receiver()
    secret = "a-connection-secret"
    try:
        register(server, api, receiver.url, "lead", "Update",
                 authvalue=f'<settings><setting name="{webhooks.SECRET_HEADER}" value="{secret}" /></settings>')
        lead = api.get(f"{server.web_api}/leads?$select=leadid&$top=1").json()["value"][0]["leadid"]
        assert api.patch(f"{server.web_api}/leads({lead})", json={"jobtitle": "CFO"}).ok
        control.webhooks(wait=5)
        delivered = receiver.requests[-1]
    finally:
        receiver.stop()
    org = api.get(f"{server.web_api}/WhoAmI").json()["OrganizationId"]
    inbound = Inbound(method="POST", url=receiver.url, path_and_query="/", headers=delivered["headers"],
                      body=delivered["body"], path_args={"remote_org_id": org}, public_url=None)
    config = types.SimpleNamespace()
    assert webhooks.verify(inbound, config, lambda o, s: o == org and s == secret)
    assert not webhooks.verify(inbound, config, lambda o, s: s == "another secret")
    [event] = webhooks.parse(inbound)
    assert event.stream == "leads" and event.remote_ids == [lead] and event.targets == {"leads": [lead]}
    assert event.echo_fields["jobtitle"] == "CFO"
    other = Inbound(**{**inbound.__dict__, "path_args": {"remote_org_id": "00000000-0000-0000-0000-000000000001"}})
    with pytest.raises(Refused):
        webhooks.parse(other)
    with pytest.raises(ValueError):
        webhooks.parse(Inbound(**{**inbound.__dict__, "body": b"{}"}))
    assert json.loads(webhooks.test_delivery(org, "lead", lead, "e1")[0])["PrimaryEntityId"] == lead


def test_the_record_url_opens_the_record_form():
    assert DynamicsProvider.record_url("https://org.crm.dynamics.com", "o", "lead", "abc") == (
        "https://org.crm.dynamics.com/main.aspx?etn=lead&id=abc&pagetype=entityrecord")
    assert isinstance(mapping.to_datetime("2026-01-02T03:04:05Z"), datetime)


def test_preflight_reads_every_table_and_the_field_catalogue_lists_live_columns(client):
    findings = client.preflight()
    assert {f.check for f in findings} >= {f"object:{s.remote_name}" for s in STREAMS}
    assert all(f.status == "ok" for f in findings if f.check != "change-tracking")
    # The sandbox ships campaigns with change tracking off: the admin is told what that costs.
    tracking = next(f for f in findings if f.check == "change-tracking")
    assert tracking.status == "warning" and "Change tracking is off for campaigns:" in tracking.message
    columns = {c["name"]: c for c in DynamicsProvider.field_catalogue().remote_fields(client, "lead")}
    assert columns["companyname"]["type"] == "String" and not columns["companyname"]["custom"]
    assert columns["leadsourcecode"]["type"] == "Picklist"


def test_an_expired_token_is_refreshed_and_handed_back_a_revoked_grant_asks_for_reauthorization(server, control):
    from connectors.errors import ReauthorizationRequired

    issued = control.token(refresh=True)
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, server.settings.client_secret,
                     verify=str(server.ca_path))
    saved = []
    token = {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"], "token_type": "Bearer"}
    client = DynamicsClient(token, oauth, saved.append, api_url=server.base_url, verify=str(server.ca_path))
    control.expire_tokens()
    assert read_all(client, DynamicsProvider.stream("campaigns"))
    assert len(saved) == 1 and saved[0]["access_token"] != issued["access_token"]
    control.revoke_tokens()
    with pytest.raises(ReauthorizationRequired):
        read_all(client, DynamicsProvider.stream("campaigns"))
