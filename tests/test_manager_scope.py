"""Who sees what on the team panel, through the real routes: Canvas POST, HubSpot token, CSV, quotas."""
from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest

import web
from embed.tokens import PanelClaims, issue_panel_token, mint_manager_token
from scoring.scope import OutOfScope, Viewer, may_view, subject_for, visible_owners
from scoring.team.winloss import win_loss
from sync.store import Quota
from tests.conftest import make_config
from tests.test_embed_canvas import INSTANCE, ORG_ID, SECRET, envelope, sign

# The team panel is its own Canvas app, signing with its own consumer secret.
TEAM_SECRET = "team-canvas-consumer-secret"
from tests.test_manager_seed import ADMIN, AS_OF, DIRECTOR, M1, M2, PERIOD, R1, R2, R3, R4, R5, prepare_store, seed_team
from web.extensions import runtime

MANAGER = "/embed/salesforce/manager"


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url):
    config = make_config(tmp_path, sqlite_url, redis_url, SALESFORCE_CLIENT_SECRET=SECRET,
                         SALESFORCE_TEAM_CLIENT_SECRET=TEAM_SECRET)
    engine, _sessions = prepare_store(sqlite_url)
    engine.dispose()
    flask_app = web.create_app(config)
    with flask_app.app_context():
        with runtime().sessions() as session:
            flask_app.config["SEED"] = seed_team(session, instance_url=INSTANCE, remote_org_id=ORG_ID)
    yield flask_app
    with flask_app.app_context():
        runtime().engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def canvas(client, viewer: str, record: str | None = None):
    """POST a freshly signed Canvas request from the viewer, on a User record or an app page."""
    context = envelope("User", record or "005000000000009AAA")
    context["context"]["user"]["userId"] = viewer
    if record is None:
        context["context"]["environment"]["record"] = {}
    return client.post(MANAGER, data={"signed_request": sign(context, secret=TEAM_SECRET)})


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def heading(text: str) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S).group(1).strip()


