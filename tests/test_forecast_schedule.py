"""Weekly forecast snapshots saved by the scheduler on a real worker, and the panel never left empty."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from scoring.forecast import quotas
from scoring.forecast.snapshots import due_organizations
from scoring.scope import Subject
from sync.jobs import tick
from sync.store import utcnow
from sync.store.forecasts import ForecastSnapshot
from tests.conftest import wait_for
from tests.forecast_fixtures import load_maven


def test_the_scheduler_saves_a_weekly_snapshot_by_rep_team_and_organization(make_runtime, sqlite_url,
                                                                             start_worker):
    rt = make_runtime(sqlite_url)
    with rt.sessions() as session:
        org = load_maven(session)
        assert due_organizations(session) == [org]  # never snapshotted: due

    tick(30)  # the scheduler's tick: syncs that are due, and the weekly forecast check
    queued = [job.func_name for job in rt.queues["scoring"].jobs]
    assert queued == ["scoring.jobs.weekly_forecast_snapshots_job"]
    tick(30)  # checked a moment ago: not asked again
    assert len(rt.queues["scoring"].jobs) == 1

    start_worker(rt.config, queues=("scoring",))
    with rt.sessions() as session:
        saved = wait_for(lambda: session.scalars(select(ForecastSnapshot)).all() or session.rollback(),
                         timeout=120, message="the weekly snapshots")
        scopes = {(s.period, s.scope) for s in saved}
        # The data stop on 2017-09-30: as of the CRM's own clock, the current quarter and month.
        assert scopes == {(p, scope) for p in ("2017-Q4", "2017-10") for scope in ("org", "rep", "team")}
        assert {s.source for s in saved} == {"scheduled"} and {s.as_of for s in saved} == {date(2017, 10, 1)}
        assert all(s.p10 <= s.p50 <= s.p90 for s in saved)
        assert due_organizations(session) == []  # a week until the next one
        assert due_organizations(session, utcnow() + timedelta(days=8)) == [org]


def test_a_large_organization_without_a_snapshot_gets_one_computed(make_runtime, sqlite_url, start_worker,
                                                                   monkeypatch):
    rt = make_runtime(sqlite_url)
    monkeypatch.setattr(quotas, "LIVE_FORECAST_MAX_DEALS", 10)  # too large to forecast while the page waits
    with rt.sessions() as session:
        org = load_maven(session)
    from embed.manager_forecast import forecast_view
    from web import create_app

    app = create_app(rt.config)
    everyone = Subject("org", None, None, None)
    with app.app_context(), rt.sessions() as session:
        period = quotas.parse_period("2017-Q3")
        first = forecast_view(session, org, everyone, period, date(2017, 9, 1), {})
        assert first["source"] == "none" and "computing this period's forecast now" in first["tables"][0].note
        again = forecast_view(session, org, everyone, period, date(2017, 9, 1), {})
        assert "still computing" in again["tables"][0].note  # asked once, not on every reload
    start_worker(rt.config, queues=("scoring",))
    with app.app_context(), rt.sessions() as session:
        wait_for(lambda: session.scalars(select(ForecastSnapshot)).first() or session.rollback(), timeout=120,
                 message="the snapshot the panel asked for")
        shown = forecast_view(session, org, everyone, period, date(2017, 9, 1), {})
        assert shown["source"] == "snapshot" and shown["figures"]["p50"] > 0
        assert len(shown["tables"][0].rows) > 20  # every rep's range
