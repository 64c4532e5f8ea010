"""Finding 11: expensive admin actions are deduplicated and run on a worker, with progress.

The attack: 269 retrains queued by repeated POSTs starved scoring; erasure ran VACUUM inside the
request.
"""
from __future__ import annotations

import pytest
from rq import SimpleWorker

from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app, csrf, sign_in


def _jobs(rt, queue: str) -> list[tuple[str, tuple]]:
    return [(job.func_name, job.args) for job in rt.queues[queue].jobs]


@pytest.fixture
def admin(tmp_path, sqlite_url, redis_url, sf_sandbox):
    """The app, its runtime, and an admin signed in to an organization with one connection."""
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    return app, rt, client


def test_one_retrain_per_model_at_a_time(admin):
    _app, rt, client = admin
    token = csrf(client)
    answers = [client.post("/admin/models/retrain", data={"csrf_token": token, "target": "lead"}) for _ in range(25)]
    client.post("/admin/models/retrain", data={"csrf_token": token, "target": "opportunity"})
    retrains = [args for name, args in _jobs(rt, "scoring") if name == "scoring.jobs.retrain_job"]
    assert sorted(target for _, target in retrains) == ["lead", "opportunity"]
    job_page = answers[-1].headers["Location"]
    assert job_page.startswith("/admin/jobs/retrain-")
    assert "already being retrained" in client.get(job_page).get_data(as_text=True)

    SimpleWorker([rt.queues["scoring"]], connection=rt.redis).work(burst=True)  # the retrains finish
    assert 'data-status="finished"' in client.get(job_page).get_data(as_text=True)
    client.post("/admin/models/retrain", data={"csrf_token": token, "target": "lead"})
    assert [args[1] for name, args in _jobs(rt, "scoring") if name == "scoring.jobs.retrain_job"] == ["lead"]


def test_another_organizations_job_page_does_not_exist(admin):
    app, _rt, client = admin
    job_page = client.post("/admin/models/retrain", data={"csrf_token": csrf(client), "target": "lead"}).headers["Location"]
    stranger = app.test_client()
    with stranger.session_transaction() as session:  # an admin of no organization (before their first install)
        session["user"] = {"provider": "hubspot", "user_id": "1", "remote_org_id": "9", "username": "x", "email": None,
                           "name": "X", "role": "admin", "organization_id": None, "signed_in_at": 9e99}
    assert stranger.get(job_page).status_code == 404
    assert client.get(job_page).status_code == 200


def test_erasure_answers_before_the_store_is_rewritten(admin):
    _app, rt, client = admin
    done = client.post("/admin/erasure/erase", data={"csrf_token": csrf(client), "email": "nobody@example.com",
                                                     "confirm": "yes"})
    assert done.status_code == 200 and b"follow the compaction" in done.data
    assert _jobs(rt, "sync") == [("sync.erasure_jobs.compact_job", ())]  # VACUUM waits for a worker
