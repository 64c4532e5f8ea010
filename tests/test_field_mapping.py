"""Field mapping: a custom Salesforce field feeds a common field after the next sync; bad choices are refused;
a Pipewise field switched off is not written back."""
from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from connectors.base import WritableField
from connectors.hubspot.provider import HubSpotProvider
from sync import field_mapping
from sync.connections import open_client
from sync.field_mapping import FieldMapping, WritebackFieldSetting
from sync.jobs import sync_connection
from sync.store import Connection, Lead, Opportunity, WritebackLedger
from sync.store.audit_log import AuditEntry
from sync.writeback_jobs import provision_job, writeback_job
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, make_client  # noqa: F401 (fixtures)
from tests.test_admin_signin import build_app, csrf, sign_in
from tests.test_writeback import give_scores

SEGMENT = WritableField("segment", "Segment__c", "Segment", "text")
SEATS = WritableField("seats", "Seats__c", "Seats", "number")


@pytest.fixture
def synced(tmp_path, db_url, redis_url, sf_sandbox):
    """A synced connection whose CRM has two custom fields, and its admin signed in."""
    app = build_app(tmp_path, db_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    field_mapping.ensure_tables(rt.engine)
    connection_id = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as db:
        client = open_client(rt.config, rt.sessions, rt.cipher, db.get(Connection, connection_id))
    # Created through the Tooling API, as writeback provisioning creates Pipewise's own fields.
    client.ensure_fields("Lead", (SEGMENT,))
    client.ensure_fields("Opportunity", (SEATS,))
    assert sync_connection(connection_id, "full", then_score=False)["status"] == "completed"
    admin = app.test_client()
    sign_in(admin, sf_sandbox)
    return app, rt, connection_id, admin


def test_a_custom_field_mapped_onto_lead_title_fills_the_store_at_the_next_sync(synced, sf_control):
    app, rt, connection_id, admin = synced
    with rt.sessions() as db:
        lead_ids = db.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id)
                              .order_by(Lead.remote_id).limit(3)).all()
        untouched = db.scalar(select(Lead.remote_id).where(Lead.connection_id == connection_id)
                              .order_by(Lead.remote_id.desc()).limit(1))
    for i, lead_id in enumerate(lead_ids):
        sf_control.update("Lead", lead_id, {"Segment__c": f"Enterprise {i}"})
    deal = sf_control.records("Opportunity")[0]["Id"]
    sf_control.update("Opportunity", deal, {"Seats__c": 42})

    page = admin.get(f"/admin/connections/{connection_id}/mapping").get_data(as_text=True)
    assert 'value="Segment__c"' in page and "the next sync re-reads" in page
    token = csrf(admin)
    saved = admin.post(f"/admin/connections/{connection_id}/mapping/objects/lead",
                       data={"csrf_token": token, "field.title": "Segment__c", "field.company": "Company"})
    assert saved.status_code == 302
    assert "re-reads every lead" in admin.get(saved.headers["Location"]).get_data(as_text=True)
    assert admin.post(f"/admin/connections/{connection_id}/mapping/objects/opportunity",
                      data={"csrf_token": token, "field.amount": "Seats__c"}).status_code == 302

    run = sync_connection(connection_id, "incremental", then_score=False)
    assert run["status"] == "completed" and run["changed"] > 0
    with rt.sessions() as db:
        titles = dict(db.execute(select(Lead.remote_id, Lead.title).where(Lead.connection_id == connection_id,
                                                                          Lead.remote_id.in_(lead_ids))).all())
        assert titles == {lead_id: f"Enterprise {i}" for i, lead_id in enumerate(lead_ids)}
        assert db.scalar(select(Lead.title).where(Lead.remote_id == untouched)) is None
        assert db.scalar(select(Opportunity.amount).where(Opportunity.remote_id == deal)) == 42.0
        rows = db.scalars(select(FieldMapping).where(FieldMapping.connection_id == connection_id)).all()
        assert {(r.object_type, r.common_field, r.remote_field) for r in rows} == {
            ("lead", "title", "Segment__c"), ("opportunity", "amount", "Seats__c")}
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.action == "field_mapping.update")).all()
    assert len(actions) == 2
    page = admin.get(f"/admin/connections/{connection_id}/mapping").get_data(as_text=True)
    assert "mapped to Segment__c" in page

    # Back to the built-in source: the override is removed, and the next sync restores the CRM's titles.
    assert admin.post(f"/admin/connections/{connection_id}/mapping/objects/lead",
                      data={"csrf_token": token, "field.title": "Title"}).status_code == 302
    sync_connection(connection_id, "incremental", then_score=False)
    with rt.sessions() as db:
        assert db.scalar(select(Lead.title).where(Lead.remote_id == lead_ids[0])) == \
            sf_control.record("Lead", lead_ids[0])["Title"]


