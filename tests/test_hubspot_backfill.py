"""HubSpot's first and full syncs read through the CRM objects list endpoint (the engine's backfill), over
real HTTP against the sandbox, on SQLite and PostgreSQL: a worker killed mid-backfill resumes where it
stopped without duplicates or gaps, and what changed while the backfill ran arrives with the next pull."""
from __future__ import annotations

import collections.abc
import importlib
import inspect
import typing

import pytest
from sqlalchemy import func, select

from connectors import registry
from connectors.base import ChangePage
from connectors.errors import BackfillNotOffered
from connectors.hubspot import streams
from connectors.hubspot.pacing import BurstPacer
from sync.store import BackfillSeen, Lead, Opportunity, OpportunityStageChange, SyncCursor
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, hubspot_settings, make_client, make_engine  # noqa: F401 - fixtures


class Killed(BaseException):
    """The worker dying between two pages (raised from the engine's heartbeat, after a page's commit)."""


def kill_after(pages: int):
    count = {"pages": 0}

    def heartbeat() -> None:
        count["pages"] += 1
        if count["pages"] == pages:
            raise Killed()
    return heartbeat


def live_lead_ids(rt, connection_id: int) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id,
                                                                Lead.deleted_at.is_(None))))


def cursor_of(rt, connection_id: int, stream: str) -> SyncCursor:
    with rt.sessions() as session:
        cursor = session.scalar(select(SyncCursor).where(SyncCursor.connection_id == connection_id,
                                                         SyncCursor.stream == stream))
        session.expunge(cursor)
        return cursor


@pytest.fixture
def hs_db_runtime(make_runtime, db_url, hs_sandbox):
    hs_sandbox.reset_knobs()
    yield make_runtime(db_url, **hubspot_settings(hs_sandbox))
    hs_sandbox.reset_knobs()


def test_a_killed_backfill_resumes_from_its_token_and_the_next_pull_catches_what_changed(hs_db_runtime, hs_sandbox):
    rt, sandbox = hs_db_runtime, hs_sandbox
    installed = connect(rt, sandbox)
    cid, org = installed.connection_id, installed.organization_id
    wanted = (streams.Contacts,)
    contacts = sorted(sandbox.records("contacts"), key=lambda c: int(c["id"]))
    assert len(contacts) > 300  # four list pages of 100
    engine = make_engine(rt, make_client(rt, installed))
    engine.heartbeat = kill_after(2)
    with pytest.raises(Killed):
        engine.run(cid, org, streams=wanted)
    cursor = cursor_of(rt, cid, "contact")
    assert cursor.backfill_token and cursor.backfill_started_at and cursor.position_modified_at is None
    stored_before = live_lead_ids(rt, cid)
    assert len(stored_before) == 200
    # While the worker is down, people keep working: a contact already stored changes, another is
    # archived, and one the backfill has not reached yet is archived.
    changed, gone_early = sorted(stored_before, key=int)[:2]
    gone_late = contacts[-1]["id"]
    sandbox.update("contacts", changed, {"jobtitle": "Chief Backfill Officer"})
    sandbox.archive("contacts", gone_early)
    sandbox.archive("contacts", gone_late)

    client = make_client(rt, installed)
    resumed = make_engine(rt, client).run(cid, org, streams=wanted)
    assert resumed.status == "completed"
    # Only the pages after the stored token were listed: one search (total and the portal's clock),
    # the properties listing, and two list pages; the 200 stored before the kill were not read again.
    assert resumed.streams["contact"]["seen"] == len(contacts) - 200 - 1
    assert resumed.api_calls == 4
    assert live_lead_ids(rt, cid) == {c["id"] for c in contacts} - {gone_late}
    cursor = cursor_of(rt, cid, "contact")
    assert cursor.backfill_token is None and cursor.backfill_started_at is None and cursor.position_modified_at
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BackfillSeen)) == 0

    # Both changes made while the backfill ran are after its start: the next incremental pull has them.
    after = make_engine(rt, make_client(rt, installed)).run(cid, org, streams=wanted)
    assert after.status == "completed"
    assert live_lead_ids(rt, cid) == {c["id"] for c in contacts} - {gone_late, gone_early}
    with rt.sessions() as session:
        title = session.scalar(select(Lead.title).where(Lead.connection_id == cid, Lead.remote_id == changed))
    assert title == "Chief Backfill Officer"


