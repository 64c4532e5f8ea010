"""Operator endpoints: /healthz, /readyz (503 naming what failed), and /metrics parsed back after a sync."""
from __future__ import annotations

import re
import socket

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from sync import jobs
from sync.store import SYNCED_MODELS, Connection, SyncRun, WritebackLedger
from sync.writeback_jobs import provision_job, writeback_job
from tests.conftest import connect_salesforce, make_config
from tests.test_writeback import give_scores
from web import create_app
from web.cli import upgrade_database
from web.ops import Family, render

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_metrics(body: str) -> dict:
    """A tiny parser of the text exposition format: {name: {"help", "type", "samples": [(labels, value)]}}."""
    families: dict[str, dict] = {}
    for line in body.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kind, name, rest = line.split(" ", 3)
            families.setdefault(name, {"samples": []})[kind.lower()] = rest
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = families.get(name)
        assert family is not None and "type" in family and "help" in family, f"{name} has no HELP/TYPE before it"
        family["samples"].append((_labels(labels or ""), float(value)))
    return families


def _labels(text: str) -> dict[str, str]:
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        key = text[i:eq]
        assert text[eq + 1] == '"'
        j, value = eq + 2, []
        while text[j] != '"':
            if text[j] == "\\":
                value.append({"n": "\n", "\\": "\\", '"': '"'}[text[j + 1]])
                j += 2
            else:
                value.append(text[j])
                j += 1
        labels[key] = "".join(value)
        i = j + 2 if j + 1 < len(text) and text[j + 1] == "," else j + 1
    return labels


