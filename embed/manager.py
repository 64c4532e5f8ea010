"""The manager's team panel: entered from a CRM's signed panel request or a card's iframe link, then
navigated inside the frame with a manager panel token (no cookies). Six views, each drilling down
team → rep → deal and exporting any of its tables as CSV (`?format=csv&table=<name>`).
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import astuple
from datetime import date

from flask import Response, current_app, make_response, redirect, render_template, request, url_for

from embed.app_runtime import runtime
from embed.manager_cells import cell_in_viewer_zone
from embed.manager_charts import view_charts
from embed.manager_forecast import forecast_view, may_call, may_submit, submit_call
from embed.manager_notices import leads_nobody, leads_nobody_notice
from embed.tokens import (DEFAULT_MAX_AGE_SECONDS, ManagerClaims, csrf_token, csrf_valid, mint_manager_token,
                          read_manager_token, token_from_request)
from embed.views import _embed_headers, _refusal, bp, frame_ancestors, user_id_forms
from scoring.deals_as_of import Period, parse_period
from scoring.forecast.calls import CallError
from scoring.forecast.quotas import parse_amount, set_quota
from scoring.forecast.snapshots import data_as_of
from scoring.scope import OutOfScope, Viewer, owner_names, subject_for, viewer_role
from scoring.team.benchmarks import benchmarks
from scoring.team.coaching import coaching
from scoring.team.data_periods import default_period, quarter_of
from scoring.team.funnel import funnel_view
from scoring.team.pipeline import pipeline_health
from scoring.team.views import Table
from scoring.team.winloss import win_loss_view
from sync import currency
from sync.local_time import user_zone
from sync.store import Connection

log = logging.getLogger(__name__)


# -- the views -------------------------------------------------------------------------------------

VIEWS = {
    "pipeline": ("Pipeline health", lambda s, o, subj, p, a, n: pipeline_health(s, o, subj, p, a, n)),
    "forecast": ("Forecast", forecast_view),
    "benchmarks": ("Benchmarks", benchmarks),
    "winloss": ("Win/loss", win_loss_view),
    "funnel": ("Funnel", funnel_view),
    "coaching": ("Coaching", coaching),
}

bp.add_app_template_filter(cell_in_viewer_zone, "pw_cell")


# -- routes ----------------------------------------------------------------------------------------

def open_team_panel(session, connection: Connection, user_remote_id: str, subject: str | None) -> Response:
    """The team panel for a viewer a verified panel request named, on ``subject`` (a user's page) if in scope."""
    claims = ManagerClaims(connection.organization_id, connection.id, user_remote_id,
                           viewer_role(session, connection.organization_id, user_remote_id or None))
    token = mint_manager_token(current_app.secret_key, *astuple(claims))
    log.info("embed.manager.opened connection=%s role=%s", connection.id, claims.role)
    return _render(session, connection, claims, token, "pipeline", {"rep": subject}, from_record=True)


@bp.get("/manager")
def manager_home():
    """The team panel's first view (the HubSpot card's iframe opens this)."""
    return manager_view("pipeline")


@bp.get("/manager/<view>")
def manager_view(view: str):
    """A view of the team panel, authorized by the manager panel token alone."""
    if view not in VIEWS:
        return _refusal("There is no such view", "Use the tabs at the top of the panel.", [])
    with runtime().sessions() as session:
        checked = _authorize(session)
        if isinstance(checked, Response):
            return checked
        connection, claims, token = checked
        return _render(session, connection, claims, token, view, request.args)


@bp.post("/manager/quotas")
def manager_quotas():
    """An admin sets a quota (for CRMs that keep none); the panel token and csrf_token come in the form."""
    with runtime().sessions() as session:
        checked = _authorize_form(session, "Reload the panel and enter the quota again.")
        if isinstance(checked, Response):
            return checked
        connection, claims, token, ancestors = checked
        if claims.role != "admin":
            return _refusal("Only an admin can set quotas",
                            "Ask your CRM admin to set the quota, or to record it in the CRM.", ancestors)
        form = request.form
        owner = form.get("owner", "").strip()
        try:
            if not owner:
                raise ValueError("Choose whose quota this is, then save it again.")
            period = parse_period(form.get("period", "")).label
            set_quota(session, claims.organization_id, owner, period, parse_amount(form.get("amount", "")))
        except ValueError as exc:
            session.rollback()
            args = {k: form.get(k) for k in ("rep", "period", "as_of") if form.get(k)}
            return _render(session, connection, claims, token, "forecast", args, error=str(exc), status=400)
        session.commit()
        log.info("embed.manager.quota-set organization=%s period=%s", claims.organization_id, period)
        args = {k: form.get(k) for k in ("rep", "as_of") if form.get(k)}
        return redirect(url_for(".manager_view", view="forecast", pt=token, period=period, saved=1, **args), 303)


@bp.post("/manager/forecast-call")
def manager_forecast_call():
    """A rep submits their commit and best case, or a manager makes the team's call (with its reason)."""
    with runtime().sessions() as session:
        checked = _authorize_form(session, "Reload the panel and enter your numbers again.")
        if isinstance(checked, Response):
            return checked
        connection, claims, token, _ancestors = checked
        form = request.form
        args = {k: form.get(k) for k in ("rep", "period", "as_of") if form.get(k)}
        viewer = Viewer(claims.organization_id, claims.user_remote_id, claims.role)
        try:
            subject = subject_for(session, viewer, form.get("rep") or None)
            saved = submit_call(session, connection.provider, viewer, subject, form)
        except (CallError, ValueError, OutOfScope) as exc:
            session.rollback()
            message = str(exc) if not isinstance(exc, OutOfScope) else "You can make calls for your own team only."
            return _render(session, connection, claims, token, "forecast", args, error=message, status=400)
        session.commit()
        log.info("embed.manager.forecast-call organization=%s kind=%s", claims.organization_id, form.get("kind"))
        return redirect(url_for(".manager_view", view="forecast", pt=token, called=saved, **args), 303)


def _authorize_form(session, again: str):
    """(connection, claims, token, frame ancestors) for a panel form with a valid token and csrf_token, else the refusal."""
    checked = _authorize(session, request.form.get("pt"))
    if isinstance(checked, Response):
        return checked
    connection, claims, token = checked
    ancestors = frame_ancestors(connection)
    if not csrf_valid(token, request.form.get("csrf_token")):
        return _refusal("This form has expired", again, ancestors)
    return connection, claims, token, ancestors


def _authorize(session, token: str | None = None):
    """(connection, claims, token) for a valid manager token, else the 403 answer."""
    token = token or token_from_request(request)
    max_age = int(getattr(runtime().config, "EMBED_PANEL_TOKEN_SECONDS", DEFAULT_MAX_AGE_SECONDS))
    claims = read_manager_token(current_app.secret_key, token, max_age)
    connection = session.get(Connection, claims.connection_id) if claims else None
    if claims is None or connection is None or connection.organization_id != claims.organization_id \
            or connection.status == "disconnected":
        log.warning("embed.manager.invalid-token")
        return _refusal("This panel has expired", "Reload the CRM page to open the team panel again.", [])
    return connection, claims, token


def _render(session, connection, claims: ManagerClaims, token: str, view: str, args, *, from_record=False,
            error: str | None = None, status: int = 200) -> Response:
    """Build the view for the subject asked for, as HTML or as one table's CSV."""
    ancestors = frame_ancestors(connection)
    viewer = Viewer(claims.organization_id, claims.user_remote_id, claims.role)
    notice = None
    rep = args.get("rep") or None
    try:
        subject = subject_for(session, viewer, rep)
    except OutOfScope:
        if not from_record:
            return _refusal("You cannot see this person's numbers",
                            "The team panel shows your own team only. Open it from your own user page.", ancestors)
        notice = "You can see the numbers of your own team only, so the panel shows yours."
        subject = subject_for(session, viewer, None)
    if leads_nobody(viewer, subject):
        notice = leads_nobody_notice(session, connection.provider, viewer)
    try:
        as_of = date.fromisoformat(args["as_of"]) if args.get("as_of") else data_as_of(session, claims.organization_id)
        chosen = args.get("period")
        period = (parse_period(chosen) if chosen
                  else default_period(session, claims.organization_id, subject.owners, view, as_of))
    except ValueError as exc:
        return _embed_headers(make_response(render_template(
            "embed/message.html", title="That period is not understood", message=str(exc)), 400), ancestors)
    names = owner_names(session, claims.organization_id)
    title, build = VIEWS[view]
    data = build(session, claims.organization_id, subject, period, as_of, names)
    if args.get("format") == "csv":
        return _csv(data["tables"], args.get("table"), view, period, ancestors)
    # A period the viewer chose follows them from tab to tab; otherwise each view opens on its own data.
    keep = {"pt": token, **({"period": period.label} if chosen else {}),
            **({"as_of": args["as_of"]} if args.get("as_of") else {})}
    if not chosen and not notice and period != quarter_of(as_of):
        notice = (f"{quarter_of(as_of).label} has no {'leads' if view == 'funnel' else 'closed deals'} yet, "
                  f"so the panel shows {period.label}, the latest quarter with data.")

    built: dict[tuple, str] = {}

    def link(to_view: str = view, rep_id: str | None = subject.remote_id if subject.kind != "org" else None, **extra):
        # A whole organization's tables link each rep on several rows: build each distinct link once.
        key = (to_view, rep_id, tuple(sorted(extra.items())))
        if key not in built:
            shown = {"period": period.label} if "format" in extra and "period" not in keep else {}
            built[key] = url_for(".manager_view", view=to_view, **keep, **shown,
                                 **({"rep": rep_id} if rep_id else {}), **extra)
        return built[key]

    corporate = currency.corporate_currency(session, claims.organization_id)
    currency_note = currency.missing_rate_sentence(
        currency.unconverted(session, claims.organization_id, subject.owners), corporate)
    subject_name = ("Whole organization" if subject.kind == "org"
                    else names.get(subject.remote_id, subject.remote_id) + ("'s team" if subject.kind == "team" else ""))
    crumbs = _breadcrumbs(session, viewer, subject, names, link)
    html = render_template(
        "embed/manager.html", view=view, title=title, views=VIEWS, data=data, subject=subject,
        subject_name=subject_name, period=period, as_of=as_of, link=link, crumbs=crumbs, token=token,
        charts=view_charts(view, data, subject), notice=notice, error=error, claims=claims,
        currency_code=corporate, currency_note=currency_note,
        saved=bool(args.get("saved")), called=args.get("called"), periods=_period_choices(period, as_of),
        csrf_token=csrf_token(token), may_submit=may_submit(viewer, subject),
        may_call=may_call(viewer, subject, session), viewer_tz=user_zone(
            session, connection, user_id_forms(connection, claims.user_remote_id)),
        quota_owners=sorted(((names.get(o, o), o) for o in (subject.owners or names)), key=lambda p: p[0]))
    return _embed_headers(make_response(html, status), ancestors)


def _breadcrumbs(session, viewer: Viewer, subject, names, link) -> list[tuple[str, str | None]]:
    """Team → rep: the viewer's own top level, then the subject when it differs."""
    top = None if viewer.role == "admin" else viewer.user_remote_id
    crumbs = [("Organization" if top is None else names.get(top, top), link(rep_id=top))]
    if subject.remote_id and subject.remote_id != top:
        crumbs.append((names.get(subject.remote_id, subject.remote_id), None))
    return crumbs


def _period_choices(period: Period, as_of: date) -> list[str]:
    """The quarter of as_of, the next one and four before it, plus the one shown."""
    current = parse_period(f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}")
    choices, step = [], parse_period(f"{current.end.year}-Q{(current.end.month - 1) // 3 + 1}")
    for _ in range(6):
        choices.append(step.label)
        step = step.previous()
    return choices if period.label in choices else [period.label, *choices]




# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value):
    """A value safe to open in a spreadsheet: text that could start a formula gets a leading quote.

    Numbers stay numbers (a negative amount is not a formula); only text is neutralised, as OWASP
    advises: prefix with a single quote so the cell is read as text.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 677363, not 677363.0: a whole amount or count reads as one
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv(tables: list[Table], name: str | None, view: str, period: Period, ancestors) -> Response:
    """One table of the view as CSV: raw values, the column labels as the header."""
    table = next((t for t in tables if t.name == name), tables[0] if tables else None)
    out = io.StringIO()
    writer = csv.writer(out)
    if table is not None:
        writer.writerow([csv_cell(label) for _, label in table.columns])
        for row in table.rows:
            writer.writerow([csv_cell(row.get(key)) for key, _ in table.columns])
        if table.totals and any(key in table.totals for key, _ in table.columns[1:]):
            writer.writerow([csv_cell(table.totals[key]) if table.totals.get(key) is not None
                             else ("Total" if i == 0 else "") for i, (key, _) in enumerate(table.columns)])
    response = make_response(out.getvalue())
    response.mimetype = "text/csv"
    filename = f"pipewise-{view}-{table.name if table else 'empty'}-{period.label}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _embed_headers(response, ancestors)
