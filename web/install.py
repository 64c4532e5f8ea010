"""Install flow: an admin picks a CRM, consents there, and watches the first backfill."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from rq.job import Dependency
from sqlalchemy import func, select

from connectors import registry
from connectors.errors import ConnectorError
from connectors.signin import SignInError
from sync import timeline, webhook_registration
from sync.connections import install, oauth_app, read_org_profile
from sync.job_chain import PREFLIGHT, PROVISION, REGISTER_WEBHOOK, SYNC
from sync.preflight import latest_report
from sync.store import SYNCED_MODELS, Connection, Organization, SyncRun
from sync.store import audit_log as audit
from web.admin.webhooks import allow_reveal, take_reveal
from web.auth import public_url, resolve_identity, revoke_grant
from web.extensions import runtime
from web.signed_in import actor, admin_required, current_user, set_organization
from web.timeline_view import connection_timeline

log = logging.getLogger(__name__)
bp = Blueprint("install", __name__)


@bp.get("/")
@admin_required
def home():
    """The admin's organization's connections, and the CRMs it can connect."""
    rt = runtime()
    with rt.sessions() as db:
        rows = db.execute(select(Connection, Organization).join(Organization)
                          .where(Connection.organization_id == current_user()["organization_id"])
                          .order_by(Connection.id)).all()
    return render_template("home.html", rows=rows, providers=sorted(registry.PACKAGES))


@bp.get("/install/<provider>")
@admin_required
def start(provider: str):
    """Send the admin to the CRM's consent page, with a state bound to their session."""
    if provider not in registry.PACKAGES:
        abort(404)
    app = oauth_app(runtime().config, provider)
    url, state = app.authorization_url(_callback_url(provider))
    session["oauth_state"] = {"provider": provider, "state": state}
    return redirect(url)


@bp.get("/install/<provider>/callback")
@admin_required
def callback(provider: str):
    """Check state first, trade the code, prove the consenting user is a CRM admin, then connect.

    Rules that hold whichever CRM the admin signed in with: a new connection joins the signed-in
    admin's organization (a new one if they have none yet); an existing connection is re-authorized
    only from a session of its own organization; and in every case the person who consented in the
    CRM must be an admin of that CRM account. A session's organization is never switched here.
    """
    expected = session.pop("oauth_state", None)
    if not expected or expected["provider"] != provider or request.args.get("state") != expected["state"]:
        log.warning("install.invalid-state provider=%s", provider)
        return render_template("install_error.html", message=(
            "This sign-in link is stale or was not started here. Start the connection again from Pipewise."
        )), 400
    if request.args.get("error"):
        return render_template("install_error.html", message=(
            f"The CRM did not grant access ({request.args.get('error_description') or request.args['error']}). "
            "Start again and choose Allow on the consent page.")), 400
    rt = runtime()
    app = oauth_app(rt.config, provider)
    try:
        token = app.exchange_code(request.args.get("code", ""), _callback_url(provider))
        grant = registry.get(provider).provider.identity(token)
    except ConnectorError as exc:
        return render_template("install_error.html", message=str(exc)), 400
    refusal = _consenting_admin_refusal(rt, provider, token, grant.remote_org_id)
    if refusal is not None:
        revoke_grant(app, token)  # a grant Pipewise will not use goes back at once
        return refusal
    user = current_user()
    # Read before the store's transaction opens: a slow CRM must not hold a write lock.
    profile = read_org_profile(rt.config, provider, token)
    with rt.sessions() as db:
        existing = db.scalar(select(Connection).where(Connection.provider == provider,
                                                      Connection.remote_org_id == grant.remote_org_id))
        if existing is not None and existing.organization_id != user["organization_id"]:
            log.warning("install.foreign-connection provider=%s connection=%s", provider, existing.id)
            revoke_grant(app, token)
            return render_template("install_error.html", message=(
                "This CRM account is already connected to another Pipewise organization, so it cannot be "
                "connected or re-authorized from yours. Ask that organization's admin to disconnect it "
                "there first.")), 403
        try:
            connection = install(db, rt.cipher, provider, token, installed_by=actor(),
                                 organization_id=user["organization_id"], profile=profile)
        except ConnectorError as exc:
            return render_template("install_error.html", message=str(exc)), 400
        secret = getattr(connection, "issued_webhook_secret", None)
        audit.record(db, actor=actor(), action="connection.install" if existing is None
                     else "connection.reauthorize_done", organization_id=connection.organization_id,
                     target=f"connection:{connection.id}", details={"provider": provider})
        db.commit()
        connection_id, organization_id = connection.id, connection.organization_id
    if user["organization_id"] is None:
        set_organization(organization_id)
    if webhook_registration.offered(provider):
        # The worker registers the webhook with a secret of its own: nothing for the admin to paste.
        flash("Connected. Pipewise registers its webhook in the CRM itself, so changes arrive as they happen; "
              "the Webhooks page shows whether the CRM took it.", "info")
    else:
        if secret:
            allow_reveal(connection_id, secret)
        flash("Connected. For changes to arrive as they happen, copy the webhook endpoint below into the CRM "
              "now: it is shown only on this page." if secret else "Connected. The CRM sends its changes to "
              "Pipewise as they happen; the Webhooks page shows them and can send a test event.", "info")
    enqueue_install_jobs(rt, connection_id, provider)
    return redirect(url_for("install.progress", connection_id=connection_id))


