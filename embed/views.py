"""The embedding endpoints: the Salesforce Canvas POST and the panel's own token-authorized requests."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request, url_for
from jinja2 import pass_context
from sqlalchemy import select

from connectors import registry
from embed import context as canvas_context
from embed.canvas import InvalidSignedRequest
from embed.panel import history_chart, panel_context, record_title, score_history
from embed.tokens import (DEFAULT_MAX_AGE_SECONDS, InvalidPanelToken, PanelClaims, issue_panel_token,
                          read_panel_token, token_from_request)
from scoring.scope import viewer_role
from sync.local_time import UTC, format_local, user_zone
from sync.models import Connection
from embed.app_runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("embed", __name__, url_prefix="/embed", template_folder="templates",
               static_folder="static", static_url_path="/static")

PANEL_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
NO_ANCESTORS = "'none'"


def panel_themes() -> frozenset[str]:
    """The CRMs whose look the panel can take (?theme=<provider key>)."""
    return frozenset(key for key in registry.keys() if registry.get(key).provider.panel_theme)


def canvas_provider() -> str:
    """The provider whose panel is a Canvas frame (the /embed/<key>/canvas routes serve it)."""
    return registry.panel_keys("canvas")[0]


@bp.app_template_filter("embed_time")
@pass_context
def _in_viewer_zone(context, value: datetime | None) -> str:
    """A naive-UTC datetime as the panel shows it: in the viewer's zone (``viewer_tz``), abbreviated."""
    return format_local(value, context.get("viewer_tz") or UTC)


def viewer_zone(session, connection: Connection, claims: PanelClaims) -> ZoneInfo:
    """The zone of the panel's viewer: their CRM user's, else their CRM organization's, else UTC."""
    user = claims.user_remote_id or ""
    return user_zone(session, connection, {user, canvas_context.to_18(user)})


@bp.route("/salesforce/canvas", methods=["GET", "POST"])
def salesforce_canvas():
    """Verify Salesforce's signed request, then show the panel of the record in its context."""
    from embed import canvas_apps

    if request.method == "GET":
        return _canvas_get("rep")
    rt = runtime()
    try:
        envelope = canvas_apps.verify(canvas_apps.canvas_app("rep"), request.form.get("signed_request", ""),
                                      _instance_of)
    except InvalidSignedRequest as exc:
        log.warning("embed.canvas.invalid-signature reason=%s", exc.reason)
        return _refusal("Pipewise could not verify this request",
                        "The request did not come from Salesforce with a valid signature, or it was "
                        "replayed after its Salesforce session ended. Reload the Salesforce page to try again.", [])

    org_id = canvas_context.organization_id(envelope)
    with rt.sessions() as session:
        connection = _salesforce_connection(session, org_id)
        if connection is None:
            log.warning("embed.canvas.unknown-organization org=%s", org_id)
            # The envelope is verified, so its instance may frame this message for the admin to read.
            ancestors = canvas_context.frame_ancestors(canvas_context.instance_url(envelope))
            return _refusal("Pipewise is not installed for this organization",
                            "Ask your Salesforce admin to install Pipewise (connect this Salesforce "
                            "organization in the Pipewise console), then reload this page.", ancestors)
        ancestors = canvas_context.frame_ancestors(connection.instance_url)
        ref = canvas_context.record_ref(envelope)
        if ref is None or ref[0] is None:
            return _notice("Open a lead or an opportunity",
                           "Pipewise scores leads and opportunities. Open one to see its score.", ancestors)
        object_type, remote_id = ref
        user_remote_id = canvas_context.user_id(envelope)
        claims = PanelClaims(organization_id=connection.organization_id, connection_id=connection.id,
                             user_remote_id=user_remote_id,
                             role=_role(session, connection.organization_id, user_remote_id), object_type=object_type,
                             remote_id=remote_id)
        log.info("embed.canvas.opened connection=%s object=%s", connection.id, object_type)
        return _panel(session, connection, claims, issue_panel_token(current_app.secret_key, claims))


def _canvas_get(app_key: str):
    """A Canvas URL opened with GET: Salesforce asks a self-authorized app to get the user's approval."""
    from embed import canvas_apps

    if request.args.get("_sfdc_canvas_authvalue") == canvas_apps.APPROVAL_REQUIRED:
        log.info("embed.canvas.approval-required app=%s", app_key)
        return canvas_apps.approval_page(app_key)
    return _refusal("Open Pipewise from Salesforce",
                    "This page is the Pipewise panel that Salesforce shows on its record pages.", [])


def _instance_of(envelope: dict) -> str | None:
    """The instance URL Pipewise installed for the envelope's organization (trusted, unlike the envelope's)."""
    with runtime().sessions() as session:
        connection = _salesforce_connection(session, canvas_context.organization_id(envelope))
        return connection.instance_url if connection else None


@bp.get("/panel/<object_type>/<remote_id>")
def panel(object_type: str, remote_id: str):
    """The panel again, for a refresh inside the frame."""
    with runtime().sessions() as session:
        checked = _authorize(session, object_type, remote_id)
        if isinstance(checked, Response):
            return checked
        connection, claims, token = checked
        return _panel(session, connection, claims, token)


