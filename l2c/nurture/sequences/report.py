"""The sequence report: per step, how many enrollments are waiting there now, how many messages went out and
what the recipients did with them (opened, clicked, replied, bounced) and how many of those leads converted
after the step's message; totals for the whole sequence. A handful of grouped queries whatever the size.

Counts cover every enrollment of the sequence (they are aggregates; no lead is named). Rates are percentages
with one decimal: opened, clicked, replied and converted per message sent, bounced per message attempted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..choices import EnrollmentStatus, MessageStatus, StepKind
from ..models import EmailMessage, Enrollment, Sequence

METRICS = ("messages", "sent", "opened", "clicked", "replied", "bounced", "converted")
RATE_OF = {"opened": "sent", "clicked": "sent", "replied": "sent", "converted": "sent", "bounced": "messages"}


def rate(part: int, whole: int) -> float | None:
    """part/whole as a percentage with one decimal (None when nothing to divide by)."""
    if not whole:
        return None
    return round(part * 1000 / whole) / 10  # integer arithmetic, then one division: no 0.1 + 0.2 surprises


@dataclass
class StepRow:
    position: int
    kind: str
    label: str
    step_id: int | None
    waiting: int = 0  # active enrollments whose next step is this one
    counts: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return StepKind(self.kind).label

    @property
    def is_email(self) -> bool:
        return self.kind == StepKind.EMAIL


def _message_counts(messages) -> dict:
    """One aggregate: each metric counted over `messages` (converted: distinct leads that converted at or after
    the message was sent)."""
    return messages.aggregate(
        messages=Count("pk"),
        sent=Count("pk", filter=Q(sent_at__isnull=False)),
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        replied=Count("pk", filter=Q(replied_at__isnull=False)),
        bounced=Count("pk", filter=Q(bounced_at__isnull=False) | Q(status=MessageStatus.BOUNCED)),
        converted=Count("lead", distinct=True, filter=Q(sent_at__isnull=False, lead__status="converted",
                                                        lead__converted_at__gte=F("sent_at"))),
    )


def _rates(counts: dict) -> dict:
    return {name: rate(counts.get(name, 0), counts.get(base, 0)) for name, base in RATE_OF.items()}


def _step_label(step) -> str:
    if step.kind == StepKind.EMAIL:
        return step.template.name if step.template_id else step.get_kind_display()
    if step.kind == StepKind.WAIT:
        days = ngettext("%(n)d day", "%(n)d days", step.wait_days) % {"n": step.wait_days}
        hours = ngettext("%(n)d hour", "%(n)d hours", step.wait_hours) % {"n": step.wait_hours}
        parts = [p for p, n in ((days, step.wait_days), (hours, step.wait_hours)) if n] or [hours]
        return _("Wait %(time)s") % {"time": " ".join(parts)}
    if step.kind == StepKind.TASK:
        return step.task_subject
    condition = step.get_condition_display() + (f" {step.condition_value}" if step.condition_value is not None
                                                else "")
    return _("If the lead %(condition)s: %(then)s, else %(else)s") % {
        "condition": condition, "then": _goto(step.if_true, step.position), "else": _goto(step.if_false, step.position)}


def _goto(target: int | None, position: int) -> str:
    if target is None:
        return _("step %(n)d") % {"n": position + 1}
    if target == 0:
        return _("finish")
    return _("step %(n)d") % {"n": target}


def sequence_report(*, sequence: Sequence) -> dict:
    """{"steps": [StepRow…], "totals": {...}, "enrollments": {status: n}, "exits": {reason: n}}."""
    steps = list(sequence.steps.select_related("template").order_by("position"))
    messages = EmailMessage.objects.filter(enrollment__sequence=sequence)
    per_step = {
        row["step_id"]: row for row in messages.order_by().values("step_id").annotate(
            messages=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            replied=Count("pk", filter=Q(replied_at__isnull=False)),
            bounced=Count("pk", filter=Q(bounced_at__isnull=False) | Q(status=MessageStatus.BOUNCED)),
            converted=Count("lead", distinct=True, filter=Q(sent_at__isnull=False, lead__status="converted",
                                                            lead__converted_at__gte=F("sent_at"))),
        )
    }
    enrollments = Enrollment.objects.filter(sequence=sequence).order_by()
    waiting = dict(enrollments.filter(status=EnrollmentStatus.ACTIVE).values_list("position")
                   .annotate(n=Count("pk")).values_list("position", "n"))
    by_status = dict(enrollments.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    exits = dict(enrollments.filter(status=EnrollmentStatus.EXITED).values_list("exit_reason")
                 .annotate(n=Count("pk")).values_list("exit_reason", "n"))
    rows = []
    for step in steps:
        counts = {name: per_step.get(step.pk, {}).get(name, 0) for name in METRICS}
        rows.append(StepRow(position=step.position, kind=step.kind, label=_step_label(step), step_id=step.pk,
                            waiting=waiting.get(step.position, 0), counts=counts,
                            rates=_rates(counts) if step.kind == StepKind.EMAIL else {}))
    totals = _message_counts(messages)
    enrolled = sum(by_status.values())
    converted_enrolled = (enrollments.filter(lead__status="converted", lead__converted_at__gte=F("enrolled_at"))
                          .values("lead").distinct().count())
    return {
        "steps": rows,
        "totals": {**totals, "rates": _rates(totals), "enrolled": enrolled,
                   "active": by_status.get(EnrollmentStatus.ACTIVE, 0),
                   "completed": by_status.get(EnrollmentStatus.COMPLETED, 0),
                   "exited": by_status.get(EnrollmentStatus.EXITED, 0),
                   "converted_after_enrolment": converted_enrolled,
                   "conversion_rate": rate(converted_enrolled, enrolled)},
        "exits": exits,
    }
