"""The portal's deal pipelines and their stages: HubSpot's default "Sales Pipeline" and any the settings add.

From HubSpot's Pipelines guide and the CRM Pipelines v3 API description (PublicApiSpecs/CRM/Pipelines/
Rollouts/145896/v3/pipelines.json): every account starts with one deal pipeline whose id is ``default``;
"the default pipelines will have createdAt = 0"; a deal's ``dealstage`` is a stage id and ``pipeline`` a
pipeline id. A deal stage's ``metadata`` holds ``probability`` (0.0-1.0) and ``isClosed``, and the
model types every metadata value as a string. Stage ids of pipelines created later are numbers
chosen by HubSpot (a settings knob adds such pipelines here). A closed stage with probability 1.0 is
a won one (HubSpot's ``hs_is_closed_won``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    probability: str  # "0.2": HubSpot's metadata values are strings
    closed: bool

    @property
    def won(self) -> bool:
        return self.closed and float(self.probability) >= 1.0


@dataclass(frozen=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: tuple[Stage, ...]
    created_at: str = EPOCH


# HubSpot's default deal pipeline and stages, in the order the pipeline board shows them.
DEFAULT_PIPELINE = Pipeline("default", "Sales Pipeline", 0, (
    Stage("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    Stage("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    Stage("presentationscheduled", "Presentation Scheduled", "0.6", False),
    Stage("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    Stage("contractsent", "Contract Sent", "0.9", False),
    Stage("closedwon", "Closed Won", "1.0", True),
    Stage("closedlost", "Closed Lost", "0.0", True),
))


def deal_pipelines(extra: tuple | list = ()) -> tuple[Pipeline, ...]:
    """The default pipeline, then the settings' further ones.

    Each further one is ``{"id", "label", "displayOrder", "createdAt"?, "stages": [{"id", "label",
    "probability", "isClosed"}]}``, shaped as the API answers it.
    """
    found = [DEFAULT_PIPELINE]
    for index, spec in enumerate(extra, start=1):
        stages = tuple(Stage(str(s["id"]), s["label"], str(s.get("probability", "0.0")), bool(s.get("isClosed")))
                       for s in spec["stages"])
        found.append(Pipeline(str(spec["id"]), spec["label"], int(spec.get("displayOrder", index)), stages,
                              spec.get("createdAt", EPOCH)))
    return tuple(found)


def stages_by_id(pipelines: tuple[Pipeline, ...]) -> dict[str, Stage]:
    """Every stage of every pipeline by its id (stage ids are unique within a portal)."""
    return {stage.id: stage for pipeline in pipelines for stage in pipeline.stages}


def stage_api(stage: Stage, order: int, stamp: str) -> dict[str, Any]:
    """A stage as the Pipelines API shows it (PipelineStage)."""
    return {"label": stage.label, "displayOrder": order,
            "metadata": {"isClosed": str(stage.closed).lower(), "probability": stage.probability},
            "id": stage.id, "createdAt": stamp, "updatedAt": stamp, "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}


def pipeline_api(pipeline: Pipeline) -> dict[str, Any]:
    """A pipeline as the Pipelines API shows it (Pipeline), its stages in display order."""
    stamp = pipeline.created_at
    return {"label": pipeline.label, "displayOrder": pipeline.display_order, "id": pipeline.id,
            "stages": [stage_api(stage, order, stamp) for order, stage in enumerate(pipeline.stages)],
            "createdAt": stamp, "updatedAt": stamp, "archived": False}
