"""The audit trail: appended in a hash chain, verified, and a tampered entry named by `flask audit verify`."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from sync.store.audit_log import GENESIS, AuditEntry, ensure_table, record, verify
from sync.store.db import make_engine, make_sessionmaker
from tests.test_admin_signin import build_app, csrf, sign_in
from web.cli import upgrade_database


@pytest.fixture
def sessions(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    ensure_table(engine)
    ensure_table(engine)  # idempotent: the migration may already have made it
    yield make_sessionmaker(engine)
    engine.dispose()


def _fill(sessions, n: int = 4) -> None:
    for i in range(n):
        with sessions() as session:
            record(session, actor="salesforce:005A", action="connection.pause", target=f"connection:{i}",
                   details={"n": i, "nested": {"b": 1, "a": [1, 2]}})
            session.commit()


def test_entries_chain_and_verify(sessions):
    _fill(sessions)
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [e.id for e in entries] == [1, 2, 3, 4]
        assert entries[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
        assert verify(session) == (True, None)


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_entry SET details = '{\"n\": 99}' WHERE id = 2",
    "UPDATE audit_entry SET actor = 'salesforce:005B' WHERE id = 2",
    "DELETE FROM audit_entry WHERE id = 2",
])
def test_an_edited_or_removed_entry_breaks_the_chain_there(sessions, tamper):
    _fill(sessions)
    with sessions() as session:
        session.execute(text(tamper))
        session.commit()
        ok, first_bad = verify(session)
    assert not ok and first_bad in (2, 3)  # an edit is caught at the entry, a removal at the next


def test_the_orm_refuses_to_change_an_entry(sessions):
    _fill(sessions, 1)
    with sessions() as session:
        entry = session.get(AuditEntry, 1)
        entry.action = "something.else"
        with pytest.raises(PermissionError):
            session.flush()
    with sessions() as session:
        session.delete(session.get(AuditEntry, 1))
        with pytest.raises(PermissionError):
            session.flush()


def test_flask_audit_verify_exits_1_naming_the_tampered_entry(tmp_path, sqlite_url, redis_url, sf_sandbox):
    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    client.get("/admin/connections")
    with app.extensions["pipewise"].sessions() as session:
        for i in range(3):
            record(session, actor="salesforce:005A", action="model.retrain", target=f"model:{i}")
        session.commit()
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0 and "intact" in intact.output
    assert b"The trail is intact" in client.get("/admin/audit").data

    with app.extensions["pipewise"].sessions() as session:
        session.execute(text("UPDATE audit_entry SET target = 'model:lead' WHERE id = 2"))
        session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "entry 2" in broken.output
    page = client.get("/admin/audit")
    assert b"entry 2 does not match" in page.data


def test_the_audit_screen_lists_the_admins_actions_by_name(tmp_path, sqlite_url, redis_url, sf_sandbox):
    from sync.jobs import sync_connection
    from tests.conftest import connect_salesforce

    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    connection_id = connect_salesforce(app.extensions["pipewise"], sf_sandbox)
    sync_connection(connection_id, "incremental", then_score=False)  # brings the CRM users and their names
    client = app.test_client()
    sign_in(client, sf_sandbox)
    client.post(f"/admin/connections/{connection_id}/pause", data={"csrf_token": csrf(client)})
    page = client.get("/admin/audit").get_data(as_text=True)
    # Words, names and the organization's own numbering, not codes, ids and raw JSON.
    assert "Paused a connection" in page and "Salesforce connection (" in page and "Alex Admin" in page
    assert '<td data-label="#">1</td>' in page and "{&#34;" not in page


def test_the_audit_trail_filters_by_actor_action_and_date_and_exports_neutralised_csv(
        tmp_path, sqlite_url, redis_url, sf_sandbox):
    import csv
    import io

    from sync.store import Connection
    from tests.conftest import connect_salesforce

    app = build_app(tmp_path, sqlite_url, redis_url, sf_sandbox)
    rt = app.extensions["pipewise"]
    connection_id = connect_salesforce(rt, sf_sandbox)
    client = app.test_client()
    sign_in(client, sf_sandbox)
    client.post(f"/admin/connections/{connection_id}/pause", data={"csrf_token": csrf(client)})
    client.post(f"/admin/connections/{connection_id}/resume", data={"csrf_token": csrf(client)})
    with rt.sessions() as session:
        organization_id = session.get(Connection, connection_id).organization_id
        record(session, actor="system", action="connection.pause", organization_id=organization_id + 1)
        # A name a CRM user could give themselves: a spreadsheet would run it as a formula.
        record(session, actor="=HYPERLINK(\"http://evil.example\")", action="api_key.create",
                     organization_id=organization_id, details={"name": "@SUM(1+1)"})
        session.commit()
    page = client.get("/admin/audit?action=connection.pause").get_data(as_text=True)
    assert page.count("<tr data-action=") == 1 and "Paused a connection" in page and "<td data-label=\"Action\">Resumed" not in page
    assert client.get("/admin/audit?actor=system").get_data(as_text=True).count("<tr data-action=") == 0
    assert "No entry matches" in client.get("/admin/audit?since=2001-01-01&until=2001-01-02").get_data(as_text=True)
    export = client.get("/admin/audit.csv")
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["number"] for r in rows] == [str(n) for n in range(len(rows), 0, -1)]  # per organization, no gaps
    assert "Pipewise (automatic)" not in export.get_data(as_text=True)  # another organization's entry
    hostile = rows[0]
    assert hostile["who"] == "'=HYPERLINK(\"http://evil.example\")" and hostile["details"] == "name: @SUM(1+1)"
    assert [r["action"] for r in csv.DictReader(io.StringIO(
        client.get("/admin/audit.csv?action=connection.resume").get_data(as_text=True)))] == ["Resumed a connection"]
    # The chain and its verification are untouched by the views.
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
