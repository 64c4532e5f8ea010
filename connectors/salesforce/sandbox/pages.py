"""Minimal Lightning-like pages: a home page and /lightning/r/<Type>/<Id>/view with the Pipewise Canvas app."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for

from .api import instance_url, sandbox
from .canvas import (APPROVAL_REQUIRED, FRAME_HEIGHT, FRAME_NAME, app_for, canvas_context, find_user,
                     needs_approval, signed_request)
from .ids import looks_like_id, to_18
from .schema import canonical_object

bp = Blueprint("salesforce_pages", __name__)
PAGE_OBJECTS = ("Lead", "Opportunity", "Account", "User")
HIGHLIGHTS = {"Lead": ["Company", "Status", "LeadSource", "OwnerId"],
              "Opportunity": ["AccountId", "StageName", "Amount", "CloseDate"],
              "Account": ["Industry", "BillingCountry", "AnnualRevenue", "OwnerId"],
              "User": ["Title", "Department", "Email", "ManagerId"]}
HOME_LINKS = 5  # records listed per section of the home page


def _display(field, value) -> str:
    if value is None or value == "":
        return ""
    if field.type == "boolean":
        return "Yes" if value else "No"
    if field.type == "currency":
        return f"${value:,.2f}"
    if field.type == "percent":
        return f"{value:g}%"
    if field.type in ("double", "int") and isinstance(value, (int, float)) and not isinstance(value, bool):
        # Salesforce shows a number field with as many decimals as its scale: Number(18, 0) reads "3", not "3.0".
        return f"{value:,.{field.scale or 0}f}"
    return str(value)


def _canvas(box, name: str, row: dict):
    """The Canvas frame's form values, or None when no canvas_url is set; 404 for an unknown ?as= user."""
    url = (box.settings.user_canvas_url if name == "User" else None) or box.settings.canvas_url
    if not url:
        return None
    viewer = find_user(box, request.args.get("as"))
    if viewer is None:
        abort(404, description=f"No active sandbox user has the username or id {request.args['as']!r}; "
                               "pass ?as=<Username> of a user listed on the home page.")
    if needs_approval(box, viewer["Id"], app_for(box, name)[1]):
        # Canvas guide, "Signed Request Authentication": a self-authorized app the user has not approved
        # is opened with a GET carrying _sfdc_canvas_authvalue; the app starts the OAuth approval.
        separator = "&" if "?" in url else "?"
        return {"url": url, "approval_url": url + separator + urlencode({"_sfdc_canvas_authvalue": APPROVAL_REQUIRED}),
                "viewer": viewer, "frame_name": FRAME_NAME, "height": FRAME_HEIGHT}
    context = canvas_context(box, viewer, name, row, instance_url(), request.url, url)
    return {"url": url, "signed_request": signed_request(box, context), "viewer": viewer,
            "frame_name": FRAME_NAME, "height": FRAME_HEIGHT}


@bp.get("/lightning/r/<object_name>/<record_id>/view")
def record_page(object_name: str, record_id: str):
    """A record's fields, Pipewise's custom fields in their own section, and the Pipewise Canvas app."""
    box = sandbox()
    name = canonical_object(object_name)
    if name not in PAGE_OBJECTS or not looks_like_id(record_id):
        abort(404)
    row = box.store.get(name, to_18(record_id))
    if row is None:
        abort(404)
    fields = box.store.fields(name)
    shown = [(f, _display(f, row.get(f.name))) for f in fields]
    pipewise = [(f, value) for f, value in shown if f.name.startswith("Pipewise_")]
    details = [(f, value) for f, value in shown if not f.name.startswith("Pipewise_")]
    by_name = dict((f.name, value) for f, value in shown)
    highlights = [(f.label, by_name[f.name]) for f in fields if f.name in HIGHLIGHTS[name]]
    return render_template("record.html", object_name=name, record=row, title=row.get("Name") or row["Id"],
                           highlights=highlights, details=details, pipewise=pipewise,
                           org_name=box.settings.org_name, canvas_url=box.settings.canvas_url,
                           canvas=_canvas(box, name, row))


@bp.get("/")
@bp.get("/lightning/page/home")
def home():
    """Where to go: a few leads, open opportunities, accounts and users, with links to their pages."""
    box = sandbox()
    store = box.store
    live = '"IsDeleted" = 0'
    sections = [
        ("Leads", "Lead", store.select("Lead", f'{live} AND "IsConverted" = 0', order='"CreatedDate" DESC, "Id"',
                                       limit=HOME_LINKS)),
        ("Open opportunities", "Opportunity",
         store.select("Opportunity", f'{live} AND "IsClosed" = 0', order='"Amount" DESC, "Id"', limit=HOME_LINKS)),
        ("Accounts", "Account", store.select("Account", live, order='"AnnualRevenue" DESC, "Id"', limit=HOME_LINKS)),
    ]
    users = store.select("User", f'{live} AND "IsActive" = 1', order="rowid")
    by_role: dict[str, list[dict]] = {}
    for user in users:
        by_role.setdefault(box.user_role(user), []).append(user)
    people = [user for role in ("admin", "manager", "rep") for user in by_role.get(role, [])[:3]]
    sections.append(("Users", "User", people))
    links = [(title, [(row.get("Name") or row["Id"], url_for(".record_page", object_name=object_name,
                                                             record_id=row["Id"]),
                       box.user_role(row) if object_name == "User" else None) for row in rows])
             for title, object_name, rows in sections]
    viewers = [(box.user_role(user), user["Username"]) for user in people]
    return render_template("home.html", org_name=box.settings.org_name, sections=links, viewers=viewers,
                           canvas_url=box.settings.canvas_url)
