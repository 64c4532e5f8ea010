"""The team panel's rollups against the direct SQL they replaced, after random syncs on SQLite and PostgreSQL.

Each round writes random deal, stage-change and activity rows with the sync engine's own page writer
(its hooks around the upsert included), stages remote deletes and applies them with the engine's own
``_apply_deletes``; then the stage entries and stalled deals the views read from the rollups must
equal the direct SQL over the raw rows, for several windows and scopes, and every rollup must equal
a rebuild after each page.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Float, and_, case, func, literal, select

from connectors import common, registry
from scoring.deals_as_of import midnight, parse_period
from scoring.scope import Subject, owner_names
from scoring.team import stage_stats as stage_stats_module
from scoring.team.benchmarks import REP_ACTIVITY_KINDS
from scoring.team.benchmarks import activity_counts as counted_activities
from scoring.team.coaching import coaching
from scoring.team.pipeline import pipeline_health
from scoring.team.stage_stats import stage_entries, stage_p75_days, stage_stats
from scoring.team.stalled import stalled_deals, stalled_table
from scoring.team.views import live_opportunities
from sync import activity_counts, deal_months, deal_state, rollups, stage_months
from sync.engine import SyncEngine
from sync.sql_time import days_between
from sync.store import Activity, Opportunity, OpportunityStageChange, SyncRun, User
from sync.store.rollups import (ActivityDayCount, ActivityMonthCount, OpenDealState, OpportunityMonthRollup,
                                OpportunityStageFact, StageEntryMonth, StageEntryOwnerMonth)
from tests.direct_deal_sql import assert_deal_figures_equal_the_direct_sql, rounded
from tests.test_manager_seed import AS_OF, LOST, M1, M2, PERIOD, R1, R2, R3, REPS, STAGES, WON, prepare_store, seed_team

ROUNDS = 5


def direct_entries(organization_id, owners, since, until, open_only=False):
    """The stage entries as the views computed them before the rollup: window functions over the raw rows."""
    change = OpportunityStageChange
    partition = (change.connection_id, change.opportunity_remote_id)
    conditions = [change.deleted_at.is_(None), change.stage.is_not(None), change.changed_at < until]
    if since is not None:
        conditions.append(change.changed_at >= since)
    joined = (select(change.connection_id, change.opportunity_remote_id, change.stage, change.changed_at,
                     Opportunity.owner_remote_id.label("owner"), Opportunity.stage.label("current_stage"),
                     func.lag(change.stage).over(partition_by=partition, order_by=(change.changed_at, change.id))
                     .label("previous"))
              .join(Opportunity, and_(Opportunity.connection_id == change.connection_id,
                                      Opportunity.remote_id == change.opportunity_remote_id))
              .where(*conditions, *live_opportunities(organization_id, owners)))
    if open_only:
        joined = joined.where(Opportunity.is_closed.is_(False))
    if since is not None:
        joined = joined.where(Opportunity.remote_created_at < until,
                              (Opportunity.is_closed.is_(False)) | (Opportunity.close_date >= since.date()))
    changes = joined.subquery("changes")
    entries = (select(changes).where((changes.c.previous.is_(None)) | (changes.c.previous != changes.c.stage))
               .subquery("entries"))
    deal = (entries.c.connection_id, entries.c.opportunity_remote_id)
    return select(entries.c.connection_id, entries.c.opportunity_remote_id, entries.c.stage, entries.c.changed_at,
                  entries.c.owner, entries.c.current_stage,
                  func.lead(entries.c.stage).over(partition_by=deal, order_by=entries.c.changed_at).label("next_stage"),
                  func.lead(entries.c.changed_at).over(partition_by=deal, order_by=entries.c.changed_at)
                  .label("next_at"))


def direct_stalled(session, organization_id, owners, as_of, idle_days=14, limit=50, p75=None):
    """Stalled deals as the view computed them before the open-deal state: aggregates over the raw rows."""
    now = midnight(as_of)
    p75 = stage_p75_days(session, organization_id, as_of, owners) if p75 is None else p75
    touched = (select(Activity.connection_id, Activity.what_remote_id, func.max(Activity.occurred_at).label("last_at"))
               .join(Opportunity, and_(Opportunity.connection_id == Activity.connection_id,
                                       Opportunity.remote_id == Activity.what_remote_id))
               .where(Activity.organization_id == organization_id, Activity.deleted_at.is_(None),
                      Activity.occurred_at < now, Opportunity.is_closed.is_(False),
                      *live_opportunities(organization_id, owners))
               .group_by(Activity.connection_id, Activity.what_remote_id).subquery("touched"))
    stays = direct_entries(organization_id, owners, None, now, open_only=True).subquery("stays")
    entered = (select(stays.c.connection_id, stays.c.opportunity_remote_id, func.max(stays.c.changed_at).label("at"))
               .where(stays.c.stage == stays.c.current_stage)
               .group_by(stays.c.connection_id, stays.c.opportunity_remote_id).subquery("entered"))
    idle = days_between(func.coalesce(touched.c.last_at, Opportunity.remote_created_at), literal(now))
    in_stage = days_between(func.coalesce(entered.c.at, Opportunity.remote_created_at), literal(now))
    limit_days = case(p75, value=Opportunity.stage, else_=None) if p75 else literal(None, Float)
    rows = session.execute(
        select(Opportunity.connection_id, Opportunity.remote_id, Opportunity.name, Opportunity.owner_remote_id,
               User.name, Opportunity.stage, Opportunity.amount, Opportunity.close_date, idle, in_stage, limit_days,
               func.count().over())
        .outerjoin(touched, and_(touched.c.connection_id == Opportunity.connection_id,
                                 touched.c.what_remote_id == Opportunity.remote_id))
        .outerjoin(entered, and_(entered.c.connection_id == Opportunity.connection_id,
                                 entered.c.opportunity_remote_id == Opportunity.remote_id))
        .outerjoin(User, and_(User.connection_id == Opportunity.connection_id,
                              User.remote_id == Opportunity.owner_remote_id))
        .where(*live_opportunities(organization_id, owners), Opportunity.is_closed.is_(False),
               Opportunity.remote_created_at < now,
               (idle >= idle_days) | and_(limit_days.is_not(None), in_stage > limit_days))
        .order_by(idle.desc(), Opportunity.remote_id).limit(limit)).all()
    return stalled_table(session, organization_id, [row[:11] for row in rows], idle_days,
                         rows[0][11] if rows else 0)


def rows_of(session, query) -> list[tuple]:
    # SQLite gives a window function's timestamps as text: compare both stores' values as text.
    # Booleans likewise come as 0 and 1 from an expression.
    plain = (lambda v: str(v) if isinstance(v, date) else int(v) if isinstance(v, bool) else v)  # noqa: E731
    return sorted((tuple(plain(v) for v in row) for row in session.execute(query)), key=repr)


def facts(session) -> list[tuple]:
    f = OpportunityStageFact
    return rows_of(session, select(*[getattr(f, c) for c in rollups.FACT_COLUMNS]))


def states(session) -> list[tuple]:
    return rows_of(session, select(*[getattr(OpenDealState, c) for c in deal_state.COLUMNS]))


def assert_rollups_current(session, org: int, done: list[str]) -> None:
    """Every rollup row equals a rebuild from the rows it summarises."""
    assert facts(session) == rows_of(session, rollups._facts(Opportunity.organization_id == org)), done
    assert states(session) == rows_of(session, deal_state._states(Opportunity.organization_id == org)), done
    for table, starts in activity_counts.GRAINS:
        kept = select(*[getattr(table, c) for c in activity_counts.COLUMNS])
        assert rows_of(session, kept) == rows_of(session, activity_counts._grouped(
            Activity.organization_id == org, starts)), (table.__tablename__, done)
    for table in stage_months.KEYS:
        kept = select(*[getattr(table, c) for c in stage_months.columns(table)])
        assert rows_of(session, kept) == rows_of(session, stage_months._keyed(
            table, OpportunityStageFact.organization_id == org)), (table.__tablename__, done)
    kept = select(*[getattr(OpportunityMonthRollup, c) for c in deal_months.COLUMNS])
    assert rounded(rows_of(session, kept)) == rounded(rows_of(session, deal_months._grouped(
        Opportunity.organization_id == org))), ("opportunity_month_rollup", done)


def direct_activity_counts(session, org, owners, start_prev, start_now, upto):
    """Rep activities per owner in the current and the previous period, as benchmarks counted them before."""
    now, prev, end = midnight(start_now), midnight(start_prev), midnight(upto)
    in_now = and_(Activity.occurred_at >= now, Activity.occurred_at < end)
    rows = session.execute(
        select(Activity.owner_remote_id, func.sum(case((in_now, 1), else_=0)),
               func.sum(case((Activity.occurred_at < now, 1), else_=0)))
        .where(Activity.organization_id == org, Activity.deleted_at.is_(None), Activity.kind.in_(REP_ACTIVITY_KINDS),
               Activity.occurred_at >= prev, Activity.occurred_at < end,
               Activity.owner_remote_id.in_(sorted(owners)) if owners is not None else True)
        .group_by(Activity.owner_remote_id))
    return {owner: (int(a), int(b)) for owner, a, b in rows if owner is not None}


def to_common(stream, raw: dict):
    """The page writer's mapping step: these rows come already in the common shape."""
    return {"opportunity": common.Opportunity, "opportunity_history": common.OpportunityStageChange,
            "task": common.Activity}[stream.name](**raw)


