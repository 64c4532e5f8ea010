"""Finding 1: no tenant takeover through an install, whichever CRM the attacker signed in with.

The attack: sign in as the super admin of any HubSpot portal, start the Salesforce install and
consent as an ordinary rep of another company's org that is already connected. Before the fix the
install re-authorized that org's connection with the rep's token and moved the session into its
organization as admin. The reverse (Salesforce admin, HubSpot rep) worked too.
"""
from __future__ import annotations

from sqlalchemy import select

from sync.connections import oauth_app
from sync.store import Connection
from tests.conftest import connect_salesforce
from tests.hubspot_fixtures import connect as connect_hubspot
from tests.security.conftest import ADMIN, REP, install, session_user, sign_in


def _connection(rt, provider: str) -> Connection | None:
    with rt.sessions() as db:
        return db.scalar(select(Connection).where(Connection.provider == provider))


def test_a_hubspot_admin_cannot_take_over_a_connected_salesforce_org_by_consenting_as_its_rep(
        both_app, sf_sandbox, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    victim_id = connect_salesforce(rt, sf_sandbox)  # another company's org, already connected
    before = _connection(rt, "salesforce")
    attacker = both_app.test_client()
    assert sign_in(attacker, hs_sandbox, "hubspot", ADMIN).status_code == 302
    assert session_user(attacker)["organization_id"] is None

    refused = install(attacker, sf_sandbox, "salesforce", REP)
    assert refused.status_code == 403 and b"not an admin" in refused.data
    after = _connection(rt, "salesforce")
    assert after.id == victim_id and after.token_ciphertext == before.token_ciphertext
    assert after.organization_id == before.organization_id and after.installed_by == before.installed_by
    assert session_user(attacker)["organization_id"] is None  # never moved into the victim's organization
    # The victim's console stays closed to the attacker.
    assert victim_id not in [c.id for c in _visible_connections(attacker, rt)]
    assert attacker.get(f"/admin/connections/{victim_id}").status_code == 404
    assert attacker.get("/admin/api-keys").status_code == 200 and b"Connect a CRM first" in \
        attacker.post("/admin/api-keys", data={"name": "loot", "csrf_token": _csrf(attacker)}).data


def test_even_an_admin_of_the_connected_org_cannot_move_it_into_another_organization(both_app, sf_sandbox, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    connect_salesforce(rt, sf_sandbox)
    before = _connection(rt, "salesforce")
    attacker = both_app.test_client()
    sign_in(attacker, hs_sandbox, "hubspot", ADMIN)
    refused = install(attacker, sf_sandbox, "salesforce", ADMIN)
    assert refused.status_code == 403 and b"already connected to another Pipewise organization" in refused.data
    after = _connection(rt, "salesforce")
    assert after.token_ciphertext == before.token_ciphertext and after.organization_id == before.organization_id
    assert session_user(attacker)["organization_id"] is None
    # The refused grant went back to the CRM; the victim's own grant still works.
    assert oauth_app(rt.config, "salesforce").refresh(rt.cipher.decrypt_json(after.token_ciphertext))["access_token"]


def test_a_salesforce_admin_cannot_take_over_a_connected_hubspot_portal_by_consenting_as_its_rep(
        both_app, sf_sandbox, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    victim = connect_hubspot(rt, hs_sandbox)
    before = _connection(rt, "hubspot")
    attacker = both_app.test_client()
    assert sign_in(attacker, sf_sandbox, "salesforce", ADMIN).status_code == 302

    refused = install(attacker, hs_sandbox, "hubspot", REP)
    assert refused.status_code == 403 and b"not an admin" in refused.data
    after = _connection(rt, "hubspot")
    assert after.token_ciphertext == before.token_ciphertext and after.organization_id == victim.organization_id
    assert session_user(attacker)["organization_id"] is None


def test_a_rep_cannot_reauthorize_their_own_companys_connection(both_app, sf_sandbox):
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, sf_sandbox, "salesforce", ADMIN)
    assert install(admin, sf_sandbox, "salesforce", ADMIN).status_code == 302
    before = _connection(rt, "salesforce")
    # The admin's own session, but a rep at the CRM's consent page: the token stays the admin's grant.
    refused = install(admin, sf_sandbox, "salesforce", REP)
    assert refused.status_code == 403
    assert _connection(rt, "salesforce").token_ciphertext == before.token_ciphertext


def test_a_company_connects_both_crms_into_one_organization(both_app, sf_sandbox, hs_sandbox):
    rt = both_app.extensions["pipewise"]
    admin = both_app.test_client()
    sign_in(admin, sf_sandbox, "salesforce", ADMIN)
    assert install(admin, hs_sandbox, "hubspot", ADMIN).status_code == 302  # consented by HubSpot's admin
    organization_id = session_user(admin)["organization_id"]
    assert organization_id == _connection(rt, "hubspot").organization_id
    assert install(admin, sf_sandbox, "salesforce", ADMIN).status_code == 302
    assert _connection(rt, "salesforce").organization_id == organization_id
    assert session_user(admin)["organization_id"] == organization_id
    assert {c.provider for c in _visible_connections(admin, rt)} == {"salesforce", "hubspot"}


def _visible_connections(client, rt) -> list[Connection]:
    page = client.get("/admin/connections").get_data(as_text=True)
    with rt.sessions() as db:
        return [c for c in db.scalars(select(Connection)) if f"/admin/connections/{c.id}\"" in page]


def _csrf(client) -> str:
    client.get("/admin/api-keys")
    with client.session_transaction() as session:
        return session["_csrf"]
