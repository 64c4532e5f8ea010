"""Dynamics 365 goals as quotas, synced over HTTP from the sandbox into SQLite and PostgreSQL: a user's money goal
for a quarter is their quota, team and count goals are no one's, changes arrive by delta link, and the quotas
are what the forecast measures a Dynamics organization against."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from connectors.dynamics.streams import Goals, SystemUsers
from scoring.forecast.quotas import forecast_against_quota, quota_for, quotas_by_owner
from scoring.scope import Subject
from sync.store import Quota, User
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures
from tests.test_dynamics_sync import installed  # noqa: F401 - fixture


def live_quotas(rt, connection_id: int) -> set[tuple[str, str, float]]:
    with rt.sessions() as session:
        return {(q.owner_remote_id, q.period, q.amount) for q in session.scalars(select(Quota).where(
            Quota.connection_id == connection_id, Quota.deleted_at.is_(None),
            Quota.remote_deleted.is_(False)))}


def expected(control) -> set[tuple[str, str, float]]:
    return {(q["owner_id"], q["quarter"], q["amount"]) for q in control.info()["quotas"]}


def test_people_s_money_goals_land_as_quotas_follow_changes_and_measure_the_team_forecast(installed, server,
                                                                                     control):
    rt, engine, connection_id, organization_id = installed
    assert engine.run(connection_id, organization_id, kind="full").status == "completed"
    remote = expected(control)
    goals = server.sandbox.store.rows("goal")
    assert remote and len(remote) < len(goals)  # team goals and count goals are nobody's quota
    assert live_quotas(rt, connection_id) == remote
    with rt.sessions() as session:
        kept = session.scalar(select(func.count()).select_from(Quota).where(Quota.connection_id == connection_id))
        assert kept == len(goals)  # every goal was read; the others are kept as tombstones

        # A manager's team: the manager's own goal is the team's number (their reps' goals sum to it).
        manager_goal = next(g for g in goals if g["goalownerid"]["table"] == "systemuser" and g.get("isamount")
                            and g["goalstartdate"] == "2017-10-01" and not g.get("parentgoalid")
                            and any(c.get("parentgoalid", {}) and c["parentgoalid"]["id"] == g["goalid"] for c in goals))
        manager = manager_goal["goalownerid"]["id"]
        reps = frozenset(session.scalars(select(User.remote_id).where(User.connection_id == connection_id,
                                                                      User.manager_remote_id == manager)))
        team = Subject("team", manager, reps | {manager}, None)
        assert quota_for(session, organization_id, "2017-Q4", team) == manager_goal["targetmoney"]
        own = quotas_by_owner(session, organization_id, "2017-Q4", reps)
        assert sum(own.values()) == manager_goal["targetmoney"] and set(own) == reps
        forecast = forecast_against_quota(session, organization_id, team, "2017-Q4", date(2017, 10, 1), {})
        assert forecast["source"] == "computed now" and forecast["rows"]
        assert forecast["totals"]["quota"] == manager_goal["targetmoney"]
        assert forecast["totals"]["attainment_p50"] == forecast["totals"]["p50"] / manager_goal["targetmoney"]
        for row in forecast["rows"]:
            assert row["quota"] == own[row["owner"]] and row["attainment_p50"] == row["p50"] / row["quota"]

    # A goal changed, discarded or deleted in Dynamics arrives by delta link.
    people = [g for g in server.sandbox.store.rows("goal") if g["goalownerid"]["table"] == "systemuser"
              and g.get("isamount") and g["goalstartdate"] == "2017-07-01"]
    raised, discarded, deleted = people[0], people[1], people[2]
    control.update("goal", raised["goalid"], {"targetmoney": 98000.0})
    control.update("goal", discarded["goalid"], {"statecode": 1, "statuscode": 2})
    control.delete("goal", deleted["goalid"])
    run = engine.run(connection_id, organization_id)
    assert run.status == "completed"
    stored = live_quotas(rt, connection_id)
    assert (raised["goalownerid"]["id"], "2017-Q3", 98000.0) in stored
    assert not {q for q in stored if q[0] in (discarded["goalownerid"]["id"], deleted["goalownerid"]["id"])
                and q[1] == "2017-Q3"}
    assert stored == expected(control)


class MissingGoals(Goals):
    """Goals in an environment without Dynamics 365 Sales: the entity set does not exist there."""

    remote_name = "salesgoals"


def test_an_environment_without_goals_syncs_the_rest_and_tells_the_admin_to_set_quotas_in_pipewise(installed):
    rt, engine, connection_id, organization_id = installed
    run = engine.run(connection_id, organization_id, kind="full", streams=(SystemUsers, MissingGoals))
    assert run.status == "completed"
    skipped = run.streams["goals"]
    assert skipped["skipped"] and "set quotas in Pipewise instead" in skipped["note"]
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.connection_id == connection_id)) > 0
        assert not session.scalar(select(func.count()).select_from(Quota).where(
            Quota.connection_id == connection_id))
