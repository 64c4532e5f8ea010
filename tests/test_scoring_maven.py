"""The deal model on Maven's CRM data in the store: calibrated near the base rate, timing as the signal."""
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from connectors.sandbox_kit.settings import datasets_dir
from scoring.registry import active_version
from scoring.score import score_connection
from sync.db import make_engine, make_sessionmaker
from sync.models import Base, Connection, Opportunity, OpportunityStageChange, Organization, Score

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


def test_maven_deal_model_stays_calibrated_and_explains_with_deal_age(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'maven.db'}")
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine)() as session:
        connection_id = load_maven(session)
        result = score_connection(session, connection_id, now=SNAPSHOT)
        organization_id = session.get(Connection, connection_id).organization_id
        card = active_version(session, organization_id, "opportunity").card
        scores = session.scalars(select(Score).where(Score.object_type == "opportunity")).all()
    engine.dispose()

    assert result["opportunity"] == 2409 + 500  # Engaging and Prospecting deals are open
    # close_value is 0 for every lost deal: excluded, with the reason
    assert [e["feature"] for e in card["excluded"]] == ["amount"]
    assert "is 0 for almost exactly the lost records" in card["excluded"][0]["reason"]
    metrics = card["metrics"]  # on the most recent 20% of closed deals, after the model's training period
    # Little signal here: the model must not be more confident than it knows. Its Brier score is
    # within a hair of always predicting the training base rate, and its deciles follow the data.
    assert metrics["brier"] <= metrics["prior_brier"] + 0.005, metrics
    assert all(abs(row["predicted"] - card["base_rate"]) < 0.2 for row in card["calibration"])
    # timing is the signal: it leads the model's factors and the reasons reps see
    assert {f["feature"] for f in card["top_factors"][:2]} <= TIMING, card["top_factors"]
    named = [s for s in scores if TIMING & {r["feature"] for r in s.reasons["up"] + s.reasons["down"]}]
    assert len(named) / len(scores) > 0.5
    texts = {r["text"] for s in named for r in s.reasons["up"] + s.reasons["down"]}
    assert any(t.startswith("Deal has been in Engaging for") for t in texts)
    assert np.mean([s.probability for s in scores if s.remote_id]) == pytest.approx(card["base_rate"], abs=0.1)
