"""Install flow: an admin picks a CRM, consents there, and watches the first backfill."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from connectors import registry
from connectors.errors import ConnectorError
from sync.connections import install, oauth_app
from sync.models import SYNCED_MODELS, Connection, Organization, SyncRun
from web.extensions import runtime

log = logging.getLogger(__name__)
bp = Blueprint("install", __name__)


@bp.get("/")
def home():
    """The connections this Pipewise knows, and the CRMs it can connect."""
    rt = runtime()
    with rt.sessions() as db:
        rows = db.execute(select(Connection, Organization).join(Organization)
                          .order_by(Connection.id)).all()
    return render_template("home.html", rows=rows, providers=sorted(registry.PACKAGES))


@bp.get("/install/<provider>")
def start(provider: str):
    """Send the admin to the CRM's consent page, with a state bound to their session."""
    if provider not in registry.PACKAGES:
        abort(404)
    app = oauth_app(runtime().config, provider)
    url, state = app.authorization_url(_callback_url(provider))
    session["oauth_state"] = {"provider": provider, "state": state}
    return redirect(url)


@bp.get("/install/<provider>/callback")
def callback(provider: str):
    """Check state before anything else, trade the code, create the connection, start the backfill."""
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
    try:
        token = oauth_app(rt.config, provider).exchange_code(request.args.get("code", ""), _callback_url(provider))
    except ConnectorError as exc:
        return render_template("install_error.html", message=str(exc)), 400
    with rt.sessions() as db:
        connection = install(db, rt.cipher, provider, token)
        db.commit()
        connection_id = connection.id
    enqueue_install_jobs(rt, connection_id)
    return redirect(url_for("install.progress", connection_id=connection_id))


def enqueue_install_jobs(rt, connection_id: int) -> None:
    """Provision the writeback fields, then run the first full backfill."""
    rt.queues["writeback"].enqueue("sync.writeback.provision_job", connection_id, job_timeout=600)
    rt.queues["sync"].enqueue("sync.jobs.sync_connection", connection_id, "full", job_timeout=3600)


@bp.get("/connections/<int:connection_id>/progress")
def progress(connection_id: int):
    """The live backfill page."""
    with runtime().sessions() as db:
        connection = db.get(Connection, connection_id) or abort(404)
    return render_template("progress.html", connection=connection)


@bp.get("/connections/<int:connection_id>/progress.json")
def progress_json(connection_id: int):
    """Progress of the latest run, object by object, and the records stored per object."""
    with runtime().sessions() as db:
        connection = db.get(Connection, connection_id) or abort(404)
        run = db.scalar(select(SyncRun).where(SyncRun.connection_id == connection_id)
                        .order_by(SyncRun.id.desc()).limit(1))
        stored = {name: db.scalar(select(func.count()).select_from(model).where(
                      model.connection_id == connection_id, model.deleted_at.is_(None)))
                  for name, model in SYNCED_MODELS.items()}
    return jsonify({
        "connection": {"id": connection.id, "status": connection.status, "reason": connection.status_reason,
                       "instance_url": connection.instance_url},
        "run": None if run is None else {
            "id": run.id, "kind": run.kind, "status": run.status, "seen": run.seen, "changed": run.changed,
            "deleted": run.deleted, "api_calls": run.api_calls, "seconds": run.seconds,
            "streams": run.streams, "errors": run.errors},
        "stored": stored,
    })


def _callback_url(provider: str) -> str:
    return url_for("install.callback", provider=provider, _external=True)
