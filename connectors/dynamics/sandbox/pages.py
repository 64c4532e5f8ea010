"""The model-driven record form (main.aspx?etn=...&id=...&pagetype=entityrecord) with Pipewise's web resource.

Source: developer/model-driven-apps/use-iframe-and-web-resource-controls-on-a-form.md: with "Pass record
object-type code and unique identifier as parameters" the IFRAME's URL gets typename, type, id ({GUID} in
braces), orgname, userlcid and orglcid, e.g.
?id=%7bB2232821-006C-DD11-AE51-001A646E3AB7%7d&orglcid=1033&orgname=adventureworkscycle&type=1&typename=account
&userlcid=1033. The web resource sits on the opportunity and lead forms (rep panel) and the user form (team).
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request

from .api import sandbox
from .values import Annotations, to_wire

bp = Blueprint("dynamics_pages", __name__)
PANEL_TABLES = ("opportunity", "lead", "systemuser")
SUMMARY = {
    "opportunity": ("name", "_parentaccountid_value", "estimatedvalue", "estimatedclosedate", "stepname",
                    "closeprobability", "statecode", "_ownerid_value"),
    "lead": ("fullname", "companyname", "emailaddress1", "jobtitle", "leadsourcecode", "statecode", "_ownerid_value"),
    "systemuser": ("fullname", "title", "domainname", "internalemailaddress", "_parentsystemuserid_value",
                   "_businessunitid_value"),
    "account": ("name", "websiteurl", "revenue", "numberofemployees", "address1_country", "_ownerid_value"),
    "contact": ("fullname", "emailaddress1", "_parentcustomerid_value", "_ownerid_value"),
}
LCID = 1033  # English (United States)


def web_resource_url(base: str, table, record_id: str, org_name: str) -> str:
    """The IFRAME URL with the parameters the form passes, in the documented (alphabetical) order."""
    params = {"id": "{" + record_id.upper() + "}", "orglcid": LCID, "orgname": org_name, "type": table.otc,
              "typename": table.logical, "userlcid": LCID}
    return base + ("&" if "?" in base else "?") + urlencode(params)


@bp.get("/main.aspx")
def record_form():
    """A record's main form: a summary of its columns and, where configured, the Pipewise IFRAME."""
    box = sandbox()
    if request.args.get("pagetype", "entityrecord") != "entityrecord":
        abort(404)
    table = box.tables.get(request.args.get("etn", ""))
    record_id = (request.args.get("id") or "").strip("{}").lower()
    row = box.store.get(table.logical, record_id) if table else None
    if row is None:
        abort(404, "This record is not available: it may have been deleted, or the link is wrong.")
    names = SUMMARY.get(table.logical, (table.primary_name,))
    wire = to_wire(table, row, list(names), Annotations("*"), box.name_of)
    fields = []
    for name in names:
        column = table.columns[name[1:-6] if name.startswith("_") else name]
        label = column.display_name or column.name
        value = wire.get(f"{name}@OData.Community.Display.V1.FormattedValue", wire.get(name))
        fields.append((label, value))
    web_resource = None
    if box.settings.web_resource_url and table.logical in PANEL_TABLES:
        web_resource = web_resource_url(box.settings.web_resource_url, table, record_id, box.settings.org_name)
    return render_template("form.html", table=table, title=row.get(table.primary_name) or record_id, fields=fields,
                           web_resource=web_resource, restricted=box.settings.web_resource_restricted,
                           org=box.settings.org_friendly_name)
