"""The HubSpot connector: mapping, keyset search paging, provider identity, and the client against the sandbox."""
import random
from datetime import date, datetime
from math import ceil

import pytest
from sqlalchemy import func, select

from connectors import common
from connectors.errors import QuotaExceeded, ReauthorizationRequired
from connectors.hubspot import mapping, streams
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.provider import HubSpotProvider
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from connectors.hubspot.search import RateLimiter, search_in_cursor_order
from sync import writeback
from sync.store import (Account, Activity, Connection, Contact, Lead, Opportunity, OpportunityStageChange, Score, User,
                        WritebackLedger)
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, hubspot_settings, make_client, make_engine  # noqa: F401 - fixtures

# -- mapping ------------------------------------------------------------------------------------


def contact(stage, **props):
    return {"id": "1000001", "archived": False, "createdAt": "2017-06-01T10:00:00.000Z",
            "updatedAt": "2017-06-02T11:00:00.000Z",
            "properties": {"hs_object_id": "1000001", "createdate": "2017-06-01T10:00:00.000Z",
                           "lastmodifieddate": "2017-06-02T11:00:00.000Z", "firstname": "Ana", "lastname": "Lima",
                           "email": " Ana@Example.COM ", "lifecyclestage": stage, "hubspot_owner_id": "51",
                           "associatedcompanyid": "2000001", "hs_analytics_source": "ORGANIC_SEARCH", **props}}


def test_hubspot_datetimes_become_naive_utc():
    assert mapping.hs_datetime("2017-03-01T00:00:00.000Z") == datetime(2017, 3, 1)
    assert mapping.hs_datetime("2017-03-01T02:30:00+02:00") == datetime(2017, 3, 1, 0, 30)
    assert mapping.hs_datetime("1488326400000") == datetime(2017, 3, 1)
    assert mapping.hs_date("2017-03-01T00:00:00.000Z") == date(2017, 3, 1)
    assert mapping.hs_datetime("") is None and mapping.epoch_ms(datetime(2017, 3, 1)) == 1488326400000


def test_contact_in_a_lead_stage_is_only_a_live_lead():
    [lead] = mapping.to_common(streams.Contacts, contact("marketingqualifiedlead", hs_lead_status="OPEN"))
    assert isinstance(lead, common.Lead)
    assert (lead.remote_id, lead.remote_deleted, lead.is_converted) == ("1000001", False, False)
    assert lead.email_key == "ana@example.com" and lead.status == "OPEN" and lead.owner_remote_id == "51"
    assert lead.remote_modified_at == datetime(2017, 6, 2, 11) and lead.lead_source == "ORGANIC_SEARCH"


def test_a_customer_moved_back_to_a_lead_stage_leaves_a_contact_tombstone():
    lead, person = mapping.to_common(streams.Contacts, contact(
        "salesqualifiedlead", hs_lifecyclestage_customer_date="2017-07-01T00:00:00.000Z"))
    assert not lead.is_converted and not lead.remote_deleted
    assert isinstance(person, common.Contact) and person.remote_id == "1000001" and person.remote_deleted


def test_customer_is_a_converted_lead_and_a_live_contact():
    lead, person = mapping.to_common(streams.Contacts, contact(
        "customer", hs_lifecyclestage_customer_date="2017-07-01T00:00:00.000Z"))
    assert lead.is_converted and lead.converted_at == datetime(2017, 7, 1) and not lead.remote_deleted
    assert lead.converted_contact_remote_id == "1000001" and lead.converted_account_remote_id == "2000001"
    assert not person.remote_deleted and person.account_remote_id == "2000001"


def test_archived_contact_is_deleted_on_both_sides_at_its_archive_time():
    raw = contact("customer", hs_lifecyclestage_customer_date="2017-07-01T00:00:00.000Z")
    raw = {**raw, "archived": True, "archivedAt": "2017-08-01T00:00:00.000Z"}
    lead, person = mapping.to_common(streams.Contacts, raw)
    assert lead.remote_deleted and person.remote_deleted
    assert lead.remote_modified_at == datetime(2017, 8, 1)