def test_the_orgs_own_product_field_reaches_deals_only_once_mapped(synced, sf_control):
    app, rt, connection_id, admin = synced
    deal = next(o for o in sf_control.records("Opportunity") if o.get("Product__c"))
    with rt.sessions() as db:  # no standard field holds a product, so none was read
        assert db.scalar(select(Opportunity.product).where(Opportunity.remote_id == deal["Id"])) is None
    page = admin.get(f"/admin/connections/{connection_id}/mapping").get_data(as_text=True)
    assert "none (map a field of your own)" in page and 'value="Product__c"' in page

    token = csrf(admin)
    assert admin.post(f"/admin/connections/{connection_id}/mapping/objects/opportunity",
                      data={"csrf_token": token, "field.product": "Product__c"}).status_code == 302
    sync_connection(connection_id, "incremental", then_score=False)
    with rt.sessions() as db:
        assert db.scalar(select(Opportunity.product).where(Opportunity.remote_id == deal["Id"])) == deal["Product__c"]

    # Back to no source: the override goes, and the next sync clears the product again.
    assert admin.post(f"/admin/connections/{connection_id}/mapping/objects/opportunity",
                      data={"csrf_token": token, "field.product": ""}).status_code == 302
    sync_connection(connection_id, "incremental", then_score=False)
    with rt.sessions() as db:
        assert db.scalar(select(Opportunity.product).where(Opportunity.remote_id == deal["Id"])) is None
        assert not db.scalars(select(FieldMapping).where(FieldMapping.common_field == "product")).all()


@pytest.mark.parametrize("object_type, field, remote, message", [
    ("lead", "title", "No_Such_Field__c", "has no field called"),
    ("lead", "is_converted", "Company", "cannot feed is converted"),
    ("opportunity", "close_date", "Seats__c", "cannot feed close date"),
    ("lead", "title", "Pipewise_Next_Step__c", "a field Pipewise itself writes"),
])
def test_an_invalid_remote_field_is_refused_with_a_clear_message_and_nothing_is_saved(
        synced, object_type, field, remote, message):
    app, rt, connection_id, admin = synced
    answer = admin.post(f"/admin/connections/{connection_id}/mapping/objects/{object_type}",
                        data={"csrf_token": csrf(admin), f"field.{field}": remote})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "Nothing was saved" in page and message in page
    with rt.sessions() as db:
        assert db.scalars(select(FieldMapping)).all() == []


def test_choices_show_sample_values_and_never_pipewise_own_fields(synced):
    app, rt, connection_id, admin = synced
    provision_job(connection_id)  # Pipewise's fields now exist in the CRM, as after an install
    page = admin.get(f"/admin/connections/{connection_id}/mapping").get_data(as_text=True)
    with rt.sessions() as db:
        company = db.scalars(select(Lead.remote_data).where(Lead.connection_id == connection_id)
                             .order_by(Lead.id.desc())).first()["Company"]
    row = page.split('data-samples="company"', 1)[1].split("</div>", 1)[0]
    assert "Sample values now:" in row and escape(company[:40]) in row
    assert " — e.g. " in page
    assert "Pipewise_Score__c" not in page.split('id="writeback"', 1)[0]
    assert 'value="Pipewise_Next_Step__c"' not in page


