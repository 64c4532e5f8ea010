"""The webhooks screen: the endpoint shown once after install or rotation, recent events, failures."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from demo.stack import give_consent
from sync.connections import webhook_secret_matches
from sync.store import Connection, WebhookEvent, utcnow
from sync.store.audit_log import AuditEntry
from tests.test_admin_signin import build_app, csrf, sign_in


@pytest.fixture
def app(tmp_path, sqlite_url, redis_url, sf_sandbox):
    return build_app(tmp_path, sqlite_url, redis_url, sf_sandbox, PUBLIC_URL="http://pipewise.test:8000")


def install(client, sandbox) -> int:
    """The admin's install through Pipewise's own routes and the sandbox's consent."""
    to_crm = client.get("/install/salesforce")
    back = urlsplit(give_consent(sandbox.base_url, str(sandbox.ca_path), to_crm.headers["Location"]))
    landed = client.get(f"{back.path}?{back.query}")
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/progress")
    return int(landed.headers["Location"].split("/")[-2])


def test_the_endpoint_is_shown_once_after_install_then_masked(app, sf_sandbox):
    rt = app.extensions["pipewise"]
    client = app.test_client()
    sign_in(client, sf_sandbox)
    connection_id = install(client, sf_sandbox)
    with rt.sessions() as session:
        connection = session.get(Connection, connection_id)
        install_entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "connection.install"))
    assert install_entry.target == f"connection:{connection_id}"
    assert install_entry.organization_id == connection.organization_id
    with client.session_transaction() as session:
        assert session["user"]["organization_id"] == connection.organization_id
    # The page right after the install (its progress page) shows the endpoint whole, with the banner.
    first = client.get(f"/connections/{connection_id}/progress").get_data(as_text=True)
    prefix = f"http://pipewise.test:8000/webhooks/salesforce/{sf_sandbox.org_id}/"
    secret = first.split(prefix, 1)[1].split("<", 1)[0]
    assert len(secret) >= 32 and "copy the webhook endpoint below into the CRM" in first
    assert "this page is the only time it is shown" in first and "Copy the endpoint" in first
    # The store keeps only a hash; the endpoint shown once works.
    assert secret not in str(connection.webhook_secret_hash) and webhook_secret_matches(connection, secret)
    second = client.get("/admin/webhooks").get_data(as_text=True)
    assert secret not in second and f"{prefix}••••" in second
    assert secret not in client.get(f"/connections/{connection_id}/progress").get_data(as_text=True)


def test_last_event_and_failures_come_from_the_inbox(app, sf_sandbox):
    rt = app.extensions["pipewise"]
    client = app.test_client()
    sign_in(client, sf_sandbox)
    connection_id = install(client, sf_sandbox)
    with rt.sessions() as session:
        session.add_all([
            WebhookEvent(connection_id=connection_id, event_id="evt-1", kind="outbound_message",
                         object_type="lead", remote_ids=["00Q1"], received_at=utcnow().replace(microsecond=0)),
            WebhookEvent(connection_id=connection_id, event_id="evt-2", kind="outbound_message",
                         object_type="opportunity", remote_ids=["0061"],
                         error="The targeted sync failed: Salesforce answered 503."),
            # The CRM's echo of Pipewise's own write: stored for dedupe, never counted as an event.
            WebhookEvent(connection_id=connection_id, event_id="evt-3", kind="outbound_message",
                         object_type="lead", remote_ids=["00Q2"], echo=True, processed_at=utcnow(), targets={}),
        ])
        session.commit()
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "outbound message, opportunity" in page
    assert "evt-2" in page and "The targeted sync failed: Salesforce answered 503." in page
    assert '<dt>Events today (UTC)</dt><dd class="today">2</dd>' in page
    assert '<dd class="echoes">1 ' in page and "00Q2" not in page


def test_rotating_the_secret_is_confirmed_audited_and_the_old_one_stops_working(app, sf_sandbox):
    rt = app.extensions["pipewise"]
    client = app.test_client()
    sign_in(client, sf_sandbox)
    connection_id = install(client, sf_sandbox)
    page = client.get(f"/connections/{connection_id}/progress").get_data(as_text=True)  # the one showing
    old = page.split(f"/webhooks/salesforce/{sf_sandbox.org_id}/", 1)[1].split("<", 1)[0]
    confirm = client.get(f"/admin/webhooks/{connection_id}/rotate")
    assert b"Rotate the webhook secret?" in confirm.data
    client.post(f"/admin/webhooks/{connection_id}/rotate", data={"csrf_token": csrf(client)})
    with rt.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.rotate_secret"))
    shown = client.get("/admin/webhooks").get_data(as_text=True)
    new = shown.split(f"/webhooks/salesforce/{sf_sandbox.org_id}/", 1)[1].split("<", 1)[0]
    assert new != old and entry is not None
    assert old not in str(entry.details) and new not in str(entry.details)
    assert new not in client.get("/admin/webhooks").get_data(as_text=True)
    refused = client.post(f"/webhooks/salesforce/{sf_sandbox.org_id}/{old}", data=b"<x/>")
    assert refused.status_code == 403


def test_a_second_org_of_the_same_crm_joins_the_admins_organization_when_its_consenter_is_an_admin(app, sf_sandbox):
    client = app.test_client()
    sign_in(client, sf_sandbox)
    with client.session_transaction() as session:  # signed in with another Salesforce org of the company
        session["user"] = {**session["user"], "remote_org_id": "00Danother"}
    connection_id = install(client, sf_sandbox)
    with app.extensions["pipewise"].sessions() as session:
        connection = session.get(Connection, connection_id)
    with client.session_transaction() as session:
        assert session["user"]["organization_id"] == connection.organization_id
