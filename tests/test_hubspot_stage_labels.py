"""Deal stage labels from HubSpot's pipelines, synced over real HTTPS into SQLite and PostgreSQL.

The portal has HubSpot's default Sales Pipeline and a custom pipeline whose stage ids are numbers, as
HubSpot gives pipelines created after the default one. Deals keep the stage id; people read the label.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors.hubspot import streams
from connectors.hubspot.sandbox.pipelines import DEFAULT_PIPELINE
from connectors.hubspot.sandbox.server import HubSpotSandboxServer
from sync.stages import stage_names
from sync.store import CrmStage, Opportunity
from tests.hubspot_fixtures import connect, hubspot_settings, make_client, make_engine

RENEWALS = {"id": "75318642", "label": "Renewals", "displayOrder": 1, "createdAt": "2017-03-01T09:00:00Z",
            "stages": [{"id": "1002", "label": "Renewal Due", "probability": "0.5", "isClosed": False},
                       {"id": "1001", "label": "Renewal Quoted", "probability": "0.8", "isClosed": False},
                       {"id": "1003", "label": "Renewed", "probability": "1.0", "isClosed": True},
                       {"id": "1004", "label": "Churned", "probability": "0.0", "isClosed": True}]}


@pytest.fixture(scope="module")
def hs_pipelines(tmp_path_factory):
    server = HubSpotSandboxServer(tmp_path_factory.mktemp("hs-pipelines"), port=0, seed="small",
                                  settings={"deal_pipelines": [RENEWALS]}).start()
    yield server
    server.stop()


def test_the_pipelines_stages_are_stored_with_their_labels_and_board_order(make_runtime, db_url, hs_pipelines):
    rt = make_runtime(db_url, **hubspot_settings(hs_pipelines))
    installed = connect(rt, hs_pipelines)
    engine = make_engine(rt, make_client(rt, installed))
    first = engine.run(installed.connection_id, installed.organization_id, streams=(streams.DealStages,))
    assert first.status == "completed" and first.streams["deal_stage"]["changed"] == 11
    with rt.sessions() as session:
        stored = {s.remote_id: s for s in session.scalars(select(CrmStage).where(
            CrmStage.connection_id == installed.connection_id))}
        assert {k: s.label for k, s in stored.items() if s.pipeline_remote_id == "default"} == {
            s.id: s.label for s in DEFAULT_PIPELINE.stages}
        qualified, renewed, due = stored["qualifiedtobuy"], stored["1003"], stored["1002"]
        assert (qualified.label, qualified.pipeline_label, qualified.display_order, qualified.probability) == (
            "Qualified To Buy", "Sales Pipeline", 1, 40.0)
        assert (renewed.pipeline_label, renewed.pipeline_order, renewed.is_closed, renewed.is_won) == (
            "Renewals", 1, True, True)
        assert stored["closedlost"].is_closed and not stored["closedlost"].is_won
        assert (due.label, due.display_order, due.is_closed) == ("Renewal Due", 0, False)
        names = stage_names(session, installed.organization_id)
        assert names.label("qualifiedtobuy", installed.connection_id) == "Qualified To Buy"
        assert names.label("1001") == "Renewal Quoted"
        # A value no pipeline lists (a stage deleted long ago, another CRM's) is shown as stored.
        assert names.label("Negotiation", installed.connection_id) == "Negotiation"
        board = sorted(["Churned", "Closed Won", "Renewal Due", "Appointment Scheduled", "Renewal Quoted"],
                       key=names.sort_key)
        assert board == ["Appointment Scheduled", "Closed Won", "Renewal Due", "Renewal Quoted", "Churned"]
    second = engine.run(installed.connection_id, installed.organization_id, streams=(streams.DealStages,))
    assert second.status == "completed" and second.changed == 0


def test_a_deal_in_a_custom_pipeline_keeps_its_numeric_stage_id(make_runtime, sqlite_url, hs_pipelines):
    rt = make_runtime(sqlite_url, **hubspot_settings(hs_pipelines))
    installed = connect(rt, hs_pipelines)
    client = make_client(rt, installed)
    created = client._call("basic", lambda api: api.create("deals", {"properties": {
        "dealname": "Renewal of the Acme plan", "pipeline": RENEWALS["id"], "dealstage": "1001",
        "amount": "1200"}}, _preload_content=False))
    engine = make_engine(rt, client)
    run = engine.run(installed.connection_id, installed.organization_id, streams=(streams.DealStages, streams.Deals))
    assert run.status == "completed"
    with rt.sessions() as session:
        deal = session.scalar(select(Opportunity).where(Opportunity.connection_id == installed.connection_id,
                                                        Opportunity.remote_id == created["id"]))
        assert deal.stage == "1001" and deal.probability == pytest.approx(80.0) and not deal.is_closed
        assert stage_names(session, installed.organization_id).label(deal.stage, deal.connection_id) == \
            "Renewal Quoted"
