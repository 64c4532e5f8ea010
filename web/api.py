"""The versioned JSON API (/api/v1): scores, forecasts and connection health, per organization.

Every call carries an organization's API key (``Authorization: Bearer pw_<id>_<secret>``) and sees
only that organization: a record of another one answers 404, exactly like a record that does
not exist, so ids cannot be probed. Errors are ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, g, jsonify, request, url_for
from sqlalchemy import func, select

from sync.store import SYNCED_MODELS, Connection, Score, utcnow
from web import api_keys, openapi
from web.auth import public_url
from web.extensions import runtime
from web.limits import MAX_ID

bp = Blueprint("api", __name__, url_prefix="/api/v1")

OBJECT_TYPES = ("lead", "opportunity")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
PUBLIC = {"api.openapi_document"}


class ApiError(Exception):
    """An answer other than 200, with a sentence saying what to do."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = jsonify({"error": {"code": exc.code, "message": exc.message}})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pipewise-api"'
    return response


@bp.before_request
def _authenticate():
    """Find the organization of the API key before any view runs."""
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_api_key", "Send your API key in the header 'Authorization: Bearer pw_…'. "
                       "An admin creates keys in Pipewise under Admin → API keys.")
    with runtime().sessions() as db:
        key = api_keys.authenticate(db, token)
        if key is None:
            raise ApiError(401, "invalid_api_key", "This API key is unknown or was revoked. Ask an admin for a "
                           "new key (Admin → API keys) and send it as 'Authorization: Bearer pw_…'.")
        g.api_organization_id, g.api_key_id = key.organization_id, key.id
    return None


@bp.after_request
def _no_store(response):
    """Answers hold customer data: no shared cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def score_json(score: Score) -> dict:
    """The API's shape of one score."""
    reasons = score.reasons or {}
    return {"object_type": score.object_type, "remote_id": score.remote_id, "connection_id": score.connection_id,
            "score": score.score, "band": score.band, "probability": round(float(score.probability), 6),
            "reasons": {"up": reasons.get("up", []), "down": reasons.get("down", []),
                        **({"note": reasons["note"]} if reasons.get("note") else {})},
            "next_step": score.next_step, "model_version": score.model_version,
            "computed_at": _iso(score.computed_at), "limited_history": bool(score.limited_history)}


def _object_type(value: str | None) -> str:
    if value not in OBJECT_TYPES:
        raise ApiError(400, "invalid_object_type", f"object_type must be lead or opportunity, not {value!r}.")
    return value


def whole_number(raw: str, high: int = MAX_ID) -> int | None:
    """An ASCII whole number from 0 to ``high``, else None (``isdigit`` alone accepts "²")."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > high:
        return None
    return int(raw)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw, high)
    if value is None or value < low:
        raise ApiError(400, f"invalid_{name}", f"{name} must be a whole number from {low} to {high}.")
    return value


@bp.get("/scores")
def list_scores():
    """Scores of one object type, oldest first; page with ``after``."""
    object_type = _object_type(request.args.get("object_type"))
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    after = whole_number(request.args.get("after") or "0")
    if after is None:
        raise ApiError(400, "invalid_after", "after must be the next_after value of the previous page.")
    query = select(Score).where(Score.organization_id == g.api_organization_id, Score.object_type == object_type,
                                Score.id > after)
    if request.args.get("remote_id"):
        query = query.where(Score.remote_id == request.args["remote_id"])
    with runtime().sessions() as db:
        rows = db.scalars(query.order_by(Score.id).limit(limit + 1)).all()
    page = rows[:limit]
    return jsonify({"data": [score_json(s) for s in page],
                    "next_after": str(page[-1].id) if len(rows) > limit else None})


@bp.get("/scores/<object_type>/<remote_id>")
def get_score(object_type: str, remote_id: str):
    """The latest score of one lead or deal of the organization."""
    _object_type(object_type)
    with runtime().sessions() as db:
        score = db.scalar(select(Score).where(Score.organization_id == g.api_organization_id,
                                              Score.object_type == object_type, Score.remote_id == remote_id)
                          .order_by(Score.computed_at.desc()).limit(1))
    if score is None:
        raise ApiError(404, "not_found", f"Pipewise has no score for {object_type} {remote_id!r} in your "
                       "organization. Check the id; a record is scored after its first sync.")
    return jsonify(score_json(score))


@bp.get("/forecast")
def get_forecast():
    """The period's expected won revenue as of a day, for the organization, its teams or reps."""
    from scoring.deals_as_of import parse_period
    from scoring.forecast.revenue import GROUPINGS, forecast

    period = request.args.get("period")
    if not period:
        raise ApiError(400, "missing_period", "Give a period: a month like 2017-10 or a quarter like 2017-Q4.")
    try:
        parsed = parse_period(period)
    except ValueError as exc:
        raise ApiError(400, "invalid_period", str(exc)) from None
    as_of_text = request.args.get("as_of")
    try:
        as_of = date.fromisoformat(as_of_text) if as_of_text else utcnow().date()
    except ValueError:
        raise ApiError(400, "invalid_as_of", f"as_of must be a day like 2017-10-01, not {as_of_text!r}.") from None
    by = request.args.get("by") or "org"
    if by not in GROUPINGS:
        raise ApiError(400, "invalid_by", f"by must be org, team or rep, not {by!r}.")
    with runtime().sessions() as db:
        result = forecast(db, g.api_organization_id, as_of, parsed, by=by)
    data = result.to_dict()
    data.pop("organization_id", None)
    return jsonify(data)