class Syncer:
    """Writes pages with the sync engine's own page writer and applies staged deletes with the engine itself."""

    def __init__(self, session, seed, rng: random.Random):
        self.session, self.seed, self.rng = session, seed, rng
        # The CRM client is only asked how many calls it made; no page is read from a CRM here.
        client = SimpleNamespace(usage=SimpleNamespace(calls=0))
        self.engine = SyncEngine(None, client, registry.get("salesforce").provider, to_common)
        self.n = 0
        self.run = None

    def start_run(self) -> None:
        self.run = SyncRun(connection_id=self.seed.connection_id, kind="incremental", status="running",
                           streams={"opportunity": {}, "opportunity_history": {}, "task": {}}, changed_ids={}, errors=[])
        self.session.add(self.run)
        self.session.flush()

    def write(self, object_type: str, rows: list[dict]) -> None:
        stream = registry.get("salesforce").provider.stream(
            {"opportunity": "opportunity", "opportunity_stage_change": "opportunity_history",
             "activity": "task"}[object_type])
        page = [{"remote_data": {"n": self.rng.random()}, **row} for row in rows]
        self.engine._write_page(self.session, self.run, self.seed.organization_id, stream, page)

    def stage_delete(self, model, remote_id: str, object_type: str) -> None:
        self.session.execute(model.__table__.update().where(model.connection_id == self.seed.connection_id,
                                                            model.remote_id == remote_id).values(remote_deleted=True))
        self.engine._merge_changed_ids(self.run, object_type, [remote_id])

    def finish_run(self) -> None:
        self.engine._apply_deletes(self.session, self.run)

    def moment(self) -> datetime:
        return datetime(2023, 3, 1) + timedelta(days=self.rng.uniform(0, 500), seconds=self.rng.randint(0, 86399),
                                                microseconds=self.rng.randint(0, 999999))

    def deal_ids(self) -> list[str]:
        return sorted(self.session.scalars(select(Opportunity.remote_id).where(
            Opportunity.connection_id == self.seed.connection_id)))

    def change_ids(self) -> list[str]:
        return sorted(self.session.scalars(select(OpportunityStageChange.remote_id).where(
            OpportunityStageChange.connection_id == self.seed.connection_id)))

    def activity_ids(self) -> list[str]:
        return sorted(self.session.scalars(select(Activity.remote_id).where(
            Activity.connection_id == self.seed.connection_id)))

    def mutate(self) -> str:
        rng = self.rng
        kind = rng.choice(["new_deal", "owner_move", "close", "reprice", "stage_move", "restage", "duplicate", "move_change",
                           "delete_deal", "delete_change", "restore", "reopen", "new_activity", "move_activity",
                           "retime_activity", "delete_activity"])
        deal = rng.choice(self.deal_ids())
        if kind.endswith("_activity"):
            self.mutate_activity(kind, deal)
            return kind
        if kind == "new_deal":
            self.n += 1
            remote_id = f"006NEW{self.n:012d}"
            created = self.moment()
            self.write("opportunity", [{"remote_id": remote_id, "owner_remote_id": rng.choice(REPS),
                                        "stage": STAGES[0], "is_closed": False, "is_won": False, "amount": 1000.0,
                                        "close_date": AS_OF + timedelta(days=30), "remote_created_at": created}])
            at = created
            rows = []
            for i, stage in enumerate(rng.sample(STAGES, rng.randint(1, 3))):
                at += timedelta(days=rng.uniform(0.1, 60), microseconds=rng.randint(0, 999999))
                rows.append({"remote_id": f"{remote_id}-{i}", "opportunity_remote_id": remote_id, "stage": stage,
                             "changed_at": at})
            self.write("opportunity_stage_change", rows)
        elif kind == "owner_move":
            self.write("opportunity", [{**self.deal(deal), "owner_remote_id": rng.choice([*REPS, M1, None])}])
        elif kind == "reprice":  # an amount in cents or none, a close date moved or taken away
            self.write("opportunity", [{**self.deal(deal), "amount": rng.choice([None, round(rng.uniform(1, 9e4), 2)]),
                                        "close_date": rng.choice([None, self.moment().date()])}])
        elif kind in ("close", "reopen"):
            won = rng.random() < 0.5
            closing = kind == "close"
            self.write("opportunity", [{**self.deal(deal), "is_closed": closing, "is_won": won and closing,
                                        "stage": (WON if won else LOST) if closing else STAGES[1],
                                        "close_date": self.moment().date()}])
        elif kind == "stage_move":
            self.n += 1
            self.write("opportunity_stage_change", [{"remote_id": f"{deal}-m{self.n}", "opportunity_remote_id": deal,
                                                     "stage": rng.choice([*STAGES, WON, LOST]),
                                                     "changed_at": self.moment()}])
        elif kind in ("restage", "duplicate", "move_change") and self.change_ids():
            change = rng.choice(self.change_ids())
            row = self.change(change)
            if kind == "restage":
                row["stage"] = rng.choice([*STAGES, None])
            elif kind == "duplicate":  # a same-stage change later on: not an entry, unless a window starts between
                self.n += 1
                row = {**row, "remote_id": f"{change}-d{self.n}",
                       "changed_at": row["changed_at"] + timedelta(days=rng.uniform(1, 200))}
            else:
                row["opportunity_remote_id"] = deal
            self.write("opportunity_stage_change", [row])
        elif kind == "delete_deal":
            self.stage_delete(Opportunity, deal, "opportunity")
        elif kind == "delete_change" and self.change_ids():
            self.stage_delete(OpportunityStageChange, rng.choice(self.change_ids()), "opportunity_stage_change")
        elif kind == "restore":
            gone = list(self.session.scalars(select(Opportunity.remote_id).where(
                Opportunity.connection_id == self.seed.connection_id, Opportunity.deleted_at.is_not(None))))
            if gone:
                self.write("opportunity", [{**self.deal(rng.choice(gone))}])
        return kind

    def mutate_activity(self, kind: str, deal: str) -> None:
        """A new activity on a deal, one moved to another deal or another time, or one deleted."""
        if kind == "new_activity":
            self.n += 1
            self.write("activity", [{"remote_id": f"00TNEW{self.n:012d}", "kind": "call", "what_remote_id": deal,
                                     "owner_remote_id": self.rng.choice(REPS), "occurred_at": self.moment()}])
            return
        # The activity a deal's state names is the one whose change the state must follow.
        latest = self.session.scalars(select(Activity).where(
            Activity.connection_id == self.seed.connection_id, Activity.deleted_at.is_(None),
            Activity.what_remote_id.in_(select(OpenDealState.opportunity_remote_id)))
            .order_by(Activity.occurred_at.desc(), Activity.remote_id)).first()
        if latest is None:
            return
        if kind == "delete_activity":
            self.stage_delete(Activity, latest.remote_id, "activity")
            return
        row = {"remote_id": latest.remote_id, "kind": self.rng.choice(["call", "email", "web_visit"]),
               "owner_remote_id": self.rng.choice([*REPS, None, latest.owner_remote_id]),
               "what_remote_id": deal if kind == "move_activity" else latest.what_remote_id,
               "occurred_at": latest.occurred_at - timedelta(days=self.rng.uniform(1, 300))
               if kind == "retime_activity" else latest.occurred_at}
        self.write("activity", [row])

    def deal(self, remote_id: str) -> dict:
        o = self.session.scalars(select(Opportunity).where(Opportunity.connection_id == self.seed.connection_id,
                                                           Opportunity.remote_id == remote_id)).one()
        return {"remote_id": o.remote_id, "owner_remote_id": o.owner_remote_id, "stage": o.stage,
                "is_closed": o.is_closed, "is_won": o.is_won, "amount": o.amount, "close_date": o.close_date,
                "remote_created_at": o.remote_created_at}

    def change(self, remote_id: str) -> dict:
        c = self.session.scalars(select(OpportunityStageChange).where(
            OpportunityStageChange.connection_id == self.seed.connection_id,
            OpportunityStageChange.remote_id == remote_id)).one()
        return {"remote_id": c.remote_id, "opportunity_remote_id": c.opportunity_remote_id, "stage": c.stage,
                "changed_at": c.changed_at}


