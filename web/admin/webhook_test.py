"""Send a test event: a real delivery, shaped and signed as the CRM sends it, to Pipewise's own intake.

It proves what an admin cannot see from the console otherwise: that the endpoint they pasted into
the CRM reaches Pipewise and is accepted. The event names the connection's most recent lead, so
the intake stores it, shows it on the Webhooks page and re-reads that one record, as for any change.
"""
from __future__ import annotations

import logging
import secrets

import requests
from flask import flash, redirect, request, url_for
from sqlalchemy import select

from connectors import registry
from sync.store import Lead
from web.admin import bp, connection_or_404, record
from web.admin.webhooks import endpoint_url, intake_url
from web.extensions import runtime

log = logging.getLogger(__name__)


def _pasted_endpoint(connection, public_url: str) -> tuple[str | None, str | None]:
    """(the endpoint to send to, None) or (None, the sentence saying what to paste)."""
    prefix = endpoint_url(public_url, connection, "")
    if prefix is None:
        return intake_url(public_url, connection), None
    given = request.form.get("endpoint", "").strip()
    secret = given[len(prefix):] if given.startswith(prefix) else ""
    # Only Pipewise's own intake for this connection: never a request to an address an admin typed.
    if not secret or not secret.isascii() or any(c in secret for c in "/?#%\\ ") or len(secret) > 128:
        return None, ("Paste the endpoint exactly as you entered it in the CRM; it starts with "
                      f"{prefix}. If you no longer have it, rotate the secret to get a new one.")
    return given, None


@bp.post("/webhooks/<int:connection_id>/test")
def send_test(connection_id: int):
    """Deliver one test event to the intake over HTTP, then show the outcome on the Webhooks page."""
    rt = runtime()
    back = redirect(url_for("admin.webhooks") + f"#webhooks-{connection_id}")
    with rt.sessions() as db:
        connection = connection_or_404(db, connection_id)
        package = registry.get(connection.provider)
        url, problem = _pasted_endpoint(connection, rt.config.PUBLIC_URL)
        lead = db.scalar(select(Lead.remote_id).where(Lead.connection_id == connection_id,
                                                      Lead.deleted_at.is_(None))
                         .order_by(Lead.remote_modified_at.desc(), Lead.id.desc()).limit(1))
        remote_org_id, instance_url = connection.remote_org_id, connection.instance_url or ""
    if problem:
        flash(problem, "error")
        return back
    if lead is None:
        flash("A test event names a lead, and no lead has arrived from the CRM yet. Send one after the "
              "first sync.", "error")
        return back
    event_id = str(10**15 + secrets.randbelow(9 * 10**15))
    body, headers = package.webhooks.test_delivery(
        remote_org_id, package.provider.writable_objects["lead"], lead, event_id, url=url,
        client_secret=rt.config.HUBSPOT_CLIENT_SECRET, app_id=rt.config.HUBSPOT_APP_ID, instance_url=instance_url)
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=(5, 30), verify=rt.config.ca_bundle,
                               allow_redirects=False)
        status = answer.status_code
    except requests.RequestException as exc:
        log.warning("webhook.test.unreachable connection=%s error=%s", connection_id, type(exc).__name__)
        status = None
    with rt.sessions() as db:
        record(db, "webhook.test", f"connection:{connection_id}", {"event_id": event_id, "status": status})
        db.commit()
    if status is not None and 200 <= status < 300:
        flash("The test event arrived: Pipewise's intake accepted it and it is listed under Recent events. "
              "The CRM reaches Pipewise the same way.", "info")
    elif status in (401, 403):
        flash(f"The test event was refused ({status}): the secret in that endpoint is not this connection's "
              "current one. Rotate the secret and paste the new endpoint into the CRM.", "error")
    else:
        flash(f"The test event did not get through ({'no answer' if status is None else f'HTTP {status}'}). "
              "Check that PIPEWISE_PUBLIC_URL is the address the CRM can reach, then try again.", "error")
    return back
