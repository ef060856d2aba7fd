"""Nurture's actions for workflow rules (core.automation_registry): enrol the lead in a sequence, send it one
e-mail from a template; and the `lead.score_changed` event rules can trigger on (e.g. "score at least 80 →
status qualified, notify the owner")."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core import automation_registry as registry
from l2c.core.models import CompanyProfile

from . import tasks
from .choices import FALLBACK_LANGUAGE
from .models import EmailMessage
from .selectors import can_email
from .sequences import runner

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
        "send_email", label=gettext_lazy("Send an e-mail"), handler=send_email, validate=_validate_send,
        record_types=("lead",), params=[{"name": "template_id", "label": gettext_lazy("E-mail template"),
                                         "kind": "int"}])
    registry.register_action(
        "enroll_in_sequence", label=gettext_lazy("Enrol in a sequence"), handler=enroll_in_sequence,
        validate=_validate_enroll, record_types=("lead",),
        params=[{"name": "sequence_id", "label": gettext_lazy("Sequence"), "kind": "int"}])


# --- send one e-mail ------------------------------------------------------------------------------------------

def _template(pk):
    from .models import EmailTemplate

    return EmailTemplate.objects.filter(pk=pk, is_active=True).first() if pk else None


def _validate_send(record_type, params) -> dict:
    template = _template(params.get("template_id"))
    if template is None:
        return {"template_id": _("No active e-mail template with id %(id)s.") % {"id": params.get("template_id")}}
    if not template.versions.filter(language=FALLBACK_LANGUAGE).exists():
        return {"template_id": _("The template %(name)s has no English version (every template needs one).")
                % {"name": template.name}}
    return {}


def send_email(context: registry.ActionContext) -> str:
    """Queue one e-mail of the template to the lead, once per rule run and action (a retried run finds it);
    the sender's sweep sends it with the same checks, retries and tracking as a sequence step. A lead that
    may not be e-mailed is not an error: the result says why nothing was sent."""
    template = _template(context.params.get("template_id"))
    if template is None:
        raise ValueError(_("The template %(id)s no longer exists or is inactive.") % {"id": context.params.get("template_id")})
    lead = context.record
    allowed, why = can_email(lead)
    if not allowed:
        return _("not sent: %(why)s") % {"why": why}
    key = f"rule-run:{getattr(context.run, 'pk', None) or 'none'}:{context.index}:lead:{lead.pk}"
    existing = EmailMessage.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return _("already queued (%(subject)s)") % {"subject": existing.subject}
    from_email = settings.DEFAULT_FROM_EMAIL
    message = runner.build_message(lead, template, from_email=from_email,
                                   domain=runner.sending_domain(from_email), company=CompanyProfile.get(),
                                   now=timezone.now(), idempotency_key=key)
    message.save(force_insert=True)
    transaction.on_commit(lambda: tasks.send_email.delay(message.pk))
    return _("e-mail queued to %(to)s: %(subject)s") % {"to": message.to_email, "subject": message.subject}