def _consenting_admin_refusal(rt, provider: str, token: dict, remote_org_id: str):
    """None when the person who consented is an admin of the CRM account the grant is for; else the 403."""
    # The resolver reads who consented; without the refresh token it cannot give the grant back
    # (HubSpot's sign-in resolver deletes its grant's refresh token), so the install keeps it.
    reading = {k: v for k, v in token.items() if k != "refresh_token"}
    try:
        who = resolve_identity(rt.config, provider, reading)
    except (SignInError, ConnectorError, OSError, KeyError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, (SignInError, ConnectorError)) else "The CRM's identity answer could not be read."
        return render_template("install_error.html", message=(
            f"Pipewise could not tell who allowed access in the CRM. {detail} Start the connection again.")), 400
    if who.remote_org_id != remote_org_id:
        return render_template("install_error.html", message=(
            "The CRM named a different account for your identity than for the access you allowed. "
            "Start the connection again.")), 403
    if who.role != "admin":
        log.warning("install.not-admin provider=%s role=%s", provider, who.role)
        return render_template("install_error.html", message=(
            f"The person who allowed access in the CRM is a {who.role} "
            "there, not an admin. Only an admin of the CRM account can connect it to Pipewise: start again "
            "and allow access as an admin of that account.")), 403
    return None


def enqueue_install_jobs(rt, connection_id: int, provider: str) -> None:
    """Provision the writeback fields, register the webhook where Pipewise does, check the connection
    (preflight), then run the first full backfill."""
    # Chained, so the fields and their access exist before the check, and the check is on the
    # progress page before the backfill starts; the backfill runs whatever the check found.
    timeline.begin(rt.redis, connection_id)
    provision = PROVISION.enqueue(rt.queues, connection_id)
    if webhook_registration.offered(provider):  # Pipewise registers this CRM's webhook itself
        webhook_registration.enqueue(rt.queues[REGISTER_WEBHOOK.queue], connection_id,
                                     depends_on=Dependency(jobs=[provision], allow_failure=True))
    check = PREFLIGHT.enqueue(rt.queues, connection_id, depends_on=Dependency(jobs=[provision], allow_failure=True))
    SYNC.enqueue(rt.queues, connection_id, "full", depends_on=Dependency(jobs=[check], allow_failure=True))


def _own_connection(db, connection_id: int) -> Connection:
    """A connection of the signed-in admin's organization, else 404."""
    connection = db.get(Connection, connection_id)
    if connection is None or connection.organization_id != current_user()["organization_id"]:
        abort(404)
    return connection


@bp.get("/connections/<int:connection_id>/progress")
@admin_required
def progress(connection_id: int):
    """The live backfill page."""
    with runtime().sessions() as db:
        connection = _own_connection(db, connection_id)
        steps = connection_timeline(db, connection)
        endpoint = take_reveal(connection)
    return render_template("progress.html", connection=connection, steps=steps, endpoint=endpoint,
                           provider_name=registry.get(connection.provider).provider.name)


@bp.get("/connections/<int:connection_id>/progress.json")
@admin_required
def progress_json(connection_id: int):
    """Progress of the latest run, object by object, and the records stored per object."""
    with runtime().sessions() as db:
        connection = _own_connection(db, connection_id)
        steps = connection_timeline(db, connection)
        # This timeline's run only: after a reconnect, the previous run is not this one's progress.
        run_id = steps["steps"][0].get("run_id")
        run = db.get(SyncRun, run_id) if run_id else None
        stored = {name: db.scalar(select(func.count()).select_from(model).where(
                      model.connection_id == connection_id, model.deleted_at.is_(None)))
                  for name, model in SYNCED_MODELS.items()}
    return jsonify({
        "timeline": steps,
        "connection": {"id": connection.id, "status": connection.status, "reason": connection.status_reason,
                       "instance_url": connection.instance_url},
        "run": None if run is None else {
            "id": run.id, "kind": run.kind, "status": run.status, "seen": run.seen, "changed": run.changed,
            "deleted": run.deleted, "api_calls": run.api_calls, "seconds": run.seconds,
            "streams": run.streams, "errors": run.errors},
        "stored": stored,
        "check": _check_json(connection_id),
    })


def _check_json(connection_id: int) -> dict | None:
    """The preflight report of the connection, for the progress page."""
    report = latest_report(runtime().redis, connection_id)
    if report is None:
        return None
    return {"summary": report.summary(), "checked_at": report.checked_at,
            "findings": [{"check": f.check, "status": f.status, "message": f.message} for f in report.ordered()]}


def _callback_url(provider: str) -> str:
    return public_url(url_for("install.callback", provider=provider))
