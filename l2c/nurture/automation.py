"""Nurture's actions for workflow rules (core.automation_registry): enrol the lead in a sequence, send it one
e-mail from a template; and the `lead.score_changed` event rules can trigger on (e.g. "score at least 80 →
status qualified, notify the owner")."""
from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core import automation_registry as registry

SCORE_EVENT = "lead.score_changed"


def _sequence(pk):
    from .choices import SequenceStatus
    from .models import Sequence

    return Sequence.objects.exclude(status=SequenceStatus.ARCHIVED).filter(pk=pk).first() if pk else None


def _validate_enroll(record_type, params) -> dict:
    if _sequence(params.get("sequence_id")) is None:
        return {"sequence_id": _("No sequence with id %(id)s that is not archived.") % {"id": params.get("sequence_id")}}
    return {}


def enroll_in_sequence(context: registry.ActionContext) -> str:
    """Enrol the lead (as the rule's user: it must be able to see the lead). A lead that may not be e-mailed, or
    is already enrolled, is not an error: the result says why nothing happened."""
    from .sequences.services import enroll, skip_reason_label

    sequence = _sequence(context.params.get("sequence_id"))
    if sequence is None:
        raise ValueError(_("The sequence %(id)s no longer exists or is archived.") % {"id": context.params.get("sequence_id")})
    result = enroll(sequence=sequence, leads=[context.record.pk], actor=context.actor, source="rule")
    if result["enrolled"]:
        return _("enrolled in %(sequence)s") % {"sequence": sequence}
    if result["already_enrolled"]:
        return _("already enrolled in %(sequence)s") % {"sequence": sequence}
    reasons = ", ".join(str(skip_reason_label(reason)) for reason in result["skipped"])
    return _("not enrolled in %(sequence)s: %(reasons)s") % {"sequence": sequence, "reasons": reasons}


def register() -> None:
    from l2c.core.events import register_event

    register_event(SCORE_EVENT, "A lead's score moved to another grade (A 80+, B 60-79, C 40-59, D below 40) or "
                                "its first score was given. Payload: lead_id, score, previous_score, grade, "
                                "previous_grade.")
    registry.register_action(
        "enroll_in_sequence", label=gettext_lazy("Enrol in a sequence"), handler=enroll_in_sequence,
        validate=_validate_enroll, record_types=("lead",),
        params=[{"name": "sequence_id", "label": gettext_lazy("Sequence"), "kind": "int"}])
