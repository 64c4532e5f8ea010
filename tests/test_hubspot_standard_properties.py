"""Every standard property the connector reads exists in the sandbox with HubSpot's type, and its mapping
path runs: records carrying them are synced and land in the common fields they feed."""
from __future__ import annotations

from sqlalchemy import select

from connectors.hubspot import streams
from connectors.hubspot.sandbox.schema import standard_properties
from sync.store import Account, Activity, Contact, Lead, Opportunity
from tests.hubspot_fixtures import connect, hs_runtime, hs_sandbox, make_client, make_engine  # noqa: F401


def test_the_sandbox_defines_every_hubspot_property_the_streams_read():
    for stream in streams.ALL:
        if not stream.incremental:
            continue
        defined = {p.name: p for p in standard_properties(stream.remote_name)}
        wanted = [f for f in stream.fields if f not in stream.custom_fields]
        assert [f for f in wanted if f not in defined] == [], stream.name
        assert all(defined[f].hubspot_defined for f in wanted), stream.name
    deals = {p.name: p for p in standard_properties("deals")}
    assert deals["dealtype"].type == "enumeration" and ("newbusiness", "New Business") in deals["dealtype"].options
    calls = {p.name: p for p in standard_properties("calls")}
    assert calls["hs_call_duration"].type == "number"


def test_records_with_those_properties_map_into_the_common_fields(hs_runtime, hs_sandbox):
    installed = connect(hs_runtime, hs_sandbox)
    engine = make_engine(hs_runtime, make_client(hs_runtime, installed))
    parent = hs_sandbox.create("companies", {"name": "Parent Group", "website": "https://parent.example"})
    child = hs_sandbox.create("companies", {"name": "Child Ltd", "website": "https://child.example",
                                            "hs_parent_company_id": parent})
    person = hs_sandbox.create("contacts", {"email": "eva@child.example", "lifecyclestage": "opportunity",
                                            "associatedcompanyid": child})
    fan = hs_sandbox.create("contacts", {"email": "fan@child.example", "lifecyclestage": "evangelist"})
    deal = hs_sandbox.create("deals", {"dealname": "Child renewal", "dealstage": "qualifiedtobuy",
                                       "dealtype": "existingbusiness", "hs_analytics_source": "REFERRALS"})
    call = hs_sandbox.create("calls", {"hs_timestamp": "2017-09-29T10:00:00Z", "hs_call_duration": "1260000",
                                       "hs_call_status": "COMPLETED"})
    email = hs_sandbox.create("emails", {"hs_timestamp": "2017-09-29T11:00:00Z", "hs_email_status": "BOUNCED",
                                         "hs_email_direction": "EMAIL"})
    task = hs_sandbox.create("tasks", {"hs_timestamp": "2017-09-29T12:00:00Z", "hs_task_type": "CALL",
                                       "hs_task_subject": "Call back"})
    run = engine.run_targeted(installed.connection_id, installed.organization_id, {
        "company": [parent, child], "contact": [person, fan], "deal": [deal], "call": [call], "email": [email],
        "task": [task]})
    assert run.status == "completed"
    with hs_runtime.sessions() as session:
        company = session.scalar(select(Account).where(Account.remote_id == child))
        assert company.website == "https://child.example" and company.parent_remote_id == parent
        lead = session.scalar(select(Lead).where(Lead.remote_id == person))
        assert lead.is_converted and lead.converted_at is not None and lead.converted_account_remote_id == child
        assert session.scalar(select(Contact.account_remote_id).where(Contact.remote_id == person)) == child
        evangelist = session.scalar(select(Lead).where(Lead.remote_id == fan))
        assert evangelist.is_converted and evangelist.converted_at is not None
        opportunity = session.scalar(select(Opportunity).where(Opportunity.remote_id == deal))
        assert opportunity.type == "existingbusiness" and opportunity.lead_source == "REFERRALS"
        activities = {a.remote_id: a for a in session.scalars(select(Activity).where(
            Activity.remote_id.in_([call, email, task])))}
        assert activities[call].duration_minutes == 21 and activities[email].status == "BOUNCED"
        assert activities[task].remote_data["properties"]["hs_task_type"] == "CALL"
