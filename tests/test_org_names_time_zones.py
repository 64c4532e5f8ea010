"""Organizations are named after the CRM organization, and times follow the CRM's time zones.

Real OAuth consent and real HTTPS against both sandboxes; the sync on SQLite and PostgreSQL.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from connectors.hubspot.mapping import to_common as hubspot_to_common
from connectors.hubspot.provider import HubSpotProvider
from connectors.salesforce.mapping import to_common
from connectors.salesforce.provider import SalesforceProvider
from sync.connections import install as install_connection
from sync.connections import open_client, read_org_profile
from sync.engine import SyncEngine
from sync.local_time import user_zone
from sync.preflight import run_preflight
from sync.store import Connection, Organization, User
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import connect as connect_hubspot
from tests.hubspot_fixtures import hs_runtime, hs_sandbox  # noqa: F401 (fixture)
from tests.security.conftest import ADMIN, both_app, install, session_user, sign_in  # noqa: F401 (fixture)


def _org_and_connection(rt, provider: str) -> tuple[Organization, Connection]:
    with rt.sessions() as db:
        connection = db.scalar(select(Connection).where(Connection.provider == provider))
        return db.get(Organization, connection.organization_id), connection


def test_installing_salesforce_names_the_organization_after_the_salesforce_org(both_app, sf_sandbox):
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, sf_sandbox, "salesforce", ADMIN)
    assert session_user(admin)["organization_id"] is None
    assert install(admin, sf_sandbox, "salesforce", ADMIN).status_code == 302

    organization, connection = _org_and_connection(rt, "salesforce")
    expected = sf_sandbox.info()["org_name"]
    assert organization.name == expected == connection.remote_org_name
    assert connection.time_zone == "America/Los_Angeles"
    connections = admin.get("/admin/connections").get_data(as_text=True)
    assert connections.count(expected) >= 2  # the header and the connection's row
    assert f"Salesforce {sf_sandbox.org_id}" not in connections
    page = admin.get(f"/admin/connections/{connection.id}").get_data(as_text=True)
    assert expected in page and "America/Los_Angeles" in page
    trail = admin.get("/admin/audit").get_data(as_text=True)
    assert f"Salesforce connection ({expected})" in trail


def test_installing_hubspot_names_the_organization_by_the_portals_domain_and_keeps_its_zone(both_app, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, hs_sandbox, "hubspot", ADMIN)
    assert install(admin, hs_sandbox, "hubspot", ADMIN).status_code == 302

    organization, connection = _org_and_connection(rt, "hubspot")
    assert organization.name == hs_sandbox.settings.hub_domain == connection.remote_org_name
    assert connection.time_zone == hs_sandbox.settings.time_zone
    assert hs_sandbox.settings.hub_domain in admin.get("/admin/connections").get_data(as_text=True)


def test_a_second_crm_joins_under_its_own_name_and_leaves_the_organizations(both_app, sf_sandbox, hs_sandbox):  # noqa: F811
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, sf_sandbox, "salesforce", ADMIN)
    assert install(admin, hs_sandbox, "hubspot", ADMIN).status_code == 302
    assert install(admin, sf_sandbox, "salesforce", ADMIN).status_code == 302
    organization, salesforce = _org_and_connection(rt, "salesforce")
    _same, hubspot = _org_and_connection(rt, "hubspot")
    assert organization.id == _same.id and organization.name == hs_sandbox.settings.hub_domain
    assert salesforce.remote_org_name == sf_sandbox.info()["org_name"]
    assert (salesforce.time_zone, hubspot.time_zone) == ("America/Los_Angeles", hs_sandbox.settings.time_zone)
    rows = admin.get("/admin/connections").get_data(as_text=True)
    assert sf_sandbox.info()["org_name"] in rows and hs_sandbox.settings.hub_domain in rows


def test_a_name_hubspot_will_not_give_never_fails_the_install(both_app, hs_sandbox, caplog):
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, hs_sandbox, "hubspot", ADMIN)
    hs_sandbox.knobs(fail_count=5, fail_path="/account-info/", fail_status=503)
    try:
        with caplog.at_level(logging.WARNING, logger="sync.connections"):
            assert install(admin, hs_sandbox, "hubspot", ADMIN).status_code == 302
    finally:
        hs_sandbox.reset_knobs()

    organization, connection = _org_and_connection(rt, "hubspot")
    assert organization.name == f"HubSpot {hs_sandbox.portal_id}"
    assert connection.remote_org_name is None and connection.time_zone is None and connection.status == "healthy"
    assert any("install.org-profile-unreadable provider=hubspot" in r.getMessage() for r in caplog.records)
    # The console still labels it, and says how to try again.
    page = admin.get(f"/admin/connections/{connection.id}").get_data(as_text=True)
    assert "could not read its name" in page


def test_reauthorizing_renames_an_organization_still_called_by_its_id(make_runtime, sqlite_url, sf_sandbox):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)  # installed without reading the name
    with rt.sessions() as db:
        connection = db.get(Connection, connection_id)
        assert db.get(Organization, connection.organization_id).name == f"Salesforce {sf_sandbox.org_id}"
        token = rt.cipher.decrypt_json(connection.token_ciphertext)
    profile = read_org_profile(rt.config, "salesforce", token)
    assert profile.name == sf_sandbox.info()["org_name"]
    with rt.sessions() as db:
        connection = install_connection(db, rt.cipher, "salesforce", token, profile=profile,
                                        organization_id=connection.organization_id)
        db.commit()
        assert db.get(Organization, connection.organization_id).name == profile.name
        # A name an admin chose is never overwritten by the CRM's.
        db.get(Organization, connection.organization_id).name = "Acme EMEA"
        install_connection(db, rt.cipher, "salesforce", token, profile=profile,
                           organization_id=connection.organization_id)
        db.commit()
        assert db.get(Organization, connection.organization_id).name == "Acme EMEA"


def test_the_sync_stores_each_salesforce_users_time_zone(db_url, make_runtime, sf_sandbox, sf_control):
    rt = make_runtime(db_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    with rt.sessions() as db:
        connection = db.get(Connection, connection_id)
        client = open_client(rt.config, rt.sessions, rt.cipher, connection)
    run = SyncEngine(rt.sessions, client, SalesforceProvider, to_common).run(
        connection_id, connection.organization_id, streams=(SalesforceProvider.stream("user"),))
    assert run.status == "completed"
    expected = {r["Id"]: r["TimeZoneSidKey"] for r in sf_control.records("User")}
    with rt.sessions() as db:
        stored = dict(db.execute(select(User.remote_id, User.time_zone).where(User.connection_id == connection_id)).all())
        assert stored == expected and len(set(stored.values())) >= 3
        east = next(remote_id for remote_id, zone in stored.items() if zone == "America/New_York")
        assert user_zone(db, db.get(Connection, connection_id), [east]).key == "America/New_York"


def _sync_hubspot_owners(rt, installed):
    with rt.sessions() as db:
        client = open_client(rt.config, rt.sessions, rt.cipher, db.get(Connection, installed.connection_id))
    run = SyncEngine(rt.sessions, client, HubSpotProvider, hubspot_to_common).run(
        installed.connection_id, installed.organization_id, streams=(HubSpotProvider.stream("owner"),))
    assert run.status == "completed"
    return client


def test_hubspot_users_keep_their_own_zone_and_those_without_one_see_the_portals(hs_runtime, hs_sandbox):  # noqa: F811
    rt = hs_runtime
    installed = connect_hubspot(rt, hs_sandbox)
    client = _sync_hubspot_owners(rt, installed)
    with rt.sessions() as db:
        db.get(Connection, installed.connection_id).time_zone = client.org_profile().time_zone
        db.commit()
        owners = {o.email: o for o in db.scalars(select(User).where(User.connection_id == installed.connection_id))}
        by_team = {(o.team, o.time_zone) for o in owners.values()}
        assert {("East", "America/New_York"), ("Central", "America/Chicago"), ("West", "America/Los_Angeles")} <= by_team
        admin = owners[ADMIN]
        assert admin.time_zone is None  # set none in HubSpot: the portal's zone
        connection = db.get(Connection, installed.connection_id)
        assert user_zone(db, connection, [admin.remote_id]).key == hs_sandbox.settings.time_zone


def test_without_the_users_scope_every_hubspot_user_sees_the_portals_zone(hs_runtime, hs_sandbox):  # noqa: F811
    rt = hs_runtime
    hs_sandbox.settings.unavailable_scopes = ("crm.objects.users.read",)
    try:
        installed = connect_hubspot(rt, hs_sandbox)
        assert "crm.objects.users.read" not in installed.token.get("scope", "")
        _sync_hubspot_owners(rt, installed)
    finally:
        hs_sandbox.settings.unavailable_scopes = ()
    with rt.sessions() as db:
        zones = db.scalars(select(User.time_zone).where(User.connection_id == installed.connection_id)).all()
        assert zones and set(zones) == {None}


def test_a_check_reads_the_name_and_zone_of_a_connection_installed_before_they_were_read(
        make_runtime, sqlite_url, sf_sandbox):
    rt = make_runtime(sqlite_url, sf_sandbox)
    connection_id = connect_salesforce(rt, sf_sandbox)
    run_preflight(rt, connection_id)
    organization, connection = _org_and_connection(rt, "salesforce")
    assert organization.name == connection.remote_org_name == sf_sandbox.info()["org_name"]
    assert connection.time_zone == "America/Los_Angeles"