def token_of(response) -> str:
    match = re.search(r'name="pt" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "the panel carries no token"
    return match.group(1)


def test_scopes_follow_the_hierarchy(app):
    with app.app_context(), runtime().sessions() as session:
        org = app.config["SEED"].organization_id
        assert visible_owners(session, Viewer(org, ADMIN, "admin")) is None
        assert visible_owners(session, Viewer(org, DIRECTOR, "manager")) == {DIRECTOR, M1, M2, R1, R2, R3, R4}
        assert visible_owners(session, Viewer(org, M1, "manager")) == {M1, R1, R2}
        assert visible_owners(session, Viewer(org, R1, "rep")) == {R1}
        assert may_view(session, Viewer(org, DIRECTOR, "manager"), R4)
        assert not may_view(session, Viewer(org, M1, "manager"), R3)
        with pytest.raises(OutOfScope):
            subject_for(session, Viewer(org, R1, "rep"), R2)
        rep = subject_for(session, Viewer(org, M1, "manager"), R2)
        assert (rep.kind, rep.owners, rep.peers) == ("rep", {R2}, {M1, R1, R2})
        team = subject_for(session, Viewer(org, DIRECTOR, "manager"), M2)
        assert (team.kind, team.owners) == ("team", {M2, R3, R4})


def test_roles_come_from_the_crms_records_and_the_role_hierarchy_not_titles(app):
    """A manager by role hierarchy alone (nobody's ManagerId points at them) leads the users of the roles
    below theirs, through a role that holds no user; a title says nothing."""
    from sqlalchemy import update

    from scoring.scope import viewer_role
    from sync.store import CrmRole, User

    seed = app.config["SEED"]
    ids = dict(organization_id=seed.organization_id, connection_id=seed.connection_id, content_hash="h",
               remote_data={})
    vp, middle, central = "00E000000000000VPA", "00E0000000000EMPTY", "00E0000000000CENTR"
    with app.app_context(), runtime().sessions() as session:
        org = seed.organization_id
        session.add_all([CrmRole(remote_id=vp, name="VP", parent_remote_id=None, **ids),
                         CrmRole(remote_id=middle, name="Empty middle", parent_remote_id=vp, **ids),
                         CrmRole(remote_id=central, name="Central reps", parent_remote_id=middle, **ids)])
        # R5 reports to nobody by ManagerId; R1 has a director's title but is a rep by every record.
        session.execute(update(User).where(User.remote_id == R5).values(crm_role_remote_id=central))
        session.execute(update(User).where(User.remote_id == R2).values(crm_role_remote_id=vp, title="Sales Rep"))
        session.execute(update(User).where(User.remote_id == R1).values(title="Director of Sales"))
        session.commit()
        assert viewer_role(session, org, R2) == "manager"
        assert visible_owners(session, Viewer(org, R2, "manager")) == {R2, R5}
        assert viewer_role(session, org, R1) == "rep"
        assert viewer_role(session, org, R5) == "rep"
        assert viewer_role(session, org, ADMIN) == "admin"


def test_a_manager_sees_their_team_from_an_app_page(client):
    response = canvas(client, M1)
    text = page(response)
    assert response.status_code == 200
    assert heading(text) == "Pipeline health: User 0M1's team"
    assert "User 0R1" in text and "User 0R2" in text
    assert "User 0R3" not in text and "User 0R5" not in text
    assert f"frame-ancestors {INSTANCE}" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_a_manager_opening_a_reps_user_record_sees_that_rep(client):
    text = page(canvas(client, M1, record=R1))
    assert heading(text) == "Pipeline health: User 0R1"
    assert "You can see the numbers of your own team only" not in text
    # Rep → deal: the rep's open deals link to their CRM records.
    assert "Open deals closing this period" in text
    assert re.search(rf'href="{re.escape(INSTANCE)}/lightning/r/Opportunity/006R1\d+/view"', text)
    other = page(canvas(client, M1, record=R3))
    assert "You can see the numbers of your own team only" in other
    assert heading(other) == "Pipeline health: User 0M1's team" and "User 0R3" not in other
    director = page(canvas(client, DIRECTOR, record=M2))
    assert heading(director) == "Pipeline health: User 0M2's team" and "User 0R4" in director


def test_a_rep_sees_only_their_own_numbers(client):
    response = canvas(client, R1)
    token = token_of(response)
    assert heading(page(response)) == "Pipeline health: User 0R1"
    benchmarks = client.get(f"/embed/manager/benchmarks?pt={token}&period=2024-Q2&as_of={AS_OF}")
    assert benchmarks.status_code == 200 and "User 0R2" not in page(benchmarks)
    refused = client.get(f"/embed/manager/pipeline?pt={token}&rep={R2}")
    assert refused.status_code == 403 and "your own team only" in page(refused)
    exported = client.get(f"/embed/manager/winloss?pt={token}&format=csv&table=winloss-product"
                          f"&period=2024-Q2&as_of={AS_OF}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"


def test_every_view_answers_with_a_hubspot_token_and_exports_csv(app, client):
    seed = app.config["SEED"]
    token = mint_manager_token(app.secret_key, seed.organization_id, seed.connection_id, ADMIN, "admin")
    for view in ("pipeline", "forecast", "benchmarks", "winloss", "funnel", "coaching"):
        response = client.get(f"/embed/manager/{view}?pt={token}&period=2024-Q2&as_of={AS_OF}")
        assert response.status_code == 200, view
        assert "Whole organization" in page(response)
        assert 'class="chart"' in page(response) or view == "coaching"
    assert client.get(f"/embed/manager?pt={token}").status_code == 200
    exported = client.get(f"/embed/manager/winloss?pt={token}&period=2024-Q2&as_of={AS_OF}&format=csv"
                          f"&table=winloss-rep")
    assert exported.mimetype == "text/csv" and "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["Rep", "Won", "Lost", "Win rate", "Won amount", "Average won deal"]
    with app.app_context(), runtime().sessions() as session:
        table = win_loss(session, seed.organization_id, None, PERIOD, AS_OF, "rep", {})
    assert len(rows) == len(table.rows) + 2 and rows[-1][0] == "Total"
    assert sorted(int(r[1]) for r in rows[1:-1]) == sorted(r["won"] for r in table.rows)


def test_tokens_of_other_kinds_are_refused(app, client):
    seed = app.config["SEED"]
    rep_token = issue_panel_token(app.secret_key, PanelClaims(seed.organization_id, seed.connection_id, R1, "rep",
                                                              "opportunity", "006000000000001AAA"))
    assert client.get(f"/embed/manager?pt={rep_token}").status_code == 403
    assert client.get("/embed/manager?pt=forged.token.value").status_code == 403
    assert client.get("/embed/manager").status_code == 403
    bad = envelope("User", R1)
    assert client.post(MANAGER, data={"signed_request": sign(bad, secret="wrong")}).status_code == 403
    # Signed by the rep panel's app: one app, one secret; it does not open the team panel.
    assert client.post(MANAGER, data={"signed_request": sign(bad, secret=SECRET)}).status_code == 403


def test_only_an_admin_sets_quotas_with_a_valid_form(app, client):
    admin = canvas(client, ADMIN)
    token = token_of(admin)
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', admin.get_data(as_text=True))
    assert form_token is None, "the quota form is on the forecast view"
    forecast = client.get(f"/embed/manager/forecast?pt={token}&period=2024-Q2&as_of={AS_OF}")
    csrf_value = re.search(r'name="csrf_token" value="([^"]+)"', forecast.get_data(as_text=True)).group(1)
    form = {"pt": token, "csrf_token": csrf_value, "owner": R5, "period": "2024-Q2", "amount": "65,000"}
    saved = client.post("/embed/manager/quotas", data=form)
    assert saved.status_code == 303
    assert parse_qs(urlsplit(saved.headers["Location"]).query)["saved"] == ["1"]
    assert client.post("/embed/manager/quotas", data={**form, "csrf_token": "x"}).status_code == 403
    bad = client.post("/embed/manager/quotas", data={**form, "amount": "lots"})
    assert bad.status_code == 400 and "is not an amount" in page(bad)

    manager_token = token_of(canvas(client, M1))
    manager_page = client.get(f"/embed/manager/forecast?pt={manager_token}")
    assert "/embed/manager/quotas" not in manager_page.get_data(as_text=True), "only admins get the quota form"
    from embed.tokens import csrf_token
    with app.test_request_context():
        forged = csrf_token(manager_token)
    refused = client.post("/embed/manager/quotas", data={**form, "pt": manager_token, "csrf_token": forged})
    assert refused.status_code == 403 and "Only an admin" in page(refused)
    with app.app_context(), runtime().sessions() as session:
        quotas = session.query(Quota).filter_by(owner_remote_id=R5).all()
        assert [(q.period, q.amount, q.source) for q in quotas] == [("2024-Q2", 65000.0, "admin")]
