"""Minimal Lightning-like record pages: /lightning/r/<Type>/<Id>/view for Lead, Opportunity and Account."""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from .api import sandbox
from .ids import looks_like_id, to_18
from .schema import canonical_object

bp = Blueprint("salesforce_pages", __name__)
PAGE_OBJECTS = ("Lead", "Opportunity", "Account")
HIGHLIGHTS = {"Lead": ["Company", "Status", "LeadSource", "OwnerId"],
              "Opportunity": ["AccountId", "StageName", "Amount", "CloseDate"],
              "Account": ["Industry", "BillingCountry", "AnnualRevenue", "OwnerId"]}


def _display(field, value) -> str:
    if value is None or value == "":
        return ""
    if field.type == "boolean":
        return "Yes" if value else "No"
    if field.type == "currency":
        return f"${value:,.2f}"
    if field.type == "percent":
        return f"{value:g}%"
    return str(value)


@bp.get("/lightning/r/<object_name>/<record_id>/view")
def record_page(object_name: str, record_id: str):
    """A record's fields, Pipewise's custom fields in their own section, and the Canvas slot."""
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
                           org_name=box.settings.org_name, canvas_url=box.settings.canvas_url)
