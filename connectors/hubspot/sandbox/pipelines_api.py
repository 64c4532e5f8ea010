"""CRM Pipelines (v3), read-only here: every pipeline of an object type, one pipeline, a pipeline's stages.

Shapes from the CRM Pipelines v3 API description (PublicApiSpecs/CRM/Pipelines/Rollouts/145896/v3/
pipelines.json): ``CollectionResponsePipelineNoPaging`` ``{results: [Pipeline]}``, ``Pipeline`` ``{id,
label, displayOrder, stages, createdAt, updatedAt, archived}``, ``CollectionResponsePipelineStageNoPaging``.
"When calling endpoints that take pipelineId as a parameter, that ID must correspond to an existing,
un-archived pipeline. Otherwise the request will fail with a 404 Not Found response." Only deals have
pipelines in this sandbox; other object types are refused (the stricter reading). The scopes are
enforced by the API gate (scopes.py).
"""
from __future__ import annotations

from flask import jsonify, request

from .api import ApiError, api_blueprint, object_type, sandbox
from .pipelines import Pipeline, pipeline_api

bp = api_blueprint("hubspot_pipelines", "/crm/v3/pipelines")


def _pipelines(name: str) -> tuple[Pipeline, ...]:
    kind = object_type(name)
    if kind != "deals":
        raise ApiError(400, "VALIDATION_ERROR", f"Object type {name} has no pipelines in this portal; "
                       "pipelines are read for deals.")
    return sandbox().pipelines


def _pipeline(name: str, pipeline_id: str) -> Pipeline:
    found = next((p for p in _pipelines(name) if p.id == pipeline_id), None)
    if found is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"No pipeline with id {pipeline_id} exists for {name}.")
    return found


def _archived_only() -> bool:
    # Nothing is archived here: asking for archived pipelines answers none.
    return request.args.get("archived", "false").lower() == "true"


@bp.get("/<name>")
def list_pipelines(name: str):
    """Every pipeline of the object type, ordered by displayOrder then label."""
    pipelines = sorted(_pipelines(name), key=lambda p: (p.display_order, p.label))
    return jsonify({"results": [] if _archived_only() else [pipeline_api(p) for p in pipelines]})


@bp.get("/<name>/<pipeline_id>")
def read_pipeline(name: str, pipeline_id: str):
    """One pipeline with its stages."""
    return jsonify(pipeline_api(_pipeline(name, pipeline_id)))


@bp.get("/<name>/<pipeline_id>/stages")
def list_stages(name: str, pipeline_id: str):
    """A pipeline's stages."""
    stages = [] if _archived_only() else pipeline_api(_pipeline(name, pipeline_id))["stages"]
    return jsonify({"results": stages})