def test_deal_and_its_stage_history():
    raw = {"id": "3000001", "archived": False,
           "properties": {"hs_object_id": "3000001", "dealname": "Acme GTX", "dealstage": "closedwon",
                          "amount": "1054", "closedate": "2017-03-01T00:00:00.000Z", "hs_is_closed": "true",
                          "hs_is_closed_won": "true", "hs_deal_stage_probability": "1.0", "product": "GTX Pro",
                          "hs_lastmodifieddate": "2017-03-01T00:00:00.000Z"},
           "associations": {"companies": {"results": [{"id": "2000001", "type": "deal_to_company"}]}},
           "propertiesWithHistory": {
               "dealstage": [{"value": "closedwon", "timestamp": "2017-03-01T00:00:00.000Z"},
                             {"value": "qualifiedtobuy", "timestamp": "2017-01-05T09:00:00.000Z"}],
               "amount": [{"value": "1054", "timestamp": "2017-02-01T00:00:00.000Z"},
                          {"value": "900", "timestamp": "2017-01-05T09:00:00.000Z"}]}}
    deal, *changes = mapping.to_common(streams.Deals, raw)
    assert isinstance(deal, common.Opportunity) and deal.is_won and deal.is_closed
    assert (deal.amount, deal.probability, deal.close_date) == (1054.0, 100.0, date(2017, 3, 1))
    assert deal.account_remote_id == "2000001" and deal.product == "GTX Pro"
    assert [(c.remote_id, c.stage, c.amount) for c in changes] == [
        ("3000001-1483606800000", "qualifiedtobuy", 900.0), ("3000001-1488326400000", "closedwon", 1054.0)]
    assert all(isinstance(c, common.OpportunityStageChange) and c.opportunity_remote_id == "3000001" for c in changes)


@pytest.mark.parametrize("stream,kind", [(streams.Calls, "call"), (streams.Meetings, "meeting"),
                                         (streams.Notes, "note"), (streams.Tasks, "task"), (streams.Emails, "email")])
def test_engagements_are_activities_about_their_contact_and_deal(stream, kind):
    raw = {"id": "4000001", "properties": {"hs_timestamp": "2017-02-03T15:00:00.000Z", "hs_call_duration": "300000",
                                           "hs_lastmodifieddate": "2017-02-03T15:00:00.000Z"},
           "associations": {"contacts": {"results": [{"id": "1000001"}]}, "deals": {"results": [{"id": "3000001"}]}}}
    activity = mapping.to_common(stream, raw)
    assert (activity.kind, activity.occurred_at) == (kind, datetime(2017, 2, 3, 15))
    assert (activity.who_remote_id, activity.what_remote_id) == ("1000001", "3000001")
    assert activity.duration_minutes == (5 if kind == "call" else None)


def test_owner_is_a_user_with_its_primary_team():
    user = mapping.to_common(streams.Owners, {
        "id": "51", "email": "ana@maven.example", "firstName": "Ana", "lastName": "Lima", "archived": True,
        "updatedAt": "2017-01-01T00:00:00Z", "teams": [{"id": "9", "name": "East", "primary": True}]})
    assert (user.name, user.team, user.is_active, user.remote_deleted) == ("Ana Lima", "East", False, False)


def test_every_stream_has_a_mapping_and_reads_no_pipewise_property():
    for stream in HubSpotProvider.streams:
        assert stream.name in mapping.MAPPERS
        assert stream.cursor_field in stream.fields
        assert not [f for f in stream.fields if f.startswith("pipewise_")]
        assert all(t in common.COMMON_TYPES for t in stream.object_types())


def test_identity_is_the_portal_of_a_completed_token():
    identity = HubSpotProvider.identity({"access_token": "x", "hub_id": 62515, "user_id": 7,
                                         "instance_url": "https://app.hubspot.com/"})
    assert (identity.remote_org_id, identity.instance_url, identity.remote_user_id) == (
        "62515", "https://app.hubspot.com", "7")


# -- keyset paging over a HubSpot-like search ---------------------------------------------------------

