"""API routes of the pipeline app: /stages, /opportunities (+ move, history), /activities and the
lead conversion action POST /leads/{id}/convert (pipeline owns it: it creates the opportunity)."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core import audit, exports, listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import PermissionDenied
from l2c.customers.api import AccountRef, AuditEventOut, StrictSchema, UserRef

from . import selectors, services
from .choices import ActivityKind, ForecastCategory
from .exports import ACTIVITY_COLUMNS, OPPORTUNITY_COLUMNS, OPPORTUNITY_RELATED
from .models import Activity, Opportunity, Stage

router = Router(tags=["pipeline"])


def _len(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# --- stages -----------------------------------------------------------------------------------------

class StageOut(Schema):
    id: int
    name: str
    order: int
    probability: int
    is_won: bool
    is_lost: bool
    required_fields: list[str]
    is_active: bool
    expected_days: int | None


class StageIn(StrictSchema):
    name: str = Field(..., max_length=_len(Stage, "name"))
    probability: int = Field(..., ge=0, le=100)
    order: int | None = Field(None, ge=0)
    is_won: bool = False
    is_lost: bool = False
    required_fields: list[str] = Field(default_factory=list, description="Opportunity fields required to enter")
    is_active: bool = True
    expected_days: int | None = Field(None, ge=0)


class StagePatch(StrictSchema):
    name: str | None = Field(None, max_length=_len(Stage, "name"))
    probability: int | None = Field(None, ge=0, le=100)
    order: int | None = Field(None, ge=0)
    is_won: bool | None = None
    is_lost: bool | None = None
    required_fields: list[str] | None = None
    is_active: bool | None = None
    expected_days: int | None = Field(None, ge=0)


class StageReorderIn(StrictSchema):
    stage_ids: list[int]


@router.get("/stages", response=list[StageOut])
def list_stages(request, active: bool | None = None):
    return list(selectors.stage_list(active_only=bool(active)))


@router.post("/stages", response={201: StageOut})
def create_stage(request, data: StageIn):
    return Status(201, services.stage_create(actor=request.auth, **data.dict()))


@router.patch("/stages/{int:stage_id}", response=StageOut)
def update_stage(request, stage_id: int, data: StagePatch):
    stage = selectors.stage_get(pk=stage_id)
    values = data.dict(exclude_unset=True)
    return services.stage_update(stage=stage, actor=request.auth, **values)


@router.post("/stages/reorder", response=list[StageOut])
def reorder_stages(request, data: StageReorderIn):
    return services.stage_reorder(actor=request.auth, stage_ids=data.stage_ids)


# --- opportunities ----------------------------------------------------------------------------------

class StageRef(Schema):
    id: int
    name: str
    is_won: bool
    is_lost: bool


class ContactRef(Schema):
    id: int
    full_name: str


class OpportunityOut(Schema):
    id: int
    name: str
    account: AccountRef
    contact: ContactRef | None
    owner: UserRef | None
    amount: Decimal | None
    currency: str
    expected_close_date: dt.date | None
    stage: StageRef
    stage_entered_at: dt.datetime | None
    days_in_stage: int
    probability: int
    forecast_category: str
    next_step: str
    budget: str
    authority: str
    need: str
    timeline: str
    lost_reason: str
    competitor: str
    description: str
    lead_id: int | None
    source: str
    campaign_id: int | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _o(name: str) -> int:
    return _len(Opportunity, name)


class OpportunityIn(StrictSchema):
    name: str = Field(..., max_length=_o("name"))
    account: int = Field(..., description="Account id")
    contact: int | None = Field(None, description="Contact id (must work at the account)")
    owner: int | None = Field(None, description="User id; defaults to the caller")
    stage: int | None = Field(None, description="Stage id; defaults to the first active stage")
    amount: Decimal | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3, description="ISO 4217; default the company's")
    expected_close_date: dt.date | None = None
    probability: int | None = Field(None, ge=0, le=100, description="Defaults to the stage's probability")
    forecast_category: ForecastCategory | None = None
    next_step: str = Field("", max_length=_o("next_step"))
    budget: str = Field("", max_length=_o("budget"))
    authority: str = Field("", max_length=_o("authority"))
    need: str = Field("", max_length=_o("need"))
    timeline: str = Field("", max_length=_o("timeline"))
    lost_reason: str = Field("", max_length=_o("lost_reason"))
    competitor: str = Field("", max_length=_o("competitor"))
    description: str = Field("", max_length=20000)


class OpportunityPatch(StrictSchema):
    name: str | None = Field(None, max_length=_o("name"))
    account: int | None = None
    contact: int | None = None
    owner: int | None = None
    amount: Decimal | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    expected_close_date: dt.date | None = None
    probability: int | None = Field(None, ge=0, le=100)
    forecast_category: ForecastCategory | None = None
    next_step: str | None = Field(None, max_length=_o("next_step"))
    budget: str | None = Field(None, max_length=_o("budget"))
    authority: str | None = Field(None, max_length=_o("authority"))
    need: str | None = Field(None, max_length=_o("need"))
    timeline: str | None = Field(None, max_length=_o("timeline"))
    lost_reason: str | None = Field(None, max_length=_o("lost_reason"))
    competitor: str | None = Field(None, max_length=_o("competitor"))
    description: str | None = Field(None, max_length=20000)


class MoveIn(StrictSchema):
    stage_id: int
    fields: dict[str, Any] | None = Field(
        None, description="Opportunity fields to set with the move, e.g. {\"lost_reason\": \"price\"}")


OpportunityOrdering = Literal[tuple(listing.ordering_choices(selectors.OPPORTUNITY_ORDERING))]  # type: ignore[valid-type]


class OpportunityFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search name, account, contact, next step, competitor")
    stage: RecordId | None = None
    owner: RecordId | None = None
    account: RecordId | None = None
    lead: RecordId | None = None
    forecast_category: ForecastCategory | None = None
    status: Literal["open", "won", "lost", "closed"] | None = None
    close_before: dt.date | None = Field(None, description="Expected close on or before")
    close_after: dt.date | None = Field(None, description="Expected close on or after")
    ordering: OpportunityOrdering | None = None


class StageStayOut(Schema):
    id: int
    stage: StageRef
    from_stage: StageRef | None
    entered_at: dt.datetime
    left_at: dt.datetime | None
    days: int
    seconds: int
    moved_by: UserRef | None
    amount: Decimal | None
    probability: int

    @staticmethod
    def resolve_seconds(obj) -> int:
        return int(obj.duration.total_seconds())


def _values(data: Schema, *, unset: bool) -> dict:
    values = data.dict(exclude_unset=unset)
    if values.get("forecast_category") is not None:
        values["forecast_category"] = str(values["forecast_category"].value
                                          if hasattr(values["forecast_category"], "value")
                                          else values["forecast_category"])
    return values


@router.get("/opportunities", response=list[OpportunityOut])
@paginate(LimitOffsetPagination)
def list_opportunities(request, filters: Query[OpportunityFilters]):
    return selectors.opportunity_list(user=request.auth, **filters.dict())


@router.post("/opportunities", response={201: OpportunityOut})
def create_opportunity(request, data: OpportunityIn):
    values = _values(data, unset=True)
    opportunity = services.opportunity_create(actor=request.auth, **values)
    return Status(201, selectors.opportunity_get(user=request.auth, pk=opportunity.pk))


@router.get("/opportunities/{int:opportunity_id}", response=OpportunityOut)
def get_opportunity(request, opportunity_id: int):
    return selectors.opportunity_get(user=request.auth, pk=opportunity_id)


@router.patch("/opportunities/{int:opportunity_id}", response=OpportunityOut)
def update_opportunity(request, opportunity_id: int, data: OpportunityPatch):
    opportunity = selectors.opportunity_get(user=request.auth, pk=opportunity_id)
    services.opportunity_update(opportunity=opportunity, actor=request.auth, **_values(data, unset=True))
    return selectors.opportunity_get(user=request.auth, pk=opportunity_id)


@router.post("/opportunities/{int:opportunity_id}/move", response=OpportunityOut)
def move_opportunity(request, opportunity_id: int, data: MoveIn):
    opportunity = selectors.opportunity_get(user=request.auth, pk=opportunity_id)
    services.opportunity_move(opportunity=opportunity, stage=data.stage_id, actor=request.auth, fields=data.fields)
    return selectors.opportunity_get(user=request.auth, pk=opportunity_id)


@router.get("/opportunities/{int:opportunity_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def opportunity_history(request, opportunity_id: int):
    return audit.history_for(selectors.opportunity_get(user=request.auth, pk=opportunity_id))


@router.get("/opportunities/{int:opportunity_id}/stage-history", response=list[StageStayOut])
def opportunity_stage_history(request, opportunity_id: int):
    opportunity = selectors.opportunity_get(user=request.auth, pk=opportunity_id)
    return list(selectors.stage_history(opportunity=opportunity))


# --- activities -------------------------------------------------------------------------------------

class RecordRef(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj)


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    due_at: dt.datetime | None
    done_at: dt.datetime | None
    is_open: bool
    is_overdue: bool
    owner: UserRef | None
    lead: RecordRef | None
    account: RecordRef | None
    contact: RecordRef | None
    opportunity: RecordRef | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _act(name: str) -> int:
    return _len(Activity, name)


class ActivityIn(StrictSchema):
    kind: ActivityKind = ActivityKind.TASK
    subject: str = Field(..., max_length=_act("subject"))
    body: str = Field("", max_length=20000)
    due_at: dt.datetime | None = None
    owner: int | None = Field(None, description="User id; defaults to the caller")
    lead: int | None = None
    account: int | None = None
    contact: int | None = None
    opportunity: int | None = None
    done: bool = Field(False, description="Log an activity that already happened")


class ActivityPatch(StrictSchema):
    kind: ActivityKind | None = None
    subject: str | None = Field(None, max_length=_act("subject"))
    body: str | None = Field(None, max_length=20000)
    due_at: dt.datetime | None = None
    owner: int | None = None


ActivityOrdering = Literal[tuple(listing.ordering_choices(selectors.ACTIVITY_ORDERING))]  # type: ignore[valid-type]


class ActivityFilters(Schema):
    q: str | None = Field(None, max_length=200)
    kind: ActivityKind | None = None
    status: Literal["open", "done"] | None = None
    due: Literal["overdue", "today", "upcoming"] | None = None
    owner: RecordId | None = None
    lead: RecordId | None = None
    account: RecordId | None = None
    contact: RecordId | None = None
    opportunity: RecordId | None = None
    ordering: ActivityOrdering | None = None


def _kind(values: dict) -> dict:
    if values.get("kind") is not None:
        values["kind"] = str(getattr(values["kind"], "value", values["kind"]))
    return values


@router.get("/activities", response=list[ActivityOut])
@paginate(LimitOffsetPagination)
def list_activities(request, filters: Query[ActivityFilters]):
    return selectors.activity_list(user=request.auth, **_kind(filters.dict()))


@router.get("/activities/my-tasks", response=list[ActivityOut])
def my_tasks(request):
    """My open tasks, calls and meetings that are overdue or due today, most urgent first."""
    return list(selectors.my_tasks(user=request.auth))


@router.post("/activities", response={201: ActivityOut})
def create_activity(request, data: ActivityIn):
    activity = services.activity_create(actor=request.auth, **_kind(data.dict()))
    return Status(201, selectors.activity_get(user=request.auth, pk=activity.pk))


@router.get("/activities/{int:activity_id}", response=ActivityOut)
def get_activity(request, activity_id: int):
    return selectors.activity_get(user=request.auth, pk=activity_id)


@router.patch("/activities/{int:activity_id}", response=ActivityOut)
def update_activity(request, activity_id: int, data: ActivityPatch):
    activity = selectors.activity_get(user=request.auth, pk=activity_id)
    services.activity_update(activity=activity, actor=request.auth, **_kind(data.dict(exclude_unset=True)))
    return selectors.activity_get(user=request.auth, pk=activity_id)


@router.post("/activities/{int:activity_id}/complete", response=ActivityOut)
def complete_activity(request, activity_id: int):
    activity = selectors.activity_get(user=request.auth, pk=activity_id)
    services.activity_complete(activity=activity, actor=request.auth)
    return selectors.activity_get(user=request.auth, pk=activity_id)


@router.post("/activities/{int:activity_id}/reopen", response=ActivityOut)
def reopen_activity(request, activity_id: int):
    activity = selectors.activity_get(user=request.auth, pk=activity_id)
    services.activity_reopen(activity=activity, actor=request.auth)
    return selectors.activity_get(user=request.auth, pk=activity_id)


# --- lead conversion --------------------------------------------------------------------------------

class ConvertIn(StrictSchema):
    account_id: int | None = Field(None, description="Use this existing account; else a match or a new one")
    create_account_name: str | None = Field(None, max_length=200, description="Create a new account with this name")
    create_opportunity: bool = True
    opportunity_name: str | None = Field(None, max_length=_o("name"))
    amount: Decimal | None = Field(None, ge=0, max_digits=20, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    expected_close_date: dt.date | None = None


class ConvertOut(Schema):
    lead_id: int
    account_id: int
    contact_id: int
    opportunity_id: int | None
    account_created: bool
    contact_created: bool
    activities_moved: int


@router.post("/leads/{int:lead_id}/convert", response={201: ConvertOut}, tags=["leads"])
def convert_lead(request, lead_id: int, data: ConvertIn):
    """Convert a qualified lead into an account (chosen, matched or new), a contact and an opportunity."""
    from l2c.leads.models import Lead

    lead = get_object_or_404(Lead.objects.restrict(request.auth), pk=lead_id)
    result = services.lead_convert(
        lead=lead, actor=request.auth, account=data.account_id, create_account_name=data.create_account_name,
        opportunity_name=data.opportunity_name, amount=data.amount, currency=data.currency,
        expected_close_date=data.expected_close_date, create_opportunity=data.create_opportunity,
    )
    return Status(201, {
        "lead_id": result.lead.pk, "account_id": result.account.pk, "contact_id": result.contact.pk,
        "opportunity_id": result.opportunity.pk if result.opportunity else None,
        "account_created": result.account_created, "contact_created": result.contact_created,
        "activities_moved": result.activities_moved,
    })


# --- exports ----------------------------------------------------------------------------------------

@router.get("/opportunities/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_opportunities(request, filters: Query[OpportunityFilters], format: exports.ExportFormat = "csv"):
    """Every opportunity the list would return for these filters (no pagination), as CSV (UTF-8 with BOM) or XLSX."""
    if not request.auth.is_sales:
        raise PermissionDenied(_("Your role does not work with opportunities."))
    params = _values(filters, unset=False)
    qs = selectors.opportunity_list(user=request.auth, **params).select_related(*OPPORTUNITY_RELATED)
    return exports.export_response(queryset=qs, columns=OPPORTUNITY_COLUMNS, fmt=format, actor=request.auth,
                                   stem="opportunities", object_type="pipeline.opportunity",
                                   sheet_title=_("Opportunities"), filters=params)


@router.get("/activities/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_activities(request, filters: Query[ActivityFilters], format: exports.ExportFormat = "csv"):
    """Every activity the list would return for these filters (no pagination), as CSV (UTF-8 with BOM) or XLSX."""
    params = _kind(filters.dict())
    qs = selectors.activity_list(user=request.auth, **params)
    return exports.export_response(queryset=qs, columns=ACTIVITY_COLUMNS, fmt=format, actor=request.auth,
                                   stem="activities", object_type="pipeline.activity",
                                   sheet_title=_("Activities"), filters=params)
