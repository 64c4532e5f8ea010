"""The Dynamics 365 panel: the form's web resource parameters are never trusted alone; the viewer signs in with the
sandbox tenant's Entra ID (OpenID Connect over HTTPS) and Dataverse says whose organization the record is.

Pipewise runs in a Flask test client; the browser's side of Entra ID (its sign-in cookie) is a requests session
against the sandbox. A store is installed, synced and scored once for the module.
"""
from __future__ import annotations

import html
import re
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select

from connectors.dynamics import mapping
from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import DynamicsProvider
from connectors.oauth import OAuthApp
from scoring.jobs import crm_now
from scoring.records.score import score_connection
from sync.connections import install
from sync.engine import SyncEngine
from sync.store import Connection, Lead, Organization, Score, User
from tests.test_admin_signin import build_app
from tests.test_dynamics_install import settings
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures

PANEL = "/embed/dynamics/panel"
OTHER_ORG = "othersandbox"


@pytest.fixture(scope="module")
def pipewise(tmp_path_factory, redis_server, server, control):
    """Pipewise with the sandbox environment installed, synced and scored, plus another organization's lead."""
    folder = tmp_path_factory.mktemp("pipewise-dynamics-panel")
    app = build_app(folder, f"sqlite:///{folder / 'store.db'}", redis_server, None, **settings(server))
    rt = app.extensions["pipewise"]
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, "unused",
                     verify=str(server.ca_path))
    issued = control.token()
    token = DynamicsProvider.complete_token({"access_token": issued["access_token"], "token_type": "Bearer",
                                             "scope": server.scope, "expires_at": time.time() + 3600}, oauth)
    with rt.sessions() as session:
        connection = install(session, rt.cipher, "dynamics", token)
        session.commit()
        connection_id, organization_id = connection.id, connection.organization_id
    client = DynamicsClient(token, oauth, api_url=server.base_url, verify=str(server.ca_path))
    SyncEngine(rt.sessions, client, DynamicsProvider, mapping.to_common,
               lookback=timedelta(seconds=300)).run(connection_id, organization_id, kind="full")
    with rt.sessions() as session:
        score_connection(session, connection_id, now=crm_now(session, connection_id))
        other = Organization(name="Other Co")
        session.add(other)
        session.flush()
        elsewhere = Connection(organization_id=other.id, provider="dynamics", remote_org_id=str(uuid.uuid4()),
                               instance_url="https://othersandbox.crm.dynamics.com", token_ciphertext=b"-")
        session.add(elsewhere)
        session.flush()
        foreign_lead = str(uuid.uuid4())
        session.add(Lead(organization_id=other.id, connection_id=elsewhere.id, remote_id=foreign_lead, remote_data={},
                         content_hash="h", first_name="Fiona", last_name="Foreign"))
        session.commit()
    yield SimpleNamespace(app=app, rt=rt, connection_id=connection_id, foreign_lead=foreign_lead)
    rt.engine.dispose()


def best_score(pipewise, object_type: str) -> Score:
    with pipewise.rt.sessions() as session:
        return session.scalars(select(Score).where(Score.connection_id == pipewise.connection_id,
                                                   Score.object_type == object_type)
                               .order_by(Score.score.desc(), Score.remote_id)).first()


def form_params(server, typename: str, record_id: str, orgname: str | None = None) -> dict[str, str]:
    """What the form passes its web resource (the sandbox's own form builds the same)."""
    return {"id": "{" + record_id.upper() + "}", "orglcid": "1033", "orgname": orgname or server.settings.org_name,
            "type": "4", "typename": typename, "userlcid": "1033"}


