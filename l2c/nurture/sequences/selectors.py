"""Sequence reads: the list (with enrolled and active counts), one sequence with its steps, and the
enrollments of a sequence or of a lead — enrollments only of leads the user may see.

Sequences themselves are shared: every sales user sees all of them (see services for who writes).
"""
from __future__ import annotations

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id

from ..choices import EnrollmentStatus, SequenceStatus
from ..models import EmailMessage, Enrollment, Sequence, SequenceStep
from .services import _visible_leads, require_view


def _count_of(model, **filters):
    rows = (model.objects.filter(sequence=OuterRef("pk"), **filters).order_by().values("sequence")
            .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def sequence_list(*, user, q: str = "", status: str = "") -> QuerySet[Sequence]:
    """Sequences with `steps_count`, `enrolled_count` (ever) and `active_count` (enrolled now)."""
    require_view(user)
    qs = Sequence.objects.annotate(
        steps_count=_count_of(SequenceStep),
        enrolled_count=_count_of(Enrollment),
        active_count=_count_of(Enrollment, status=EnrollmentStatus.ACTIVE),
    )
    if status:
        if status not in SequenceStatus.values:
            raise ValidationFailed.single("status", _("Unknown status %(value)r: use one of %(allowed)s.")
                                          % {"value": status, "allowed": ", ".join(SequenceStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return qs.order_by("name", "id")


def sequence_get(*, user, pk) -> Sequence:
    """One sequence with its steps (and their templates) prefetched."""
    require_view(user)
    sequence = (Sequence.objects.prefetch_related(
        Prefetch("steps", SequenceStep.objects.select_related("template").order_by("position")))
        .filter(pk=pk).first() if as_id(pk) is not None else None)
    if sequence is None:
        raise NotFound(_("No sequence with id %(id)s.") % {"id": pk})
    return sequence


def enrollment_list(*, user, sequence, status: str = "") -> QuerySet[Enrollment]:
    """The sequence's enrollments of leads `user` may see, newest first."""
    require_view(user)
    qs = (Enrollment.objects.filter(sequence=sequence, lead__in=_visible_leads(user))
          .select_related("lead", "lead__owner", "enrolled_by"))
    if status:
        if status not in EnrollmentStatus.values:
            raise ValidationFailed.single("status", _("Unknown status %(value)r: use one of %(allowed)s.")
                                          % {"value": status, "allowed": ", ".join(EnrollmentStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status=status)
    return qs.order_by("-enrolled_at", "-id")


def lead_enrollments(*, user, lead) -> list[Enrollment]:
    """A lead's enrollments (the caller has already checked the lead is visible), newest first."""
    require_view(user)
    sent = EmailMessage.objects.filter(enrollment=OuterRef("pk"), sent_at__isnull=False)
    return list(Enrollment.objects.filter(lead=lead).select_related("sequence").annotate(has_sent=Exists(sent))
                .order_by("-enrolled_at", "-id"))


def enrollable_sequences(*, user) -> QuerySet[Sequence]:
    """Active sequences, the ones a lead can be enrolled in."""
    require_view(user)
    return Sequence.objects.filter(status=SequenceStatus.ACTIVE).order_by("name", "id")
