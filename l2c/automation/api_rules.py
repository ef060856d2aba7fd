"""API routes of workflow automation rules: rules (list, create, read, change, delete), each rule's run log,
the catalogue of record types (triggers, fields, actions) to build rules from, and the signed-in user's
notifications.

Rules, runs and the catalogue: admins and managers only (403 for reps and finance). Notifications: everyone
signed in, their own only. Bad input is a 422 naming the field, e.g. `conditions[0].field`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core.api_types import LimitOffsetPagination
from l2c.core.errors import ValidationFailed

from . import rule_selectors as selectors
from . import rule_services as services
from .choices import RunStatus, TriggerKind

router = Router(tags=["automation rules"])


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


class ConditionIn(StrictSchema):
    field: str
    operator: str = Field(description="equals, not_equals, in, not_in, contains, gt, gte, lt, lte, is_empty, "
                                      "not_empty; changed_to, changed_from with a field_changed trigger")
    value: Any = None


class ActionIn(StrictSchema):
    type: str = Field(description="An action name from GET /automation-record-types")
    params: dict = Field(default_factory=dict)


class RuleIn(StrictSchema):
    name: str = Field(..., max_length=services.MAX_NAME)
    description: str = Field("", max_length=services.MAX_DESCRIPTION)
    is_active: bool = True
    record_type: str = Field(description="lead, opportunity, quote, contract, invoice, …")
    trigger: TriggerKind
    trigger_config: dict = Field(default_factory=dict, description='event: {"event": name}; field_changed: '
                                 '{"fields": [...]}; time: {"date_field": name, "offset_days": n}')
    conditions: list[ConditionIn] = Field(default_factory=list)
    actions: list[ActionIn]


class RulePatch(StrictSchema):
    name: str | None = Field(None, max_length=services.MAX_NAME)
    description: str | None = Field(None, max_length=services.MAX_DESCRIPTION)
    is_active: bool | None = None
    record_type: str | None = None
    trigger: TriggerKind | None = None
    trigger_config: dict | None = None
    conditions: list[ConditionIn] | None = None
    actions: list[ActionIn] | None = None


class RuleOut(Schema):
    id: int
    name: str
    description: str
    is_active: bool
    record_type: str
    trigger: str
    trigger_config: dict
    conditions: list[dict]
    actions: list[dict]
    run_as: int | None = Field(None, alias="run_as_id", description="The user the actions act as (the last to "
                                                                     "save the rule)")
    created_at: dt.datetime
    updated_at: dt.datetime


class RunOut(Schema):
    id: int
    rule: int = Field(alias="rule_id")
    record_type: str
    record_id: str
    record_repr: str
    trigger: str
    event: str
    status: RunStatus
    results: list[dict]
    error: str
    depth: int
    chain: list
    started_at: dt.datetime
    finished_at: dt.datetime | None


class NotificationOut(Schema):
    id: int
    text: str
    link: str
    rule: int | None = Field(None, alias="rule_id")
    created_at: dt.datetime
    read_at: dt.datetime | None


def _manager(request):
    services.require_rule_manager(request.auth)
    return request.auth


@router.get("/automation-rules", response=list[RuleOut])
@paginate(LimitOffsetPagination)
def list_rules(request):
    return selectors.rule_list(user=request.auth).order_by("id")


@router.post("/automation-rules", response={201: RuleOut})
def create_rule(request, data: RuleIn):
    rule = services.rule_create(actor=_manager(request), **data.model_dump(mode="json"))
    return Status(201, rule)


@router.get("/automation-rules/{int:rule_id}", response=RuleOut)
def get_rule(request, rule_id: int):
    return selectors.rule_get(user=request.auth, pk=rule_id)


@router.patch("/automation-rules/{int:rule_id}", response=RuleOut)
def update_rule(request, rule_id: int, data: RulePatch):
    rule = selectors.rule_get(user=_manager(request), pk=rule_id)
    values = {k: v for k, v in data.model_dump(mode="json", exclude_unset=True).items() if v is not None}
    return services.rule_update(actor=request.auth, rule=rule, **values)


@router.delete("/automation-rules/{int:rule_id}", response={204: None})
def delete_rule(request, rule_id: int):
    rule = selectors.rule_get(user=_manager(request), pk=rule_id)
    services.rule_delete(actor=request.auth, rule=rule)
    return Status(204, None)


@router.get("/automation-rules/{int:rule_id}/runs", response=list[RunOut])
@paginate(LimitOffsetPagination)
def list_runs(request, rule_id: int, status: str | None = None):
    """The rule's runs, newest first; `status`: succeeded, failed, skipped, loop_stopped or running."""
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    if status and status not in RunStatus.values:
        raise ValidationFailed.single("status", _("Unknown status; choose one of %(all)s.")
                                      % {"all": ", ".join(RunStatus.values)}, "invalid_choice")
    return selectors.run_list(user=request.auth, rule=rule, status=status)


@router.get("/automation-record-types", response=list[dict])
def list_record_types(request):
    """What rules can be built from: per record type its triggers, fields and actions."""
    return selectors.record_type_catalogue(user=request.auth)


@router.get("/notifications", response=list[NotificationOut])
@paginate(LimitOffsetPagination)
def list_notifications(request, unread: bool = False):
    notifications = selectors.notification_list(user=request.auth)
    return notifications.filter(read_at__isnull=True) if unread else notifications


@router.post("/notifications/{int:notification_id}/read", response=NotificationOut)
def read_notification(request, notification_id: int):
    return services.notification_mark_read(actor=request.auth, notification=notification_id)
