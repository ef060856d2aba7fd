"""API routes of e-mail sequences: list, create, read (with steps), change, delete, replace the steps, the
actions activate / pause / archive, enrol (lead ids or the lead list's filter) and unenrol, the enrollments
(paged) and the report.

Reads, enrol and unenrol: sales users (a rep only for leads they may see); writes: managers and admins. Bad
input is a 422 naming the field (steps[2].template, lead_ids, …); a state that does not allow the action is
a 409.
"""
from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed

from . import report, selectors, services

router = Router(tags=["sequences"])


class StrictSchema(Schema):
    """Unknown fields are refused, so a misspelt field is an error, not silently lost."""

    model_config = ConfigDict(extra="forbid")


class StepIn(StrictSchema):
    kind: str = Field(..., description="email, wait, task or branch")
    template: int | None = Field(None, description="email: the e-mail template's id (active, with English)")
    wait_days: int = Field(0, description="wait: days")
    wait_hours: int = Field(0, description="wait: hours (days + hours > 0)")
    task_subject: str = Field("", description="task: what the lead's owner should do")
    task_due_days: int = Field(0, description="task: due in this many days")
    condition: str = Field("", description="branch: opened, clicked, replied or score_at_least")
    condition_value: int | None = Field(None, description="branch score_at_least: the score, 0-100")
    if_true: int | None = Field(None, description="branch: position to go to when true; null: next, 0: finish")
    if_false: int | None = Field(None, description="branch: position to go to when false; null: next, 0: finish")


class StepOut(Schema):
    position: int
    kind: str
    template: int | None = Field(None, alias="template_id")
    wait_days: int
    wait_hours: int
    task_subject: str
    task_due_days: int
    condition: str
    condition_value: int | None
    if_true: int | None
    if_false: int | None


class SequenceIn(StrictSchema):
    name: str = Field(..., max_length=services.MAX_NAME)
    description: str = Field("", max_length=services.MAX_DESCRIPTION)
    from_name: str = Field("", max_length=200)
    from_email: str = Field("", max_length=254)
    exit_on_reply: bool = True
    exit_on_conversion: bool = True
    steps: list[StepIn] = Field(default_factory=list, description="In order: position = index + 1")


class SequencePatch(StrictSchema):
    name: str | None = Field(None, max_length=services.MAX_NAME)
    description: str | None = Field(None, max_length=services.MAX_DESCRIPTION)
    from_name: str | None = Field(None, max_length=200)
    from_email: str | None = Field(None, max_length=254)
    exit_on_reply: bool | None = None
    exit_on_conversion: bool | None = None
    steps: list[StepIn] | None = Field(None, description="Replaces every step (draft or paused only)")


class StepsIn(StrictSchema):
    steps: list[StepIn]


class SequenceOut(Schema):
    id: int
    name: str
    description: str
    status: str
    from_name: str
    from_email: str
    exit_on_reply: bool
    exit_on_conversion: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class SequenceListOut(SequenceOut):
    steps_count: int
    enrolled_count: int
    active_count: int


class SequenceDetailOut(SequenceOut):
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(obj):
        return list(obj.steps.all())


class LeadFilterIn(StrictSchema):
    """The lead list's filters (GET /leads takes the same)."""

    q: str = ""
    status: str = ""
    source: str = ""
    campaign: int | None = None
    owner: str = Field("", description='A user id, "me" or "none"')
    country: str = ""


class EnrollIn(StrictSchema):
    lead_ids: list[RecordId] | None = Field(None, max_length=services.MAX_ENROLL)
    filter: LeadFilterIn | None = Field(None, description="Enrol every lead the lead list shows for this filter")


class EnrollOut(Schema):
    enrolled: int
    already_enrolled: int
    skipped: dict[str, int] = Field(description="reason → count: not_found, no_email, invalid_email, "
                                                "suppressed, no_lawful_basis, converted, disqualified")


class UnenrollIn(StrictSchema):
    lead_ids: list[RecordId] = Field(..., min_length=1, max_length=1000)


class UnenrollOut(Schema):
    unenrolled: int
    not_enrolled: int


class EnrollmentOut(Schema):
    id: int
    lead: int = Field(alias="lead_id")
    status: str
    exit_reason: str
    position: int
    next_run_at: dt.datetime | None
    source: str
    enrolled_by: int | None = Field(None, alias="enrolled_by_id")
    enrolled_at: dt.datetime
    finished_at: dt.datetime | None


class StepReportOut(Schema):
    position: int
    kind: str
    label: str
    waiting: int
    counts: dict[str, int]
    rates: dict[str, float | None]


class ReportOut(Schema):
    steps: list[StepReportOut]
    totals: dict
    exits: dict[str, int]


def _steps(data) -> list[dict]:
    return [s.model_dump() for s in data]