@bp.get("/forecast/calls")
def list_forecast_calls():
    """The forecast call of a period: every rep's and manager's submission, latest first, with versions."""
    from scoring.deals_as_of import parse_period
    from scoring.forecast.calls import versions

    try:
        label = parse_period(request.args.get("period") or "").label
    except ValueError as exc:
        raise ApiError(400, "invalid_period", str(exc)) from None
    owner = request.args.get("owner") or None
    with runtime().sessions() as db:
        rows = versions(db, g.api_organization_id, label, {owner} if owner else None)
    latest: dict[tuple[str, str], int] = {}
    for row in rows:
        latest.setdefault((row.owner_remote_id, row.kind), row.version)
    return jsonify({"period": label, "data": [{
        "owner": row.owner_remote_id, "kind": row.kind, "commit": row.commit, "best_case": row.best_case,
        "reason": row.reason, "version": row.version, "latest": latest[row.owner_remote_id, row.kind] == row.version,
        "submitted_by": row.submitted_by, "submitted_at": _iso(row.submitted_at)} for row in rows]})


@bp.get("/connections")
def list_connections():
    """Health of the organization's connections: status, reason, last sync, lag, usage, records."""
    now = utcnow()
    with runtime().sessions() as db:
        connections = db.scalars(select(Connection).where(Connection.organization_id == g.api_organization_id)
                                 .order_by(Connection.id)).all()
        ids = [c.id for c in connections]
        counts: dict[int, dict[str, int]] = {i: {} for i in ids}
        for name, model in SYNCED_MODELS.items():
            for connection_id, n in db.execute(
                    select(model.connection_id, func.count()).where(model.connection_id.in_(ids),
                                                                    model.deleted_at.is_(None))
                    .group_by(model.connection_id)) if ids else []:
                counts[connection_id][name] = n
    return jsonify({"data": [{
        "id": c.id, "provider": c.provider, "status": c.status, "status_reason": c.status_reason,
        "last_synced_at": _iso(c.last_synced_at),
        "lag_seconds": round((now - c.last_synced_at).total_seconds(), 1) if c.last_synced_at else None,
        "api_usage": {"used": c.api_usage_used, "limit": c.api_usage_limit},
        "records": {name: counts[c.id].get(name, 0) for name in SYNCED_MODELS},
    } for c in connections]})


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (no key needed: it holds no data)."""
    return jsonify(openapi.document(public_url(url_for("api.list_connections")).rsplit("/", 1)[0]))


@bp.get("/<path:unknown>")
def unknown_endpoint(unknown: str):
    """Unknown paths under /api/v1 answer in JSON too."""
    raise ApiError(404, "unknown_endpoint", f"There is no endpoint /api/v1/{unknown}. "
                   "The OpenAPI document at /api/v1/openapi.json lists every endpoint.")
