"""Scoring on the store (SQLite and PostgreSQL): features as of a time, models, Score rows and the registry."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import func, select

from scoring.jobs import retrain_job, score_connection_job
from scoring.records.deal_features import deal_features
from scoring.records.explain import LIMITED_HISTORY
from scoring.records.features import ScoringScope
from scoring.records.lead_features import lead_features
from scoring.records.model_overrides import keep_feature
from scoring.records.registry import active_version, load_model, train
from scoring.records.score import score_connection
from sync.store import (Activity, Base, CampaignMember, Connection, Lead, ModelVersion, Opportunity,
                        OpportunityStageChange, Organization, Score, ScoreHistory)
from sync.store.db import make_engine, make_sessionmaker

NOW = datetime(2024, 12, 1)
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation"]


def _sessions(url: str):
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sessions(db_url):
    """A fresh store on SQLite, then on PostgreSQL: the SQL of features and scores runs on both."""
    yield from _sessions(db_url)


@pytest.fixture
def sqlite_sessions(sqlite_url):
    """A fresh SQLite store, for tests about the registry's logic rather than the SQL."""
    yield from _sessions(sqlite_url)


def org_with_connection(session, name: str, provider: str = "salesforce") -> tuple[int, int]:
    org = Organization(name=name)
    session.add(org)
    session.flush()
    connection = Connection(organization_id=org.id, provider=provider, remote_org_id=f"{name}-{provider}",
                            instance_url="https://example.test", token_ciphertext=b"-")
    session.add(connection)
    session.flush()
    return org.id, connection.id


class Rows:
    """Collects store rows for one connection and writes them in bulk."""

    def __init__(self, org: int, connection: int):
        self.common = {"organization_id": org, "connection_id": connection, "remote_data": {},
                       "content_hash": "h"}
        self.tables: dict[type, list[dict]] = {}

    def add(self, model, **values):
        self.tables.setdefault(model, []).append({**self.common, **values})

    def write(self, session):
        for model, rows in self.tables.items():
            shapes: dict[tuple, list[dict]] = {}
            for row in rows:  # rows naming the same columns go in one statement; defaults fill the rest
                shapes.setdefault(tuple(sorted(row)), []).append(row)
            for same in shapes.values():
                session.execute(model.__table__.insert(), same)
        session.commit()


def seed_deals(rows: Rows, n_closed: int, n_open: int, seed: int, prefix: str = "006"):
    """Deals whose outcome follows engagement and stalling; closed ones also get activity after closing."""
    rng = np.random.default_rng(seed)
    for i in range(n_closed + n_open):
        rid = f"{prefix}{seed}{i:05d}"
        created = NOW - timedelta(days=int(rng.integers(20, 400)))
        engaged = rng.random()
        pushes = int(rng.poisson(0.3 + 1.5 * (1 - engaged)))
        steps = int(rng.integers(1, 4))
        closed = i < n_closed
        duration = int(rng.integers(10, 120))
        end = min(created + timedelta(days=duration), NOW - timedelta(days=1)) if closed else NOW
        won = closed and rng.random() < 1 / (1 + np.exp(-(4 * engaged - 2 - 0.5 * pushes)))
        t, close = created, (created + timedelta(days=30)).date()
        for step in range(steps + 1):
            rows.add(OpportunityStageChange, remote_id=f"{rid}-h{step}", opportunity_remote_id=rid,
                     stage=STAGES[step], changed_at=t, close_date=close, amount=1000.0)
            t = t + (end - t) / 2
            if step < pushes:
                close = close + timedelta(days=21)
        stage = STAGES[steps]
        if closed:
            stage = "Closed Won" if won else "Closed Lost"
            rows.add(OpportunityStageChange, remote_id=f"{rid}-hc", opportunity_remote_id=rid, stage=stage,
                     changed_at=end, close_date=end.date(), amount=1000.0 if won else 0.0)
            for k in range(3):  # after the outcome: must never count
                rows.add(Activity, remote_id=f"{rid}-late{k}", kind="email", what_remote_id=rid,
                         occurred_at=end + timedelta(days=k + 1))
        for k in range(int(rng.poisson(1 + 8 * engaged))):
            when = created + (end - created) * float(rng.random())
            rows.add(Activity, remote_id=f"{rid}-a{k}", kind=str(rng.choice(["call", "email", "meeting"])),
                     what_remote_id=rid, occurred_at=when)
        rows.add(Opportunity, remote_id=rid, stage=stage, amount=1000.0 if (won or not closed) else 0.0,
                 is_closed=closed, is_won=bool(won), close_date=end.date() if closed else close,
                 owner_remote_id=f"005{i % 5}", account_remote_id=f"001{i % 40}",
                 product=str(rng.choice(["Basic", "Pro", "Max"])), remote_created_at=created,
                 remote_modified_at=end)


