"""The deal model on Maven's CRM data in the store: calibrated near the base rate, timing as the signal."""
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from connectors.sandbox_kit.settings import datasets_dir
from scoring.records.registry import active_version
from scoring.records.score import score_connection
from sync.store import Base, Connection, Opportunity, OpportunityStageChange, Organization, Score
from sync.store.db import make_engine, make_sessionmaker

SNAPSHOT = datetime(2017, 10, 1)  # the pipeline is a snapshot as of 2017-09-30
TIMING = {"age_days", "days_in_stage"}


def datasets() -> Path:
    """The seed data: the project's datasets/, or $PIPEWISE_DATASETS."""
    try:
        return datasets_dir()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def load_maven(session) -> int:
    """Maven's deals as a CRM would sync them: stage history created at engage_date, closed at close_date."""
    org = Organization(name="Maven")
    session.add(org)
    session.flush()
    connection = Connection(organization_id=org.id, provider="salesforce", remote_org_id="maven",
                            instance_url="https://maven.test", token_ciphertext=b"-")
    session.add(connection)
    session.flush()
    common = {"organization_id": org.id, "connection_id": connection.id, "remote_data": {}, "content_hash": "h"}
    deals, history = [], []
    pipeline = pd.read_csv(datasets() / "maven-crm" / "sales_pipeline.csv")
    for row in pipeline.itertuples():
        closed = row.deal_stage in ("Won", "Lost")
        engaged = None if pd.isna(row.engage_date) else datetime.fromisoformat(row.engage_date)
        closed_at = datetime.fromisoformat(row.close_date) if closed else None
        deals.append({**common, "remote_id": row.opportunity_id, "owner_remote_id": row.sales_agent,
                      "account_remote_id": None if pd.isna(row.account) else row.account, "product": row.product,
                      "stage": row.deal_stage,
                      "amount": None if pd.isna(row.close_value) else float(row.close_value),
                      "close_date": closed_at.date() if closed else None, "is_closed": closed,
                      "is_won": row.deal_stage == "Won", "remote_created_at": engaged})
        if engaged:
            history.append({**common, "remote_id": f"{row.opportunity_id}-1",
                            "opportunity_remote_id": row.opportunity_id, "stage": "Engaging",
                            "changed_at": engaged, "amount": None})
        if closed:
            history.append({**common, "remote_id": f"{row.opportunity_id}-2",
                            "opportunity_remote_id": row.opportunity_id, "stage": row.deal_stage,
                            "changed_at": closed_at, "amount": float(row.close_value)})
    session.execute(Opportunity.__table__.insert(), deals)
    session.execute(OpportunityStageChange.__table__.insert(), history)
    session.commit()
    return connection.id


def test_maven_deals_score_only_from_a_model_that_earns_it(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'maven.db'}")
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine)() as session:
        connection_id = load_maven(session)
        result = score_connection(session, connection_id, now=SNAPSHOT)
        organization_id = session.get(Connection, connection_id).organization_id
        version = active_version(session, organization_id, "opportunity")
        card = version.card
        scores = session.scalars(select(Score).where(Score.object_type == "opportunity")).all()
    engine.dispose()

    assert result["opportunity"] == 2409 + 500  # Engaging and Prospecting deals are open
    # close_value is 0 for every lost deal and the history holds no amount before the close: excluded
    excluded = {e["feature"]: e["reason"] for e in card["excluded"]}
    assert "amount" in excluded and "lost" in excluded["amount"]
    # labels are mature: only deals created a whole window ago, held out by creation
    assert card["window"]["measured"] and 90 <= card["window"]["days"] <= 140
    assert card["training"]["holdout_n"] >= 500 and card["training"]["holdout_positives"] >= 30
    metrics, fallback = card["metrics"], card["fallback_metrics"]
    if card["earns"]:  # a trained model scores only when it beats the base rate and the stage-and-age rate
        assert version.kind in ("logistic_regression", "gradient_boosting")
        assert metrics["brier_skill"] > 0 and metrics["brier"] < fallback["brier"]
    else:  # otherwise the stage-and-age rate scores, and every deal says why
        assert version.kind == "stage_age_rate" and card["verdict"].startswith("Scores come from the stage-and-age")
        notes = [s.reasons["note"] for s in scores]
        assert all(n.startswith(("Past deals in Engaging", "Pipewise has learnt from too few deals in Prospecting"))
                   for n in notes), set(notes)
    assert len(card["calibration"]) == 10
    # never 0% or 100%; age is exposure, never a reason; bands sort the open deals against each other
    assert all(0.01 <= s.probability <= 0.99 for s in scores)
    assert not any(r["feature"] in TIMING - {"days_in_stage"} for s in scores
                   for r in s.reasons["up"] + s.reasons["down"])
    shares = {band: sum(s.band == band for s in scores) / len(scores) for band in "ABCD"}
    assert shares["A"] > 0.05 and shares["D"] > 0.05, shares
