"""Activities: calls, e-mails, meetings, tasks and notes on leads, accounts, contacts and opportunities."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition

from ..choices import OPEN_ACTIVITY_KINDS, ActivityKind
from ..models import Activity, Opportunity
from ._common import (
    check_lengths,
    clean_text,
    raise_if,
    require_sales,
    resolve_owner,
    visible_or_404,
    visible_or_field_error,
)

UPDATABLE = ("kind", "subject", "body", "due_at", "owner")


def _target_models():
    from l2c.customers.models import Account, Contact
    from l2c.leads.models import Lead

    return {"lead": (Lead, _("lead")), "account": (Account, _("account")), "contact": (Contact, _("contact")),
            "opportunity": (Opportunity, _("opportunity"))}


def _parse_due(value, errors: list[FieldError]):
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time(9, 0))
    else:
        try:
            parsed = parse_datetime(str(value))
            if parsed is None:
                parsed = dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time(9, 0))
        except ValueError:
            parsed = None
        if parsed is None:
            errors.append(FieldError("due_at", _("Enter a date and time, e.g. 2026-05-01T14:30."), "invalid"))
            return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _clean(values: dict, actor, errors: list[FieldError]) -> dict:
    clean_text(values, [f for f in ("subject", "body") if f in values])
    check_lengths(Activity, values, errors)
    out = {}
    if "kind" in values:
        if values["kind"] not in ActivityKind.values:
            errors.append(FieldError("kind", _("Choose one of %(k)s.") % {"k": ", ".join(ActivityKind.values)},
                                     "invalid_choice"))
        out["kind"] = values["kind"]
    if "subject" in values:
        if not values["subject"]:
            errors.append(FieldError("subject", _("A subject is required."), "required"))
        out["subject"] = values["subject"]
    if "body" in values:
        out["body"] = values["body"]
    if "due_at" in values:
        out["due_at"] = _parse_due(values["due_at"], errors)
    if "owner" in values:
        out["owner"] = resolve_owner(values["owner"], actor, errors)
    return out


@transaction.atomic
def activity_create(*, actor, kind: str, subject: str, body: str = "", due_at=None, owner=None, lead=None,
                    account=None, contact=None, opportunity=None, done: bool = False) -> Activity:
    """Log or plan an activity on one or more records the actor can see; notes are done when written."""
    require_sales(actor)
    errors: list[FieldError] = []
    values = _clean({"kind": kind, "subject": subject, "body": body, "due_at": due_at, "owner": owner}, actor, errors)
    targets = {"lead": lead, "account": account, "contact": contact, "opportunity": opportunity}
    resolved = {}
    for field, value in targets.items():
        model, label = _target_models()[field]
        resolved[field] = visible_or_field_error(model, value, actor, field, label, errors)
    if not any(v not in (None, "") for v in targets.values()):
        errors.append(FieldError("target", _("Attach the activity to a lead, account, contact or opportunity."),
                                 "required"))
    if values.get("kind") == ActivityKind.TASK and values.get("due_at") is None and not done \
            and not any(e.field == "due_at" for e in errors):
        errors.append(FieldError("due_at", _("A task needs a due date."), "required"))
    raise_if(errors)
    activity = Activity(**values, **resolved)
    if activity.owner is None:
        activity.owner = actor
    if done or activity.kind in (ActivityKind.NOTE,):
        activity.done_at = timezone.now()
    activity.save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=activity)
    return activity


def _lock(activity: Activity, actor) -> Activity:
    visible_or_404(Activity, activity.pk, actor, _("activity"))
    return Activity.objects.select_for_update().get(pk=activity.pk)


@transaction.atomic
def activity_update(*, activity: Activity, actor, **fields) -> Activity:
    require_sales(actor)
    activity = _lock(activity, actor)
    errors = [FieldError(name, _("This field cannot be changed here."), "unknown_field")
              for name in sorted(set(fields) - set(UPDATABLE))]
    values = _clean({k: v for k, v in fields.items() if k in UPDATABLE}, actor, errors)
    kind = values.get("kind", activity.kind)
    due_at = values["due_at"] if "due_at" in values else activity.due_at
    if kind == ActivityKind.TASK and due_at is None and activity.done_at is None \
            and not any(e.field == "due_at" for e in errors):
        errors.append(FieldError("due_at", _("A task needs a due date."), "required"))
    raise_if(errors)
    before = audit.snapshot(activity)
    for name, value in values.items():
        setattr(activity, name, value)
    if activity.owner is None:
        activity.owner = actor
    activity.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=activity, before=before)
    return activity


@transaction.atomic
def activity_complete(*, activity: Activity, actor) -> Activity:
    require_sales(actor)
    activity = _lock(activity, actor)
    if activity.done_at is not None:
        raise InvalidTransition(_("This activity is already done."), code="already_done")
    activity.done_at = timezone.now()
    activity.save(update_fields=["done_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=activity,
                 changes={"done_at": [None, audit._normalise(activity.done_at)], "status": ["open", "done"]})
    return activity


@transaction.atomic
def activity_reopen(*, activity: Activity, actor) -> Activity:
    require_sales(actor)
    activity = _lock(activity, actor)
    if activity.done_at is None:
        raise InvalidTransition(_("This activity is still open."), code="not_done")
    if activity.kind not in OPEN_ACTIVITY_KINDS:
        raise InvalidTransition(_("Notes and e-mails are records; only tasks, calls and meetings reopen."),
                                code="not_reopenable")
    before = audit._normalise(activity.done_at)
    activity.done_at = None
    activity.save(update_fields=["done_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=activity,
                 changes={"done_at": [before, None], "status": ["done", "open"]})
    return activity
