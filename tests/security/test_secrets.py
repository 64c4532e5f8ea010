"""Finding 7: secrets at rest and in logs.

The attack: the outbound-message secret was stored in clear and printed in the access log on every
delivery (it is in the URL), and var/ was world-readable.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from urllib.parse import urlsplit

import requests

from demo.stack import give_consent
from sync.runtime import Runtime
from sync.runtime.config import Config
from tests.conftest import ROOT, config_env, connect_salesforce, make_config, outbound_endpoint
from tests.test_admin_signin import build_app, sign_in
from web.cli import upgrade_database


def test_the_webhook_secret_is_shown_once_and_never_stored(tmp_path, redis_url, sf_sandbox):
    db_path = tmp_path / "store.db"
    app = build_app(tmp_path, f"sqlite:///{db_path}", redis_url, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    to_crm = client.get("/install/salesforce")
    back = urlsplit(give_consent(sf_sandbox.base_url, str(sf_sandbox.ca_path), to_crm.headers["Location"]))
    client.get(f"{back.path}?{back.query}")
    page = client.get("/admin/webhooks").get_data(as_text=True)
    secret = page.split(f"/webhooks/salesforce/{sf_sandbox.org_id}/", 1)[1].split("<", 1)[0]
    assert len(secret) >= 32
    app.extensions["pipewise"].engine.dispose()
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert secret.encode() not in stored


def test_access_logs_of_gunicorn_carry_no_secret(tmp_path, sqlite_url, redis_url, sf_sandbox, make_runtime):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = outbound_endpoint(rt, connection_id, f"http://127.0.0.1:{port}")
    secret = url.rsplit("/", 1)[1]
    access_log = tmp_path / "access.log"
    config = make_config(tmp_path, sqlite_url, redis_url, sf_sandbox)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "web:create_app()", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--access-logfile", str(access_log), "--error-logfile",
                               str(tmp_path / "error.log")], cwd=ROOT, env=config_env(config))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.post(url, data=b"<not-soap/>", headers={"Content-Type": "text/xml"}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                time.sleep(0.2)
        requests.get(f"http://127.0.0.1:{port}/embed/panel/lead/00Q1?pt=panel-token-value", timeout=5)
        assert answer.status_code == 400  # the request was served and logged
    finally:
        server.terminate()
        server.wait(15)
    logged = access_log.read_text()
    assert "/webhooks/salesforce/" in logged and "[redacted]" in logged
    assert secret not in logged and "panel-token-value" not in logged


def test_var_is_private_to_pipewise(tmp_path, redis_url):
    var = tmp_path / "var"
    config = Config(VAR_DIR=var, DATABASE_URL=f"sqlite:///{var / 'pipewise.db'}", REDIS_URL=redis_url,
                    ENCRYPTION_KEYS=None, SECRET_KEY=None)
    old = os.umask(0o022)  # a usual umask: files would be world-readable by default
    try:
        upgrade_database(config.DATABASE_URL)
        from web import create_app

        config.runtime = Runtime.from_config(config)
        create_app(config)
    finally:
        os.umask(old)
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for name in ("pipewise.db", "encryption.keys", "secret.key"):
        assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name
