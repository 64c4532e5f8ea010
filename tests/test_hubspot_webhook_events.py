"""Engagement events arrive as generic object.* events; merges, restores and association changes are
handled end to end: sandbox portal → signed webhook → Pipewise's endpoint → targeted sync → store.

Event fields: "Create generic webhook subscriptions" (objectTypeId, fromObjectTypeId, toObjectTypeId)
and HubSpot's changelog "New subscription types for Webhooks" (merge, restore, associationChange).
"""
from __future__ import annotations

import json

from rq import Queue
from sqlalchemy import select

from connectors.hubspot import streams, webhooks
from sync.store import Activity, Lead, Opportunity, WebhookEvent
from tests.hubspot_fixtures import LiveApp, connect, hs_runtime, hs_sandbox, make_client, make_engine  # noqa: F401
from web import create_app

ENGAGEMENT_EVENTS = [f"object.{change}@{kind}" for kind in ("call", "email", "meeting", "note", "task")
                     for change in ("creation", "propertyChange", "deletion")]
RECORD_EVENTS = ["contact.merge", "contact.restore", "contact.deletion", "deal.restore", "deal.deletion",
                 "deal.associationChange", "object.associationChange@meeting"]


def event(event_id, subscription, **fields):
    return {"eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 2016482,
            "occurredAt": 1_700_000_000_000, "subscriptionType": subscription, "attemptNumber": 0,
            "changeSource": "CRM_UI", **fields}


def test_generic_merge_restore_and_association_events_name_the_records_to_reread():
    body = json.dumps([
        event(1, "object.creation", objectId=4000001, objectTypeId="0-48"),
        event(2, "object.propertyChange", objectId=6000001, objectTypeId="0-47", propertyName="hs_meeting_outcome",
              propertyValue="COMPLETED"),
        event(3, "object.deletion", objectId=8000001, objectTypeId="0-27"),
        event(4, "contact.merge", objectId=1000001, primaryObjectId=1000001, mergedObjectIds=[1000002],
              newObjectId=1000001, numberOfPropertiesMoved=3),
        event(5, "deal.restore", objectId=3000005),
        event(6, "object.associationChange", fromObjectTypeId="0-49", fromObjectId=5000001, toObjectTypeId="0-3",
              toObjectId=3000002, associationRemoved=False, isPrimaryAssociation=False,
              associationCategory="HUBSPOT_DEFINED", associationTypeId=210),
        event(7, "object.creation", objectId=77, objectTypeId="2-1234"),  # a custom object Pipewise does not read
    ]).encode()
    events = webhooks.parse_events(body)
    assert [e.stream for e in events] == ["call", "meeting", "task", "contact", "deal", "email", None]
    assert webhooks.coalesce(events) == {"call": ["4000001"], "meeting": ["6000001"], "task": ["8000001"],
                                         "contact": ["1000001", "1000002"], "deal": ["3000002", "3000005"],
                                         "email": ["5000001"]}


def _wait_targets(rt, hs_sandbox) -> dict[str, list[str]]:
    assert hs_sandbox.wait_webhooks_idle(10)
    # Intake stores each event with its work (stream -> remote ids) and queues the events by id.
    targets: dict[str, set[str]] = {}
    queue = Queue("webhooks", connection=rt.redis)
    event_ids = [event_id for job in queue.jobs for event_id in job.args[1]]
    with rt.sessions() as session:
        for event in session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(event_ids))):
            for stream, ids in (event.targets or {}).items():
                targets.setdefault(stream, set()).update(ids)
    queue.empty()
    return {stream: sorted(ids) for stream, ids in targets.items()}