@router.get("/sequences", response=list[SequenceListOut])
@paginate(LimitOffsetPagination)
def list_sequences(request, q: str = "", status: str = ""):
    return selectors.sequence_list(user=request.auth, q=q, status=status)


@router.post("/sequences", response={201: SequenceDetailOut})
def create_sequence(request, data: SequenceIn):
    values = data.model_dump()
    values["steps"] = _steps(data.steps)
    sequence = services.sequence_create(actor=request.auth, **values)
    return Status(201, selectors.sequence_get(user=request.auth, pk=sequence.pk))


@router.get("/sequences/{int:sequence_id}", response=SequenceDetailOut)
def get_sequence(request, sequence_id: int):
    return selectors.sequence_get(user=request.auth, pk=sequence_id)


@router.patch("/sequences/{int:sequence_id}", response=SequenceDetailOut)
def update_sequence(request, sequence_id: int, data: SequencePatch):
    services.require_editor(request.auth)
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if data.steps is not None:
        values["steps"] = _steps(data.steps)
    services.sequence_update(actor=request.auth, sequence=sequence, **values)
    return selectors.sequence_get(user=request.auth, pk=sequence_id)


@router.delete("/sequences/{int:sequence_id}", response={204: None})
def delete_sequence(request, sequence_id: int):
    services.require_editor(request.auth)
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    services.sequence_delete(actor=request.auth, sequence=sequence)
    return Status(204, None)


def _replace_steps(request, sequence_id: int, data: StepsIn):
    services.require_editor(request.auth)
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    services.steps_replace(actor=request.auth, sequence=sequence, steps=_steps(data.steps))
    return selectors.sequence_get(user=request.auth, pk=sequence_id)


@router.put("/sequences/{int:sequence_id}/steps", response=SequenceDetailOut)
def put_steps(request, sequence_id: int, data: StepsIn):
    """Replace every step (draft or paused only)."""
    return _replace_steps(request, sequence_id, data)


@router.post("/sequences/{int:sequence_id}/steps", response=SequenceDetailOut)
def post_steps(request, sequence_id: int, data: StepsIn):
    """Same as PUT: replace every step."""
    return _replace_steps(request, sequence_id, data)


def _action(request, sequence_id: int, name: str):
    services.require_editor(request.auth)
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    services.TRANSITIONS[name](actor=request.auth, sequence=sequence)
    return selectors.sequence_get(user=request.auth, pk=sequence_id)


@router.post("/sequences/{int:sequence_id}/activate", response=SequenceDetailOut)
def activate_sequence(request, sequence_id: int):
    """Draft or paused → active (needs an e-mail step)."""
    return _action(request, sequence_id, "activate")


@router.post("/sequences/{int:sequence_id}/pause", response=SequenceDetailOut)
def pause_sequence(request, sequence_id: int):
    return _action(request, sequence_id, "pause")


@router.post("/sequences/{int:sequence_id}/archive", response=SequenceDetailOut)
def archive_sequence(request, sequence_id: int):
    """→ archived (final); the active enrollments exit."""
    return _action(request, sequence_id, "archive")


@router.post("/sequences/{int:sequence_id}/enroll", response=EnrollOut)
def enroll(request, sequence_id: int, data: EnrollIn):
    """Give exactly one of `lead_ids` or `filter`."""
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    if (data.lead_ids is None) == (data.filter is None):
        raise ValidationFailed.single("lead_ids", _("Give either lead_ids or filter."), "required")
    if data.filter is not None:
        return services.enroll_by_filter(sequence=sequence, filters=data.filter.model_dump(), actor=request.auth)
    return services.enroll(sequence=sequence, leads=data.lead_ids, actor=request.auth, source="api")


@router.post("/sequences/{int:sequence_id}/unenroll", response=UnenrollOut)
def unenroll(request, sequence_id: int, data: UnenrollIn):
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    return services.unenroll_many(actor=request.auth, sequence=sequence, lead_ids=data.lead_ids)


@router.get("/sequences/{int:sequence_id}/enrollments", response=list[EnrollmentOut])
@paginate(LimitOffsetPagination)
def list_enrollments(request, sequence_id: int, status: str = ""):
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    return selectors.enrollment_list(user=request.auth, sequence=sequence, status=status)


@router.get("/sequences/{int:sequence_id}/report", response=ReportOut)
def sequence_report(request, sequence_id: int):
    sequence = selectors.sequence_get(user=request.auth, pk=sequence_id)
    data = report.sequence_report(sequence=sequence)
    return {"steps": [{"position": r.position, "kind": r.kind, "label": r.label, "waiting": r.waiting,
                       "counts": r.counts, "rates": r.rates} for r in data["steps"]],
            "totals": data["totals"], "exits": data["exits"]}
