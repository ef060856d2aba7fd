"""Writes of the pipeline app: stages, opportunities (and their one stage-change service),
activities and lead conversion. Each runs in a transaction and writes its audit event."""
from .activities import activity_complete, activity_create, activity_reopen, activity_update
from .conversion import Conversion, lead_convert, matching_accounts
from .opportunities import (
    EDITABLE_FIELDS,
    first_stage,
    missing_for_stage,
    opportunity_create,
    opportunity_move,
    opportunity_update,
)
from .stages import ensure_default_stages, stage_create, stage_move, stage_reorder, stage_update

__all__ = [
    "Conversion", "EDITABLE_FIELDS", "activity_complete", "activity_create", "activity_reopen", "activity_update",
    "ensure_default_stages", "first_stage", "lead_convert", "matching_accounts", "missing_for_stage",
    "opportunity_create", "opportunity_move", "opportunity_update", "stage_create", "stage_move", "stage_reorder",
    "stage_update",
]