class FakeSearch:
    """HubSpot's search semantics in memory: one sort, ties in no particular order, limit, total."""

    def __init__(self, records):
        self.records = records  # id → cursor ms
        self.calls = 0
        self.on_call = None

    def __call__(self, body):
        self.calls += 1
        if self.on_call:
            self.on_call(self.calls)
        rows = list(self.records.items())
        random.Random(self.calls).shuffle(rows)  # ties come back in any order
        for group in body["filterGroups"]:
            for f in group["filters"]:
                index = 0 if f["propertyName"] == "hs_object_id" else 1
                value = int(f["value"])
                test = {"GTE": lambda v: v >= value, "GT": lambda v: v > value, "EQ": lambda v: v == value}[f["operator"]]
                rows = [r for r in rows if test(r[index])]
        index = 0 if body["sorts"][0]["propertyName"] == "hs_object_id" else 1
        rows.sort(key=lambda r: r[index])
        assert "after" not in body
        return {"total": len(rows), "results": [
            {"id": str(i), "properties": {"hs_lastmodifieddate": str(ms)}} for i, ms in rows[:body["limit"]]]}


def read_all(search, since=None, limit=100):
    pages = list(search_in_cursor_order(search, "hs_lastmodifieddate", ("hs_lastmodifieddate",), limit, since))
    return [(int(r["id"]), int(r["properties"]["hs_lastmodifieddate"])) for page in pages for r in page]


def test_keyset_paging_returns_each_record_once_in_cursor_order_even_at_crowded_instants():
    records = {i: 1000 + i // 3 for i in range(1, 151)}            # three per instant
    records.update({i: 5000 for i in range(151, 401)})               # 250 at one instant
    records.update({i: 6000 + i for i in range(401, 451)})
    seen = read_all(FakeSearch(records))
    assert sorted(i for i, _ in seen) == list(range(1, 451))
    assert len(seen) == 450
    assert [ms for _, ms in seen] == sorted(ms for _, ms in seen)
    assert sorted(i for i, ms in seen if ms == 5000) == list(range(151, 401))


def test_a_record_modified_during_the_read_moves_on_and_skips_no_other():
    records = {i: 1000 + i for i in range(1, 301)}
    search = FakeSearch(records)

    def touch(call):
        if call == 2:  # between pages: an early record is edited, everything after it shifts
            records[5] = 9999
    search.on_call = touch
    seen = read_all(search)
    assert set(range(1, 301)) <= {i for i, _ in seen}
    assert (5, 9999) in seen


def test_rate_limiter_spaces_calls():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds
    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]


def test_owner_role_comes_from_the_settings_user():
    assert mapping.owner_role({"user": {"roleName": "Sales Manager"}}) == "manager"
    assert mapping.owner_role({"user": {"roleName": "Sales Representative"}}) == "rep"
    assert mapping.owner_role({"user": {"superAdmin": True}}) == "admin"
    assert mapping.owner_role({}) == "rep"


# -- the client against the sandbox portal ------------------------------------------------------------


def live_ids(session, model, connection_id):
    return set(session.scalars(select(model.remote_id).where(model.connection_id == connection_id,
                                                             model.deleted_at.is_(None))))


