"""Quotas read from the CRMs: synced into the quota table, where the team panel reads them, over an admin's figure."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.common import quarter_label
from connectors.hubspot import streams as hs_streams
from connectors.hubspot.sandbox.quotas import quotas as hubspot_quotas
from scoring.forecast.quotas import quotas_by_owner, set_quota
from sync import jobs
from sync.store import Quota
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, make_client, make_engine  # noqa: F401


def live_quotas(session, connection_id: int) -> list[Quota]:
    return session.scalars(select(Quota).where(Quota.connection_id == connection_id,
                                                  Quota.deleted_at.is_(None))).all()


def test_salesforce_forecasting_quotas_reach_the_team_panel(sqlite_url, make_runtime, sf_sandbox):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    remote = sf_sandbox.records("ForecastingQuota")
    assert remote and {quarter_label_of(r["StartDate"]) for r in remote} == {f"2017-Q{q}" for q in range(1, 5)}

    assert jobs.sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    with rt.sessions() as session:
        stored = live_quotas(session, connection_id)
        assert len(stored) == len(remote)
        organization_id = stored[0].organization_id
        sample = max(remote, key=lambda r: (r["QuotaAmount"], r["Id"]))
        owner, period = sample["QuotaOwnerId"], quarter_label_of(sample["StartDate"])
        assert quotas_by_owner(session, organization_id, period, frozenset({owner})) == {
            owner: float(sample["QuotaAmount"])}
        # The CRM's figure counts over an admin's: the console says where to change it and stores nothing.
        with pytest.raises(ValueError, match="comes from your CRM .* Change it in the CRM"):
            set_quota(session, organization_id, owner, period, 1.0)
        assert not session.scalar(select(func.count()).select_from(Quota).where(Quota.source == "admin"))
        # Once the CRM keeps none for that period, the admin's figure counts.
        for row in live_quotas(session, connection_id):
            if (row.owner_remote_id, row.period) == (owner, period):
                row.deleted_at = row.synced_at
        session.commit()
        set_quota(session, organization_id, owner, period, 1.0)
        session.commit()
        assert quotas_by_owner(session, organization_id, period, frozenset({owner})) == {owner: 1.0}


def test_hubspot_goal_targets_reach_the_team_panel(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    run = engine.run(installed.connection_id, installed.organization_id, kind="full",
                     streams=(hs_streams.Owners, hs_streams.GoalTargets))
    assert run.status == "completed"
    per_owner = [q for q in hubspot_quotas(hs_sandbox.sandbox.store) if q["owner_id"]]
    assert per_owner and len(per_owner) < len(hs_sandbox.records("goal_targets"))  # team goals left out
    with hs_runtime.sessions() as session:
        stored = live_quotas(session, installed.connection_id)
        assert {(q.owner_remote_id, q.period, q.amount) for q in stored} == {
            (q["owner_id"], q["quarter"].replace("Q", "-Q"), q["amount"]) for q in per_owner}
        sample = per_owner[0]
        period = sample["quarter"].replace("Q", "-Q")
        assert quotas_by_owner(session, installed.organization_id, period, frozenset({sample["owner_id"]})) == {
            sample["owner_id"]: sample["amount"]}
        assert session.scalar(select(func.count()).select_from(Quota)) > len(per_owner)  # team tombstones


def quarter_label_of(text: str) -> str:
    """The quarter label of an API date string."""
    from datetime import date

    return quarter_label(date.fromisoformat(text[:10]))
