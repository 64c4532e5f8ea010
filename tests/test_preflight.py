"""The preflight against the Salesforce sandbox: `flask connections check`, the Check button, and what it
says when Pipewise's fields are not visible or an optional object is missing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from sync import jobs
from sync.store.audit_log import AuditEntry
from sync.writeback_jobs import provision_job
from tests.conftest import connect_salesforce
from tests.test_admin_signin import build_app, csrf, sign_in


@pytest.fixture
def world(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    return app, rt, connect_salesforce(rt, sf_sandbox)


def check(app, *args):
    return app.test_cli_runner().invoke(args=["connections", "check", *args])


def lines(output: str, status: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith(status + " ")]


def test_a_ready_org_passes_and_a_missing_optional_object_is_a_sentence_not_a_failure(world, sf_control):
    app, rt, connection_id = world
    provision_job(connection_id)
    result = check(app, "--connection", str(connection_id))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Salesforce connection {connection_id}: Ready")
    ok = lines(result.output, "ok")
    assert any(line.startswith("ok      scopes:") for line in ok)
    assert any("daily API calls are left" in line for line in ok)
    assert any(line.startswith("ok      field:Lead.Pipewise_Score__c: Pipewise can write") for line in ok)
    assert any(line.startswith("ok      object:ForecastingQuota") for line in ok)
    # No outbound message has arrived yet: said, not failed.
    assert any("No change notification from Salesforce has reached Pipewise yet" in line
               for line in lines(result.output, "warning"))

    sf_control.knobs(forecasting_enabled=False)  # an org without Collaborative Forecasts
    result = check(app)
    assert result.exit_code == 0, result.output
    [quota] = [line for line in lines(result.output, "warning") if "object:ForecastingQuota" in line]
    assert "turn on Forecasts in Setup" in quota and "an admin can set quotas in Pipewise" in quota


def test_fields_the_integration_user_cannot_see_are_problems_with_the_fix(world, sf_control):
    app, rt, connection_id = world
    provision_job(connection_id)
    sets = {p["Name"]: p["Id"] for p in sf_control.records("PermissionSet")}
    for assignment in sf_control.records("PermissionSetAssignment"):
        if assignment["PermissionSetId"] == sets["Pipewise_Integration"]:
            sf_control.delete("PermissionSetAssignment", assignment["Id"])  # an admin removed it

    result = check(app, "--connection", str(connection_id))
    assert result.exit_code == 1
    errors = lines(result.output, "error")
    assert len(errors) == 12  # six fields on Lead and Opportunity
    assert "assign the permission set 'Pipewise Integration'" in errors[0]
    assert result.output.splitlines()[0].endswith("12 problems to fix in the CRM, 2 to know about.")


def test_the_check_button_shows_each_finding_and_the_last_syncs_notes(world, sf_sandbox, sf_control):
    app, rt, connection_id = world
    provision_job(connection_id)
    sf_control.knobs(forecasting_enabled=False)
    assert jobs.sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    client = app.test_client()
    sign_in(client, sf_sandbox)
    listing = client.get("/admin/connections").get_data(as_text=True)
    assert 'data-note="forecasting_quota"' in listing and "Collaborative Forecasts" in listing
    assert ">Check</button>" in listing

    answer = client.post(f"/admin/connections/{connection_id}/check", data={"csrf_token": csrf(client)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("#check")
    page = client.get(f"/admin/connections/{connection_id}").get_data(as_text=True)
    assert "Check finished: Ready, with" in page
    assert 'data-check="field:Opportunity.Pipewise_Score__c" data-status="ok"' in page
    assert 'data-check="object:ForecastingQuota" data-status="warning"' in page
    assert 'data-check="sync:forecasting_quota" data-status="warning"' in page
    with rt.sessions() as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "connection.check")).all()
    assert client.post(f"/admin/connections/{connection_id}/check").status_code == 400  # no CSRF token
