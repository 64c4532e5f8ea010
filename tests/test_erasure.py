"""Data-subject erasure: the person, what hangs off them, and every mention leave the store and the file."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from sync import rollups
from sync.jobs import sync_connection
from sync.store import (Activity, CampaignMember, Connection, Contact, Lead, Opportunity, Organization, Score,
                        ScoreHistory, WebhookEvent, WritebackLedger)
from sync.store.audit_log import AuditEntry, ensure_table
from sync.store.db import make_engine, make_sessionmaker
from sync.store.erasure import erase_person, find_person
from sync.store.rollups import ActivityDayCount, ActivityMonthCount
from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app, csrf, sign_in
from web.cli import upgrade_database


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _file_bytes(db_path: Path) -> bytes:
    """The database file and its WAL, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(db_path.parent.glob(db_path.name + "*")))


def test_erasure_through_the_console_leaves_no_trace_in_the_sqlite_file(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    sync_connection(connection_id, "full", then_score=False)
    with rt.sessions() as session:
        # A lead with activities and campaign memberships, so the erasure has something hanging off it.
        lead = session.scalar(select(Lead).join(Activity, (Activity.who_remote_id == Lead.remote_id)
                                                & (Activity.connection_id == Lead.connection_id))
                              .join(CampaignMember, CampaignMember.lead_remote_id == Lead.remote_id)
                              .where(Lead.connection_id == connection_id, Lead.email.is_not(None)).limit(1))
        email = lead.email
        activities = _count(session, Activity, Activity.who_remote_id == lead.remote_id)
        leads_before = _count(session, Lead)
        organization_id = lead.organization_id
        session.add_all([
            Score(organization_id=organization_id, connection_id=connection_id, object_type="lead",
                  remote_id=lead.remote_id, model_version="v1", probability=0.4, score=40, band="B",
                  reasons={"up": [{"text": f"Opened the mail sent to {email}"}]}),
            ScoreHistory(connection_id=connection_id, object_type="lead", remote_id=lead.remote_id,
                         probability=0.4, score=40, model_version="v1"),
            WritebackLedger(connection_id=connection_id, object_type="lead", remote_id=lead.remote_id,
                            field="Pipewise_Score__c", value="40", status="written"),
            WebhookEvent(connection_id=connection_id, event_id="evt-erase", kind="outbound_message",
                         object_type="lead", remote_ids=[lead.remote_id],
                         payload={"fields": {"Email": email.upper(), "Id": lead.remote_id}}),
        ])
        deal = session.scalar(select(Opportunity).where(Opportunity.connection_id == connection_id).limit(1))
        deal.remote_data = {**deal.remote_data, "Description": f"Champion: {email}; call first"}
        session.commit()
    db_path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert email.encode() in _file_bytes(db_path)

    client = app.test_client()
    sign_in(client, sf_sandbox)
    found = client.post("/admin/erasure/find", data={"csrf_token": csrf(client), "email": email.upper()})
    page = found.get_data(as_text=True)
    assert f"{lead.first_name} {lead.last_name}" in page and lead.remote_id in page
    assert f"{activities} activity rows" in page and "1 score rows" in page
    assert "removed from 1 other opportunity rows" in page and "webhook event" in page
    with rt.sessions() as session:
        assert _count(session, Lead, Lead.remote_id == lead.remote_id) == 1  # finding erases nothing

    done = client.post("/admin/erasure/erase", data={"csrf_token": csrf(client), "email": email, "confirm": "yes"})
    assert done.status_code == 200 and b"The person was erased." in done.data

    with rt.sessions() as session:
        assert _count(session, Lead, Lead.remote_id == lead.remote_id) == 0
        assert _count(session, Lead) == leads_before - 1
        for model in (Activity,):
            assert _count(session, model, model.who_remote_id == lead.remote_id) == 0
        assert _count(session, CampaignMember, CampaignMember.lead_remote_id == lead.remote_id) == 0
        for model in (Score, ScoreHistory, WritebackLedger):
            assert _count(session, model, model.remote_id == lead.remote_id) == 0
        assert "[erased]" in session.get(Opportunity, deal.id).remote_data["Description"]
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "erasure.erase"))
    assert entry.details["counts"]["lead"] == 1 and len(entry.details["subject"]) == 32
    # The file is rewritten by a worker, not inside the request; the admin follows it on a progress page.
    job_url = done.get_data(as_text=True).split('id="compaction"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert job_url.startswith("/admin/jobs/")
    assert 'data-status="queued"' in client.get(job_url).get_data(as_text=True)
    SimpleWorker([rt.queues["sync"]], connection=rt.redis).work(burst=True)
    finished = client.get(job_url).get_data(as_text=True)
    assert 'data-status="finished"' in finished and "Done" in finished
    data = _file_bytes(db_path)
    assert email.encode() not in data and email.upper().encode() not in data
    assert email.split("@")[0].encode() not in data


@pytest.fixture
def sessions(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    ensure_table(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _tenant(session, name: str) -> tuple[int, int]:
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    connection = Connection(organization_id=organization.id, provider="salesforce", remote_org_id=f"00D{name}",
                            instance_url="https://x.example", token_ciphertext=b"-")
    session.add(connection)
    session.flush()
    return organization.id, connection.id


def _person(session, organization_id: int, connection_id: int, email: str) -> None:
    common = dict(organization_id=organization_id, connection_id=connection_id, content_hash="h")
    session.add_all([
        Lead(remote_id="00Q1", remote_data={"Email": email}, email=email, email_key=email.lower(),
             first_name="Jo", last_name="Doe", **common),
        Contact(remote_id="0031", remote_data={"Email": email.upper()}, email=email.upper(),
                email_key=email.lower(), **common),
        Lead(remote_id="00Q2", remote_data={"Email": "other@example.com"}, email="other@example.com",
             email_key="other@example.com", **common),
        Activity(remote_id="00T1", remote_data={}, kind="email", who_remote_id="0031", owner_remote_id="005A",
                 occurred_at=datetime(2026, 3, 2, 10), **common),
        Activity(remote_id="00T2", remote_data={}, kind="call", who_remote_id="00Q2", owner_remote_id="005A",
                 occurred_at=datetime(2026, 3, 3, 10), **common),
        CampaignMember(remote_id="00v1", remote_data={}, lead_remote_id="00Q1", **common),
        Opportunity(remote_id="0061", remote_data={"Notes": [f"ask {email} first"]}, name="Deal", **common),
    ])


def test_erase_person_in_one_organization_only(sessions):
    email = "Jo.Doe_1@Example.com"
    with sessions() as session:
        mine, my_connection = _tenant(session, "mine")
        theirs, their_connection = _tenant(session, "theirs")
        _person(session, mine, my_connection, email)
        _person(session, theirs, their_connection, email)
        for connection_id in (my_connection, their_connection):
            rollups.rebuild_connection(session, connection_id)
        session.commit()
        findings = find_person(session, mine, email.lower())
        assert sorted((p.object_type, p.remote_id) for p in findings.people) == [("contact", "0031"), ("lead", "00Q1")]
        assert findings.related["activity"] == 1 and findings.related["campaign_member"] == 1
        assert findings.mentions == {"opportunity": 1}
        counts = erase_person(session, mine, email)
        session.commit()
    assert counts["lead"] == 1 and counts["contact"] == 1 and counts["activity"] == 1
    with sessions() as session:
        assert _count(session, Lead, Lead.connection_id == my_connection) == 1  # the other lead stays
        assert _count(session, Activity, Activity.connection_id == my_connection) == 1
        # The rep's activity counts (what benchmarks and coaching read) no longer count the erased email.
        for table in (ActivityMonthCount, ActivityDayCount):
            assert session.scalar(select(func.sum(table.activities)).where(table.connection_id == my_connection)) == 1
            assert session.scalar(select(func.sum(table.activities)).where(
                table.connection_id == their_connection)) == 2
        assert session.scalar(select(Opportunity.remote_data).where(
            Opportunity.connection_id == my_connection)) == {"Notes": ["ask [erased] first"]}
        # The other organization's copy of the same person is theirs to erase, not ours.
        assert _count(session, Lead, Lead.connection_id == their_connection) == 2
        assert _count(session, Contact, Contact.connection_id == their_connection) == 1