WINDOWS = [(datetime(2023, 5, 16), datetime(2024, 5, 15)), (None, datetime(2024, 5, 15)),
           (datetime(2023, 9, 1, 12), datetime(2024, 1, 10)), (None, datetime(2023, 11, 3))]
SCOPES = [None, frozenset({R1, R2, M1}), frozenset({R3}), frozenset({M2, R3, "005A000000000000R4"})]


def views(session, org: int, names) -> str:
    """Every number of the views that read stage entries, for the organization, a team and a rep."""
    out = [stage_stats(session, org, None, AS_OF, by_owner=True, with_p75=True)]
    for subject in (Subject("org", None, None, None), Subject("team", M1, frozenset({M1, R1, R2}), frozenset({M1, R1, R2})),
                    Subject("rep", R3, frozenset({R3}), frozenset({M2, R3, "005A000000000000R4"}))):
        out += [pipeline_health(session, org, subject, PERIOD, AS_OF, names),
                coaching(session, org, subject, PERIOD, AS_OF, names)]
    return repr(out)


@pytest.mark.parametrize("rng_seed", [11])
def test_rollup_equals_the_direct_sql_after_random_changes(db_url, rng_seed, monkeypatch):
    engine, sessions = prepare_store(db_url)
    with sessions() as session:
        seed = seed_team(session)
        org = seed.organization_id
        syncer = Syncer(session, seed, random.Random(rng_seed))
        names = owner_names(session, org)
        done = []
        for round_ in range(ROUNDS):
            syncer.start_run()
            for _ in range(12):
                done.append(syncer.mutate())
                # Each page leaves the rollups equal to the rows they summarise, in the page's transaction.
                assert_rollups_current(session, org, done)
            if round_ % 2:  # a run with more changes than it lists: the deletes are found, not listed
                syncer.run.changed_ids = {"opportunity": "all", "opportunity_stage_change": "all", "activity": "all"}
            syncer.finish_run()
            session.commit()
            for since, until in WINDOWS:
                for owners in SCOPES:
                    for open_only in (False, True):
                        assert rows_of(session, stage_entries(org, owners, since, until, open_only)) == \
                               rows_of(session, direct_entries(org, owners, since, until, open_only)), \
                               (since, until, owners, open_only, done)
            by_rollup = views(session, org, names)
            with monkeypatch.context() as patch:
                patch.setattr(stage_stats_module, "stage_entries", direct_entries)
                assert views(session, org, names) == by_rollup
            for as_of in (AS_OF, date(2023, 11, 3), date(2024, 3, 1), date(2024, 1, 31)):
                # The whole organization's from the stage entry months == from every fact of the window.
                conversion, p75 = stage_stats(session, org, None, as_of, with_p75=True)
                direct_conversion, direct_p75 = stage_stats(session, org, None, as_of, with_p75=True, from_facts=True)
                assert rounded(conversion.rows) == rounded(direct_conversion.rows), (as_of, done)
                assert p75 == direct_p75, (as_of, done)
                # Each rep's conversion (coaching) from the owners' stage entry months == from the facts.
                assert rounded(stage_stats(session, org, None, as_of, by_owner=True)[0].rows) == rounded(
                    stage_stats(session, org, None, as_of, by_owner=True, from_facts=True)[0].rows), (as_of, done)
            for owners in SCOPES:  # one pass for conversion and P75 (PostgreSQL) == the two separate passes
                conversion, p75 = stage_stats(session, org, owners, AS_OF, with_p75=True)
                # (the whole organization's one pass sums its stays from the stage entry months: last bits differ)
                assert rounded(conversion.rows) == rounded(stage_stats(session, org, owners, AS_OF)[0].rows)
                assert p75 == stage_stats(session, org, owners, AS_OF, by_owner=True, with_p75=True)[1]
            for as_of in (AS_OF, date(2023, 11, 3)):  # the second: many deals' latest activity comes after it
                for owners in SCOPES:
                    for idle_days in (14, 60):
                        p75 = stage_p75_days(session, org, as_of, owners)
                        shown = stalled_deals(session, org, owners, as_of, idle_days, p75=p75)
                        direct = direct_stalled(session, org, owners, as_of, idle_days, p75=p75)
                        assert (shown.rows, shown.totals) == (direct.rows, direct.totals), (as_of, owners, done)
            for period, as_of in ((PERIOD, AS_OF), (parse_period("2023-Q4"), date(2023, 11, 17)),
                                  (parse_period("2024-02"), date(2024, 3, 1))):
                previous = period.previous()
                for owners in SCOPES:
                    upto = min(as_of, period.end)
                    assert counted_activities(session, org, owners, previous.start, period.start, upto) == \
                        direct_activity_counts(session, org, owners, previous.start, period.start, upto), done
            assert_deal_figures_equal_the_direct_sql(session, org, SCOPES, done)
            assert_rollups_current(session, org, done)
            session.commit()
        # The random changes reached every kind of edit the rollups must follow.
        assert {"new_deal", "owner_move", "close", "reprice", "stage_move", "delete_deal", "new_activity", "move_activity",
                "retime_activity", "delete_activity"} <= set(done)
        assert session.scalar(select(func.count()).select_from(OpportunityStageFact)) > 100
        assert session.scalar(select(func.count()).select_from(OpenDealState)) > 10
        assert session.scalar(select(func.count()).select_from(OpportunityMonthRollup)) > 20
    engine.dispose()


def test_a_purged_connection_leaves_no_rollup_rows(db_url):
    from sync.store.erasure import purge_connection

    engine, sessions = prepare_store(db_url)
    with sessions() as session:
        seed = seed_team(session)
        assert session.scalar(select(func.count()).select_from(OpportunityStageFact)) > 0
        assert session.scalar(select(func.count()).select_from(ActivityMonthCount)) > 0
        purge_connection(session, seed.connection_id)
        session.commit()
        for table in (OpportunityStageFact, OpenDealState, ActivityMonthCount, ActivityDayCount,
                      OpportunityMonthRollup, StageEntryMonth, StageEntryOwnerMonth):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table.__tablename__
    engine.dispose()