def test_the_mapping_screen_is_for_admins_of_the_connection_only(synced, sf_sandbox):
    app, rt, connection_id, admin = synced
    assert admin.get(f"/admin/connections/{connection_id + 1000}/mapping").status_code == 404
    rep = app.test_client()
    sign_in(rep, sf_sandbox, "anna.snelling@maven-sandbox.example")
    assert rep.get(f"/admin/connections/{connection_id}/mapping").status_code == 403
    anonymous = app.test_client().get(f"/admin/connections/{connection_id}/mapping")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    assert admin.post(f"/admin/connections/{connection_id}/mapping/objects/lead",
                      data={"field.title": "Segment__c"}).status_code == 400  # no CSRF token


def test_a_pipewise_field_switched_off_is_not_written_back(synced, sf_control):
    app, rt, connection_id, admin = synced
    provision_job(connection_id)
    kept = ["score", "band", "next_step", "model_version", "scored_at"]  # reasons switched off
    assert admin.post(f"/admin/connections/{connection_id}/mapping/writeback",
                      data={"csrf_token": csrf(admin), "writeback": kept}).status_code == 302
    with rt.sessions() as db:
        setting = db.scalar(select(WritebackFieldSetting).where(WritebackFieldSetting.field_key == "reasons"))
        assert setting.enabled is False and setting.updated_by.startswith("salesforce:")
    ids = give_scores(rt, connection_id, 3)
    summary = writeback_job(connection_id)
    assert summary["written"] == 3
    record = sf_control.record("Lead", ids[0])
    assert record["Pipewise_Score__c"] == 61 and record["Pipewise_Next_Step__c"] == "Call within 24 hours"
    assert not record.get("Pipewise_Reasons__c")
    with rt.sessions() as db:
        fields = set(db.scalars(select(WritebackLedger.field).where(WritebackLedger.remote_id == ids[0])))
    assert "Pipewise_Reasons__c" not in fields and "Pipewise_Score__c" in fields
    assert writeback_job(connection_id)["written"] == 0  # nothing left to write: the switched-off field is not owed


def test_a_hubspot_custom_property_feeds_the_lead_title(hs_runtime, hs_sandbox):
    rt = hs_runtime
    field_mapping.ensure_tables(rt.engine)
    installed = connect(rt, hs_sandbox)
    client = make_client(rt, installed)
    client.ensure_fields("contacts", (WritableField("persona", "persona_segment", "Persona", "text"),))
    assert sync_connection(installed.connection_id, "full", then_score=False)["status"] == "completed"
    with rt.sessions() as db:
        lead_id = db.scalar(select(Lead.remote_id).where(Lead.connection_id == installed.connection_id).limit(1))
    assert client.update_records("contacts", [{"Id": lead_id, "persona_segment": "Champion"}])[0].ok
    fields = field_mapping.catalog(rt.redis, installed.connection_id, "hubspot", "contacts", lambda: client)
    assert field_mapping.check("hubspot", "lead", "title", "no_such_property", fields)
    with rt.sessions() as db:
        connection = db.get(Connection, installed.connection_id)
        changes, errors = field_mapping.save_mapping(db, connection, HubSpotProvider, "lead",
                                                     {"title": "persona_segment"}, fields, "test")
        db.commit()
    assert errors == {} and changes == {"title": ("jobtitle", "persona_segment")}
    assert sync_connection(installed.connection_id, "incremental", then_score=False)["status"] == "completed"
    with rt.sessions() as db:
        assert db.scalar(select(Lead.title).where(Lead.connection_id == installed.connection_id,
                                                  Lead.remote_id == lead_id)) == "Champion"