def value_of(families: dict, name: str, **labels) -> float:
    """The one sample of a family whose labels include these."""
    found = [v for lab, v in families[name]["samples"] if all(lab.get(k) == str(x) for k, x in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build(tmp_path, db_url, redis_url, sandbox=None, **overrides):
    config = make_config(tmp_path, db_url, redis_url, sandbox, **overrides)
    upgrade_database(config.DATABASE_URL)
    return create_app(config)


def test_healthz_and_readyz_answer_when_everything_is_up(tmp_path, sqlite_url, redis_url):
    client = build(tmp_path, sqlite_url, redis_url).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    assert ready.json["checks"] == {"database": {"ok": True}, "redis": {"ok": True}}


def test_readyz_is_503_and_says_redis_failed_when_redis_is_unreachable(tmp_path, sqlite_url):
    client = build(tmp_path, sqlite_url, f"redis://127.0.0.1:{closed_port()}/0").test_client()
    assert client.get("/healthz").status_code == 200  # the process itself is fine
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == {"ok": True}
    assert answer.json["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in answer.json["checks"]["redis"]["error"]


def test_readyz_is_503_and_says_the_database_failed_when_it_is_unreachable(tmp_path, sqlite_url, redis_url):
    app = build(tmp_path, sqlite_url, redis_url)
    from sqlalchemy import create_engine
    app.extensions["pipewise"].engine = create_engine(
        f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/none", connect_args={"connect_timeout": 2})
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"]["ok"] is False and answer.json["checks"]["redis"] == {"ok": True}


def test_label_values_are_escaped_and_parse_back():
    family = Family("pipewise_test", "gauge", "Help with a \\ backslash\nand a newline.")
    family.add({"name": 'a "quoted"\\path\nnext'}, 1.5)
    text = render([family])
    assert '# HELP pipewise_test Help with a \\\\ backslash\\nand a newline.' in text
    parsed = parse_metrics(text)
    assert parsed["pipewise_test"]["type"] == "gauge"
    assert parsed["pipewise_test"]["samples"] == [({"name": 'a "quoted"\\path\nnext'}, 1.5)]


def test_metrics_carry_the_numbers_of_a_real_sync_and_writeback(tmp_path, sqlite_url, redis_url, sf_sandbox,
                                                                  sf_control):
    app = build(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    provision_job(connection_id)
    result = jobs.sync_connection(connection_id, "full", then_score=False)
    ids = give_scores(rt, connection_id, 5)
    sf_control.knobs(reject_ids=[ids[0]])
    summary = writeback_job(connection_id)
    assert (summary["written"], summary["rejected"]) == (4, 1)
    with rt.sessions() as session:
        session.add(SyncRun(connection_id=connection_id, status="failed", kind="incremental",
                            errors=[{"type": "Retriable", "message": "503"}]))
        session.commit()
    rt.queues["sync"].enqueue("sync.jobs.sync_connection", 424242)
    rt.queues["scoring"].enqueue("math.sqrt", -1)
    SimpleWorker([rt.queues["scoring"]], connection=rt.redis).work(burst=True)

    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    metrics = parse_metrics(answer.get_data(as_text=True))
    me = {"provider": "salesforce", "connection_id": connection_id}
    with rt.sessions() as session:
        for name, model in SYNCED_MODELS.items():
            stored = session.scalar(select(func.count()).select_from(model).where(
                model.connection_id == connection_id, model.deleted_at.is_(None)))
            assert value_of(metrics, "pipewise_records", object=name, **me) == stored
        connection = session.get(Connection, connection_id)
        rejected_fields = session.scalar(select(func.count()).select_from(WritebackLedger).where(
            WritebackLedger.status == "rejected"))
    assert value_of(metrics, "pipewise_records", object="lead", **me) > 0
    assert value_of(metrics, "pipewise_connection_status", status="healthy", **me) == 1
    assert value_of(metrics, "pipewise_connection_status", status="failing", **me) == 0
    assert 0 <= value_of(metrics, "pipewise_sync_lag_seconds", **me) < 120
    # The failed row added after the sync is now the latest run: its counts are zero.
    assert value_of(metrics, "pipewise_last_run_seen", **me) == 0
    assert value_of(metrics, "pipewise_sync_runs_failed_total", **me) == 1
    assert result["seen"] > 0
    assert value_of(metrics, "pipewise_writeback_written_total", **me) == 4
    assert value_of(metrics, "pipewise_writeback_rejected_total", **me) == 1
    assert value_of(metrics, "pipewise_writeback_calls_total", **me) == 1
    assert value_of(metrics, "pipewise_writeback_rejected_fields", **me) == rejected_fields > 0
    assert value_of(metrics, "pipewise_api_usage_used", **me) == connection.api_usage_used
    assert value_of(metrics, "pipewise_api_usage_limit", **me) == connection.api_usage_limit
    assert value_of(metrics, "pipewise_queue_depth", queue="sync") == 1
    assert value_of(metrics, "pipewise_queue_failed_jobs", queue="scoring") == 1
    assert value_of(metrics, "pipewise_queue_failed_jobs", queue="sync") == 0
    for name, family in metrics.items():
        assert family["type"] in ("gauge", "counter")
        assert family["type"] != "counter" or name.endswith("_total")


def test_last_run_figures_are_those_of_the_latest_run(tmp_path, db_url, redis_url, sf_sandbox):
    app = build(tmp_path, db_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    result = jobs.sync_connection(connection_id, "full", then_score=False)
    metrics = parse_metrics(app.test_client().get("/metrics").get_data(as_text=True))
    me = {"provider": "salesforce", "connection_id": connection_id}
    assert value_of(metrics, "pipewise_last_run_seen", **me) == result["seen"]
    assert value_of(metrics, "pipewise_last_run_changed", **me) == result["changed"]
    assert value_of(metrics, "pipewise_last_run_deleted", **me) == result["deleted"]
    assert value_of(metrics, "pipewise_last_run_api_calls", **me) == result["api_calls"]


@pytest.mark.parametrize("sent, status", [(None, 401), ("Bearer wrong", 401), ("Bearer s3cret-token", 200)])
def test_metrics_can_require_a_bearer_token(tmp_path, sqlite_url, redis_url, sent, status):
    app = build(tmp_path, sqlite_url, redis_url, METRICS_TOKEN="s3cret-token")
    answer = app.test_client().get("/metrics", headers={"Authorization": sent} if sent else {})
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
