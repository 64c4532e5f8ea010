"""The demo's Dynamics 365 pieces against a running sandbox environment: the request log the smoke run checks the
writeback against, and the counts it compares the store with (the webhook is the product's own registration,
tests/test_dynamics_webhook_registration.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from connectors.dynamics.sandbox.control import DynamicsSandboxControl
from connectors.dynamics.sandbox.server import DynamicsSandboxServer
from demo import dynamics
from demo.stack import RequestLog

RECEIVER = "http://127.0.0.1:9"  # nothing listens


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    server = DynamicsSandboxServer(tmp_path_factory.mktemp("dynamics-demo"), seed="small")
    log = RequestLog(server.app)
    server.start()
    yield SimpleNamespace(dynamics=server, dynamics_requests=log, web_url=RECEIVER,
                          dynamics_control=DynamicsSandboxControl(server.base_url, str(server.ca_path)))
    server.stop()


def test_the_request_log_counts_the_writes_that_reached_the_environment(stack):
    server = stack.dynamics
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_path)
    session.headers["Authorization"] = f"Bearer {server.issue_token()}"
    before = stack.dynamics_requests.count("POST", ".UpdateMultiple")
    leads = [r["leadid"] for r in server.sandbox.store.rows("lead")[:3]]
    answer = session.post(f"{server.web_api}/leads/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.lead", "leadid": lead, "jobtitle": "Buyer"} for lead in leads]})
    assert answer.status_code == 204, answer.text
    session.get(f"{server.web_api}/leads?$select=leadid&$top=1")
    assert stack.dynamics_requests.count("POST", ".UpdateMultiple") == before + 1
    assert stack.dynamics_requests.count("GET", "/leads") >= 1


def test_every_table_the_environment_counts_is_compared(stack):
    info = stack.dynamics.info()["counts"]
    # Goals are not all quotas (team and count goals are no one's): quotas are compared in test_dynamics_quotas.py.
    assert set(info) == set(dynamics.OBJECTS) | {"goals"}
    counts = dynamics.sandbox_counts(stack.dynamics)
    assert sum(counts.values()) == sum(n for name, n in info.items() if name != "goals")
    assert counts["activity"] == info["tasks"] + info["phonecalls"] + info["appointments"] + info["emails"]
