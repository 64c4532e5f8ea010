"""The deal figures as the views computed them before the deal rollup: aggregates over the raw deals,
and the check ``tests.test_rollups`` runs after random syncs that the rollup-backed figures
(``scoring.team.deal_totals``) equal them.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select

from scoring.deals_as_of import parse_period
from scoring.team import deal_totals, pipeline
from scoring.team.benchmarks import rep_figures
from scoring.team.views import HISTORY_DAYS, live_opportunities
from sync.sql_time import days_between
from sync.store import Opportunity
from tests.test_manager_seed import AS_OF, PERIOD


def period_figures(session, organization_id, owners, period, as_of):
    """Per owner with an open deal or one closed since the period began: the pipeline view's figures."""
    upto = min(as_of, period.end)
    in_period = and_(Opportunity.close_date >= period.start, Opportunity.close_date < period.end)
    rows = session.execute(
        select(Opportunity.owner_remote_id,
               func.sum(case((and_(Opportunity.is_closed.is_(False), in_period), Opportunity.amount), else_=0.0)),
               func.sum(case((and_(Opportunity.is_closed.is_(False), in_period), 1), else_=0)),
               func.sum(case((and_(Opportunity.is_won.is_(True), Opportunity.close_date >= period.start,
                                   Opportunity.close_date < upto), Opportunity.amount), else_=0.0)),
               func.sum(case((Opportunity.is_closed.is_(False), 1), else_=0)),
               func.sum(case((Opportunity.is_closed.is_(False), Opportunity.amount), else_=0.0)))
        .where(*live_opportunities(organization_id, owners),
               or_(Opportunity.is_closed.is_(False), Opportunity.close_date >= period.start))
        .group_by(Opportunity.owner_remote_id))
    return {owner: {"open_in_period": float(a or 0), "open_in_period_deals": int(b or 0), "won": float(c or 0),
                    "open_deals": int(d or 0), "open_amount": float(e or 0), "owner": owner}
            for owner, a, b, c, d, e in rows}


def open_by_stage(session, organization_id, owners):
    """Open deals per connection and stage: (connection, stage) → (deals, amount)."""
    rows = session.execute(
        select(Opportunity.connection_id, Opportunity.stage, func.count(),
               func.coalesce(func.sum(Opportunity.amount), 0.0))
        .where(*live_opportunities(organization_id, owners), Opportunity.is_closed.is_(False))
        .group_by(Opportunity.connection_id, Opportunity.stage))
    return {(c, s): (int(n), float(a)) for c, s, n, a in rows}


def velocity_inputs(session, organization_id, owners, as_of):
    """Closed and won deals of the last year, the average won amount and cycle."""
    since = as_of - timedelta(days=HISTORY_DAYS)
    cycle = days_between(Opportunity.remote_created_at, Opportunity.close_date)
    won = Opportunity.is_won.is_(True)
    row = session.execute(
        select(func.sum(case((Opportunity.is_closed.is_(True), 1), else_=0)), func.sum(case((won, 1), else_=0)),
               func.avg(case((won, Opportunity.amount))), func.avg(case((won, cycle))))
        .where(*live_opportunities(organization_id, owners), Opportunity.is_closed.is_(True),
               Opportunity.close_date >= since, Opportunity.close_date < as_of)).one()
    return (int(row[0] or 0), int(row[1] or 0), float(row[2]) if row[2] is not None else None,
            float(row[3]) if row[3] is not None else None)


def closed_stages(session, organization_id, owners, since):
    """The (stage, won) pairs of deals closed since a day."""
    return set(session.execute(select(Opportunity.stage, Opportunity.is_won).distinct().where(
        *live_opportunities(organization_id, owners), Opportunity.is_closed.is_(True),
        Opportunity.close_date >= since)).all())


def rep_deal_figures(session, organization_id, owners, period, as_of):
    """Per owner: closed, won, win rate, average won deal and cycle, this period and the one before."""
    previous = period.previous()
    upto = min(as_of, period.end)
    now, prev = (and_(Opportunity.close_date >= period.start, Opportunity.close_date < upto),
                 and_(Opportunity.close_date >= previous.start, Opportunity.close_date < previous.end))
    won = Opportunity.is_won.is_(True)
    cycle = days_between(Opportunity.remote_created_at, Opportunity.close_date)

    def figures(window):
        return [func.sum(case((window, 1), else_=0)), func.sum(case((and_(window, won), 1), else_=0)),
                func.avg(case((and_(window, won), Opportunity.amount))),
                func.avg(case((and_(window, won), cycle)))]

    out = {}
    for owner, *values in session.execute(
            select(Opportunity.owner_remote_id, *figures(now), *figures(prev))
            .where(*live_opportunities(organization_id, owners), Opportunity.is_closed.is_(True),
                   Opportunity.close_date >= previous.start, Opportunity.close_date < upto)
            .group_by(Opportunity.owner_remote_id)):
        if owner is None:
            continue
        for suffix, (closed, won_count, avg_deal, cycle_days) in (("", values[:4]), ("_prev", values[4:])):
            entry = out.setdefault(owner, {})
            entry["closed" + suffix] = int(closed or 0)
            entry["won" + suffix] = int(won_count or 0)
            entry["win_rate" + suffix] = won_count / closed if closed else None
            entry["avg_deal" + suffix] = float(avg_deal) if avg_deal is not None else None
            entry["cycle_days" + suffix] = float(cycle_days) if cycle_days is not None else None
    return out


def rounded(value):
    """Sums of fractional days or cents added in another order differ in the last bits only."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return type(value)(rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, set):
        return {rounded(v) for v in value}
    return value


def assert_deal_figures_equal_the_direct_sql(session, org: int, scopes, done: list[str]) -> None:
    """The period figures, open pipeline by stage, velocity, closed stages and benchmarks' deal figures
    read from the deal rollup equal the direct SQL, for several periods, days and scopes."""
    for period, as_of in ((PERIOD, AS_OF), (parse_period("2023-Q4"), date(2023, 11, 17)),
                          (parse_period("2024-02"), date(2024, 3, 1)), (parse_period("2023-07"), date(2023, 7, 1))):
        for owners in scopes:
            figures = {row["owner"]: row for row in pipeline.period_figures(session, org, owners, period, as_of,
                                                                            group_by_owner=True)}
            assert rounded(figures) == rounded(period_figures(session, org, owners, period, as_of)), \
                (period, as_of, owners, done)
            by_stage = {(c, s): (n, a) for c, s, n, a in deal_totals.open_by_stage(session, org, owners)}
            assert rounded(by_stage) == rounded(open_by_stage(session, org, owners)), done
            shown = pipeline.velocity(session, org, owners, as_of)
            assert rounded((shown["closed"], shown["won"], shown["avg_won"], shown["avg_cycle_days"])) == \
                rounded(velocity_inputs(session, org, owners, as_of)), (as_of, owners, done)
            assert shown["open_deals"] == sum(n for n, _ in by_stage.values())
            for since in (as_of - timedelta(days=365), period.start):
                assert deal_totals.closed_stages_since(session, org, owners, since) == \
                    closed_stages(session, org, owners, since), (since, owners, done)
            kept = rep_figures(session, org, owners, period, as_of)
            deal_keys = ("closed", "won", "win_rate", "avg_deal", "cycle_days")
            shown = {owner: {k + s: entry[k + s] for k in deal_keys for s in ("", "_prev")}
                     for owner, entry in kept.items() if "closed" in entry}
            assert rounded(shown) == rounded(rep_deal_figures(session, org, owners, period, as_of)), \
                (period, as_of, owners, done)
