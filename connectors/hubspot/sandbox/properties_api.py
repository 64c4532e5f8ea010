"""CRM properties v3: list, read, create (409 when taken), update, archive; property groups."""
from __future__ import annotations

from flask import jsonify

from .api import ApiError, api_blueprint, json_body, object_type, sandbox
from .clock import iso
from .registry import PropertyError

bp = api_blueprint("hubspot_properties", "/crm/v3/properties")


def _error(error: PropertyError) -> ApiError:
    return ApiError(error.status, error.category, error.message)


def _api(kind: str, name: str) -> dict:
    registry = sandbox().registry
    props = registry.all(kind)
    index = next(i for i, p in enumerate(props) if p.name == name)
    return props[index].api(index)


@bp.get("/<object_name>")
def list_properties(object_name: str):
    """Every property of an object type, custom ones included."""
    kind = object_type(object_name)
    return jsonify({"results": [p.api(i) for i, p in enumerate(sandbox().registry.all(kind))]})


@bp.get("/<object_name>/<name>")
def read_property(object_name: str, name: str):
    """One property definition."""
    kind = object_type(object_name)
    if sandbox().registry.get(kind, name) is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} on {kind}.")
    return jsonify(_api(kind, name))


@bp.post("/<object_name>")
def create_property(object_name: str):
    """Create a custom property (201); 409 OBJECT_ALREADY_EXISTS when the name is taken."""
    kind = object_type(object_name)
    box = sandbox()
    try:
        prop = box.registry.create(kind, json_body(), iso(box.clock.now()))
    except PropertyError as error:
        raise _error(error) from None
    return jsonify(_api(kind, prop.name)), 201


@bp.post("/<object_name>/batch/create")
def create_properties(object_name: str):
    """Create several properties; the ones that fail are listed as errors (207)."""
    kind = object_type(object_name)
    box = sandbox()
    body = json_body()
    started = iso(box.clock.now())
    results, errors = [], []
    for item in body.get("inputs") or []:
        try:
            results.append(_api(kind, box.registry.create(kind, item, iso(box.clock.now())).name))
        except PropertyError as error:
            errors.append({"status": "error", "category": error.category, "message": error.message,
                           "context": {"name": [str(item.get("name"))]}, "errors": [], "links": {}})
    answer = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso(box.clock.now())}
    if errors:
        answer.update(numErrors=len(errors), errors=errors)
    return jsonify(answer), 207 if errors else 201


@bp.post("/<object_name>/batch/read")
def read_properties(object_name: str):
    """Several properties by name."""
    kind = object_type(object_name)
    names = [str(item.get("name")) for item in json_body().get("inputs") or [] if isinstance(item, dict)]
    registry = sandbox().registry
    box = sandbox()
    results = [_api(kind, name) for name in names if registry.get(kind, name) is not None]
    return jsonify({"status": "COMPLETE", "results": results, "startedAt": iso(box.clock.now()),
                    "completedAt": iso(box.clock.now())})


@bp.patch("/<object_name>/<name>")
def update_property(object_name: str, name: str):
    """Change a custom property's label, description, group or options."""
    kind = object_type(object_name)
    try:
        sandbox().registry.update(kind, name, json_body())
    except PropertyError as error:
        raise _error(error) from None
    return jsonify(_api(kind, name))


@bp.delete("/<object_name>/<name>")
def archive_property(object_name: str, name: str):
    """Archive a custom property (204)."""
    try:
        sandbox().registry.archive(object_type(object_name), name)
    except PropertyError as error:
        raise _error(error) from None
    return "", 204


@bp.get("/<object_name>/groups")
def list_groups(object_name: str):
    """The property groups of an object type."""
    return jsonify({"results": sandbox().registry.groups(object_type(object_name))})


@bp.get("/<object_name>/groups/<name>")
def read_group(object_name: str, name: str):
    """One property group."""
    group = next((g for g in sandbox().registry.groups(object_type(object_name)) if g["name"] == name), None)
    if group is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}.")
    return jsonify(group)


@bp.post("/<object_name>/groups")
def create_group(object_name: str):
    """Create a property group (201); 409 when the name is taken."""
    try:
        return jsonify(sandbox().registry.create_group(object_type(object_name), json_body())), 201
    except PropertyError as error:
        raise _error(error) from None