def entra_session(server) -> requests.Session:
    """The browser's side of Entra ID: it keeps the tenant's sign-in cookie."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_path)
    return session


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def open_panel(client, entra, params: dict[str, str]):
    """The frame loads the web resource URL and follows the silent sign-in; Pipewise's last answer."""
    started = client.get(f"{PANEL}?{urlencode(params)}")
    if started.status_code != 302:
        return started
    to_entra = started.headers["Location"]
    assert parse_qs(urlsplit(to_entra).query)["prompt"] == ["none"], "the frame only ever signs in silently"
    answer = entra.get(to_entra, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return client.get(path_of(answer.headers["Location"]))


def sign_in_page_url(page) -> str:
    match = re.search(r'data-authorize="([^"]+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return html.unescape(match.group(1))


def consent(server, entra, authorize_url: str, user: str) -> str:
    """The popup: the consent page (never framable), Accept as ``user``; where Entra ID sends the popup back."""
    page = entra.get(authorize_url)
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = {k: query[k] for k in ("client_id", "redirect_uri", "state", "scope", "nonce", "code_challenge",
                                  "code_challenge_method", "response_mode") if k in query}
    answer = entra.post(authorize_url.split("?")[0], data={**form, "user": user, "action": "allow"},
                        allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def rep_of(server) -> dict:
    return next(u for u in server.sandbox.users() if u["title"] != "System Administrator")


@pytest.fixture
def signed_in(pipewise, server):
    """A Flask client and an Entra session whose user has signed in to the panel once (consent in the popup)."""
    client, entra = pipewise.app.test_client(), entra_session(server)
    lead = best_score(pipewise, "lead")
    first = open_panel(client, entra, form_params(server, "lead", lead.remote_id))
    assert first.status_code == 200 and "Sign in with Microsoft" in first.get_data(as_text=True)
    back = consent(server, entra, sign_in_page_url(first), rep_of(server)["domainname"])
    popup = client.get(path_of(back))
    assert popup.status_code == 200 and "You are signed in" in popup.get_data(as_text=True)
    return client, entra


def refusal(response) -> str:
    text = response.get_data(as_text=True)
    return html.unescape(re.search(r'<h1 class="pw-title">(.*?)</h1>', text).group(1))


# -- the panel ----------------------------------------------------------------------------------------

def test_the_first_open_asks_to_sign_in_in_a_popup_and_then_the_lead_panel_opens_silently(pipewise, server):
    client, entra = pipewise.app.test_client(), entra_session(server)
    lead = best_score(pipewise, "lead")
    first = open_panel(client, entra, form_params(server, "lead", lead.remote_id))
    assert first.status_code == 200
    assert first.headers["Content-Security-Policy"].endswith(f"frame-ancestors {server.base_url}")
    popup_url = sign_in_page_url(first)
    assert "prompt" not in parse_qs(urlsplit(popup_url).query), "the popup lets the user sign in and consent"
    scopes = parse_qs(urlsplit(popup_url).query)["scope"][0].split()
    assert scopes == ["openid", "profile", f"{server.base_url}/user_impersonation"]
    assert parse_qs(urlsplit(popup_url).query)["code_challenge_method"] == ["S256"]
    popup = client.get(path_of(consent(server, entra, popup_url, rep_of(server)["domainname"])))
    assert popup.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    # The popup hands the frame its panel: a path on Pipewise carrying a panel token, no cookie needed.
    handed = html.unescape(re.search(r'data-panel="([^"]+)"', popup.get_data(as_text=True)).group(1))
    assert handed.startswith(f"/embed/panel/lead/{lead.remote_id}?pt=")
    assert f">{lead.score}<" in pipewise.app.test_client().get(handed).get_data(as_text=True)

    shown = open_panel(client, entra, form_params(server, "lead", lead.remote_id))
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200, page
    assert f">{lead.score}<" in page and lead.next_step in page
    assert shown.headers["Content-Security-Policy"].endswith(f"frame-ancestors {server.base_url}")
    # The frame's own links carry a panel token: no cookie is needed inside the CRM's frame.
    refresh = html.unescape(re.search(r'href="(/embed/panel/[^"]+)"', page).group(1))
    again = pipewise.app.test_client().get(refresh)
    assert again.status_code == 200 and f">{lead.score}<" in again.get_data(as_text=True)


def test_an_opportunity_shows_its_win_probability(pipewise, server, signed_in):
    client, entra = signed_in
    deal = best_score(pipewise, "opportunity")
    page = open_panel(client, entra, form_params(server, "opportunity", deal.remote_id)).get_data(as_text=True)
    assert "Win probability" in page and f">{deal.score}<" in page


def test_the_user_form_opens_the_team_panel(pipewise, server, signed_in):
    client, entra = signed_in
    rep = rep_of(server)
    own = open_panel(client, entra, form_params(server, "systemuser", rep["systemuserid"]))
    page = html.unescape(own.get_data(as_text=True))
    assert own.status_code == 200 and "Pipeline health" in page and rep["fullname"] in page
    assert own.headers["Content-Security-Policy"].endswith(f"frame-ancestors {server.base_url}")
    with pipewise.rt.sessions() as session:
        manager = session.scalar(select(User.manager_remote_id).where(User.connection_id == pipewise.connection_id,
                                                                      User.remote_id == rep["systemuserid"]))
    # A rep on their manager's form sees their own numbers, and is told why.
    above = open_panel(client, entra, form_params(server, "systemuser", manager)).get_data(as_text=True)
    assert "You can see the numbers of your own team only" in html.unescape(above)


# -- refusals -------------------------------------------------------------------------------------------

def test_a_record_pipewise_knows_in_another_organization_is_refused(pipewise, server, signed_in):
    client, entra = signed_in
    other_form = open_panel(client, entra, form_params(server, "lead", pipewise.foreign_lead, OTHER_ORG))
    assert other_form.status_code == 403 and refusal(other_form) == "This form belongs to another organization"
    assert "Open the record from your own organization" in other_form.get_data(as_text=True)
    # The same id under this organization's name: Dataverse, asked as the viewer, has no such record.
    renamed = open_panel(client, entra, form_params(server, "lead", pipewise.foreign_lead))
    assert renamed.status_code == 403 and refusal(renamed) == "This record is not in your organization"
    assert pipewise.foreign_lead not in renamed.get_data(as_text=True)


def test_tampered_parameters_are_refused_with_what_to_do(pipewise, server, signed_in):
    client, entra = signed_in
    lead = best_score(pipewise, "lead").remote_id
    as_deal = open_panel(client, entra, form_params(server, "opportunity", lead))
    assert as_deal.status_code == 403 and refusal(as_deal) == "This record is not in your organization"
    bad_id = client.get(f"{PANEL}?{urlencode({**form_params(server, 'lead', lead), 'id': '{1; DROP}'})}")
    assert bad_id.status_code == 400 and "Pass record object-type code" in bad_id.get_data(as_text=True)
    no_org = client.get(f"{PANEL}?{urlencode({k: v for k, v in form_params(server, 'lead', lead).items() if k != 'orgname'})}")
    assert no_org.status_code == 400 and refusal(no_org) == "Pipewise did not receive the record's details"
    account = client.get(f"{PANEL}?{urlencode(form_params(server, 'account', lead))}")
    assert account.status_code == 200 and refusal(account) == "Open a lead, an opportunity or a user"
    unsaved = client.get(f"{PANEL}?{urlencode({**form_params(server, 'lead', lead), 'id': ''})}")
    assert refusal(unsaved) == "Save the record to see its Pipewise score"


@contextmanager
def connection_changed(pipewise, **values):
    with pipewise.rt.sessions() as session:
        connection = session.get(Connection, pipewise.connection_id)
        before = {k: getattr(connection, k) for k in values}
        for k, v in values.items():
            setattr(connection, k, v)
        session.commit()
    try:
        yield
    finally:
        with pipewise.rt.sessions() as session:
            connection = session.get(Connection, pipewise.connection_id)
            for k, v in before.items():
                setattr(connection, k, v)
            session.commit()


def test_a_disconnected_or_missing_connection_is_refused(pipewise, server, signed_in):
    client, entra = signed_in
    params = form_params(server, "lead", best_score(pipewise, "lead").remote_id)
    with connection_changed(pipewise, status="disconnected"):
        answer = open_panel(client, entra, params)
        assert answer.status_code == 403 and refusal(answer) == "Pipewise is disconnected from your organization"
        assert "reconnect Dynamics 365 in the Pipewise console" in answer.get_data(as_text=True)
    with connection_changed(pipewise, remote_org_id=str(uuid.uuid4())):
        answer = open_panel(client, entra, params)
        assert answer.status_code == 403 and refusal(answer) == "Pipewise is not installed for your organization"


def test_a_signed_in_user_dataverse_refuses_is_told_to_ask_for_access(pipewise, server, control, signed_in):
    """Dataverse answers 403 to a tenant user who is not a user of the environment (0x80072560)."""
    client, entra = signed_in
    control.knobs(fail_next=1, fail_status=403)
    try:
        answer = open_panel(client, entra, form_params(server, "lead", best_score(pipewise, "lead").remote_id))
    finally:
        control.reset_knobs()
    assert answer.status_code == 403 and refusal(answer) == "You are not a user of this Dynamics 365 environment"
    assert "ask your Dynamics 365 admin to add you" in answer.get_data(as_text=True)


def test_a_code_redeemed_under_another_sign_ins_state_is_refused(pipewise, server, signed_in):
    """state, nonce and the PKCE verifier belong to one request: a code cannot be replayed into another."""
    client, entra = signed_in
    params = form_params(server, "lead", best_score(pipewise, "lead").remote_id)
    first = entra.get(client.get(f"{PANEL}?{urlencode(params)}").headers["Location"], allow_redirects=False)
    second = entra.get(client.get(f"{PANEL}?{urlencode(params)}").headers["Location"], allow_redirects=False)
    code = parse_qs(urlsplit(first.headers["Location"]).query)["code"][0]
    state = parse_qs(urlsplit(second.headers["Location"]).query)["state"][0]
    swapped = client.get(f"{PANEL}/signed-in?{urlencode({'code': code, 'state': state})}")
    assert swapped.status_code == 502 and refusal(swapped) == "Microsoft did not complete your sign-in"
    # Each state works once: the genuine answer of the first request is now refused too.
    reused = client.get(f"{PANEL}/signed-in?{urlencode({'code': code, 'state': state})}")
    assert reused.status_code == 403 and refusal(reused) == "This sign-in has expired"


def test_a_declined_consent_shows_what_to_do(pipewise, server):
    client, entra = pipewise.app.test_client(), entra_session(server)
    first = open_panel(client, entra, form_params(server, "lead", best_score(pipewise, "lead").remote_id))
    popup_url = sign_in_page_url(first)
    query = {k: v[0] for k, v in parse_qs(urlsplit(popup_url).query).items()}
    declined = entra.post(popup_url.split("?")[0], data={**query, "action": "deny"}, allow_redirects=False)
    answer = client.get(path_of(declined.headers["Location"]))
    assert answer.status_code == 403 and refusal(answer) == "You are not signed in"
    assert "Reload the form to try again" in answer.get_data(as_text=True)


# -- the sandbox's form -----------------------------------------------------------------------------------

def test_the_sandbox_form_passes_the_documented_parameters_and_orgname_is_the_organizations_name(pipewise, server,
                                                                                               control):
    """use-iframe-and-web-resource-controls-on-a-form.md's parameter set; orgname is organization.name."""
    lead = best_score(pipewise, "lead").remote_id
    control.set_web_resource("https://pipewise.example/embed/dynamics/panel")
    try:
        form = entra_session(server).get(f"{server.base_url}/main.aspx?etn=lead&id={lead}&pagetype=entityrecord")
    finally:
        control.set_web_resource(None)
    src = html.unescape(re.search(r'<iframe[^>]+src="([^"]+)"', form.text).group(1))
    assert src.startswith("https://pipewise.example/embed/dynamics/panel?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(src).query).items()}
    assert sorted(query) == ["id", "orglcid", "orgname", "type", "typename", "userlcid"]
    assert query["id"] == "{" + lead.upper() + "}" and query["typename"] == "lead"
    api = entra_session(server)
    api.headers.update({"Authorization": f"Bearer {server.issue_token()}", "Accept": "application/json",
                        "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    organizations = api.get(f"{server.web_api}/organizations?$select=name,languagecode").json()["value"]
    who = api.get(f"{server.web_api}/WhoAmI").json()
    assert [(o["organizationid"], o["name"], o["languagecode"]) for o in organizations] == [
        (who["OrganizationId"], query["orgname"], int(query["orglcid"]))]
