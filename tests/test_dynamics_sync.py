"""The sync engine with the Dynamics 365 connector: install, full and delta sync, deletes, SQLite and PostgreSQL."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectors.base import OrgProfile
from connectors.dynamics import mapping
from connectors.dynamics.client import DynamicsClient
from connectors.dynamics.provider import DynamicsProvider
from connectors.oauth import OAuthApp
from sync.connections import install, token_saver
from sync.engine import SyncEngine
from sync.store import SYNCED_MODELS, Connection, Lead, SyncCursor
from tests.test_dynamics_sandbox import control, server  # noqa: F401 - fixtures

ENTITY_SETS = {"account": ["accounts"], "contact": ["contacts"], "lead": ["leads"], "opportunity": ["opportunities"],
               "activity": ["tasks", "phonecalls", "appointments", "emails"], "user": ["systemusers"],
               "campaign": ["campaigns"]}


@pytest.fixture
def installed(db_url, make_runtime, server, control):
    """A connection installed from a real token of the sandbox's tenant, completed with WhoAmI."""
    rt = make_runtime(db_url)
    oauth = OAuthApp(DynamicsProvider, server.authority, server.settings.client_id, "unused",
                     verify=str(server.ca_path))
    issued = control.token(refresh=True)
    token = {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"], "token_type": "Bearer",
             "scope": f"{server.scope} offline_access openid profile", "expires_at": time.time() + 3600}
    token = DynamicsProvider.complete_token(token, oauth)
    with rt.sessions() as session:
        connection = install(session, rt.cipher, "dynamics", token)
        session.commit()
        connection_id, organization_id = connection.id, connection.organization_id
    client = DynamicsClient(token, oauth, token_saver(rt.sessions, rt.cipher, connection_id),
                            api_url=token["instance_url"], verify=str(server.ca_path), sleep=lambda _s: None)
    engine = SyncEngine(rt.sessions, client, DynamicsProvider, mapping.to_common, lookback=timedelta(seconds=300))
    yield rt, engine, connection_id, organization_id
    control.reset_knobs()


def live_counts(rt, connection_id: int) -> dict[str, int]:
    with rt.sessions() as session:
        return {name: session.scalar(select(func.count()).select_from(SYNCED_MODELS[name]).where(
            SYNCED_MODELS[name].connection_id == connection_id, SYNCED_MODELS[name].deleted_at.is_(None)))
            for name in ENTITY_SETS}


def test_install_and_full_sync_store_exactly_the_environment_and_a_second_sync_changes_nothing(installed, server,
                                                                                            control):
    rt, engine, connection_id, organization_id = installed
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        assert connection.remote_org_id == server.sandbox.store.meta("organization_id")
        assert connection.instance_url == server.base_url
    # What the organization calls itself; Dataverse keeps no organization-wide time zone.
    assert engine.client.org_profile() == OrgProfile(name=server.settings.org_name, time_zone=None)
    first = engine.run(connection_id, organization_id, kind="full")
    assert first.status == "completed" and first.changed == first.seen > 0
    counts = control.info()["counts"]
    assert live_counts(rt, connection_id) == {name: sum(counts[s] for s in sets) for name, sets in ENTITY_SETS.items()}
    second = engine.run(connection_id, organization_id)
    assert second.status == "completed" and second.changed == 0 and second.deleted == 0


def test_an_edit_and_a_delete_made_in_the_environment_arrive_by_delta_link(installed, control):
    rt, engine, connection_id, organization_id = installed
    engine.run(connection_id, organization_id, kind="full")
    token_before = stored_token(rt, connection_id, "leads")
    with rt.sessions() as session:
        edited, doomed = session.scalars(select(Lead.remote_id).where(Lead.connection_id == connection_id)
                                         .order_by(Lead.remote_id).limit(2)).all()
        doomed_name = session.scalar(select(Lead.last_name).where(Lead.remote_id == doomed))
    title = f"Chief Revenue Officer {uuid.uuid4().hex[:6]}"
    control.update("lead", edited, {"jobtitle": title})
    control.delete("lead", doomed)
    # Created and deleted between two syncs: the delta link reports a delete Pipewise never stored.
    control.delete("lead", control.create("lead", {"lastname": "Fleeting", "companyname": "Gone Ltd"}))
    run = engine.run(connection_id, organization_id)
    assert (run.changed, run.deleted) == (1, 1)
    assert run.streams["leads"]["read"] == "changes" and run.streams["leads"]["deleted"] == 1
    with rt.sessions() as session:
        rows = {r.remote_id: r for r in session.scalars(select(Lead).where(Lead.connection_id == connection_id))}
    assert rows[edited].title == title and rows[edited].deleted_at is None
    # The delete is marked on the stored row, whose fields stay as they were.
    assert rows[doomed].deleted_at is not None and rows[doomed].last_name == doomed_name
    assert "Fleeting" not in {r.last_name for r in rows.values()}
    assert stored_token(rt, connection_id, "leads") not in (None, token_before)
    assert live_counts(rt, connection_id)["lead"] == control.info()["counts"]["leads"]


def stored_token(rt, connection_id: int, stream: str) -> str | None:
    with rt.sessions() as session:
        return session.scalar(select(SyncCursor.change_token).where(SyncCursor.connection_id == connection_id,
                                                                    SyncCursor.stream == stream))
