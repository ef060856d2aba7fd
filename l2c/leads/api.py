"""API routes of the leads app: /leads (list, create, read, update, status, history) and /campaigns.

Conversion (`POST /leads/{id}/convert`) belongs to pipeline, which creates the opportunity.
"""
import datetime as dt
from decimal import Decimal
from typing import Literal

from django.db import transaction
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core import exports, listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.customers.api import AuditEventOut, StrictSchema, UserRef, history_of, max_len, resolve_user

from . import selectors, services
from .choices import TouchKind, allowed_status_changes, can_convert
from .exports import LEAD_COLUMNS
from .models import Campaign, Lead

router = Router(tags=["leads"])


class CampaignRef(Schema):
    id: int
    name: str


# --- leads ----------------------------------------------------------------------------------------

class LeadOut(Schema):
    id: int
    first_name: str
    last_name: str
    full_name: str
    title: str
    email: str
    phone: str
    company: str
    website: str
    industry: str
    company_size: str
    city: str
    country: str
    language: str = Field(..., description='"en", "zh-hans" or empty (not known)')
    source: str
    campaign: CampaignRef | None
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    consent_basis: str
    consent_text: str
    consent_at: dt.datetime | None
    consent_source: str
    consent_ip: str | None
    owner: UserRef | None
    status: str
    status_changed_at: dt.datetime | None
    allowed_statuses: list[str] = Field(..., description="Statuses this lead may be moved to now")
    can_convert: bool
    disqualified_reason: str
    score: int | None
    description: str
    converted_at: dt.datetime | None
    converted_account_id: int | None
    converted_contact_id: int | None
    converted_opportunity_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_allowed_statuses(obj) -> list[str]:
        return allowed_status_changes(obj.status)

    @staticmethod
    def resolve_can_convert(obj) -> bool:
        return can_convert(obj.status)


def _l(field: str) -> int:
    return max_len(Lead, field)


class _LeadFields(StrictSchema):
    first_name: str | None = Field(None, max_length=_l("first_name"))
    title: str | None = Field(None, max_length=_l("title"))
    email: str | None = Field(None, max_length=_l("email"))
    phone: str | None = Field(None, max_length=_l("phone"))
    company: str | None = Field(None, max_length=_l("company"))
    website: str | None = Field(None, max_length=_l("website"))
    industry: str | None = Field(None, max_length=_l("industry"))
    company_size: str | None = Field(None, max_length=_l("company_size"))
    city: str | None = Field(None, max_length=_l("city"))
    country: str | None = Field(None, max_length=_l("country"))
    language: str | None = Field(None, max_length=_l("language"), description='"en", "zh-hans" or empty')
    source: str | None = Field(None, max_length=_l("source"))
    campaign: int | None = Field(None, description="Campaign id")
    utm_source: str | None = Field(None, max_length=_l("utm_source"))
    utm_medium: str | None = Field(None, max_length=_l("utm_medium"))
    utm_campaign: str | None = Field(None, max_length=_l("utm_campaign"))
    utm_term: str | None = Field(None, max_length=_l("utm_term"))
    utm_content: str | None = Field(None, max_length=_l("utm_content"))
    consent_basis: str | None = Field(None, max_length=_l("consent_basis"))
    consent_text: str | None = Field(None, max_length=20000)
    consent_at: dt.datetime | None = None
    consent_source: str | None = Field(None, max_length=_l("consent_source"))
    consent_ip: str | None = Field(None, max_length=45)
    owner: int | None = Field(None, description="User id; defaults to the caller on create. null: unassigned.")
    description: str | None = Field(None, max_length=20000)


class LeadIn(_LeadFields):
    last_name: str = Field(..., max_length=_l("last_name"))
    auto_assign: bool = Field(False, description="Let the assignment rules choose the owner (no `owner` then)")


class LeadPatch(_LeadFields):
    last_name: str | None = Field(None, max_length=_l("last_name"))


LeadOrdering = Literal[tuple(listing.ordering_choices(selectors.LEAD_ORDERING))]  # type: ignore[valid-type]


class LeadFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search name, e-mail, company, phone")
    status: str | None = Field(None, max_length=20)
    source: str | None = Field(None, max_length=20)
    campaign: RecordId | None = None
    owner: str | None = Field(None, description='User id, "me" or "none" (unassigned)')
    country: str | None = Field(None, max_length=2)
    ordering: LeadOrdering | None = None


class StatusIn(StrictSchema):
    status: str = Field(..., max_length=20)
    reason: str = Field("", max_length=_l("disqualified_reason"))


_NULL_AS_EMPTY = {"first_name", "title", "email", "phone", "company", "website", "industry", "company_size",
                  "city", "country", "language", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                  "consent_basis", "consent_text", "consent_source", "description", "last_name"}


def _lead_values(request, data: Schema) -> dict:
    values = data.dict(exclude_unset=True)
    for name in _NULL_AS_EMPTY & set(values):
        if values[name] is None:
            values[name] = ""
    if "owner" in values:
        values["owner"] = resolve_user(values["owner"])
    if values.get("campaign") is not None:
        campaign = Campaign.objects.restrict(request.auth).filter(pk=values["campaign"]).first()
        if campaign is None:
            raise ValidationFailed.single("campaign", _("No campaign with id %(id)s.") % {"id": values["campaign"]},
                                          "not_found")
        values["campaign"] = campaign
    return values


@router.get("/leads", response=list[LeadOut])
@paginate(LimitOffsetPagination)
def list_leads(request, filters: Query[LeadFilters]):
    params = filters.dict(exclude={"q", "ordering"})
    return selectors.lead_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)


@router.post("/leads", response={201: LeadOut})
def create_lead(request, data: LeadIn):
    """Create a lead (owner: the caller unless given), with a Touch of kind "api" recording the capture."""
    from .assignment.services import auto_assign_initial_owner, lead_route_new
    from .webforms.ratelimit import client_ip

    values = _lead_values(request, data)
    auto_assign = values.pop("auto_assign", False)
    if auto_assign:
        values["owner"] = auto_assign_initial_owner(actor=request.auth, fields=values)
    values = services.lead_prepare(actor=request.auth, values=values)
    with transaction.atomic():  # the lead and its routing commit together
        lead = services.lead_capture(values=values, actor=request.auth, touch={
            "kind": TouchKind.API, "source": values["source"], "campaign": values.get("campaign"),
            "ip": client_ip(request) or None, "user_agent": request.headers.get("User-Agent", "")[:300]})
        if auto_assign:
            lead = lead_route_new(lead=lead, actor=request.auth)
    # answered from the lead just written (owner and campaign are the instances given), not re-read: a
    # second wide SELECT was a third of a capture's cost, and the caller gets the lead even when routing
    # gave it to someone whose leads the caller may not see
    return Status(201, lead)


@router.get("/leads/{int:lead_id}", response=LeadOut)
def get_lead(request, lead_id: int):
    return selectors.lead_get(user=request.auth, pk=lead_id)


@router.patch("/leads/{int:lead_id}", response=LeadOut)
def update_lead(request, lead_id: int, data: LeadPatch):
    lead = selectors.lead_get(user=request.auth, pk=lead_id)
    services.lead_update(lead=lead, actor=request.auth, **_lead_values(request, data))
    return selectors.lead_get(user=request.auth, pk=lead_id)


@router.post("/leads/{int:lead_id}/status", response=LeadOut)
def change_lead_status(request, lead_id: int, data: StatusIn):
    """Move the lead to another status (see `allowed_statuses`); `disqualified` needs a `reason`."""
    lead = selectors.lead_get(user=request.auth, pk=lead_id)
    services.lead_change_status(lead=lead, status=data.status, reason=data.reason, actor=request.auth)
    return selectors.lead_get(user=request.auth, pk=lead_id)


