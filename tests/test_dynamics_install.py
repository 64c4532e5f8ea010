"""A Dynamics 365 admin signs in to the console and installs Pipewise through Entra ID's consent page,
with only the DYNAMICS_ settings the provider declares; the first backfill runs on a worker."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from demo.stack import give_consent
from sync.store import Connection
from tests.conftest import wait_for
from tests.test_admin_signin import build_app
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures

ADMIN = "admin"  # the sandbox's System Administrator, by sign-in name prefix


def settings(server) -> dict[str, str]:
    return dict(DYNAMICS_LOGIN_URL=server.authority, DYNAMICS_API_URL=server.base_url,
                DYNAMICS_CLIENT_ID=server.settings.client_id, DYNAMICS_CLIENT_SECRET=server.settings.client_secret,
                CA_BUNDLE=str(server.ca_path))


def through_consent(client, server, start: str, user: str) -> str:
    """Follow Pipewise's redirect to the tenant, press Accept as ``user``; return Pipewise's answer URL."""
    to_entra = client.get(start)
    assert to_entra.status_code == 302, to_entra.data
    location = to_entra.headers["Location"]
    assert location.startswith(server.authority + "/oauth2/v2.0/authorize")
    scopes = parse_qs(urlsplit(location).query)["scope"][0].split()
    # Entra ID takes Dataverse's delegated permission only under the environment's URL.
    assert f"{server.base_url}/user_impersonation" in scopes and "user_impersonation" not in scopes
    back = urlsplit(give_consent(server.base_url, str(server.ca_path), location, user,
                                 path=urlsplit(server.authority).path + "/oauth2/v2.0/authorize", user_field="user"))
    return f"{back.path}?{back.query}"


def admin_name(server) -> str:
    admin_id = server.sandbox.store.meta("admin_id")
    return server.sandbox.user(admin_id)["domainname"]


def test_an_admin_signs_in_installs_and_the_backfill_runs(tmp_path, sqlite_url, redis_url, server, control,
                                                          start_worker):
    app = build_app(tmp_path, sqlite_url, redis_url, None, **settings(server))
    rt = app.extensions["pipewise"]
    client = app.test_client()
    landed = client.get(through_consent(client, server, "/auth/login/dynamics", admin_name(server)))
    assert landed.status_code == 302, landed.data
    to_install = client.get(through_consent(client, server, "/install/dynamics", admin_name(server)))
    assert to_install.status_code == 302 and to_install.headers["Location"].endswith("/progress")
    with rt.sessions() as session:
        connection = session.query(Connection).one()
        assert connection.provider == "dynamics"
        assert connection.remote_org_id == server.sandbox.store.meta("organization_id")
        assert connection.instance_url == server.base_url
        connection_id = connection.id

    start_worker(rt.config, queues=("sync", "writeback"))
    url = f"/connections/{connection_id}/progress.json"
    wait_for(lambda: (client.get(url).json["run"] or {}).get("status") == "completed", 180,
             message="the first Dynamics backfill")
    progress = client.get(url).json
    counts = control.info()["counts"]
    assert progress["stored"]["lead"] == counts["leads"]
    assert progress["stored"]["opportunity"] == counts["opportunities"]


def test_a_salesperson_is_not_let_in_to_install(tmp_path, sqlite_url, redis_url, server):
    app = build_app(tmp_path, sqlite_url, redis_url, None, **settings(server))
    client = app.test_client()
    rep = next(user for user in server.sandbox.users() if user["systemuserid"] != server.sandbox.store.meta("admin_id"))
    client.get(through_consent(client, server, "/auth/login/dynamics", rep["domainname"]))
    answer = client.get("/install/dynamics")
    assert answer.status_code in (302, 403)
    assert not answer.headers.get("Location", "").startswith(server.authority)
