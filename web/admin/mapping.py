"""The field-mapping screen: which CRM field feeds each common field, and which Pipewise fields are written back.

For the signed-in CRM admin of the connection's organization only (the admin console's sign-in,
role check and CSRF). A change is validated against the CRM's own field list, saved, audited,
and takes effect at the next sync.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from connectors import registry
from connectors.errors import ConnectorError
from sync import field_mapping
from sync.connections import open_client
from sync.store import SYNCED_MODELS, Connection
from sync.store import audit_log as audit
from web.extensions import runtime
from web.signed_in import actor, admins_only

log = logging.getLogger(__name__)
bp = Blueprint("admin_mapping", __name__, url_prefix="/admin/connections/<int:connection_id>/mapping")
admins_only(bp)



def _connection(db, connection_id: int) -> Connection:
    connection = db.get(Connection, connection_id)
    if connection is None or connection.organization_id != g.organization_id:
        abort(404)
    return connection


def _catalogs(connection: Connection, provider) -> tuple[dict[str, list[dict]], str | None]:
    """The CRM's fields per mapped object (cached briefly), and a sentence if they could not be read."""
    rt = runtime()
    if connection.status in ("disconnected", "needs_reauth"):
        return {}, ("Pipewise cannot read this CRM's fields while the connection is "
                    f"{connection.status.replace('_', ' ')}. Re-authorize it first.")
    client = None

    def opened():
        nonlocal client
        client = client or open_client(rt.config, rt.sessions, rt.cipher, connection)
        return client
    found = {}
    try:
        for object_type in field_mapping.mappable(provider):
            remote_name = field_mapping.stream_for(provider, object_type).remote_name
            found[object_type] = field_mapping.catalog(rt.redis, connection.id, provider.key, remote_name, opened)
    except ConnectorError as exc:
        log.warning("mapping.catalog-failed connection=%s error=%s", connection.id, exc)
        return found, f"Pipewise could not read the fields from the CRM ({exc}). Reload the page in a minute."
    return found, None


SAMPLE_RECORDS = 200


def _samples(db, connection_id: int, object_type: str) -> dict[str, list[str]]:
    """Up to three distinct values per CRM field, from the latest records Pipewise stored (as the CRM sent them)."""
    model = SYNCED_MODELS[object_type]
    found: dict[str, list[str]] = {}
    for data in db.scalars(select(model.remote_data).where(model.connection_id == connection_id,
                                                           model.deleted_at.is_(None))
                           .order_by(model.id.desc()).limit(SAMPLE_RECORDS)):
        if not isinstance(data, dict):
            continue
        # HubSpot nests the values under "properties"; Salesforce keeps them at the top.
        values = data.get("properties") if isinstance(data.get("properties"), dict) else data
        for name, value in values.items():
            text = "" if value is None or isinstance(value, (dict, list)) else str(value).strip()
            seen = found.setdefault(name.lower(), [])
            if text and len(seen) < 3 and text[:40] not in seen:
                seen.append(text[:40])
    return found


def _rows(db, connection: Connection, provider, catalogs, submitted=None) -> dict[str, list[dict]]:
    """Per object: each common field, its built-in and current source, the fields that may feed it, samples."""
    current = field_mapping.overrides(db, connection.id)
    objects = {}
    for object_type, defaults in field_mapping.mappable(provider).items():
        fields = catalogs.get(object_type, [])
        samples = _samples(db, connection.id, object_type)
        rows = []
        for common_field, default in defaults.items():
            source = current.get(object_type, {}).get(common_field, default)
            options = field_mapping.compatible_fields(provider.key, object_type, common_field, fields)
            names = {f["name"] for f in options}
            # The current and built-in sources stay selectable even when the CRM list is unavailable.
            extra = [{"name": n, "label": n, "type": "", "custom": n.endswith("__c")}
                     for n in dict.fromkeys((source, default)) if n and n not in names]
            if default == "":  # no standard source: "none" is a choice of its own
                extra.insert(0, {"name": "", "label": "None", "type": "", "custom": False})
            rows.append({"field": common_field, "label": common_field.replace("_", " ").capitalize(),
                         "kind": field_mapping.field_kind(object_type, common_field), "default": default,
                         "source": source, "selected": (submitted or {}).get(common_field, source),
                         "overridden": source != default, "samples": samples.get(source.lower(), []),
                         "options": [{**o, "samples": samples.get(o["name"].lower(), [])}
                                     for o in extra + options]})
        objects[object_type] = rows
    return objects


