"""Dynamics change tracking through the sync engine: untracked tables on modifiedon, expired delta links, a crash
mid-delta, and what a run costs in API calls. Against the sandbox over HTTPS, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select, update

from connectors.dynamics import streams
from sync.store import Campaign, Contact, Lead, SyncCursor
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures
from tests.test_dynamics_sync import installed, live_counts, stored_token  # noqa: F401 - fixtures

TRACKED = [s.name for s in streams.ALL if s.name != "campaigns"]  # the sandbox ships campaigns untracked


@pytest.fixture
def campaigns_untracked(server):
    """Campaigns without change tracking, as the environment starts (a test may turn it on)."""
    yield
    server.sandbox.store.set_meta("tracking:campaign", "0")


def test_a_table_without_change_tracking_is_read_on_modifiedon_until_an_admin_turns_it_on(
        installed, control, campaigns_untracked):
    rt, engine, connection_id, organization_id = installed
    first = engine.run(connection_id, organization_id, kind="full")
    assert first.streams["campaigns"]["read"] == "cursor"
    assert "Change tracking is off for campaigns" in first.streams["campaigns"]["note"]
    assert {first.streams[name]["read"] for name in TRACKED} == {"listing"}
    assert stored_token(rt, connection_id, "campaigns") is None
    with rt.sessions() as session:
        campaign = session.scalars(select(Campaign.remote_id).where(Campaign.connection_id == connection_id)
                                   .order_by(Campaign.remote_id)).first()
    control.advance_clock(60)
    name = f"Spring webinar {uuid.uuid4().hex[:6]}"
    control.update("campaign", campaign, {"name": name})
    second = engine.run(connection_id, organization_id)
    assert second.changed == 1 and second.streams["campaigns"]["read"] == "cursor"
    with rt.sessions() as session:
        assert session.scalar(select(Campaign.name).where(Campaign.remote_id == campaign)) == name
    control.enable_change_tracking("campaign")
    third = engine.run(connection_id, organization_id)
    assert third.streams["campaigns"]["read"] == "listing" and "note" not in third.streams["campaigns"]
    assert third.changed == 0 and stored_token(rt, connection_id, "campaigns")
    control.delete("campaign", campaign)
    fourth = engine.run(connection_id, organization_id)
    assert fourth.streams["campaigns"]["read"] == "changes" and fourth.deleted == 1


def test_an_expired_delta_link_leads_to_one_full_listing_that_finds_the_deletes(installed, control):
    rt, engine, connection_id, organization_id = installed
    engine.run(connection_id, organization_id, kind="full")
    with rt.sessions() as session:
        edited, doomed = session.scalars(select(Contact.remote_id).where(Contact.connection_id == connection_id)
                                         .order_by(Contact.remote_id).limit(2)).all()
    title = f"Head of Data {uuid.uuid4().hex[:6]}"
    control.update("contact", edited, {"jobtitle": title})
    control.delete("contact", doomed)
    control.advance_clock(8 * 86400)  # past Organization.ExpireChangeTrackingInDays (7)
    run = engine.run(connection_id, organization_id)
    assert run.status == "completed"
    assert {run.streams[name]["read"] for name in TRACKED} == {"listing"}
    assert run.streams["contacts"]["deleted"] == 1 and run.deleted == 1 and run.changed == 1
    with rt.sessions() as session:
        rows = {r.remote_id: r for r in session.scalars(select(Contact).where(Contact.remote_id.in_([edited, doomed])))}
    assert rows[edited].title == title and rows[doomed].deleted_at is not None
    assert live_counts(rt, connection_id)["contact"] == control.info()["counts"]["contacts"]
    # The fresh delta links work: the next run reads changes again, and finds none.
    after = engine.run(connection_id, organization_id)
    assert after.streams["contacts"]["read"] == "changes" and (after.changed, after.deleted) == (0, 0)


def test_a_crash_mid_delta_resumes_from_the_old_link_without_duplicates_or_gaps(installed, control, monkeypatch):
    rt, engine, connection_id, organization_id = installed
    monkeypatch.setattr(streams.Leads, "page_size", 50)
    engine.run(connection_id, organization_id, kind="full")
    token = stored_token(rt, connection_id, "leads")
    with rt.sessions() as session:
        ids = session.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id)
                              .order_by(Lead.remote_id).limit(121)).all()
    edited, doomed = ids[:120], ids[120]
    stamp = uuid.uuid4().hex[:6]
    for number, lead in enumerate(edited):
        control.update("lead", lead, {"jobtitle": f"VP {stamp} {number}"})
    control.delete("lead", doomed)
    pages = []

    def outage_after_the_first_leads_page():
        pages.append(1)
        if len(pages) == 1:
            control.knobs(fail_next=5, fail_status=503)  # every retry of the next page fails

    engine.heartbeat = outage_after_the_first_leads_page
    with pytest.raises(Exception, match="503"):
        engine.run(connection_id, organization_id, streams=(streams.Leads,))
    with rt.sessions() as session:
        titled = session.scalar(select(func.count()).select_from(Lead).where(Lead.title.like(f"VP {stamp} %")))
    assert titled == 50  # the first page was stored; the link was not moved past what is stored
    assert stored_token(rt, connection_id, "leads") == token
    engine.heartbeat = lambda: None
    resumed = engine.run(connection_id, organization_id, streams=(streams.Leads,))
    assert resumed.status == "completed" and resumed.deleted == 1
    with rt.sessions() as session:
        titles = dict(session.execute(select(Lead.remote_id, Lead.title)
                                      .where(Lead.connection_id == connection_id)).all())
        total = session.scalar(select(func.count()).select_from(Lead).where(Lead.connection_id == connection_id))
        gone = session.scalar(select(Lead.deleted_at).where(Lead.remote_id == doomed))
    assert [titles[lead] for lead in edited] == [f"VP {stamp} {n}" for n in range(120)]
    assert total == len(titles) == control.info()["counts"]["leads"] + 1 and gone is not None
    assert stored_token(rt, connection_id, "leads") not in (None, token)


def test_a_quiet_delta_run_costs_one_call_per_tracked_table(installed, campaigns_untracked):
    rt, engine, connection_id, organization_id = installed
    engine.run(connection_id, organization_id, kind="full")
    before = engine.client.usage.calls
    run = engine.run(connection_id, organization_id)
    # One delta link per tracked table; campaigns: the refusal, then its modifiedon read.
    assert run.changed == 0 and engine.client.usage.calls - before == len(TRACKED) + 2
    with rt.sessions() as session:
        tokens = dict(session.execute(select(SyncCursor.stream, SyncCursor.change_token)
                                      .where(SyncCursor.connection_id == connection_id)).all())
    assert all(tokens[name] for name in TRACKED) and tokens["campaigns"] is None


def test_a_stored_link_for_other_columns_or_another_host_is_not_followed_but_the_table_is_listed_again(installed):
    rt, engine, connection_id, organization_id = installed
    engine.run(connection_id, organization_id, kind="full")
    link = json.loads(stored_token(rt, connection_id, "leads"))["link"]
    foreign = link.replace("https://127.0.0.1", "https://attacker.example")
    columns = ",".join(streams.Leads.fields)
    for token in (json.dumps({"select": "leadid", "link": link}), json.dumps({"select": columns, "link": foreign}),
                  "not a token"):
        with rt.sessions() as session:
            session.execute(update(SyncCursor).where(SyncCursor.connection_id == connection_id,
                                                     SyncCursor.stream == "leads").values(change_token=token))
            session.commit()
        run = engine.run(connection_id, organization_id, streams=(streams.Leads,))
        assert run.streams["leads"]["read"] == "listing" and (run.changed, run.deleted) == (0, 0)
        assert json.loads(stored_token(rt, connection_id, "leads"))["link"].startswith(link.split("?")[0])