def seed_leads(rows: Rows, n: int, seed: int, prefix: str = "00Q"):
    """Leads converting with engagement and source; converted ones get activity after converting too."""
    rng = np.random.default_rng(seed)
    sources = ["paid_search", "organic_search", "referral", "social", "email"]
    for i in range(n):
        rid = f"{prefix}{seed}{i:05d}"
        created = NOW - timedelta(days=int(rng.integers(1, 300)))
        source = sources[i % len(sources)]
        engaged = rng.random()
        lift = {"referral": 1.0, "paid_search": 0.3}.get(source, -0.3)
        converts = (NOW - created).days > 120 and rng.random() < 1 / (1 + np.exp(-(4 * engaged - 3 + lift)))
        converted_at = created + timedelta(days=int(rng.integers(5, 120))) if converts else None
        until = converted_at or NOW
        for k in range(int(rng.poisson(0.5 + 6 * engaged))):
            rows.add(Activity, remote_id=f"{rid}-a{k}", who_remote_id=rid,
                     kind=str(rng.choice(["call", "email", "web_visit", "form"])),
                     occurred_at=created + (until - created) * float(rng.random()))
        if converts:
            rows.add(Activity, remote_id=f"{rid}-late", who_remote_id=rid, kind="meeting",
                     occurred_at=converted_at + timedelta(days=1))
        if rng.random() < 0.4:
            rows.add(CampaignMember, remote_id=f"{rid}-cm", lead_remote_id=rid, campaign_remote_id="701A",
                     has_responded=bool(engaged > 0.5), first_responded_at=created + timedelta(days=1),
                     remote_created_at=created)
        status = ("Closed - Converted" if converts
                  else str(rng.choice(["Open - Not Contacted", "Working - Contacted"])))
        rows.add(Lead, remote_id=rid, lead_source=source, company=f"Co {i}" if rng.random() < 0.8 else None,
                 title=str(rng.choice(["VP Sales", "Office manager", "CEO", ""])), status=status,
                 is_converted=bool(converts), converted_at=converted_at, remote_created_at=created,
                 remote_modified_at=until, email=f"p{i}@example.test")


def seed_store(sessions) -> dict:
    """Organization A with enough history to train on, and organization B with too little."""
    with sessions() as session:
        org_a, conn_a = org_with_connection(session, "a")
        org_b, conn_b = org_with_connection(session, "b")
        a, b = Rows(org_a, conn_a), Rows(org_b, conn_b)
        seed_deals(a, n_closed=900, n_open=40, seed=1)
        seed_leads(a, n=2400, seed=2)
        seed_deals(b, n_closed=30, n_open=10, seed=3)
        seed_leads(b, n=40, seed=4)
        a.write(session)
        b.write(session)
    return {"sessions": sessions, "a": (org_a, conn_a), "b": (org_b, conn_b)}


@pytest.fixture
def store(sessions):
    """The seeded store, on SQLite and on PostgreSQL."""
    return seed_store(sessions)


@pytest.fixture
def sqlite_store(sqlite_sessions):
    """The seeded store on SQLite only."""
    return seed_store(sqlite_sessions)


