"""Record pages shaped like HubSpot's (/contacts/<portalId>/record/0-1/<id>) with the app card, and a home page."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for

from .api import sandbox
from .associations import associated
from .cards import CARD_OBJECT_TYPES, fetch_card
from .schema import OBJECT_TYPES, canonical_type

bp = Blueprint("hubspot_pages", __name__)
HOME_LINKS = 8
TITLE_PROPERTIES = {"contacts": ("firstname", "lastname"), "companies": ("name",), "deals": ("dealname",)}
LINKED = {"contacts": ("companies", "deals"), "companies": ("contacts", "deals"), "deals": ("contacts", "companies")}


def title_of(kind: str, record: dict[str, Any]) -> str:
    """A record's display name."""
    parts = [record["props"].get(name) for name in TITLE_PROPERTIES.get(kind, ())]
    return " ".join(p for p in parts if p) or record["props"].get("email") or f"Record {record['id']}"


def record_url(kind: str, record_id: int | str, viewer: str | None = None) -> str:
    """HubSpot's URL of a record page."""
    params = {"as": viewer} if viewer else {}
    return url_for("hubspot_pages.record_page", portal_id=sandbox().portal_id, type_id=OBJECT_TYPES[kind][0],
                   record_id=record_id, **params)


def _is_pipewise(prop) -> bool:
    return prop.name.startswith("pipewise") or prop.group == "pipewise"


@bp.get("/contacts/<int:portal_id>/record/<type_id>/<record_id>")
def record_page(portal_id: int, type_id: str, record_id: str):
    """A record's properties, Pipewise's in their own section, its associations and the app card."""
    box = sandbox()
    kind = canonical_type(type_id)
    if portal_id != box.portal_id or kind not in CARD_OBJECT_TYPES:
        abort(404)
    record = box.store.get(kind, record_id)
    if record is None or record["archived"]:
        abort(404)
    viewer = box.user(request.args.get("as"))
    if viewer is None:
        abort(404, description="No user of this portal has that e-mail; pass ?as=<email> of a user on the home page.")
    props = box.registry.all(kind)
    shown = [(p, record["props"].get(p.name)) for p in props]
    pipewise = [(p, v) for p, v in shown if _is_pipewise(p)]
    about = [(p, v) for p, v in shown if not _is_pipewise(p) and v not in (None, "")]
    linked = []
    for other in LINKED[kind]:
        targets = associated(box.store, kind, [record["id"]], other).get(record["id"], [])
        found = box.store.get_many(other, [to_id for to_id, _ in targets[:10]])
        linked.append((other, [(title_of(other, r), record_url(other, r["id"], request.args.get("as")))
                               for r in found.values()]))
    card = (fetch_card(box.settings, kind, record, viewer, box.portal_id) if box.settings.card_fetch_url else None)
    return render_template("record.html", portal_name=box.settings.portal_name, kind=kind,
                           singular=OBJECT_TYPES[kind][1], title=title_of(kind, record), record=record,
                           about=about, pipewise=pipewise, linked=linked, viewer=viewer, card=card,
                           card_title=box.settings.card_title)


@bp.get("/")
def home():
    """Where to go: recent contacts and open deals with links to their pages, and who can view them."""
    box = sandbox()
    viewer = request.args.get("as")
    contacts = box.store.select("contacts", "archived = 0", order="updated_at DESC, id", limit=HOME_LINKS)
    deals = box.store.select("deals", "archived = 0 AND json_extract(props, '$.hs_is_closed') = 'false'",
                             order="CAST(json_extract(props, '$.amount') AS REAL) DESC, id", limit=HOME_LINKS)
    sections = [("Contacts", [(title_of("contacts", r), record_url("contacts", r["id"], viewer)) for r in contacts]),
                ("Open deals", [(title_of("deals", r), record_url("deals", r["id"], viewer)) for r in deals])]
    by_role: dict[str, list] = {}
    for owner in box.owners():
        by_role.setdefault(owner["role"], []).append(owner)
    viewers = [o for role in ("admin", "manager", "rep") for o in by_role.get(role, [])[:3]]
    return render_template("home.html", portal_name=box.settings.portal_name, portal_id=box.portal_id,
                           sections=sections, viewers=viewers, card_url=box.settings.card_fetch_url)