def test_a_record_changed_while_the_backfill_pages_arrives_with_the_next_pull(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    cid, org = installed.connection_id, installed.organization_id
    ids = sorted((c["id"] for c in hs_sandbox.records("contacts")), key=int)
    read_already, not_yet = ids[0], ids[-1]
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))

    def heartbeat() -> None:
        if not hasattr(heartbeat, "done"):  # after the first page: someone edits two contacts
            heartbeat.done = True
            hs_sandbox.update("contacts", read_already, {"jobtitle": "Changed behind the listing"})
            hs_sandbox.update("contacts", not_yet, {"jobtitle": "Changed ahead of the listing"})
    engine.heartbeat = heartbeat
    engine.run(cid, org, streams=(streams.Contacts,))

    def titles() -> dict[str, str | None]:
        with hs_runtime.sessions() as session:
            return dict(session.execute(select(Lead.remote_id, Lead.title).where(
                Lead.connection_id == cid, Lead.remote_id.in_([read_already, not_yet]))).all())
    assert titles()[not_yet] == "Changed ahead of the listing"
    assert titles()[read_already] != "Changed behind the listing"  # the page was read before the edit
    make_engine(hs_runtime, make_client(hs_runtime, installed)).run(cid, org, streams=(streams.Contacts,))
    assert titles() == {read_already: "Changed behind the listing", not_yet: "Changed ahead of the listing"}