def test_score_connection_trains_scores_and_stores_scores_with_their_version(store):
    org, conn = store["a"]
    with store["sessions"]() as session:
        result = score_connection(session, conn, now=NOW)

        assert result["opportunity"] == 40
        open_leads = session.scalar(select(func.count()).select_from(Lead).where(
            Lead.connection_id == conn, Lead.is_converted.is_(False)))
        assert result["lead"] == open_leads
        assert len(result["changed"]["opportunity"]) == 40 and len(result["changed"]["lead"]) == result["lead"]

        for target in ("opportunity", "lead"):
            version = active_version(session, org, target)
            assert re.fullmatch(rf"{target}-20241201-[0-9a-f]{{6}}", version.version)
            assert version.kind in ("logistic_regression", "gradient_boosting") and version.artifact
            card = version.card
            assert card["limited_history"] is False
            assert {"auc", "brier", "log_loss", "base_rate"} <= set(card["metrics"])
            assert card["metrics"]["auc"] > 0.6, card["metrics"]
            assert len(card["calibration"]) == 10 and card["top_factors"]
            assert card["training"]["labelled"] >= 200 and card["data_window"]["to"] <= NOW.isoformat()
            assert not card["excluded"], card["excluded"]  # the store features are built not to leak
            scores = session.scalars(select(Score).where(Score.object_type == target)).all()
            assert scores and all(s.model_version == version.version for s in scores)
            for s in scores:
                assert 1 <= s.score <= 99 and s.band in "ABCD" and 0 < s.probability < 1
                assert s.next_step and s.limited_history is False
                assert set(s.reasons) >= {"up", "down", "base", "limited_history"}
                assert all({"feature", "text", "impact"} == set(r) for r in s.reasons["up"] + s.reasons["down"])
        history = session.scalar(select(func.count()).select_from(ScoreHistory))
        assert history == result["lead"] + result["opportunity"]


def test_rescoring_changes_only_what_moved(sqlite_store):
    store = sqlite_store
    org, conn = store["a"]
    with store["sessions"]() as session:
        score_connection(session, conn, now=NOW)
        again = score_connection(session, conn, now=NOW)
        assert again["changed"] == {"lead": [], "opportunity": []}
        history = session.scalar(select(func.count()).select_from(ScoreHistory))

        deal = session.scalars(select(Opportunity).where(Opportunity.connection_id == conn,
                                                         Opportunity.is_closed.is_(False))).first()
        for k in range(4):
            session.add(Activity(organization_id=org, connection_id=conn, remote_id=f"new-{k}", remote_data={},
                                 content_hash="h", kind="meeting", what_remote_id=deal.remote_id,
                                 occurred_at=NOW - timedelta(days=k + 1)))
        session.commit()
        before = session.scalar(select(Score).where(Score.remote_id == deal.remote_id))
        before_reasons, before_score = before.reasons, before.score
        targeted = score_connection(session, conn, now=NOW, remote_ids={"opportunity": [deal.remote_id]})

        assert targeted["opportunity"] == 1 and targeted["lead"] == 0
        assert targeted["changed"]["opportunity"] == [deal.remote_id]
        session.expire_all()
        after = session.scalar(select(Score).where(Score.remote_id == deal.remote_id))
        assert after.reasons != before_reasons
        added = session.scalar(select(func.count()).select_from(ScoreHistory)) - history
        assert added == (1 if after.score != before_score else 0)


def test_features_of_the_records_to_score_equal_those_of_the_full_build(store):
    org, conn = store["a"]
    with store["sessions"]() as session:
        for build in (deal_features, lead_features):
            full = build(session, org, NOW)
            some = full.meta[full.meta["is_open"]]["remote_id"].tolist()[::3]
            scoped = build(session, org, NOW, ScoringScope(conn, frozenset(some)))
            assert sorted(scoped.meta["remote_id"]) == sorted(some) and scoped.meta["is_open"].all()
            expected = full.frame[(full.meta["is_open"] & full.meta["remote_id"].isin(some)).to_numpy()]
            assert_frame_equal(scoped.frame.reset_index(drop=True), expected.reset_index(drop=True),
                               check_dtype=False)


def test_the_job_scores_with_the_process_runtime(make_runtime, sqlite_url):
    rt = make_runtime(sqlite_url)  # the migrated schema, as a worker sees it
    with rt.sessions() as session:
        org, conn = org_with_connection(session, "job")
        rows = Rows(org, conn)
        seed_deals(rows, n_closed=30, n_open=5, seed=11)
        rows.write(session)
        wanted = session.scalars(select(Opportunity.remote_id).where(Opportunity.is_closed.is_(False))).all()[:2]

    result = score_connection_job(conn, {"opportunity": wanted})

    assert result["opportunity"] == 2 and sorted(result["changed"]["opportunity"]) == sorted(wanted)
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Score)) == 2

    retrained = retrain_job(org, "opportunity")  # the admin console's "retrain now"

    assert retrained["active"] is True and retrained["kind"] == "rules"  # 30 outcomes: too few to learn from
    assert retrained["rescored"] == 5
    with rt.sessions() as session:
        versions = {s.model_version for s in session.scalars(select(Score))}
        assert versions == {retrained["version"]}


