"""What people call each opportunity stage, and the CRM's order of stages, per connection.

``Opportunity.stage`` keeps the value the CRM stores (HubSpot's ``qualifiedtobuy`` or a pipeline's
numeric id, Salesforce's StageName): it is what writes back and what the history holds. Every screen
and sentence a person reads shows the stage's label instead, from the connection's ``crm_stage`` rows
(synced from the CRM's pipelines); a stage without a row is shown as stored (Salesforce's StageName
already is what its users read).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.store import CrmStage


class StageNames:
    """Labels and board positions of one organization's stages, per connection."""

    def __init__(self, rows: Iterable[tuple[int, str, str | None, int | None, int | None]]):
        self._labels: dict[tuple[int, str], str] = {}
        self._any: dict[str, str] = {}
        self._order: dict[str, tuple[int, int]] = {}
        # Rows come ordered by connection: where two connections name one value differently, a row
        # without its connection shows the first connection's label.
        for connection_id, value, label, pipeline_order, display_order in rows:
            if not label:
                continue
            self._labels[(connection_id, value)] = label
            self._any.setdefault(value, label)
            position = (pipeline_order or 0, display_order or 0)
            self._order[label] = min(self._order.get(label, position), position)

    def label(self, stage: str | None, connection_id: int | None = None) -> str | None:
        """The stage's label in the connection (any connection's when None); the stage itself when unknown."""
        if not stage:
            return stage
        if connection_id is not None:
            return self._labels.get((connection_id, stage), stage)
        return self._any.get(stage, stage)

    def for_connection(self, connection_id: int) -> dict[str, str]:
        """Stage value → label for one connection."""
        return {value: label for (conn, value), label in self._labels.items() if conn == connection_id}

    def relabel(self, rows: list[dict[str, Any]], key: str = "stage", connection_key: str | None = None) -> None:
        """Replace each row's stage value by its label (per the row's connection when it names one)."""
        for row in rows:
            connection_id = row.get(connection_key) if connection_key else None
            row[key] = self.label(row.get(key), connection_id)

    def sort_key(self, label: str, fallback: int = 0) -> tuple:
        """Where a labelled stage sorts: in the CRM's board order when known, else by ``fallback``, then name."""
        known = self._order.get(label)
        return (0, *known, "") if known is not None else (1, fallback, 0, label or "")


def stage_names(session: Session, organization_id: int) -> StageNames:
    """The organization's stage labels and order, as its CRMs define them."""
    return StageNames(session.execute(
        select(CrmStage.connection_id, CrmStage.remote_id, CrmStage.label, CrmStage.pipeline_order,
               CrmStage.display_order)
        .where(CrmStage.organization_id == organization_id, CrmStage.deleted_at.is_(None))
        .order_by(CrmStage.connection_id, CrmStage.pipeline_order, CrmStage.display_order)).all())
