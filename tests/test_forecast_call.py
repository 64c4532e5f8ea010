"""The forecast call through the team panel's real routes: reps' numbers, the manager's call, the audit, the API."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from scoring.forecast.calls import CallError, closest, submit
from sync.store.audit_log import AuditEntry
from sync.store.forecasts import ForecastCall
from tests.test_manager_scope import app, canvas, client, page, token_of  # noqa: F401  (fixtures)
from tests.test_manager_seed import AS_OF, M1, R1, R2
from web import api_keys
from web.extensions import runtime

CALL = "/embed/manager/forecast-call"


def forecast_page(client, token, **args):
    query = "&".join(f"{k}={v}" for k, v in {"pt": token, "period": "2024-Q2", "as_of": AS_OF, **args}.items())
    return client.get(f"/embed/manager/forecast?{query}")


def form_of(response, kind: str) -> dict:
    """The hidden fields of the panel's call form of that kind."""
    text = response.get_data(as_text=True)
    block = re.search(rf'<form[^>]*forecast-call.*?name="kind" value="{kind}".*?</form>', text, re.S)
    assert block, f"the page has no {kind} form"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', block.group(0)))


def test_a_rep_submits_versions_a_manager_calls_with_a_reason_and_the_audit_keeps_both(app, client):
    rep_token = token_of(canvas(client, R1, record=R1))
    mine = forecast_page(client, rep_token, rep=R1)
    assert mine.status_code == 200 and "Your number for 2024-Q2" in page(mine)
    rep_form = form_of(mine, "rep")
    for commit, best in (("40,000", "70000"), ("45000", "80,000")):
        saved = client.post(CALL, data={**rep_form, "commit": commit, "best_case": best})
        assert saved.status_code == 303, re.findall(r'role="alert">(.*?)<', page(saved))
    assert parse_qs(urlsplit(saved.headers["Location"]).query)["called"] == [
        "Your number for 2024-Q2 was saved (version 2)."]

    refused = client.post(CALL, data={**rep_form, "commit": "90000", "best_case": "10000"})
    assert refused.status_code == 400 and "make it at least the commit" in page(refused)
    not_yours = client.post(CALL, data={**rep_form, "kind": "manager", "commit": "1", "best_case": "2",
                                        "reason": "x"})
    assert not_yours.status_code == 400 and "Only the team's manager" in page(not_yours)
    assert 'name="kind" value="manager"' not in forecast_page(client, rep_token, rep=R1).get_data(as_text=True)

    manager_token = token_of(canvas(client, M1, record=M1))
    team = forecast_page(client, manager_token, rep=M1)
    assert "45,000" in page(team) and "Reps' roll-up" in page(team)  # R1's latest number rolls up
    call_form = form_of(team, "manager")
    no_reason = client.post(CALL, data={**call_form, "commit": "60000", "best_case": "90000", "reason": " "})
    assert no_reason.status_code == 400 and "the reason is required" in page(no_reason)
    assert client.post(CALL, data={**call_form, "commit": "60000", "best_case": "90000",
                                   "reason": "R2's renewal is verbal"}).status_code == 303
    shown = page(forecast_page(client, manager_token, rep=M1))
    assert "60,000" in shown and "R2's renewal is verbal" in shown and "version 1" in shown
    assert client.post(CALL, data={**call_form, "csrf_token": "forged", "commit": "1", "best_case": "2",
                                   "reason": "x"}).status_code == 403

    with app.app_context(), runtime().sessions() as session:
        calls = session.scalars(select(ForecastCall).order_by(ForecastCall.id)).all()
        assert [(c.owner_remote_id, c.kind, c.version, c.commit) for c in calls] == [
            (R1, "rep", 1, 40000.0), (R1, "rep", 2, 45000.0), (M1, "manager", 1, 60000.0)]
        trail = session.scalars(select(AuditEntry).where(AuditEntry.action.like("forecast.%"))
                                .order_by(AuditEntry.id)).all()
        assert [(e.action, e.actor, e.details["version"]) for e in trail] == [
            ("forecast.submit", f"salesforce:{R1}", 1), ("forecast.submit", f"salesforce:{R1}", 2),
            ("forecast.call", f"salesforce:{M1}", 1)]
        _, key = api_keys.create(session, app.config["SEED"].organization_id, "Forecast review")
        session.commit()

    # the same numbers through the JSON API, every version, latest flagged
    answer = client.get("/api/v1/forecast/calls?period=2024-Q2", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    rows = answer.get_json()["data"]
    assert sorted((r["owner"], r["kind"], r["version"], r["latest"]) for r in rows) == [
        (M1, "manager", 1, True), (R1, "rep", 1, False), (R1, "rep", 2, True)]
    assert next(r for r in rows if r["kind"] == "manager")["reason"] == "R2's renewal is verbal"
    bad = client.get("/api/v1/forecast/calls?period=Q2", headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code == 400 and "2017-Q4" in bad.get_json()["error"]["message"]


def test_after_the_period_the_view_says_which_number_came_closest(app, client):
    with app.app_context(), runtime().sessions() as session:
        org = app.config["SEED"].organization_id
        submit(session, org, "2024-Q1", R1, "rep", 10_000, 20_000, R1, "test")
        submit(session, org, "2024-Q1", R2, "rep", 5_000, 9_000, R2, "test")
        submit(session, org, "2024-Q1", M1, "manager", 400_000, 500_000, M1, "test", reason="big quarter")
        session.commit()
    token = token_of(canvas(client, M1, record=M1))
    ended = page(forecast_page(client, token, rep=M1, period="2024-Q1"))
    assert "Won in 2024-Q1" in ended and "closest:" in ended
    assert 'name="kind" value="manager"' not in ended  # no call once the period is over


def test_closest_and_bad_amounts():
    assert closest(100.0, {"model P50": 90.0, "reps' roll-up": 130.0, "manager's call": None}) == "model P50"
    assert closest(100.0, {"model P50": None}) is None
    with pytest.raises(CallError, match="is not an amount"):
        submit(None, 1, "2024-Q1", R1, "rep", "lots", "2", R1, "test")
    with pytest.raises(CallError, match="zero or more"):
        submit(None, 1, "2024-Q1", R1, "rep", "-5", "2", R1, "test")