def _page(connection_id: int, errors=None, submitted=None, status: int = 200):
    with runtime().sessions() as db:
        connection = _connection(db, connection_id)
        provider = registry.get(connection.provider).provider
        catalogs, problem = _catalogs(connection, provider)
        objects = _rows(db, connection, provider, catalogs, (submitted or {}).get("fields"))
        switches = field_mapping.writeback_switches(db, connection_id, provider)
    if problem:
        flash(problem, "error")
    return render_template("mapping/field_mapping.html", connection=connection, provider=provider, objects=objects,
                           errors=errors or {}, error_object=(submitted or {}).get("object_type"),
                           writable=[(f, switches[f.key]) for f in provider.writable_fields]), status


@bp.get("")
def show(connection_id: int):
    """The mapping of every object and the writeback switches."""
    return _page(connection_id)


@bp.post("/objects/<object_type>")
def save(connection_id: int, object_type: str):
    """Validate and save one object's sources; nothing is saved when one of them is refused."""
    choices = {key.removeprefix("field."): value for key, value in request.form.items() if key.startswith("field.")}
    rt = runtime()
    with rt.sessions() as db:
        connection = _connection(db, connection_id)
        provider = registry.get(connection.provider).provider
        if object_type not in field_mapping.mappable(provider):
            abort(404)
        catalogs, problem = _catalogs(connection, provider)
        if problem:
            flash(problem, "error")
            return redirect(url_for("admin_mapping.show", connection_id=connection_id))
        changes, errors = field_mapping.save_mapping(db, connection, provider, object_type, choices,
                                                     catalogs[object_type], actor())
        if errors:
            db.rollback()
            return _page(connection_id, errors, {"object_type": object_type, "fields": choices}, status=400)
        if changes:
            audit.record(db, actor=actor(), action="field_mapping.update", organization_id=connection.organization_id,
                         target=f"connection:{connection_id}",
                         details={"object_type": object_type, "changes": {f: list(v) for f, v in changes.items()}})
        db.commit()
    if changes:
        log.info("mapping.updated connection=%s object=%s changes=%s", connection_id, object_type, changes)
        flash(f"Saved. The next sync re-reads every {object_type.replace('_', ' ')} with the new mapping, "
              "and may rescore them.", "info")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("admin_mapping.show", connection_id=connection_id))


@bp.post("/writeback")
def save_writeback(connection_id: int):
    """Switch Pipewise fields on or off for writeback; takes effect at the next writeback."""
    enabled = set(request.form.getlist("writeback"))
    with runtime().sessions() as db:
        connection = _connection(db, connection_id)
        provider = registry.get(connection.provider).provider
        changed = field_mapping.save_writeback_switches(db, connection_id, provider, enabled, actor())
        if changed:
            audit.record(db, actor=actor(), action="writeback_fields.update",
                         organization_id=connection.organization_id, target=f"connection:{connection_id}",
                         details={"changed": changed})
        db.commit()
    if changed:
        log.info("mapping.writeback-switched connection=%s changed=%s", connection_id, changed)
        off = sorted(k for k, on in changed.items() if not on)
        flash("Saved. " + (f"Pipewise stops writing {', '.join(off)}; values already in the CRM stay as they are. "
                           if off else "") + "The change applies from the next writeback.", "info")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("admin_mapping.show", connection_id=connection_id))
