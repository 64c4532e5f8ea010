"""The HubSpot connection check against sandbox portals: scopes, objects, properties, API allowance and
webhook subscriptions, each problem one sentence; a missing optional scope is a warning, never a failure."""
from __future__ import annotations

import pytest

from connectors.errors import Unavailable
from connectors.hubspot import streams
from connectors.hubspot.client import HubSpotClient, build_client
from connectors.hubspot.provider import HubSpotProvider
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from connectors.hubspot.webhooks import REQUIRED_SUBSCRIPTIONS
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, hubspot_settings  # noqa: F401

GOALS = "crm.objects.goals.read"


def subscriptions() -> list[dict]:
    """The app's subscriptions as docs/hubspot defines them, in the sandbox's terms."""
    return [{"subscriptionType": kind, "objectTypeId": type_id, "propertyName": prop}
            for kind, type_id, prop in REQUIRED_SUBSCRIPTIONS]


def by_check(findings) -> dict:
    return {f.check: f for f in findings}


@pytest.fixture(scope="module")
def free_portal(tmp_path_factory):
    """A portal whose subscription has no goals, so the optional goals scope cannot be granted."""
    server = HubSpotSandboxServer(tmp_path_factory.mktemp("hs-free"), seed="none",
                                  settings={"unavailable_scopes": [GOALS]}).start()
    yield server
    server.stop()


def test_a_fully_set_up_portal_passes_every_check(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    client = build_client(installed.token, installed.oauth, None, hs_runtime.config)
    for remote_name in HubSpotProvider.writable_objects.values():
        client.ensure_fields(remote_name, HubSpotProvider.writable_fields)
    hs_sandbox.configure_webhooks("https://pipewise.example/webhooks/hubspot", subscriptions())
    try:
        findings = client.preflight()
    finally:
        hs_sandbox.configure_webhooks(None)
    assert [f for f in findings if f.status != "ok"] == []
    checks = by_check(findings)
    assert {f"object:{s.remote_name}" for s in HubSpotProvider.streams} <= set(checks)
    assert "110 calls every 10 seconds" in checks["api-allowance"].message
    assert "no daily limit" in checks["api-allowance"].message
    assert checks["webhooks"].message.startswith(f"The app has all {len(REQUIRED_SUBSCRIPTIONS)}")


def test_the_missing_optional_goals_scope_is_a_sentence_not_a_failure(make_runtime, sqlite_url, free_portal):
    rt = make_runtime(sqlite_url, **hubspot_settings(free_portal))
    installed = connect(rt, free_portal)
    assert GOALS not in installed.token["scope"].split()
    client = build_client(installed.token, installed.oauth, None, rt.config)
    findings = client.preflight()
    assert [f for f in findings if f.status == "error"] == []
    checks = by_check(findings)
    assert checks["scopes"].status == "ok"
    goals = checks[f"scope:{GOALS}"]
    assert goals.status == "warning" and goals.message == (
        f"HubSpot did not grant the optional scope {GOALS} (this account's subscription may not include it), so "
        "goal targets (quotas) are not read; set quotas in Pipewise instead.")
    assert checks["object:goal_targets"].status == "warning"
    # The sync meets the same fact as Unavailable, which skips the optional stream with a note.
    with pytest.raises(Unavailable) as skipped:
        list(client.read_stream(streams.GoalTargets, None))
    assert str(skipped.value) == ("HubSpot did not grant Pipewise crm.objects.goals.read, so goal targets "
                                  "(quotas) are not read; set quotas in Pipewise instead.")


def test_an_answer_of_403_missing_scopes_makes_goals_unavailable_too(hs_runtime, free_portal):
    # A token set that does not say what it was granted: only HubSpot's 403 tells.
    token = {"access_token": free_portal.issue_token(), "token_type": "bearer"}
    client = HubSpotClient(token, None, api_url=free_portal.base_url, verify=str(free_portal.ca_path))
    with pytest.raises(Unavailable):
        list(client.read_stream(streams.GoalTargets, None))


def test_a_missing_required_scope_and_unreadable_subscriptions_are_reported(make_runtime, sqlite_url, hs_sandbox):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_sandbox), HUBSPOT_DEVELOPER_API_KEY=None)
    installed = connect(rt, hs_sandbox)
    scopes = [s for s in installed.token["scope"].split() if s != "crm.objects.companies.read"]
    token = {**installed.token, "access_token": hs_sandbox.issue_token(scope=" ".join(scopes)), "scope": None}
    client = build_client(token, installed.oauth, None, rt.config)
    checks = by_check(client.preflight())
    assert checks["scopes"].status == "error" and "crm.objects.companies.read" in checks["scopes"].message
    assert "re-authorize Pipewise" in checks["scopes"].message
    assert checks["object:companies"].status == "error"
    assert checks["webhooks"].status == "warning" and "HUBSPOT_DEVELOPER_API_KEY" in checks["webhooks"].message


def test_missing_webhook_subscriptions_are_named(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    client = build_client(installed.token, installed.oauth, None, hs_runtime.config)
    wanted = [s for s in subscriptions() if s["objectTypeId"] != "0-48"]  # no call events
    hs_sandbox.configure_webhooks("https://pipewise.example/webhooks/hubspot", wanted)
    try:
        finding = by_check(client.preflight())["webhooks"]
    finally:
        hs_sandbox.configure_webhooks(None)
    assert finding.status == "warning" and "object.creation 0-48" in finding.message


def test_property_findings_name_what_is_missing_and_where_pipewise_properties_live():
    from connectors.hubspot.preflight import property_findings

    names = [{"name": f} for f in streams.Deals.fields if f not in ("dealtype", "product")]
    missing, own = property_findings("deals", names, streams.Deals, ("pipewise_score",))
    assert missing.status == "warning" and "have no dealtype" in missing.message and "product" not in missing.message
    assert own.status == "warning" and "created in the Pipewise group with the first writeback" in own.message
    moved = property_findings("deals", [{"name": "pipewise_score", "groupName": "dealinformation"}], None,
                              ("pipewise_score",))
    assert [f.status for f in moved] == ["warning"] and "outside the Pipewise group" in moved[0].message
