"""A portal's deal pipelines, read as one record per stage (the CRM Pipelines API, v3).

HubSpot's Pipelines guide and the v3 API description: ``GET /crm/v3/pipelines/deals`` answers
``{results: [{id, label, displayOrder, stages: [{id, label, displayOrder, metadata: {probability,
isClosed}, archived, createdAt, updatedAt}], archived, createdAt, updatedAt}]}``; a deal's
``dealstage`` holds a stage id, which is what people never read. Any one of the deal scopes reads it
(``crm.objects.deals.read`` among them). Metadata values are strings ("0.2", "true").
"""
from __future__ import annotations

from typing import Any

from connectors.hubspot.sdk import Call

OBJECT_TYPE = "deals"


def read_stages(call: Call) -> list[dict[str, Any]]:
    """Every stage of every deal pipeline, each with its pipeline's id, label and order."""
    answer = call("pipelines", lambda api, timeout: api.get_all(
        OBJECT_TYPE, _preload_content=False, _request_timeout=timeout)) or {}
    records = []
    for pipeline in answer.get("results") or []:
        for stage in pipeline.get("stages") or []:
            records.append({**stage, "pipelineId": pipeline.get("id"), "pipelineLabel": pipeline.get("label"),
                            "pipelineDisplayOrder": pipeline.get("displayOrder")})
    records.sort(key=lambda r: (str(r.get("updatedAt") or ""), str(r.get("id"))))
    return records