def test_limited_history_scores_from_rules_and_says_so(sqlite_store):
    store = sqlite_store
    org, conn = store["b"]
    with store["sessions"]() as session:
        result = score_connection(session, conn, now=NOW)
        assert result["opportunity"] == 10 and result["lead"] > 0
        for target in ("opportunity", "lead"):
            version = active_version(session, org, target)
            assert version.kind == "rules" and version.card["limited_history"] is True
        scores = session.scalars(select(Score).where(Score.connection_id == conn)).all()
        assert all(s.limited_history and s.reasons["limited_history"] for s in scores)
        assert all(s.reasons["note"] == LIMITED_HISTORY for s in scores)
        # organization A's data never reaches B's model: at most B's 30 closed deals are learnt from
        assert 0 < active_version(session, org, "opportunity").card["training"]["labelled"] <= 30


def test_closed_deal_features_are_taken_before_the_outcome(sessions):
    with sessions() as session:
        org, conn = org_with_connection(session, "x")
        rows = Rows(org, conn)
        created = datetime(2024, 1, 1)
        closed_at = datetime(2024, 3, 1)
        path = [("Prospecting", 10, created, date(2024, 2, 1)),
                ("Proposal", 50, datetime(2024, 1, 20), date(2024, 2, 15)),
                ("Qualification", 20, datetime(2024, 2, 1), date(2024, 3, 1)),
                ("Closed Won", 100, closed_at, date(2024, 3, 1))]
        for k, (stage, p, when, close) in enumerate(path):
            rows.add(OpportunityStageChange, remote_id=f"h{k}", opportunity_remote_id="D1", stage=stage,
                     probability=float(p), changed_at=when, close_date=close)
        rows.add(Opportunity, remote_id="D1", stage="Closed Won", is_closed=True, is_won=True, amount=500.0,
                 close_date=date(2024, 3, 1), owner_remote_id="U1", remote_created_at=created)
        rows.add(Opportunity, remote_id="D0", stage="Closed Lost", is_closed=True, is_won=False,
                 close_date=date(2024, 2, 10), owner_remote_id="U1", remote_created_at=created)
        rows.add(Opportunity, remote_id="D2", stage="Closed Won", is_closed=True, is_won=True,
                 close_date=date(2024, 5, 1), owner_remote_id="U1", remote_created_at=created)
        rows.add(Opportunity, remote_id="D3", stage="Proposal", is_closed=False, owner_remote_id="U1",
                 remote_created_at=datetime(2024, 4, 1))
        for k, when in enumerate([datetime(2024, 2, 20), datetime(2024, 2, 25), datetime(2024, 3, 5)]):
            rows.add(Activity, remote_id=f"a{k}", kind="meeting", what_remote_id="D1", occurred_at=when)
        rows.add(Activity, remote_id="gone", kind="call", what_remote_id="D1", occurred_at=datetime(2024, 2, 26),
                 deleted_at=datetime(2024, 2, 27))
        rows.write(session)

        features = deal_features(session, org, now=datetime(2024, 6, 1))
        row = features.frame[features.meta["remote_id"].to_numpy() == "D1"].iloc[0]
        meta = features.meta[features.meta["remote_id"] == "D1"].iloc[0]

        # learnt from as it looked at one moment of its open life, before anyone knew it would be won
        seen = meta["as_of"]
        assert meta["label"] == 1 and not meta["is_open"] and meta["known_at"] == closed_at
        assert created < seen < closed_at
        before = [p for p in path if p[2] < seen]
        assert row["stage"] == before[-1][0]  # the stage it was in then, never "Closed Won"
        assert row["age_days"] == (seen - created).days
        assert row["days_in_stage"] == (seen - before[-1][2]).days
        # nothing after that moment, nothing deleted
        meetings = [when for when in (datetime(2024, 2, 20), datetime(2024, 2, 25)) if when < seen]
        assert row["activities_total"] == len(meetings)
        ranks = {"Prospecting": 0, "Qualification": 1, "Proposal": 2}
        moves = list(zip(before, before[1:]))
        assert row["stage_moves_forward"] == sum(ranks[b[0]] > ranks[a[0]] for a, b in moves)
        assert row["stage_moves_back"] == sum(ranks[b[0]] < ranks[a[0]] for a, b in moves)
        assert row["close_date_pushes"] == sum(b[3] > a[3] for a, b in moves)
        assert row["owner_closed_deals"] == int(datetime(2024, 2, 10) < seen)  # D0, if it had closed by then
        assert meta["weight"] == (closed_at - created).days  # it stands for all 60 days it was open

        # as of an earlier time, D2 was still open and is scored, not learnt from
        early = deal_features(session, org, now=datetime(2024, 3, 15))
        d2 = early.meta[early.meta["remote_id"] == "D2"].iloc[0]
        assert d2["is_open"] and np.isnan(d2["label"])
        assert "D3" not in set(early.meta["remote_id"])  # created after that time


