"""The pipeline offered to workflow automation (core.automation_registry): the opportunity record type and
the "create a task" action, which any record type can use (the task hangs on the lead or opportunity itself,
else on the record's opportunity, else on its account)."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

OPPORTUNITY_FIELDS = ("name", "account", "contact", "owner", "amount", "currency", "expected_close_date", "stage",
                      "probability", "forecast_category", "next_step", "lost_reason", "competitor", "source",
                      "description", "created_at", "stage_entered_at", "closed_at")
UPDATABLE = ("owner", "amount", "expected_close_date", "probability", "forecast_category", "next_step",
             "competitor", "description", "stage")
MAX_DUE_DAYS = 365


def update_opportunity(actor, opportunity, **values):
    """A rule's write: the stage through `opportunity_move`, the rest through `opportunity_update`."""
    from . import services

    stage = values.pop("stage", None)
    if values:
        opportunity = services.opportunity_update(opportunity=opportunity, actor=actor, **values)
    if stage is not None:
        opportunity = services.opportunity_move(opportunity=opportunity, stage=stage, actor=actor)
    return opportunity


def _task_target(record) -> dict:
    from .models import Opportunity

    if record._meta.label == "leads.Lead":
        return {"lead": record}
    if isinstance(record, Opportunity):
        return {"opportunity": record}
    if getattr(record, "opportunity_id", None):
        return {"opportunity": record.opportunity_id}
    if getattr(record, "account_id", None):
        return {"account": record.account_id}
    return {}


def create_task(context) -> str:
    from . import services

    record = context.record
    owner_id = context.record_type.owner_id(record)
    if owner_id is None and getattr(record, "account_id", None):
        owner_id = record.account.owner_id  # e.g. an invoice: its customer's owner
    due_at = timezone.now() + dt.timedelta(days=int(context.params.get("due_in_days") or 0))
    subject = context.params["subject"].replace("{record}", str(record))[:200]
    activity = services.activity_create(actor=context.actor, kind="task", subject=subject,
                                        body=context.params.get("body") or "", due_at=due_at, owner=owner_id,
                                        **_task_target(record))
    return _("task #%(id)s for %(owner)s, due %(due)s") % {"id": activity.pk, "owner": activity.owner,
                                                           "due": timezone.localdate(due_at).isoformat()}


def _validate_task(record_type, params) -> dict:
    errors = {}
    days = params.get("due_in_days", 0)
    if not isinstance(days, int) or not 0 <= days <= MAX_DUE_DAYS:
        errors["due_in_days"] = _("A whole number of days from 0 to %(max)d.") % {"max": MAX_DUE_DAYS}
    if len(params.get("subject") or "") > 200:
        errors["subject"] = _("At most 200 characters.")
    return errors


def register() -> None:
    from l2c.core.automation_registry import register_action, register_record_type

    register_record_type(
        "opportunity", model="pipeline.Opportunity", label=gettext_lazy("Opportunity"), id_key="opportunity_id",
        fields=OPPORTUNITY_FIELDS, updatable=UPDATABLE,
        events={"created": "opportunity.created", "stage_entered": "opportunity.stage_changed"},
        date_fields=["expected_close_date", "created_at", "stage_entered_at"], updater=update_opportunity,
        url_name="pipeline:opportunity-detail")
    register_action(
        "create_task", label=gettext_lazy("Create a task"), handler=create_task, validate=_validate_task,
        params=[{"name": "subject", "label": gettext_lazy("Subject ({record} is replaced by the record)"),
                 "kind": "text"},
                {"name": "due_in_days", "label": gettext_lazy("Due in days"), "kind": "int", "required": False,
                 "default": 0},
                {"name": "body", "label": gettext_lazy("Details"), "kind": "text", "required": False}])