@bp.get("/panel/<object_type>/<remote_id>/history.svg")
def history_svg(object_type: str, remote_id: str):
    """The opportunity's win probability over time, as an SVG image."""
    with runtime().sessions() as session:
        checked = _authorize(session, object_type, remote_id)
        if isinstance(checked, Response):
            return checked
        connection, claims, _token = checked
        history = score_history(session, connection.id, claims.object_type, claims.remote_id)
        title = record_title(session, connection.id, claims.object_type, claims.remote_id)
        tz = viewer_zone(session, connection, claims)
        svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + history_chart(history, title, lambda at: format_local(at, tz))
        response = make_response(svg)
        response.mimetype = "image/svg+xml"
        return _embed_headers(response, canvas_context.frame_ancestors(connection.instance_url))


@bp.get("/panel/<object_type>/<remote_id>/score.json")
def score_json(object_type: str, remote_id: str):
    """The panel's data as JSON, for a refresh without reloading the page."""
    with runtime().sessions() as session:
        checked = _authorize(session, object_type, remote_id)
        if isinstance(checked, Response):
            return checked
        connection, claims, _token = checked
        data = panel_context(session, connection, claims.object_type, claims.remote_id)
        tz = viewer_zone(session, connection, claims)
        score = data["score"]
        if score:
            score = {**score, "scored_at": format_local(score["scored_at"], tz)}
        response = jsonify(object_type=data["object_type"], remote_id=data["remote_id"],
                           title=data["record_title"], score=score,
                           history=[{"at": format_local(at, tz), "probability": p} for at, p in data["history"]])
        return _embed_headers(response, canvas_context.frame_ancestors(connection.instance_url))


def _authorize(session, object_type: str, remote_id: str):
    """(connection, claims, token) for a valid panel token on this record, else the 403 answer."""
    token = token_from_request(request)
    max_age = int(getattr(runtime().config, "EMBED_PANEL_TOKEN_SECONDS", DEFAULT_MAX_AGE_SECONDS))
    try:
        claims = read_panel_token(current_app.secret_key, token, max_age=max_age)
    except InvalidPanelToken as exc:
        log.warning("embed.panel.invalid-token reason=%s", exc.reason)
        # An expired token is still authentic: its org may frame the message; a forged one gets no frame.
        expired = exc.expired_claims and session.get(Connection, exc.expired_claims.connection_id)
        ancestors = canvas_context.frame_ancestors(expired.instance_url) if expired else []
        return _refusal("This panel has expired",
                        "Reload the Salesforce page to see the latest Pipewise score.", ancestors)
    connection = session.get(Connection, claims.connection_id)
    if (object_type.lower() != claims.object_type or remote_id != claims.remote_id
            or connection is None or connection.organization_id != claims.organization_id
            or connection.status == "disconnected"):
        log.warning("embed.panel.token-mismatch connection=%s", claims.connection_id)
        return _refusal("This panel cannot show that record",
                        "Open the record in Salesforce to see its Pipewise score.", [])
    return connection, claims, token


def _panel(session, connection: Connection, claims: PanelClaims, token: str) -> Response:
    """Render the panel of the claimed record with links that carry the token."""
    data = panel_context(session, connection, claims.object_type, claims.remote_id)
    links = {"object_type": claims.object_type, "remote_id": claims.remote_id, "pt": token}
    # The CRM's look where it differs (HubSpot's card opens the panel with ?theme=hubspot).
    theme = request.args.get("theme") if request.args.get("theme") in panel_themes() else None
    if theme:
        links["theme"] = theme
    html = render_template("embed/panel.html", **data, theme=theme, viewer_tz=viewer_zone(session, connection, claims),
                           refresh_url=url_for(".panel", **links),
                           chart_url=url_for(".history_svg", **links))
    return _embed_headers(make_response(html), canvas_context.frame_ancestors(connection.instance_url))


def _salesforce_connection(session, org_id: str | None) -> Connection | None:
    """The live Salesforce connection of an organization id (15 or 18 characters)."""
    if not org_id:
        return None
    candidates = {org_id, canvas_context.to_18(org_id)}
    connection = session.scalar(select(Connection).where(Connection.provider == canvas_provider(),
                                                         Connection.remote_org_id.in_(candidates)))
    if connection is None or connection.status == "disconnected":
        return None
    return connection


def _role(session, organization_id: int, user_remote_id: str) -> str:
    """The viewer's role from the synced users and hierarchy; a rep until known otherwise."""
    return viewer_role(session, organization_id, canvas_context.to_18(user_remote_id) if user_remote_id else None)


def _refusal(title: str, message: str, ancestors: list[str]) -> Response:
    """A short plain 403 page."""
    response = make_response(render_template("embed/message.html", title=title, message=message), 403)
    return _embed_headers(response, ancestors)


def _notice(title: str, message: str, ancestors: list[str]) -> Response:
    """A short plain page that is not an error (nothing to show here)."""
    response = make_response(render_template("embed/message.html", title=title, message=message), 200)
    return _embed_headers(response, ancestors)


def _embed_headers(response: Response, ancestors: list[str]) -> Response:
    """CSP naming exactly the CRM origins that may frame this answer; no referrer, no caching."""
    response.headers["Content-Security-Policy"] = (
        f"{PANEL_POLICY}; frame-ancestors {' '.join(ancestors) or NO_ANCESTORS}")
    response.headers.pop("X-Frame-Options", None)
    # The token rides in links; it must not leak through Referer or a shared cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response