def test_converted_lead_features_stop_at_conversion(sessions):
    with sessions() as session:
        org, conn = org_with_connection(session, "y")
        _, marketing = org_with_connection(session, "y2", provider="marketo")
        rows = Rows(org, conn)
        rows.add(Lead, remote_id="L1", lead_source="referral", status="Closed - Converted", is_converted=True,
                 converted_at=datetime(2024, 3, 1), remote_created_at=datetime(2024, 2, 1), title="VP Marketing")
        rows.add(Lead, remote_id="L2", lead_source="web", status="Open", remote_created_at=datetime(2024, 1, 1),
                 email_key="ana@example.test")
        for k, when in enumerate([datetime(2024, 2, 20), datetime(2024, 3, 10)]):
            rows.add(Activity, remote_id=f"a{k}", kind="call", who_remote_id="L1", occurred_at=when)
        rows.add(CampaignMember, remote_id="cm1", lead_remote_id="L1", has_responded=True,
                 first_responded_at=datetime(2024, 2, 5), remote_created_at=datetime(2024, 2, 2))
        rows.write(session)
        other = Rows(org, marketing)
        other.add(Lead, remote_id="M1", lead_source="web", remote_created_at=datetime(2023, 1, 1),
                  email_key="ana@example.test")
        for k in range(3):  # the same person's web visits, seen by the marketing tool
            other.add(Activity, remote_id=f"v{k}", kind="web_visit", who_remote_id="M1",
                      occurred_at=datetime(2024, 5, 20 + k))
        other.write(session)

        features = lead_features(session, org, now=datetime(2024, 6, 1))
        meta = features.meta.reset_index(drop=True)
        frame = features.frame.reset_index(drop=True)

        [l1] = meta.index[meta["remote_id"] == "L1"]
        seen_at = meta.loc[l1, "as_of"]  # a moment of its open life, before it converted
        assert meta.loc[l1, "label"] == 1 and not meta.loc[l1, "is_open"]
        assert datetime(2024, 2, 1) <= seen_at <= datetime(2024, 3, 1)
        assert meta.loc[l1, "known_at"] == datetime(2024, 3, 1)
        assert frame.loc[l1, "activities_total"] == int(seen_at > datetime(2024, 2, 20))  # never the one after
        assert frame.loc[l1, "age_days"] == (seen_at - datetime(2024, 2, 1)).days
        assert frame.loc[l1, "campaign_responses"] == int(seen_at > datetime(2024, 2, 5))
        assert frame.loc[l1, "title_level"] == "vice president" and "status" not in frame

        l2 = meta[meta["remote_id"] == "L2"]  # open for more than 90 days: learnt from as lost, and scored
        assert sorted(l2["is_open"]) == [False, True] and l2["label"].fillna(-1).tolist() == [0, -1]
        assert l2["as_of"].iloc[1] == datetime(2024, 6, 1) and l2["as_of"].iloc[0] < datetime(2024, 6, 1)
        assert frame.loc[l2.index[1], "marketing_touches_30d"] == 3  # linked by email across systems
        m1 = meta[meta["remote_id"] == "M1"]  # the marketing tool knows no conversions: never a negative
        assert len(m1) == 1 and np.isnan(m1["label"].iloc[0]) and m1["is_open"].iloc[0]


