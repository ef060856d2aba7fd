"""API routes for lead assignment: the rules (/assignment-rules), a dry run of them
(/assignment-rules/test), the unassigned queue (/leads/unassigned) and bulk (re)assignment
(/leads/assign). Admins and managers only; reps and finance get 403.
"""

import datetime as dt
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import FieldError, ValidationFailed
from l2c.customers.api import StrictSchema, UserRef, max_len, resolve_user
from l2c.identity.models import Team

from ..models import AssignmentRule, Campaign, Lead
from . import selectors, services

router = Router(tags=["leads: assignment"])

MAX_LEADS_PER_CALL = 1000


class CampaignRef(Schema):
    id: int
    name: str


class TeamRef(Schema):
    id: int
    name: str


class RuleOut(Schema):
    id: int
    name: str
    priority: int = Field(..., description="Lower runs first")
    is_active: bool
    countries: list[str] = Field(..., description="ISO 3166-1 alpha-2 codes; empty: any country")
    sources: list[str] = Field(..., description="Lead sources; empty: any source")
    campaign: CampaignRef | None = Field(None, description="Only leads of this campaign; null: any")
    assign_to: UserRef | None = Field(None, description="Every matching lead goes to this user")
    team: TeamRef | None = Field(None, description="Matching leads go round-robin to this team's active reps")
    last_assigned: UserRef | None = Field(None, description="The rep who got the team's last lead")
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleRef(Schema):
    id: int
    name: str
    priority: int


class _RuleFields(StrictSchema):
    priority: int | None = Field(None, ge=0, le=services.MAX_PRIORITY, description="Lower runs first")
    is_active: bool | None = None
    countries: list[str] | None = Field(None, max_length=300)
    sources: list[str] | None = Field(None, max_length=50)
    campaign: RecordId | None = Field(None, description="Campaign id")
    assign_to: RecordId | None = Field(None, description="User id (or give `team`)")
    team: RecordId | None = Field(None, description="Team id for round-robin (or give `assign_to`)")


class RuleIn(_RuleFields):
    name: str = Field(..., max_length=max_len(AssignmentRule, "name"))


class RulePatch(_RuleFields):
    name: str | None = Field(None, max_length=max_len(AssignmentRule, "name"))


class MoveIn(StrictSchema):
    direction: Literal["up", "down"]


class RuleTestIn(StrictSchema):
    country: str | None = Field(None, max_length=10)
    source: str | None = Field(None, max_length=20)
    campaign: RecordId | None = None


class PassedOver(Schema):
    rule: RuleRef
    reason: str = Field(..., description="inactive_user or no_active_reps")


class RuleTestOut(Schema):
    rule: RuleRef | None = Field(None, description="The rule that would take the lead; null: unassigned queue")
    owner: UserRef | None = Field(None, description="Who would get it now (the round-robin does not move)")
    passed_over: list[PassedOver] = Field(..., description="Matching rules that could not take it, and why")


class UnassignedLeadOut(Schema):
    id: int
    full_name: str
    company: str
    email: str
    country: str
    source: str
    status: str
    campaign: CampaignRef | None
    created_at: dt.datetime


class UnassignedFilters(Schema):
    country: str | None = Field(None, max_length=10)
    source: str | None = Field(None, max_length=20)
    campaign: RecordId | None = None


class AssignIn(StrictSchema):
    lead_ids: list[RecordId] = Field(..., min_length=1, max_length=MAX_LEADS_PER_CALL)
    owner_id: RecordId | None = Field(None, description="The new owner; null: back to the unassigned queue")
    auto: bool = Field(False, description="Apply the assignment rules instead of naming an owner")


class AssignResult(Schema):
    lead_id: int
    outcome: str = Field(..., description="assigned, unchanged, no_rule, already_assigned, converted, merged, "
                                          "not_found")
    owner: UserRef | None = None


class AssignOut(Schema):
    results: list[AssignResult]
    counts: dict[str, int]


# --- helpers ----------------------------------------------------------------------------------------

def _resolve(request, values: dict) -> dict:
    """Ids in the body as records; an id that names nothing is a 422 on its field."""
    if values.get("campaign") is not None:
        campaign = Campaign.objects.restrict(request.auth).filter(pk=values["campaign"]).first()
        if campaign is None:
            raise ValidationFailed.single("campaign", _("No campaign with id %(id)s.") % {"id": values["campaign"]},
                                          "not_found")
        values["campaign"] = campaign
    if "assign_to" in values:
        values["assign_to"] = resolve_user(values["assign_to"], "assign_to")
    if values.get("team") is not None:
        team = Team.objects.filter(pk=values["team"]).first()
        if team is None:
            raise ValidationFailed.single("team", _("No team with id %(id)s.") % {"id": values["team"]}, "not_found")
        values["team"] = team
    for name in ("countries", "sources"):
        if name in values and values[name] is None:
            values[name] = []
    return values


def _rule_out(request, pk: int) -> AssignmentRule:
    return selectors.rule_list(user=request.auth).get(pk=pk)


# --- rules ------------------------------------------------------------------------------------------