def test_install_finds_the_portal_and_the_app_host(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    with hs_runtime.sessions() as session:
        connection = session.get(Connection, installed.connection_id)
        assert connection.remote_org_id == str(hs_sandbox.portal_id)
        assert connection.instance_url == hs_sandbox.base_url


def test_first_sync_equals_the_portal_and_a_second_changes_nothing(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    first = engine.run(installed.connection_id, installed.organization_id)
    assert first.status == "completed" and first.changed > 0
    contacts = hs_sandbox.records("contacts")
    converted = {c["id"] for c in contacts if mapping.is_converted_stage(c["properties"].get("lifecyclestage"))}
    engagements = sum(len(hs_sandbox.records(kind)) for kind in ("calls", "emails", "meetings", "notes", "tasks"))
    cid = installed.connection_id
    with hs_runtime.sessions() as session:
        assert live_ids(session, Lead, cid) == {c["id"] for c in contacts}
        assert live_ids(session, Contact, cid) == converted
        assert live_ids(session, Account, cid) == {c["id"] for c in hs_sandbox.records("companies")}
        deals = {d["id"]: d for d in hs_sandbox.records("deals")}
        assert live_ids(session, Opportunity, cid) == set(deals)
        assert len(live_ids(session, Activity, cid)) == engagements
        assert session.scalar(select(func.count()).select_from(User).where(User.connection_id == cid)) == 42
        assert "manager" in set(session.scalars(select(User.role).where(User.connection_id == cid)))
        some = session.scalar(select(Opportunity).where(Opportunity.connection_id == cid, Opportunity.stage == "closedwon",
                                                        Opportunity.amount.is_not(None)))
        remote = deals[some.remote_id]["properties"]
        assert some.amount == float(remote["amount"]) and some.is_won and some.account_remote_id
        changes = session.scalars(select(OpportunityStageChange).where(
            OpportunityStageChange.opportunity_remote_id == some.remote_id)).all()
        assert [c.stage for c in sorted(changes, key=lambda c: c.changed_at)][-1] == "closedwon"
        assert session.scalar(select(func.count()).select_from(Activity).where(
            Activity.connection_id == cid, Activity.who_remote_id.is_not(None))) > 0
    second = engine.run(installed.connection_id, installed.organization_id)
    assert second.status == "completed" and second.changed == 0 and second.deleted == 0


def test_archived_records_are_marked_deleted(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    wanted = (streams.Contacts, streams.Deals)
    engine.run(installed.connection_id, installed.organization_id, streams=wanted)
    contact_id = hs_sandbox.records("contacts")[0]["id"]
    deal_id = hs_sandbox.records("deals")[0]["id"]
    hs_sandbox.archive("contacts", contact_id)
    hs_sandbox.archive("deals", deal_id)
    run = engine.run(installed.connection_id, installed.organization_id, streams=wanted)
    assert run.deleted >= 3  # the lead, the deal and its stage changes
    with hs_runtime.sessions() as session:
        assert contact_id not in live_ids(session, Lead, installed.connection_id)
        assert deal_id not in live_ids(session, Opportunity, installed.connection_id)
        assert not session.scalars(select(OpportunityStageChange).where(
            OpportunityStageChange.opportunity_remote_id == deal_id,
            OpportunityStageChange.deleted_at.is_(None))).all()
    # A targeted re-read (a webhook) of an archived and a purged id flags both as deleted.
    client = make_client(hs_runtime, installed)
    records = client.read_records(streams.Contacts, [contact_id, "1999999"])
    assert [(r["id"], r["archived"]) for r in records] == [(contact_id, True), ("1999999", True)]


def test_search_429_is_retried_after_the_advertised_wait(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    waits = []
    client = make_client(hs_runtime, installed, sleep=waits.append)
    hs_sandbox.knobs(search_per_second=0, rate_limit_count=1, rate_limit_policy="TEN_SECONDLY_ROLLING")
    run = make_engine(hs_runtime, client).run(installed.connection_id, installed.organization_id,
                                              streams=(streams.Companies,))
    assert run.status == "completed"
    assert 10.0 in waits  # the ten-secondly window HubSpot advertises (X-HubSpot-RateLimit-Interval-Milliseconds)
    with hs_runtime.sessions() as session:
        assert len(live_ids(session, Account, installed.connection_id)) == len(hs_sandbox.records("companies"))
    hs_sandbox.knobs(rate_limit_count=1, rate_limit_policy="DAILY")
    with pytest.raises(QuotaExceeded):
        list(client.read_stream(streams.Companies, None))


def test_expired_token_is_refreshed_and_persisted_revoked_one_needs_reauthorization(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    saved = []
    client = HubSpotClient(installed.token, installed.oauth, saved.append, api_url=hs_sandbox.base_url,
                           verify=str(hs_sandbox.ca_path))
    hs_sandbox.expire_tokens()
    assert list(client.read_stream(streams.Owners, None))
    assert saved and saved[-1]["access_token"] != installed.token["access_token"]
    assert saved[-1]["hub_id"] == installed.token["hub_id"]  # the refresh keeps the portal
    # Close to its 30 minutes, the token is refreshed before the call.
    client._token["expires_at"] = client._clock() + 60
    list(client.read_stream(streams.Owners, None))
    assert len(saved) == 2
    hs_sandbox.revoke_tokens()
    with pytest.raises(ReauthorizationRequired):
        list(client.read_stream(streams.Owners, None))


def test_writeback_in_batches_of_100_and_a_rejected_record_is_retried(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    client = make_client(hs_runtime, installed)
    make_engine(hs_runtime, client).run(installed.connection_id, installed.organization_id,
                                        streams=(streams.Contacts,))
    created = client.ensure_fields("contacts", HubSpotProvider.writable_fields)
    assert set(created) <= {f.remote_name for f in HubSpotProvider.writable_fields}
    assert client.ensure_fields("contacts", HubSpotProvider.writable_fields) == []  # idempotent
    contact_ids = sorted(c["id"] for c in hs_sandbox.records("contacts"))[:250]
    with hs_runtime.sessions() as session:
        session.query(WritebackLedger).delete()
        session.query(Score).delete()
        for n, remote_id in enumerate(contact_ids):
            session.add(Score(organization_id=installed.organization_id, connection_id=installed.connection_id,
                              object_type="lead", remote_id=remote_id, model_version="lead-v1",
                              probability=0.5, score=1 + n % 99, band="B", reasons={"up": [{"text": "Fast reply"}]},
                              next_step="Call back"))
        session.commit()
    rejected = contact_ids[7]
    hs_sandbox.knobs(reject_ids=[rejected])
    calls_before = client.usage.calls
    with hs_runtime.sessions() as session:
        summary = writeback.write(session, client, HubSpotProvider, installed.connection_id)
    assert summary.calls == ceil(250 / 100) == client.usage.calls - calls_before
    assert (summary.written, summary.rejected) == (249, 1)
    written = {c["id"]: c["properties"] for c in hs_sandbox.records("contacts")}
    assert written[contact_ids[0]]["pipewise_score"] == "1" and written[contact_ids[0]]["pipewise_band"] == "B"
    assert not written[rejected].get("pipewise_score")
    hs_sandbox.knobs(reset=True)
    with hs_runtime.sessions() as session:
        again = writeback.write(session, client, HubSpotProvider, installed.connection_id)
        assert (again.calls, again.written, again.rejected) == (1, 1, 0)
        assert session.scalar(select(func.count()).select_from(WritebackLedger).where(
            WritebackLedger.status == "rejected")) == 0
    assert {c["id"]: c["properties"] for c in hs_sandbox.records("contacts")}[rejected]["pipewise_score"] == "8"


def test_more_than_10000_records_at_one_instant_all_arrive(make_runtime, sqlite_url, tmp_path):
    with HubSpotSandboxServer(tmp_path / "bulk", port=0, seed="small") as server:
        server.knobs(search_per_second=0, ten_secondly_limit=0)
        ids = server.bulk_create("companies", 10_050, {"name": "Import {n}", "industry": "retail"},
                                 modified_at="2017-09-30T12:00:00.000Z")
        rt = make_runtime(sqlite_url, **hubspot_settings(server))
        installed = connect(rt, server)
        client = make_client(rt, installed, search_per_second=0)
        run = make_engine(rt, client).run(installed.connection_id, installed.organization_id,
                                          streams=(streams.Companies,))
        assert run.status == "completed"
        with rt.sessions() as session:
            stored = live_ids(session, Account, installed.connection_id)
        assert set(ids) <= stored and len(stored) == len(server.records("companies"))


def test_targeted_sync_rereads_just_the_records_a_webhook_named(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    client = make_client(hs_runtime, installed)
    engine = make_engine(hs_runtime, client)
    contact = hs_sandbox.records("contacts")[1]
    deal = hs_sandbox.records("deals")[1]
    hs_sandbox.update("contacts", contact["id"], {"lifecyclestage": "customer"})
    hs_sandbox.update("deals", deal["id"], {"dealstage": "closedwon"})
    run = engine.run_targeted(installed.connection_id, installed.organization_id,
                              {"contact": [contact["id"]], "deal": [deal["id"]]})
    assert run.status == "completed"
    with hs_runtime.sessions() as session:
        lead = session.scalar(select(Lead).where(Lead.remote_id == contact["id"]))
        assert lead.is_converted and lead.converted_at is not None
        assert contact["id"] in live_ids(session, Contact, installed.connection_id)
        won = session.scalar(select(Opportunity).where(Opportunity.remote_id == deal["id"]))
        assert won.is_won and won.stage == "closedwon"
        stages = session.scalars(select(OpportunityStageChange.stage).where(
            OpportunityStageChange.opportunity_remote_id == deal["id"])).all()
        assert "closedwon" in stages
