"""Deal pipelines: the default one every portal has, and any a test adds.

HubSpot lists them at `GET /crm/v3/pipelines/deals`; a deal's `dealstage` is a stage id of its
`pipeline` (reference 3.3: "a stage outside the default pipeline also needs the matching
`pipeline` value"). The `dealstage` and `pipeline` properties list every pipeline's stages and
every pipeline as their options, as a portal's property definitions do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import HubSpotError, invalid_property_values
from .schema import (
    DEFAULT_DEAL_STAGES,
    DEFAULT_PIPELINE_ID,
    DEFAULT_PIPELINE_LABEL,
    SEEDED_AT,
    PropertyDefinition,
    PropertyOption,
)


@dataclass
class Stage:
    id: str
    label: str
    probability: str = "0.5"
    closed: bool = False

    def to_json(self, order: int) -> dict:
        return {
            "label": self.label,
            "displayOrder": order,
            "metadata": {"isClosed": str(self.closed).lower(), "probability": self.probability},
            "id": self.id,
            "createdAt": SEEDED_AT,
            "updatedAt": SEEDED_AT,
            "archived": False,
        }


@dataclass
class Pipeline:
    id: str
    label: str
    stages: list[Stage] = field(default_factory=list)

    def stage_ids(self) -> list[str]:
        return [stage.id for stage in self.stages]

    def to_json(self, order: int) -> dict:
        return {
            "label": self.label,
            "displayOrder": order,
            "id": self.id,
            "stages": [stage.to_json(index) for index, stage in enumerate(self.stages)],
            "createdAt": SEEDED_AT,
            "updatedAt": SEEDED_AT,
            "archived": False,
        }


def default_pipelines() -> dict[str, Pipeline]:
    stages = [Stage(*stage) for stage in DEFAULT_DEAL_STAGES]
    return {DEFAULT_PIPELINE_ID: Pipeline(DEFAULT_PIPELINE_ID, DEFAULT_PIPELINE_LABEL, stages)}


def pipeline_from_json(body: dict) -> Pipeline:
    """A pipeline from the control API's `{id, label, stages: [{id, label}]}`."""
    stages = [
        Stage(str(stage["id"]), str(stage.get("label") or stage["id"]))
        for stage in body.get("stages") or []
    ]
    return Pipeline(str(body["id"]), str(body.get("label") or body["id"]), stages)


def sync_options(pipelines: dict[str, Pipeline], deal_properties: dict[str, PropertyDefinition]):
    """Make the `pipeline` and `dealstage` options list every pipeline and stage."""
    deal_properties["pipeline"].options = [
        PropertyOption(pipeline.label, pipeline.id, order)
        for order, pipeline in enumerate(pipelines.values())
    ]
    stages = [stage for pipeline in pipelines.values() for stage in pipeline.stages]
    deal_properties["dealstage"].options = [
        PropertyOption(stage.label, stage.id, order) for order, stage in enumerate(stages)
    ]


def check_deal_stage(pipelines: dict[str, Pipeline], properties: dict[str, str]) -> None:
    """A deal's stage must belong to its pipeline; HubSpot refuses the pair otherwise.

    The wording of HubSpot's refusal is not captured in any public source; this follows the
    shape of its other per-property errors (reference 2.2).
    """
    stage = properties.get("dealstage")
    pipeline = pipelines.get(properties.get("pipeline") or DEFAULT_PIPELINE_ID)
    if not stage or pipeline is None or stage in pipeline.stage_ids():
        return
    raise _stage_not_in_pipeline(stage, pipeline.id)


def _stage_not_in_pipeline(stage: str, pipeline_id: str) -> HubSpotError:
    message = f"{stage} is not a valid dealstage for pipeline {pipeline_id}"
    problem = {"isValid": False, "message": message, "error": "INVALID_OPTION", "name": "dealstage"}
    return invalid_property_values([problem])
