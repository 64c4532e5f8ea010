"""The store on SQLite and PostgreSQL: migrations, bulk upserts, encrypted tokens."""
from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import event, func, inspect, select

from sync.store import Account, Connection, Organization
from sync.store.crypto import TokenCipher
from sync.store.db import make_engine, make_sessionmaker, upsert
from web.cli import upgrade_database


def _org_and_connection(session, cipher):
    org = Organization(name="Acme")
    session.add(org)
    session.flush()
    connection = Connection(organization_id=org.id, provider="salesforce", remote_org_id="00D000000000001AAA",
                            instance_url="https://example", token_ciphertext=cipher.encrypt_json({"a": 1}))
    session.add(connection)
    session.flush()
    return org, connection


def test_migrations_create_every_table(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"organization", "connection", "account", "contact", "lead", "opportunity",
            "opportunity_stage_change", "activity", "crm_user", "campaign", "campaign_member",
            "sync_cursor", "sync_run", "webhook_event", "score", "writeback_ledger", "crm_stage"} <= tables
    engine.dispose()


def test_a_page_is_one_upsert_statement_and_conflicts_update(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    cipher = TokenCipher([Fernet.generate_key().decode()])
    statements = []
    with sessions() as session:
        org, connection = _org_and_connection(session, cipher)
        rows = [dict(organization_id=org.id, connection_id=connection.id, remote_id=f"001{i:015d}",
                     remote_data={"Name": f"A{i}"}, content_hash=str(i), name=f"A{i}", remote_deleted=False)
                for i in range(2000)]
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        upsert(session, Account, rows, conflict=("connection_id", "remote_id"))
        rows[0] = {**rows[0], "name": "Renamed", "content_hash": "x"}
        upsert(session, Account, rows[:1], conflict=("connection_id", "remote_id"))
        session.commit()
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        assert len(inserts) <= 3, "a page must not be written row by row"
        assert session.scalar(select(func.count()).select_from(Account)) == 2000
        assert session.scalar(select(Account.name).where(Account.remote_id == "001" + "0" * 15)) == "Renamed"
    engine.dispose()


def test_token_sets_survive_key_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher([old]).encrypt_json({"access_token": "secret-token"})
    rotated = TokenCipher([new, old])
    assert rotated.decrypt_json(stored)["access_token"] == "secret-token"
    assert TokenCipher([new]).decrypt_json(rotated.rotate(stored))["access_token"] == "secret-token"