@router.get("/leads/{int:lead_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def lead_history(request, lead_id: int):
    return history_of(selectors.lead_get(user=request.auth, pk=lead_id))


# --- campaigns ------------------------------------------------------------------------------------

class CampaignOut(Schema):
    id: int
    name: str
    type: str
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    currency: str
    budget: Decimal
    cost: Decimal
    description: str
    owner: UserRef | None
    leads_count: int | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_leads_count(obj) -> int | None:
        return getattr(obj, "leads_count", None)


def _k(field: str) -> int:
    return max_len(Campaign, field)


class CampaignIn(StrictSchema):
    name: str = Field(..., max_length=_k("name"))
    type: str = Field("other", max_length=_k("type"))
    status: str = Field("planned", max_length=_k("status"))
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    currency: str | None = Field(None, max_length=_k("currency"), description="ISO 4217; default: company currency")
    budget: Decimal = Field(Decimal("0"), description="Decimal string, >= 0")
    cost: Decimal = Field(Decimal("0"), description="Decimal string, >= 0")
    description: str = Field("", max_length=20000)
    owner: int | None = Field(None, description="User id; defaults to the caller")


class CampaignPatch(StrictSchema):
    name: str | None = Field(None, max_length=_k("name"))
    type: str | None = Field(None, max_length=_k("type"))
    status: str | None = Field(None, max_length=_k("status"))
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    currency: str | None = Field(None, max_length=_k("currency"))
    budget: Decimal | None = None
    cost: Decimal | None = None
    description: str | None = Field(None, max_length=20000)
    owner: int | None = None


CampaignOrdering = Literal[tuple(listing.ordering_choices(selectors.CAMPAIGN_ORDERING))]  # type: ignore[valid-type]


class CampaignFilters(Schema):
    q: str | None = Field(None, max_length=200)
    status: str | None = Field(None, max_length=20)
    type: str | None = Field(None, max_length=20)
    owner: str | None = None
    ordering: CampaignOrdering | None = None


def _campaign_values(data: Schema) -> dict:
    values = data.dict(exclude_unset=True)
    if "owner" in values:
        values["owner"] = resolve_user(values["owner"])
    return values


@router.get("/campaigns", response=list[CampaignOut])
@paginate(LimitOffsetPagination)
def list_campaigns(request, filters: Query[CampaignFilters]):
    params = filters.dict(exclude={"q", "ordering"})
    return selectors.campaign_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)


@router.post("/campaigns", response={201: CampaignOut})
def create_campaign(request, data: CampaignIn):
    campaign = services.campaign_create(actor=request.auth, **_campaign_values(data))
    return Status(201, selectors.campaign_get(user=request.auth, pk=campaign.pk))


@router.get("/campaigns/{int:campaign_id}", response=CampaignOut)
def get_campaign(request, campaign_id: int):
    return selectors.campaign_get(user=request.auth, pk=campaign_id)


@router.patch("/campaigns/{int:campaign_id}", response=CampaignOut)
def update_campaign(request, campaign_id: int, data: CampaignPatch):
    campaign = selectors.campaign_get(user=request.auth, pk=campaign_id)
    services.campaign_update(campaign=campaign, actor=request.auth, **_campaign_values(data))
    return selectors.campaign_get(user=request.auth, pk=campaign_id)


@router.get("/campaigns/{int:campaign_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def campaign_history(request, campaign_id: int):
    return history_of(selectors.campaign_get(user=request.auth, pk=campaign_id))


# --- export ---------------------------------------------------------------------------------------

@router.get("/leads/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_leads(request, filters: Query[LeadFilters], format: exports.ExportFormat = "csv"):
    """Every lead the list would return for these filters (no pagination), as CSV (UTF-8 with BOM) or XLSX."""
    if not request.auth.is_sales:
        raise PermissionDenied(_("Your role does not work with leads."))
    params = filters.dict(exclude={"q", "ordering"})
    qs = selectors.lead_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)
    return exports.export_response(queryset=qs, columns=LEAD_COLUMNS, fmt=format, actor=request.auth, stem="leads",
                                   object_type="leads.lead", sheet_title=_("Leads"),
                                   filters={"q": filters.q, **params, "ordering": filters.ordering})
