"""The team panel's stage rollup against the direct SQL it replaced, after random syncs on SQLite and PostgreSQL.

Each round writes random deal and stage-change rows the way the sync engine's page writer does (an
upsert, then its rollup hook), stages remote deletes and applies them with the engine's own
``_apply_deletes``; then the stage entries the views read from the rollup must equal the window
functions over the raw rows, for several windows and scopes, and the rollup must equal a rebuild.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import and_, func, select

from connectors import common, registry
from scoring import pipeline
from scoring.coaching import coaching
from scoring.pipeline import live_opportunities, pipeline_health, stage_entries, stage_stats
from scoring.scope import Subject, owner_names
from sync import rollups
from sync.engine import SyncEngine
from sync.models import Opportunity, OpportunityStageChange, SyncRun
from sync.rollup_models import OpportunityStageFact
from tests.test_manager_seed import (AS_OF, LOST, M1, M2, PERIOD, R1, R2, R3, REPS, STAGES, WON, prepare_store,
                                     seed_team)

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


def rows_of(session, query) -> list[tuple]:
    # SQLite gives a window function's timestamps as text: compare both stores' values as text.
    # Booleans likewise come as 0 and 1 from an expression.
    plain = (lambda v: str(v) if isinstance(v, date) else int(v) if isinstance(v, bool) else v)  # noqa: E731
    return sorted((tuple(plain(v) for v in row) for row in session.execute(query)), key=repr)


def facts(session) -> list[tuple]:
    f = OpportunityStageFact
    return rows_of(session, select(*[getattr(f, c) for c in rollups.FACT_COLUMNS]))


def to_common(stream, raw: dict):
    """The page writer's mapping step: these rows come already in the common shape."""
    return {"opportunity": common.Opportunity, "opportunity_history": common.OpportunityStageChange}[stream.name](**raw)


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
                           streams={"opportunity": {}, "opportunity_history": {}}, changed_ids={}, errors=[])
        self.session.add(self.run)
        self.session.flush()

    def write(self, object_type: str, rows: list[dict]) -> None:
        stream = registry.get("salesforce").provider.stream(
            {"opportunity": "opportunity", "opportunity_stage_change": "opportunity_history"}[object_type])
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

    def mutate(self) -> str:
        rng = self.rng
        kind = rng.choice(["new_deal", "owner_move", "close", "stage_move", "restage", "duplicate", "move_change",
                           "delete_deal", "delete_change", "restore", "reopen"])
        deal = rng.choice(self.deal_ids())
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
                # Each page leaves the rollup equal to the rows it summarises, in the page's transaction.
                assert facts(session) == rows_of(session, rollups._facts(Opportunity.organization_id == org)), done
            if round_ % 2:  # a run with more changes than it lists: the deletes are found, not listed
                syncer.run.changed_ids = {"opportunity": "all", "opportunity_stage_change": "all"}
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
                patch.setattr(pipeline, "stage_entries", direct_entries)
                assert views(session, org, names) == by_rollup
            assert facts(session) == rows_of(session, rollups._facts(Opportunity.organization_id == org))
            session.commit()
        # The random changes reached every kind of edit the rollup must follow.
        assert {"new_deal", "owner_move", "close", "stage_move", "delete_deal"} <= set(done)
        assert session.scalar(select(func.count()).select_from(OpportunityStageFact)) > 100
    engine.dispose()


def test_a_purged_connection_leaves_no_rollup_rows(db_url):
    from sync.erasure import purge_connection

    engine, sessions = prepare_store(db_url)
    with sessions() as session:
        seed = seed_team(session)
        assert session.scalar(select(func.count()).select_from(OpportunityStageFact)) > 0
        purge_connection(session, seed.connection_id)
        session.commit()
        assert session.scalar(select(func.count()).select_from(OpportunityStageFact)) == 0
    engine.dispose()