@router.get("/assignment-rules", response=list[RuleOut])
@paginate(LimitOffsetPagination)
def list_rules(request):
    """Every rule in the order they are tried (priority, then id)."""
    return selectors.rule_list(user=request.auth)


@router.post("/assignment-rules", response={201: RuleOut})
def create_rule(request, data: RuleIn):
    values = _resolve(request, data.dict(exclude_unset=True))
    if values.get("is_active") is None:
        values.pop("is_active", None)
    rule = services.rule_create(actor=request.auth, **values)
    return Status(201, _rule_out(request, rule.pk))


@router.post("/assignment-rules/test", response=RuleTestOut)
def test_rules(request, data: RuleTestIn):
    """Which rule would take a lead with this country, source and campaign, and who would get it."""
    values = data.dict()
    errors = []
    country = (values.get("country") or "").strip().upper()
    from l2c.core.validation import is_country_code

    from ..choices import LeadSource

    if country and not is_country_code(country):
        errors.append(FieldError("country", _("%(value)r is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, GB).")
                                 % {"value": values["country"]}, "invalid_country"))
    if values.get("source") and values["source"] not in LeadSource.values:
        errors.append(FieldError("source", _("Unknown value %(value)r; choose one of %(allowed)s.")
                                 % {"value": values["source"], "allowed": ", ".join(LeadSource.values)},
                                 "invalid_choice"))
    if errors:
        raise ValidationFailed(errors)
    decision = selectors.rule_preview(user=request.auth, values={**values, "country": country})
    return {"rule": decision.rule, "owner": decision.owner,
            "passed_over": [{"rule": r, "reason": reason} for r, reason in decision.passed_over]}


@router.get("/assignment-rules/{int:rule_id}", response=RuleOut)
def get_rule(request, rule_id: int):
    return selectors.rule_get(user=request.auth, pk=rule_id)


@router.patch("/assignment-rules/{int:rule_id}", response=RuleOut)
def update_rule(request, rule_id: int, data: RulePatch):
    """Change a rule; giving `assign_to` or `team` replaces the other target."""
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    values = _resolve(request, data.dict(exclude_unset=True))
    for name in ("name", "is_active", "priority"):
        if name in values and values[name] is None:
            raise ValidationFailed.single(name, _("This field cannot be null."), "null")
    services.rule_update(rule=rule, actor=request.auth, **values)
    return _rule_out(request, rule_id)


@router.delete("/assignment-rules/{int:rule_id}", response={204: None})
def delete_rule(request, rule_id: int):
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    services.rule_delete(rule=rule, actor=request.auth)
    return Status(204, None)


@router.post("/assignment-rules/{int:rule_id}/move", response=list[RuleOut])
def move_rule(request, rule_id: int, data: MoveIn):
    """Swap the rule with its neighbour above or below; returns every rule in the new order."""
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    services.rule_move(rule=rule, direction=data.direction, actor=request.auth)
    return list(selectors.rule_list(user=request.auth))


# --- the unassigned queue and (re)assignment ----------------------------------------------------------

@router.get("/leads/unassigned", response=list[UnassignedLeadOut])
@paginate(LimitOffsetPagination)
def unassigned_leads(request, filters: Query[UnassignedFilters]):
    """Open leads without an owner, oldest first."""
    return selectors.unassigned_leads(user=request.auth, filters=filters.dict())


@router.post("/leads/assign", response=AssignOut)
def assign_leads(request, data: AssignIn):
    """Give leads to `owner_id` (null: unassign), or with `"auto": true` let the rules place the
    unassigned ones. Each lead gets its own result; an id you cannot see is `not_found`."""
    fields_set = data.model_fields_set
    if data.auto and data.owner_id is not None:
        raise ValidationFailed.single("owner_id", _("Give an owner or ask for the rules (auto), not both."),
                                      "owner_and_auto")
    if not data.auto and "owner_id" not in fields_set:
        raise ValidationFailed.single("owner_id", _("Say who gets the leads (null to unassign them), or set "
                                                    "auto to apply the rules."), "required")
    leads, missing = selectors.leads_for_assignment(user=request.auth, ids=data.lead_ids)
    if data.auto:
        outcome = services.leads_auto_assign(leads=leads, actor=request.auth)
    else:
        from ..services import leads_assign

        owner = resolve_user(data.owner_id, "owner_id")
        try:
            outcome = leads_assign(leads=leads, owner=owner, actor=request.auth)
        except ValidationFailed as exc:
            raise ValidationFailed([FieldError("owner_id" if e.field == "owner" else e.field, e.message, e.code)
                                    for e in exc.errors]) from exc
    owners = {lead.pk: lead.owner for lead in
              Lead.objects.filter(pk__in=[lead.pk for lead in leads]).select_related("owner")}
    results = []
    for pk in dict.fromkeys(data.lead_ids):
        if pk in missing:
            results.append({"lead_id": pk, "outcome": "not_found", "owner": None})
        else:
            results.append({"lead_id": pk, "outcome": outcome[pk], "owner": owners.get(pk)})
    counts: dict[str, int] = {}
    for row in results:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return {"results": results, "counts": counts}
