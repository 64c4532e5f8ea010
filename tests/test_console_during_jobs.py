"""The console keeps answering on the embedded SQLite store while a real worker trains and scores."""
from __future__ import annotations

import sqlite3
import time

from rq.job import Job
from sqlalchemy import select

from sync.jobs import sync_connection
from sync.store import Connection
from tests.conftest import wait_for
from tests.test_admin_console import install_and_sign_in
from tests.test_admin_signin import build_app, csrf
from web.api_keys import ApiKey


def _signed_in(tmp_path, sqlite_url, redis_url, sf_sandbox, **overrides):
    return install_and_sign_in(build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, **overrides), sf_sandbox)


def _create_key(client, token: str, name: str):
    return client.post("/admin/api-keys", data={"name": name, "csrf_token": token})


def _as_a_person_would(send):
    """Send once; after a "busy" page, once more, as the page asks. A job that holds the write lock
    for its whole length (seconds of training) fails both; a short write transaction slowed by a
    loaded machine (a commit's fsync behind other disk work) fails the first at most."""
    answer = send()
    if answer.status_code == 503:
        time.sleep(0.2)
        answer = send()
    return answer


def test_console_writes_get_through_while_a_worker_retrains_and_rescores(tmp_path, sqlite_url, redis_url,
                                                                         sf_sandbox, start_worker):
    # The console waits half a second for the write lock (30 s by default): a job holding it through
    # training (over a second on this small seed, minutes on a full one) fails the writes below; a
    # job that keeps its write transactions short lets each through.
    rt, connection_id, client = _signed_in(tmp_path, sqlite_url, redis_url, sf_sandbox, SQLITE_BUSY_SECONDS=0.5)
    with rt.sessions() as session:
        organization_id = session.get(Connection, connection_id).organization_id
    token = csrf(client)
    jobs = [rt.queues["scoring"].enqueue("scoring.jobs.retrain_job", organization_id, target, job_timeout=600)
            for target in ("lead", "opportunity", "lead", "lead")]
    start_worker(rt.config, queues=("scoring",))
    wait_for(lambda: jobs[0].get_status(refresh=True) == "started", message="the retrain to start")
    during = []
    while any(job.get_status(refresh=True) in ("queued", "started") for job in jobs):
        name = f"during job {len(during)}"
        answer = _as_a_person_would(lambda: _create_key(client, token, name))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        found = _as_a_person_would(lambda: client.post(
            "/admin/erasure/find", data={"email": "nobody@example.com", "csrf_token": token}))
        assert found.status_code == 200, found.get_data(as_text=True)
        during.append(any(job.get_status(refresh=True) == "started" for job in jobs))
    assert sum(during) >= 3, "the jobs ended before the console was tried while they ran"
    for job in jobs:
        assert Job.fetch(job.id, connection=rt.redis).get_status() == "finished", job.exc_info
    with rt.sessions() as session:
        names = set(session.scalars(select(ApiKey.name)))
    assert {f"during job {i}" for i in range(len(during))} <= names


def test_a_write_that_cannot_get_through_says_so_and_loses_nothing(tmp_path, sqlite_url, redis_url, sf_sandbox):
    rt, _connection_id, client = _signed_in(tmp_path, sqlite_url, redis_url, sf_sandbox, SQLITE_BUSY_SECONDS=0.5)
    token = csrf(client)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        answer = _create_key(client, token, "blocked")
        page = answer.get_data(as_text=True)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
        assert "<h1>Busy for a moment</h1>" in page and "Internal Server Error" not in page
        assert "Nothing was lost" in page and "try again" in page
        api = client.get("/admin/api-keys")
        assert api.status_code == 200  # reading never waits for the lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with rt.sessions() as session:
        assert session.scalar(select(ApiKey.name).where(ApiKey.name == "blocked")) is None
    assert _create_key(client, token, "blocked").status_code == 200  # the same request, tried again
    with rt.sessions() as session:
        assert session.scalar(select(ApiKey.name).where(ApiKey.name == "blocked")) == "blocked"


def test_a_reconnect_shows_its_own_run_not_the_previous_one(tmp_path, sqlite_url, redis_url, sf_sandbox):
    from sync import timeline

    rt, connection_id, client = _signed_in(tmp_path, sqlite_url, redis_url, sf_sandbox)
    timeline.begin(rt.redis, connection_id)  # what an install or a reconnect starts
    answer = client.get(f"/connections/{connection_id}/progress.json").get_json()
    steps = {s["name"]: s for s in answer["timeline"]["steps"]}
    assert answer["run"] is None and steps["sync"]["state"] == "waiting"
    assert answer["timeline"]["heading"] == "Connecting Salesforce: checking access before the first sync"
    page = client.get(f"/connections/{connection_id}/progress").get_data(as_text=True)
    assert "Sync complete" not in page and "Syncing" not in page
    assert sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    answer = client.get(f"/connections/{connection_id}/progress.json").get_json()
    steps = {s["name"]: s for s in answer["timeline"]["steps"]}
    assert answer["run"]["id"] == steps["sync"]["run_id"] and answer["run"]["seen"] > 0
    assert steps["sync"]["state"] == "done" and steps["sync"]["percent"] == 100
    for stream in steps["sync"]["streams"]:
        assert stream["total"] is None or stream["seen"] <= stream["total"], stream
    assert answer["timeline"]["current"] == "training" and answer["timeline"]["heading"] == "Training Salesforce's models"
