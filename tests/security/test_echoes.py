"""Finding 2: a real change is never dropped as an echo of Pipewise's own write.

The attack (or just a rep's edit): an Opportunity's Amount and Stage change in the CRM while its
Pipewise fields still equal the ledger. Before the fix the outbound message was acknowledged as an
echo (``echoes=1``) and the change waited for the scheduled sync.
"""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from sync.jobs import sync_connection
from sync.store import Opportunity, WebhookEvent, WritebackLedger
from sync.writeback_jobs import provision_job
from tests.conftest import connect_salesforce, make_config, outbound_endpoint
from web import create_app

SCORE = "Pipewise_Score__c"


@pytest.fixture
def served(tmp_path, sqlite_url, redis_url, sf_sandbox, sf_control, make_runtime):
    """Pipewise over real HTTP, a synced Salesforce connection whose deals carry a Pipewise score."""
    rt = make_runtime(sqlite_url, sf_sandbox)
    config = make_config(tmp_path, sqlite_url, redis_url, sf_sandbox)
    config.runtime = rt
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)
    sync_connection(connection_id, "full", then_score=False)
    url = outbound_endpoint(rt, connection_id, f"http://127.0.0.1:{server.server_port}")
    yield rt, connection_id, url
    sf_control.configure_outbound(None)
    server.shutdown()


def _scored_deal(rt, sf_control, connection_id: int) -> str:
    """An open deal whose Pipewise score in the CRM equals what the ledger says Pipewise wrote."""
    with rt.sessions() as db:
        deal = db.scalars(select(Opportunity.remote_id).where(Opportunity.connection_id == connection_id,
                                                              Opportunity.is_closed.is_(False))
                          .order_by(Opportunity.remote_id)).first()
        db.add(WritebackLedger(connection_id=connection_id, object_type="opportunity", remote_id=deal, field=SCORE,
                               value="55", status="written", attempts=1))
        db.commit()
    sf_control.update("Opportunity", deal, {SCORE: 55})
    return deal


def _events(rt, connection_id: int) -> list[WebhookEvent]:
    with rt.sessions() as db:
        return list(db.scalars(select(WebhookEvent).where(WebhookEvent.connection_id == connection_id)
                               .order_by(WebhookEvent.id)))


def test_amount_and_stage_changed_in_the_crm_are_synced_even_when_pipewise_fields_match(served, sf_control):
    rt, connection_id, url = served
    deal = _scored_deal(rt, sf_control, connection_id)
    sf_control.configure_outbound(url, ["Opportunity"])
    sf_control.update("Opportunity", deal, {"Amount": 987654, "StageName": "Negotiation/Review"})
    sf_control.wait_outbound_idle()

    events = _events(rt, connection_id)
    assert [e.remote_ids for e in events] == [[deal]]
    assert events[0].payload["fields"][SCORE] in ("55", "55.0")  # the Pipewise field did match the ledger
    assert events[0].processed_at is None and events[0].targets == {"opportunity": [deal]}
    jobs = rt.queues["webhooks"].jobs
    assert [(j.func_name, j.args) for j in jobs] == [("scoring.event_job.process_events",
                                                      (connection_id, [events[0].id]))]


def test_only_a_notification_that_proves_nothing_else_changed_is_an_echo(served, sf_control):
    """Built from the stored record, as a definition that sends every field would; then one field differs."""
    rt, connection_id, url = served
    deal = _scored_deal(rt, sf_control, connection_id)
    with rt.sessions() as db:
        stored = dict(db.scalar(select(Opportunity).where(Opportunity.connection_id == connection_id,
                                                          Opportunity.remote_id == deal)).remote_data)

    echo = {**stored, SCORE: 55, "SystemModstamp": "2030-01-01T00:00:00.000Z",
            "LastModifiedDate": "2030-01-01T00:00:00.000Z"}
    assert requests.post(url, data=_message(connection_id, rt, "04l000000000001AAA", deal, echo), timeout=10,
                         headers={"Content-Type": "text/xml"}).status_code == 200
    changed = {**echo, "Amount": 1.0}
    assert requests.post(url, data=_message(connection_id, rt, "04l000000000002AAA", deal, changed), timeout=10,
                         headers={"Content-Type": "text/xml"}).status_code == 200
    partial = {"Id": deal, SCORE: 55}  # a definition that chose only our field proves nothing
    assert requests.post(url, data=_message(connection_id, rt, "04l000000000003AAA", deal, partial), timeout=10,
                         headers={"Content-Type": "text/xml"}).status_code == 200

    echo_event, changed_event, partial_event = _events(rt, connection_id)
    assert echo_event.processed_at is not None and echo_event.targets == {}  # recognized: no work queued
    queued = {j.args[1][0] for j in rt.queues["webhooks"].jobs}
    assert queued == {changed_event.id, partial_event.id}


def _message(connection_id: int, rt, notification_id: str, record_id: str, fields: dict) -> bytes:
    """An outbound message as Salesforce sends it: SOAP 1.1, enterprise types as text, nulls as xsi:nil."""
    from xml.sax.saxutils import escape

    from sync.store import Connection

    def element(name, value):
        if value is None:
            return f'<sf:{name} xsi:nil="true"/>'
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = repr(float(value))
        return f"<sf:{name}>{escape(str(value))}</sf:{name}>"

    with rt.sessions() as db:
        org = db.get(Connection, connection_id).remote_org_id
    body = "".join(element(k, v) for k, v in fields.items() if k != "attributes")
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>'
            f'<ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>'
            f'<EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/59.0</EnterpriseUrl>'
            f'<PartnerUrl>https://x.my.salesforce.com/services/Soap/u/59.0</PartnerUrl>'
            f'<Notification><Id>{notification_id}</Id><sObject xsi:type="sf:Opportunity" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{body}</sObject></Notification>'
            f'</notifications></soapenv:Body></soapenv:Envelope>').encode()