def test_a_new_version_is_compared_with_the_active_one_on_the_same_records(sqlite_store):
    store = sqlite_store
    org, _ = store["a"]
    with store["sessions"]() as session:
        first = train(session, org, "opportunity", now=NOW)
        second = train(session, org, "opportunity", now=NOW + timedelta(days=1))
        session.commit()
        # no outcome the first has not seen: nothing fair to compare on, the newer one is used
        assert second.card["comparison"]["active_version"] == first.version
        assert second.card["comparison"]["records"] == 0 and second.card["comparison"]["promoted"] is True
        assert active_version(session, org, "opportunity").id == second.id

        later = Rows(org, store["a"][1])
        seed_deals(later, n_closed=300, n_open=0, seed=9, prefix="LATER")
        created = {}
        for k, row in enumerate(later.tables[Opportunity]):  # created lately, closed after the active version
            created[row["remote_id"]] = NOW - timedelta(days=30 + k % 30)
            row.update(remote_created_at=created[row["remote_id"]], remote_modified_at=NOW + timedelta(days=20),
                       close_date=(NOW + timedelta(days=20)).date())
        for row in later.tables[OpportunityStageChange]:
            start = created[row["opportunity_remote_id"]]
            closing = row["stage"].startswith("Closed")
            row["changed_at"] = NOW + timedelta(days=20) if closing else start + timedelta(hours=int(row["remote_id"][-1]))
        for row in later.tables[Activity]:
            row["occurred_at"] = created[row["what_remote_id"]] + timedelta(days=1)
        later.write(session)
        # once they had their window to close, they are the most recent matured deals: held out
        third = train(session, org, "opportunity", now=NOW + timedelta(days=120))
        assert third.card["earns"], third.card["verdict"]
        comparison = third.card["comparison"]
        assert comparison["records"] >= 50 and comparison["active_version"] == second.version
        assert set(comparison["new_metrics"]) >= {"auc", "brier"} and set(comparison["active_metrics"]) >= {"auc"}
        assert third.is_active is comparison["promoted"]
        assert session.scalar(select(func.count()).select_from(ModelVersion).where(ModelVersion.is_active)) == 1
        model = load_model(second)
        assert model.kind == second.kind
        assert model.excluded.keys() == {e["feature"] for e in second.card["excluded"]}


def test_a_field_rewritten_at_the_close_is_caught_from_its_history_and_an_admin_can_keep_it(sqlite_store):
    store = sqlite_store
    org, conn = store["a"]
    with store["sessions"]() as session:
        # The seed zeroes lost deals' amounts at the close, and the history keeps the amount before it.
        first = train(session, org, "opportunity", now=NOW)
        checks = first.card["leak_checks"]
        assert "rewritten at the close on 100% of lost deals against 0% of won ones" in checks["amount"]
        assert "the model reads the amount recorded before the close" in checks["amount"]
        assert "amount" not in {e["feature"] for e in first.card["excluded"]}
        assert "modification times" in checks

        # With an amount before the close for too few deals, the model would mostly learn the rewritten one.
        h = OpportunityStageChange
        session.execute(h.__table__.update()
                        .where(h.organization_id == org, ~h.stage.startswith("Closed"),
                               func.substr(h.opportunity_remote_id, -1).in_(list("0123456")))
                        .values(amount=None))
        session.commit()
        second = train(session, org, "opportunity", now=NOW + timedelta(days=1))
        excluded = {e["feature"]: e for e in second.card["excluded"]}
        reason = excluded["amount"]["reason"]
        assert "the field history shows the amount rewritten at the close on 100% of lost deals" in reason
        assert "only 30% of closed deals have an amount recorded before their close" in reason
        assert excluded["amount"]["test"] == "after_the_fact"
        assert excluded["amount"]["auc_with"] > excluded["amount"]["auc_without"]

        # An admin's word keeps it in, and the card says whose word it was.
        keep_feature(session, org, "opportunity", "amount", "salesforce:005ADMIN")
        third = train(session, org, "opportunity", now=NOW + timedelta(days=2))
        assert "amount" not in {e["feature"] for e in third.card["excluded"]}
        [kept] = [k for k in third.card["kept"] if k["feature"] == "amount"]
        assert kept["kept_by"].startswith("salesforce:005ADMIN on ") and "rewritten" in kept["reason"]
