"""Four worker processes on one Redis and one PostgreSQL under a mixed load leave one truth.

The pool (``python -m sync.worker_pool`` with PIPEWISE_WORKER_COUNT=4) runs real ``sync.worker``
processes; the load goes through the public doors only: the CLI's sync enqueue, the scheduler's
``enqueue_due_syncs``, and changes made in the sandbox CRM, whose outbound messages reach the web
app's intake over HTTP. After the queues drain, the store and the sandbox's own record of what was
written are checked: no duplicate rows, no lost update, no stale score on a record, no two syncs of
the connection at once.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from connectors import registry
from sync.jobs import enqueue_due_syncs
from sync.store import SYNCED_MODELS, Lead, Opportunity, Score, SyncRun, WebhookEvent, WritebackLedger
from sync.writeback import TRAVELLING, field_values
from sync.writeback_jobs import provision_job
from tests.conftest import ROOT, _pg_database, config_env, connect_salesforce, outbound_endpoint, wait_for
from web import create_app

WORKERS = 4


class WritesReceived:
    """The sObject Collections updates the sandbox answered, in the order it answered them."""

    def __init__(self, app):
        self._app, self._lock, self.writes = app.wsgi_app, threading.Lock(), []
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "PATCH" or not environ.get("PATH_INFO", "").endswith("/composite/sobjects"):
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        answer = self._app(environ, start_response)
        with self._lock:  # once the sandbox has applied it
            self.writes.extend(json.loads(body)["records"])
        return answer


def _pool(config, log_path) -> subprocess.Popen:
    env = {**config_env(config), "PIPEWISE_WORKER_COUNT": str(WORKERS)}
    return subprocess.Popen([sys.executable, "-m", "sync.worker_pool"], cwd=ROOT, env=env,
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def _worker_pids(log_path) -> list[int]:
    for line in log_path.read_text(errors="replace").splitlines():
        if "worker_pool.started" in line:
            return [int(p) for p in line.rsplit("pids=", 1)[1].split(",")]
    return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _as_text(value) -> str:
    """A CRM field's value as the writeback's text form (a number field answers 35.0 for "35")."""
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) else str(value)


def _drained(rt, sf_control) -> bool:
    """Nothing queued, running or scheduled (but the scheduler's own tick), no event waiting."""
    for queue in rt.queues.values():
        if len(queue) or queue.started_job_registry.count:
            return False
        scheduled = queue.scheduled_job_registry
        if any(job is not None and job.func_name != "sync.jobs.tick"
               for job in (queue.fetch_job(i) for i in scheduled.get_job_ids())):
            return False
    if sf_control.outbound()["pending"]:
        return False
    with rt.sessions() as session:
        return not session.scalar(select(func.count()).select_from(WebhookEvent)
                                  .where(WebhookEvent.processed_at.is_(None)))


def _wait_drained(rt, sf_control, timeout: float) -> None:
    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 6:
        assert time.monotonic() < deadline, f"the queues did not drain within {timeout} s"
        quiet = quiet + 1 if _drained(rt, sf_control) else 0
        time.sleep(0.5)


@pytest.fixture
def many_workers(tmp_path, pg_server, redis_url, sf_sandbox, sf_control, make_runtime):
    # Every connection is due for the scheduler's sync whenever the test asks it (the workers keep 900 s).
    rt = make_runtime(_pg_database(pg_server), sf_sandbox, WORKER_COUNT=WORKERS, SYNC_INTERVAL_SECONDS=0)
    rt.config.runtime = rt
    app = create_app(rt.config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)
    endpoint = outbound_endpoint(rt, connection_id, f"http://127.0.0.1:{server.server_port}")
    writes = WritesReceived(sf_sandbox.app)
    log_path = tmp_path / "pool.log"
    pool = _pool(rt.config, log_path)
    try:
        pids = wait_for(lambda: _worker_pids(log_path), 30, 0.2, "the pool to start its workers")
        yield rt, app, connection_id, endpoint, writes, pool, pids, log_path
    finally:
        sf_control.configure_outbound(None)
        sf_sandbox.app.wsgi_app = writes._app
        if pool.poll() is None:
            pool.send_signal(signal.SIGTERM)
            try:
                pool.wait(60)
            except subprocess.TimeoutExpired:
                pool.kill()
        for pid in _worker_pids(log_path):
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        server.shutdown()


def test_four_workers_keep_one_truth_under_a_mixed_load(many_workers, sf_control):
    rt, app, connection_id, endpoint, writes, pool, pids, log_path = many_workers
    assert len(pids) == WORKERS and all(_alive(p) for p in pids)
    cli = app.test_cli_runner()

    def sync_from_the_cli(*full: str) -> None:
        result = cli.invoke(args=["sync", "run", str(connection_id), *full, "--queue"])
        assert result.exit_code == 0, result.output

    # The install: the first full sync, scoring and writeback, with the scheduler's sync asked for
    # meanwhile (it waits for the full one: queued again, not dropped).
    sync_from_the_cli("--full")
    assert enqueue_due_syncs(rt) == [connection_id]
    _wait_drained(rt, sf_control, 150)

    deals = sorted(r["Id"] for r in sf_control.records("Opportunity") if not r["IsClosed"])[:6]
    leads = sorted(r["Id"] for r in sf_control.records("Lead") if not r["IsConverted"])[:4]
    assert len(deals) == 6 and len(leads) == 4
    # The load: the CRM now sends its changes (ours echo back too); bursts of changes to the same
    # records while syncs from the CLI and the scheduler run beside the webhooks' syncs.
    sf_control.configure_outbound(endpoint)
    for round_ in range(2):
        for n, deal in enumerate(deals):
            sf_control.update("Opportunity", deal, {"Amount": 10_000 + 1_000 * n + round_})
        for n, lead in enumerate(leads):
            sf_control.update("Lead", lead, {"Title": f"Buyer {n}, round {round_}"})
        if round_ == 0:
            for deal in deals[:2]:
                sf_control.create("Event", {"Subject": "Pricing review", "WhatId": deal, "DurationInMinutes": 30,
                                            "ActivityDateTime": sf_control.info()["clock"],
                                            "EventSubtype": "Event"})
            sync_from_the_cli()
        if round_ == 1:
            assert enqueue_due_syncs(rt) == [connection_id]
        time.sleep(0.5)
    _wait_drained(rt, sf_control, 150)

    problems = {name: q.failed_job_registry.get_job_ids() for name, q in rt.queues.items()
                if q.failed_job_registry.count}
    assert not problems, f"failed jobs: {problems}\n{log_path.read_text(errors='replace')[-4000:]}"
    with rt.sessions() as session:
        # No duplicate rows.
        for object_type, model in SYNCED_MODELS.items():
            twice = session.execute(select(model.remote_id).where(model.connection_id == connection_id)
                                    .group_by(model.connection_id, model.remote_id)
                                    .having(func.count() > 1)).all()
            assert not twice, f"{object_type} stored twice: {twice[:5]}"
        assert not session.execute(select(Score.remote_id).group_by(
            Score.connection_id, Score.object_type, Score.remote_id).having(func.count() > 1)).all()
        assert not session.execute(select(WritebackLedger.remote_id).group_by(
            WritebackLedger.connection_id, WritebackLedger.object_type, WritebackLedger.remote_id,
            WritebackLedger.field).having(func.count() > 1)).all()
        events = session.execute(select(WebhookEvent.error, func.count()).group_by(WebhookEvent.error)).all()
        # No lost update: the store holds every record's last change, not an earlier one read later.
        amounts = dict(session.execute(select(Opportunity.remote_id, Opportunity.amount).where(
            Opportunity.connection_id == connection_id)).all())
        titles = dict(session.execute(select(Lead.remote_id, Lead.title).where(
            Lead.connection_id == connection_id)).all())
        scores = {s.remote_id: s for s in session.scalars(select(Score).where(Score.connection_id == connection_id))}
        runs = session.execute(select(SyncRun.kind, SyncRun.status, SyncRun.started_at, SyncRun.finished_at)
                               .where(SyncRun.connection_id == connection_id).order_by(SyncRun.started_at)).all()
    assert dict(events) == {None: sum(n for _, n in events)} and events, f"webhook events: {events}"
    for n, deal in enumerate(deals):
        assert amounts[deal] == 10_000 + 1_000 * n + 1
    for n, lead in enumerate(leads):
        assert titles[lead] == f"Buyer {n}, round 1"
    crm = {"Opportunity": {r["Id"]: r for r in sf_control.records("Opportunity")},
           "Lead": {r["Id"]: r for r in sf_control.records("Lead")}}
    assert {o: crm["Opportunity"][o]["Amount"] for o in deals} == {o: amounts[o] for o in deals}

    # No stale score on a record: each record shows the store's latest score, reasons and next step
    # (a new scored-at time alone is not written: it travels with a real change), and the values the
    # CRM received for a record never went back to a score it had already moved past.
    on_record = {**crm["Opportunity"], **crm["Lead"]}
    fields = {f.key: f for f in registry.get("salesforce").provider.writable_fields}
    for remote_id, score in scores.items():
        shown = {key: value for key, value in field_values(score).items() if key not in TRAVELLING}
        assert {key: _as_text(on_record[remote_id][fields[key].remote_name]) for key in shown} == shown, remote_id
    sent: dict[str, list[str]] = {}
    for write in writes.writes:
        seen = sent.setdefault(write["Id"], [])
        if not seen or seen[-1] != write["Pipewise_Scored_At__c"]:
            assert write["Pipewise_Scored_At__c"] not in seen, f"{write['Id']} went back to an older score"
            seen.append(write["Pipewise_Scored_At__c"])
    assert any(len(sent.get(deal, [])) > 1 for deal in deals[:2]), "the logged meetings were not rescored"

    # No two syncs of the connection at once, and none cut short.
    # The scheduler's sync that found the full one running was queued again and ran (with the CLI's
    # and the scheduler's later ones).
    assert [r.kind for r in runs].count("incremental") >= 3 and {r.kind for r in runs} >= {"full", "targeted"}
    assert all(r.status == "completed" and r.finished_at is not None for r in runs), runs
    for before, after in zip(runs, runs[1:]):
        assert before.finished_at <= after.started_at, f"overlapping sync runs: {before} and {after}"

    # The pool stops its workers on SIGTERM (each finishes its job first) and exits cleanly.
    pool.send_signal(signal.SIGTERM)
    assert pool.wait(60) == 0
    assert not [p for p in pids if _alive(p)]


def test_a_held_sync_lock_outlives_its_ttl_and_a_lost_one_stops_the_run(redis_url):
    from redis import Redis

    from sync.jobs import sync_lock
    from sync.locks import LockLost

    redis = Redis.from_url(redis_url)
    holder = sync_lock(redis, 7, ttl=1)
    assert holder.acquire()
    try:
        # A run three times longer than the TTL: no second sync of the connection gets in meanwhile.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert not sync_lock(redis, 7, ttl=1).acquire()
            holder.check()
            time.sleep(0.2)
        # Redis forgot the key (a restart): the run learns it before its next page.
        redis.delete("pipewise:sync-lock:7")
        with pytest.raises(LockLost, match="never write at once"):
            wait_for(lambda: holder.check(), 3, 0.1, "the lost lock to be noticed")
    finally:
        holder.release()
    waiting = sync_lock(redis, 7, ttl=1)
    assert waiting.acquire(wait_seconds=1)
    waiting.release()


def test_the_pool_stops_every_worker_when_one_dies(tmp_path, sqlite_url, redis_url):
    from tests.conftest import make_config

    log_path = tmp_path / "pool.log"
    env = {**config_env(make_config(tmp_path, sqlite_url, redis_url)), "PIPEWISE_WORKER_COUNT": "2"}
    pool = subprocess.Popen([sys.executable, "-m", "sync.worker_pool", "writeback"], cwd=ROOT, env=env,
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        first, second = wait_for(lambda: _worker_pids(log_path), 30, 0.2, "the pool to start its workers")
        os.killpg(first, signal.SIGKILL)  # a worker crashes: the pool does not carry on half-staffed
        assert pool.wait(60) != 0
        assert not _alive(second), "the pool left a worker running"
    finally:
        if pool.poll() is None:
            pool.kill()
        for pid in _worker_pids(log_path):
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
