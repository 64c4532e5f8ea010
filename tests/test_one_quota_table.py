"""Migration 0024 folds the team panel's quota copy into the synced quotas: an admin's figures move in with
no connection, the copies of the CRM's figures go, and the panel reads the same numbers after as before."""
from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from scoring.forecast.quotas import quotas_by_owner, set_quota
from sync.store import Quota
from sync.store.db import make_engine, make_sessionmaker
from web.cli import alembic_config

AT = datetime(2024, 3, 1, 9, 30)


def _before(engine) -> None:
    """A store at 0023: one CRM quota synced and copied, one admin figure, one copy whose CRM row was deleted."""
    with engine.begin() as db:
        db.execute(sa.text("INSERT INTO organization (id, name, created_at) VALUES (1, 'Acme', :at)"), {"at": AT})
        db.execute(sa.text(
            "INSERT INTO connection (id, organization_id, provider, remote_org_id, instance_url, scopes, status,"
            " token_ciphertext, webhook_secret_hash, created_at, updated_at)"
            " VALUES (1, 1, 'salesforce', '00D1', 'https://example.test', '', 'healthy', :token, 'h', :at, :at)"),
            {"token": b"x", "at": AT})
        db.execute(sa.text(
            "INSERT INTO crm_quota (organization_id, connection_id, remote_id, remote_data, content_hash,"
            " remote_deleted, synced_at, owner_remote_id, period, period_start, amount, deal_amount)"
            " VALUES (1, 1, '0J9A', '{}', 'h', :no, :at, 'R1', '2024-Q2', :start, 120000, 120000)"),
            {"no": False, "at": AT, "start": datetime(2024, 4, 1).date()})
        for owner, amount, source in (("R1", 120000, "crm"), ("R2", 90000, "admin"), ("R3", 5, "crm")):
            db.execute(sa.text("INSERT INTO quota (organization_id, owner_remote_id, period, amount, source, updated_at)"
                               " VALUES (1, :owner, '2024-Q2', :amount, :source, :at)"),
                       {"owner": owner, "amount": amount, "source": source, "at": AT})


def test_admin_figures_move_in_and_crm_copies_go(db_url):
    config = alembic_config(db_url)
    command.upgrade(config, "0023")
    engine = make_engine(db_url)
    try:
        _before(engine)
        command.upgrade(config, "0024")
        with make_sessionmaker(engine)() as session:
            rows = {(q.owner_remote_id, q.source, q.amount, q.period_start) for q in session.scalars(select(Quota))}
            assert rows == {("R1", "crm", 120000, datetime(2024, 4, 1).date()),
                            ("R2", "admin", 90000, datetime(2024, 4, 1).date())}
            # R3's figure was a copy of a CRM row that is gone: it no longer counts.
            assert quotas_by_owner(session, 1, "2024-Q2", None) == {"R1": 120000, "R2": 90000}
            session.execute(sa.text("INSERT INTO crm_user (organization_id, connection_id, remote_id, remote_data,"
                                    " content_hash, remote_deleted, synced_at, is_active)"
                                    " VALUES (1, 1, 'R1', '{}', 'h', :no, :at, :yes)"),
                            {"no": False, "yes": True, "at": AT})
            # An admin's figure where the CRM keeps one is refused; for another period it is kept, once.
            with pytest.raises(ValueError, match="comes from your CRM"):
                set_quota(session, 1, "R1", "2024-Q2", 1.0)
            set_quota(session, 1, "R1", "2024-Q3", 1.0)
            set_quota(session, 1, "R1", "2024-Q3", 2.0)
            session.commit()
            assert quotas_by_owner(session, 1, "2024-Q2", None) == {"R1": 120000, "R2": 90000}
            assert quotas_by_owner(session, 1, "2024-Q3", None) == {"R1": 2.0}
            assert session.scalar(select(sa.func.count()).select_from(Quota).where(Quota.source == "admin")) == 2
        command.downgrade(config, "0023")
        with engine.connect() as db:
            assert set(db.execute(sa.text("SELECT owner_remote_id, amount, source FROM quota"))) == {
                ("R1", 2.0, "admin"), ("R2", 90000, "admin")}  # the CRM's figures come back with the next copy
            assert db.execute(sa.text("SELECT count(*) FROM crm_quota")).scalar() == 1
        command.upgrade(config, "head")
    finally:
        engine.dispose()