def test_engagements_merges_restores_and_primary_company_changes_reach_the_store(hs_runtime, hs_sandbox):
    rt = hs_runtime
    installed = connect(rt, hs_sandbox)
    engine = make_engine(rt, make_client(rt, installed))
    records = (streams.Companies, streams.Contacts, streams.Deals)
    engine.run(installed.connection_id, installed.organization_id, streams=records)
    rt.config.runtime = rt
    contacts = hs_sandbox.records("contacts")
    other_company = hs_sandbox.records("companies")[-1]["id"]
    with rt.sessions() as session:
        deal_id, before = session.execute(select(Opportunity.remote_id, Opportunity.account_remote_id).where(
            Opportunity.account_remote_id.is_not(None), Opportunity.account_remote_id != other_company,
            Opportunity.is_closed.is_(False)).order_by(Opportunity.remote_id)).first()
    assert int(before) < int(other_company)  # the new primary is not the first by id
    deal = {"id": deal_id}
    archived_deal = hs_sandbox.records("deals")[-1]["id"]
    hs_sandbox.archive("deals", archived_deal)
    engine.run(installed.connection_id, installed.organization_id, streams=records)

    with LiveApp(create_app(rt.config)) as live:
        hs_sandbox.configure_webhooks(f"{live.url}/webhooks/hubspot", ENGAGEMENT_EVENTS + RECORD_EVENTS)
        try:
            call_id = hs_sandbox.create("calls", {"hs_timestamp": "2017-09-29T10:00:00Z", "hs_call_title": "Intro",
                                                  "hs_call_status": "COMPLETED", "hs_call_duration": "540000"})
            hs_sandbox.associate("calls", call_id, "deals", deal["id"])
            hs_sandbox.merge("contacts", contacts[0]["id"], contacts[1]["id"])
            hs_sandbox.restore("deals", archived_deal)
            hs_sandbox.associate("deals", deal["id"], "companies", other_company, primary=True)
            targets = _wait_targets(rt, hs_sandbox)
        finally:
            hs_sandbox.configure_webhooks(None)
    assert call_id in targets["call"]
    assert {contacts[0]["id"], contacts[1]["id"]} <= set(targets["contact"])
    assert {archived_deal, deal["id"]} <= set(targets["deal"]) and other_company in targets["company"]

    run = engine.run_targeted(installed.connection_id, installed.organization_id, targets)
    assert run.status == "completed"
    with rt.sessions() as session:
        call = session.scalar(select(Activity).where(Activity.remote_id == call_id))
        assert call.kind == "call" and call.duration_minutes == 9 and call.what_remote_id == deal["id"]
        survivor = session.scalar(select(Lead).where(Lead.remote_id == contacts[0]["id"]))
        merged_away = session.scalar(select(Lead).where(Lead.remote_id == contacts[1]["id"]))
        assert survivor.deleted_at is None and merged_away.deleted_at is not None
        restored = session.scalar(select(Opportunity).where(Opportunity.remote_id == archived_deal))
        assert restored.deleted_at is None
        relabelled = session.scalar(select(Opportunity).where(Opportunity.remote_id == deal["id"]))
        assert relabelled.account_remote_id == other_company  # the Primary label, not the lowest id


# The event fields HubSpot documents ("Webhooks API" event payloads; merge and association fields from the
# changelog "New subscription types for Webhooks"; objectTypeId and the association type fields from "Create
# generic webhook subscriptions"), with their JSON types.
DOCUMENTED_FIELDS = {
    "eventId": int, "subscriptionId": int, "portalId": int, "appId": int, "occurredAt": int, "subscriptionType": str,
    "attemptNumber": int, "objectId": int, "changeSource": str, "changeFlag": str, "sourceId": str,
    "propertyName": str, "propertyValue": str, "objectTypeId": str,
    "primaryObjectId": int, "mergedObjectIds": list, "newObjectId": int, "numberOfPropertiesMoved": int,
    "associationType": str, "fromObjectId": int, "toObjectId": int, "associationRemoved": bool,
    "isPrimaryAssociation": bool, "fromObjectTypeId": str, "toObjectTypeId": str, "associationTypeId": int,
    "associationCategory": str,
}


def test_the_sandbox_sends_only_documented_event_fields(hs_sandbox):
    from tests.test_hubspot_sandbox import Endpoint

    receiver = Endpoint()
    hs_sandbox.configure_webhooks(receiver.url, ENGAGEMENT_EVENTS + RECORD_EVENTS + ["contact.propertyChange"])
    try:
        contacts = hs_sandbox.records("contacts")
        note = hs_sandbox.create("notes", {"hs_timestamp": "2017-09-29T10:00:00Z", "hs_note_body": "Hi"})
        hs_sandbox.associate("meetings", hs_sandbox.records("meetings")[0]["id"], "contacts", contacts[2]["id"])
        hs_sandbox.update("contacts", contacts[3]["id"], {"jobtitle": "Owner"})
        hs_sandbox.merge("contacts", contacts[4]["id"], contacts[5]["id"])
        assert hs_sandbox.wait_webhooks_idle(10)
    finally:
        hs_sandbox.configure_webhooks(None)
        receiver.stop()
    events = receiver.events()
    kinds = {e["subscriptionType"] for e in events}
    assert {"object.creation", "object.associationChange", "contact.propertyChange", "contact.merge"} <= kinds
    assert any(e.get("objectId") == int(note) and e.get("objectTypeId") == "0-46" for e in events)
    for e in events:
        assert set(e) <= set(DOCUMENTED_FIELDS), sorted(set(e) - set(DOCUMENTED_FIELDS))
        for name, kind in DOCUMENTED_FIELDS.items():
            assert name not in e or (isinstance(e[name], kind) and not (kind is int and isinstance(e[name], bool)))
