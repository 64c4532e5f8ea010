"""The embedding blueprint and the panel's own token-authorized requests; what every panel kind shares."""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request, url_for
from jinja2 import pass_context
from sqlalchemy import select

from connectors import registry
from connectors.base import PanelChecks, PanelContext, PanelRequest
from embed.app_runtime import runtime
from embed.panel import history_chart, panel_context, record_title, score_history
from embed.tokens import DEFAULT_MAX_AGE_SECONDS, InvalidPanelToken, PanelClaims, read_panel_token, token_from_request
from sync.local_time import UTC, format_local, user_zone
from sync.store import Connection

log = logging.getLogger(__name__)
bp = Blueprint("embed", __name__, url_prefix="/embed", template_folder="templates",
               static_folder="static", static_url_path="/static")

PANEL_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
NO_ANCESTORS = "'none'"


def panel_themes() -> frozenset[str]:
    """The CRMs whose look the panel can take (?theme=<provider key>)."""
    return frozenset(key for key in registry.keys() if registry.get(key).provider.panel_theme)


@bp.app_template_filter("embed_time")
@pass_context
def _in_viewer_zone(context, value: datetime | None) -> str:
    """A naive-UTC datetime as the panel shows it: in the viewer's zone (``viewer_tz``), abbreviated."""
    return format_local(value, context.get("viewer_tz") or UTC)


def viewer_zone(session, connection: Connection, claims: PanelClaims) -> ZoneInfo:
    """The zone of the panel's viewer: their CRM user's, else their CRM organization's, else UTC."""
    return user_zone(session, connection, user_id_forms(connection, claims.user_remote_id))


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
        return _embed_headers(response, frame_ancestors(connection))


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
        return _embed_headers(response, frame_ancestors(connection))


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
        return _refusal("This panel has expired",
                        f"Reload the {crm_name(expired)} page to see the latest Pipewise score.",
                        frame_ancestors(expired) if expired else [])
    connection = session.get(Connection, claims.connection_id)
    if (object_type.lower() != claims.object_type or remote_id != claims.remote_id
            or connection is None or connection.organization_id != claims.organization_id
            or connection.status == "disconnected"):
        log.warning("embed.panel.token-mismatch connection=%s", claims.connection_id)
        return _refusal("This panel cannot show that record",
                        f"Open the record in {crm_name(connection)} to see its Pipewise score.", [])
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
    return _embed_headers(make_response(html), frame_ancestors(connection))


def live_connection(session, provider: str, remote_org_id: str | None) -> Connection | None:
    """The live connection of a provider's remote org, whichever of its id forms the CRM sent."""
    if not remote_org_id:
        return None
    forms = registry.provider(provider).id_forms(remote_org_id)
    connection = session.scalar(select(Connection).where(Connection.provider == provider,
                                                         Connection.remote_org_id.in_(forms)))
    if connection is None or connection.status == "disconnected":
        return None
    return connection


def crm_name(connection: Connection | None) -> str:
    """The CRM's name for a sentence ("Reload the HubSpot page"); "CRM" when the connection is unknown."""
    return registry.provider(connection.provider).name if connection else "CRM"


def frame_ancestors(connection: Connection) -> list[str]:
    """The origins that may frame a panel of this connection, as its provider names them."""
    return registry.provider(connection.provider).frame_ancestors(connection.instance_url)


def user_id_forms(connection: Connection, user_remote_id: str | None) -> tuple[str, ...]:
    """The forms a CRM user id may be synced under (Pipewise compares them all)."""
    return registry.provider(connection.provider).id_forms(user_remote_id) if user_remote_id else ()


def panel_request() -> PanelRequest:
    """The current request as a provider's ``panel.verify`` takes it (nothing in it trusted yet)."""
    query = request.query_string.decode("latin-1")
    body = request.get_data(cache=True)  # kept, so that the form is still parsed from it
    return PanelRequest(method=request.method, url=request.url,
                        path_and_query=request.path + (f"?{query}" if query else ""), headers=request.headers,
                        body=body, path_args={}, public_url=runtime().config.PUBLIC_URL, args=request.args,
                        form=request.form if request.method == "POST" else {})


def verify_panel(provider: str, app: str) -> PanelContext:
    """The context of the current request, verified by the provider's panel, or InvalidPanelRequest."""
    rt = runtime()

    def instance_url_of(remote_org_id: str) -> str | None:
        with rt.sessions() as session:
            connection = live_connection(session, provider, remote_org_id)
            return connection.instance_url if connection else None

    checks = PanelChecks(config=rt.config, redis=rt.redis, instance_url_of=instance_url_of)
    return registry.provider(provider).verify_panel(panel_request(), app, checks)


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

