"""Full scorings of one organization on several workers: its first models are trained once, on every CRM it connected."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from scoring import jobs
from scoring.jobs import FIRST_MODELS_WAIT, retrain_job, score_connection_job, scoring_lock
from sync.locks import KeptLock
from sync.store import Connection, ModelVersion, Opportunity, utcnow
from tests.test_scoring_store import Rows, org_with_connection, seed_deals


def _organization_of_two(rt) -> tuple[int, int, int]:
    """An organization with a synced Salesforce connection and a HubSpot one on its first sync, both with deals."""
    with rt.sessions() as session:
        org, salesforce = org_with_connection(session, "two-crms")
        hubspot = Connection(organization_id=org, provider="hubspot", remote_org_id="two-crms-hubspot",
                             instance_url="https://example.test", token_ciphertext=b"-", status="syncing")
        session.add(hubspot)
        session.flush()
        session.execute(update(Connection).where(Connection.id == salesforce).values(last_synced_at=utcnow()))
        rows = Rows(org, salesforce)
        seed_deals(rows, n_closed=30, n_open=5, seed=7)
        rows.write(session)
        rows = Rows(org, hubspot.id)
        seed_deals(rows, n_closed=0, n_open=2, seed=8, prefix="hs")
        rows.write(session)
        return org, salesforce, hubspot.id


def _versions(rt, org: int) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.organization_id == org))


def _waiting_jobs(rt) -> list:
    registry = rt.queues["scoring"].scheduled_job_registry
    return [rt.queues["scoring"].fetch_job(job_id) for job_id in registry.get_job_ids()]


def test_the_first_scoring_waits_for_the_other_first_sync_then_trains_once(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)
    org, salesforce, hubspot = _organization_of_two(rt)

    waiting = score_connection_job(salesforce)

    assert waiting["status"] == "waiting" and waiting["for"] == [hubspot]
    assert _versions(rt, org) == 0  # no model learnt from Salesforce's deals alone
    (again,) = _waiting_jobs(rt)
    assert again.func_name == "scoring.jobs.score_connection_job" and again.args[0] == salesforce

    with rt.sessions() as session:  # HubSpot's first sync completes
        session.execute(update(Connection).where(Connection.id == hubspot).values(
            last_synced_at=utcnow(), status="healthy"))
        session.commit()
    scored = score_connection_job(*again.args, **again.kwargs)

    assert scored["opportunity"] == 5 and _versions(rt, org) == 2  # one lead and one deal version
    assert score_connection_job(hubspot)["opportunity"] == 2  # with the models just trained
    assert _versions(rt, org) == 2


def test_a_full_scoring_waits_while_the_organization_has_another_running(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)
    org, salesforce, hubspot = _organization_of_two(rt)
    with rt.sessions() as session:
        session.execute(update(Connection).where(Connection.id == hubspot).values(last_synced_at=utcnow()))
        session.commit()
        open_deals = session.scalars(select(Opportunity.remote_id).where(Opportunity.is_closed.is_(False))).all()
    other = KeptLock(rt.redis, f"pipewise:full-scoring:{org}", 60)
    assert other.acquire()
    try:
        waiting = score_connection_job(salesforce)
        assert waiting["status"] == "waiting" and _versions(rt, org) == 0
        # A webhook's targeted scoring never waits for a full one.
        assert score_connection_job(salesforce, {"opportunity": open_deals[:2]})["opportunity"] == 2
    finally:
        other.release()

    (again,) = _waiting_jobs(rt)
    assert score_connection_job(*again.args, **again.kwargs)["opportunity"] == 5


def test_a_first_sync_that_never_ends_is_waited_for_a_bounded_time(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)
    org, salesforce, _ = _organization_of_two(rt)
    long_ago = (utcnow() - FIRST_MODELS_WAIT - timedelta(minutes=1)).isoformat()

    scored = score_connection_job(salesforce, None, True, long_ago)

    assert scored["opportunity"] == 5 and _versions(rt, org) == 2


def test_a_scoring_waits_for_the_connection_s_running_one_and_frees_the_organization(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)
    org, salesforce, hubspot = _organization_of_two(rt)
    with rt.sessions() as session:
        session.execute(update(Connection).where(Connection.id == hubspot).values(last_synced_at=utcnow()))
        session.commit()
        open_deals = session.scalars(select(Opportunity.remote_id).where(
            Opportunity.connection_id == salesforce, Opportunity.is_closed.is_(False))).all()
    running = scoring_lock(rt.redis, salesforce, 60)  # e.g. a webhook's rescoring of this connection
    assert running.acquire()
    try:
        assert score_connection_job(salesforce)["status"] == "busy"
        assert score_connection_job(salesforce, {"opportunity": open_deals[:2]})["status"] == "busy"
        assert _versions(rt, org) == 0
        # The organization's full-scoring lock was given back: the other connection's scoring runs.
        assert score_connection_job(hubspot)["opportunity"] == 2
    finally:
        running.release()

    again = sorted(_waiting_jobs(rt), key=lambda job: job.args[1] is not None)
    assert [(job.args[0], job.args[1]) for job in again] == [(salesforce, None),
                                                               (salesforce, {"opportunity": open_deals[:2]})]
    assert score_connection_job(*again[0].args, **again[0].kwargs)["opportunity"] == 5
    assert score_connection_job(*again[1].args, **again[1].kwargs)["opportunity"] == 2


def test_a_retraining_queues_the_rescoring_of_a_connection_whose_scoring_runs_on(make_runtime, sqlite_url,
                                                                                  monkeypatch):
    rt = make_runtime(sqlite_url)
    org, salesforce, hubspot = _organization_of_two(rt)
    monkeypatch.setattr(jobs, "RESCORING_WAIT_SECONDS", 0.5)
    running = scoring_lock(rt.redis, salesforce, 60)
    assert running.acquire()
    try:
        retrained = retrain_job(org, "opportunity")
    finally:
        running.release()

    assert retrained["active"] and retrained["rescored"] == 2 and retrained["rescoring_queued"] == [salesforce]
    (queued,) = [rt.queues["scoring"].fetch_job(i) for i in rt.queues["scoring"].job_ids]
    assert queued.func_name == "scoring.jobs.score_connection_job" and queued.args == (salesforce,)