def test_a_resume_point_hubspot_refuses_starts_the_backfill_over(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    cid, org = installed.connection_id, installed.organization_id
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    engine.heartbeat = kill_after(1)
    with pytest.raises(Killed):
        engine.run(cid, org, streams=(streams.Contacts,))
    with hs_runtime.sessions() as session:
        cursor = session.scalar(select(SyncCursor).where(SyncCursor.connection_id == cid))
        cursor.backfill_token = "not-a-paging-cursor"
        session.commit()
    run = make_engine(hs_runtime, make_client(hs_runtime, installed)).run(cid, org, streams=(streams.Contacts,))
    assert run.status == "completed"
    assert run.streams["contact"]["seen"] == len(hs_sandbox.records("contacts"))
    assert live_lead_ids(hs_runtime, cid) == {c["id"] for c in hs_sandbox.records("contacts")}


def test_a_full_resync_finds_records_archived_since_and_keeps_every_stage_change(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    cid, org = installed.connection_id, installed.organization_id
    wanted = (streams.Deals,)
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    first = engine.run(cid, org, streams=wanted)
    assert first.streams["deal"]["read"] == "backfill" and first.deleted == 0
    deal_id = hs_sandbox.records("deals")[0]["id"]
    hs_sandbox.archive("deals", deal_id)
    full = make_engine(hs_runtime, make_client(hs_runtime, installed)).run(cid, org, kind="full", streams=wanted)
    assert full.status == "completed" and full.streams["deal"]["read"] == "backfill"
    with hs_runtime.sessions() as session:
        live = set(session.scalars(select(Opportunity.remote_id).where(Opportunity.connection_id == cid,
                                                                       Opportunity.deleted_at.is_(None))))
        assert live == {d["id"] for d in hs_sandbox.records("deals")}
        # Stage changes are the deal's history, listed with it: only the archived deal's are deleted.
        gone = set(session.scalars(select(OpportunityStageChange.opportunity_remote_id).where(
            OpportunityStageChange.connection_id == cid, OpportunityStageChange.deleted_at.is_not(None))))
        assert gone == {deal_id}


def test_a_429_during_the_backfill_waits_the_advertised_window(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    waits: list[float] = []
    hs_sandbox.knobs(rate_limit_count=1, rate_limit_policy="TEN_SECONDLY_ROLLING")
    client = make_client(hs_runtime, installed, sleep=waits.append)
    run = make_engine(hs_runtime, client).run(installed.connection_id, installed.organization_id,
                                              streams=(streams.Contacts,))
    assert run.status == "completed" and run.streams["contact"]["read"] == "backfill"
    assert 10.0 in waits  # the window HubSpot advertises (X-HubSpot-RateLimit-Interval-Milliseconds)
    assert run.streams["contact"]["seen"] == len(hs_sandbox.records("contacts"))


def test_the_pacer_spends_the_burst_then_slows_as_the_window_runs_out():
    now, slept = [0.0], []
    pacer = BurstPacer(clock=lambda: now[0], sleep=slept.append)
    headers = {"X-HubSpot-RateLimit-Max": "110", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    pacer.note({**headers, "X-HubSpot-RateLimit-Remaining": "80"})
    pacer.wait()
    assert slept == []
    pacer.note({**headers, "X-HubSpot-RateLimit-Remaining": "11"})
    pacer.wait()
    pacer.note({**headers, "X-HubSpot-RateLimit-Remaining": "0"})
    pacer.wait()
    assert slept == [pytest.approx(10 / 110), pytest.approx(12 * 10 / 110)]
    now[0] += 10.0  # the whole window rolled by: the old answer says nothing any more
    pacer.wait()
    assert len(slept) == 2


def _client_class(key: str):
    module = importlib.import_module(f"{registry.PACKAGES[key]}.client")
    return typing.get_type_hints(module.build_client)["return"]


OFFERING = [key for key in registry.keys() if callable(getattr(_client_class(key), "read_backfill", None))]


def test_hubspot_offers_a_backfill():
    assert "hubspot" in OFFERING


@pytest.mark.parametrize("key", OFFERING)
def test_a_client_offering_a_backfill_honours_the_contract(key):
    """read_backfill(stream, resume) returns an iterator of ChangePage (a generator, or a function that
    sizes the read up first and raises BackfillNotOffered before any page: the engine takes both)."""
    method = _client_class(key).read_backfill
    assert list(inspect.signature(method).parameters) == ["self", "stream", "resume"]
    hints = typing.get_type_hints(method)
    assert typing.get_origin(hints["return"]) is collections.abc.Iterator
    assert typing.get_args(hints["return"]) == (ChangePage,)


def test_hubspot_offers_its_backfill_for_searchable_objects_only(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    client = make_client(hs_runtime, installed)
    with pytest.raises(BackfillNotOffered):
        next(client.read_backfill(streams.Owners, None))
    pages = list(client.read_backfill(streams.Contacts, None))
    assert all(isinstance(p, ChangePage) and not p.deleted for p in pages)
    assert [p.token is None for p in pages] == [False] * (len(pages) - 1) + [True]
    assert all(len(p.records) <= 100 for p in pages) and pages[0].as_of is not None
    ids = [r["id"] for p in pages for r in p.records]
    assert sorted(ids) == sorted(r["id"] for r in hs_sandbox.records("contacts")) and len(ids) == len(set(ids))
    # A page read from a page's token continues the listing exactly after it.
    rest = list(client.read_backfill(streams.Contacts, pages[0].token))
    assert [r["id"] for p in rest for r in p.records] == ids[len(pages[0].records):]


def test_a_record_whose_listed_associations_continue_gets_them_all(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    contact = hs_sandbox.records("contacts")[0]["id"]
    deals = [d["id"] for d in hs_sandbox.records("deals")[:101]]
    for deal in deals:
        hs_sandbox.associate("contacts", contact, "deals", deal)
    client = make_client(hs_runtime, installed)
    record = next(r for page in client.read_backfill(streams.Contacts, None) for r in page.records
                  if r["id"] == contact)
    assert set(deals) <= {link["id"] for link in record["associations"]["deals"]["results"]}
