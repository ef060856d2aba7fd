"""Workflow rule services: create, change and delete rules (validated against the automation registry), and
notifications (mark read).

Who may do what: admins and managers read and edit rules and their run logs; reps and finance users may not
(not even read: a rule's conditions and actions describe how the whole flow is handled). Every signed-in user
reads and marks their own notifications. A rule acts as the user who last saved it (`run_as`), so it can do no
more than that user could by hand.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core import automation_registry as registry
from l2c.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.events import registered_events

from .choices import (
    CHANGE_OPERATORS,
    EVENT_TRIGGER_KINDS,
    LIST_OPERATORS,
    NO_VALUE_OPERATORS,
    ORDER_OPERATORS,
    Operator,
    TriggerKind,
)
from .models import AutomationRule, Notification

MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_OFFSET_DAYS = 3650
AUDITED_FIELDS = ["name", "description", "is_active", "record_type", "trigger", "trigger_config", "conditions",
                  "actions", "run_as"]
RULE_FIELDS = ("name", "description", "is_active", "record_type", "trigger", "trigger_config", "conditions",
               "actions")

__all__ = ["can_manage_rules", "require_rule_manager", "rule_create", "rule_update", "rule_delete",
           "clean_rule", "notification_mark_read", "notifications_mark_all_read"]


# --- permissions -------------------------------------------------------------------------------------

def can_manage_rules(user) -> bool:
    """Admins and managers read and edit automation rules; other roles do neither."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active
                and (getattr(user, "is_admin", False) or getattr(user, "is_manager", False)))


def require_rule_manager(user) -> None:
    if not can_manage_rules(user):
        raise PermissionDenied(_("Only admins and managers may see or change automation rules."))


# --- validation ---------------------------------------------------------------------------------------

def _check_condition(index: int, condition, record_type, trigger: str, errors: list[FieldError]) -> dict | None:
    where = f"conditions[{index}]"
    if not isinstance(condition, dict):
        errors.append(FieldError(where, _("A condition is an object with field, operator and value."), "invalid"))
        return None
    unknown = set(condition) - {"field", "operator", "value"}
    if unknown:
        errors.append(FieldError(f"{where}.{sorted(unknown)[0]}", _("Unknown key; use field, operator and value."),
                                 "unknown_field"))
    name = condition.get("field")
    spec = record_type.fields.get(name) if isinstance(name, str) else None
    if spec is None:
        errors.append(FieldError(f"{where}.field", _("%(record)s has no field %(field)r; choose one of %(fields)s.")
                                 % {"record": record_type.label, "field": name,
                                    "fields": ", ".join(record_type.fields)}, "unknown_field"))
        return None
    operator = condition.get("operator")
    if operator not in Operator.values:
        errors.append(FieldError(f"{where}.operator", _("Unknown operator %(op)r; choose one of %(ops)s.")
                                 % {"op": operator, "ops": ", ".join(Operator.values)}, "invalid_choice"))
        return None
    if operator in CHANGE_OPERATORS and trigger != TriggerKind.FIELD_CHANGED:
        errors.append(FieldError(f"{where}.operator", _("“%(op)s” works only with a “field changed” trigger.")
                                 % {"op": Operator(operator).label}, "invalid_for_trigger"))
        return None
    if operator in ORDER_OPERATORS and spec.kind not in ("number", "date", "datetime"):
        errors.append(FieldError(f"{where}.operator", _("%(field)s cannot be compared by size; use equals or "
                                                        "is one of.") % {"field": spec.label}, "invalid_for_field"))
        return None
    if operator == Operator.CONTAINS and spec.kind not in ("text", "choice"):
        errors.append(FieldError(f"{where}.operator", _("“contains” works only on text fields."), "invalid_for_field"))
        return None
    value = condition.get("value")
    if operator in NO_VALUE_OPERATORS:
        return {"field": name, "operator": operator, "value": None}
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            errors.append(FieldError(f"{where}.value", _("Give a list of one or more values."), "required"))
            return None
        values = value
    else:
        if value is None or value == "" or isinstance(value, list | dict):
            errors.append(FieldError(f"{where}.value", _("Give one value to compare with."), "required"))
            return None
        values = [value]
    for item in values:
        try:
            coerced = spec.coerce(item) if operator != Operator.CONTAINS else str(item)
        except ValueError as exc:
            errors.append(FieldError(f"{where}.value", _("%(value)r is not a valid %(field)s: %(reason)s.")
                                     % {"value": item, "field": spec.label, "reason": exc}, "invalid"))
            return None
        if coerced is None:
            errors.append(FieldError(f"{where}.value", _("Give a value; use “is empty” to match an empty field."),
                                     "required"))
            return None
    return {"field": name, "operator": operator, "value": value}


def _check_trigger(trigger, config, record_type, errors: list[FieldError]) -> dict:
    if trigger not in TriggerKind.values:
        errors.append(FieldError("trigger", _("Unknown trigger %(t)r; choose one of %(all)s.")
                                 % {"t": trigger, "all": ", ".join(TriggerKind.values)}, "invalid_choice"))
        return {}
    if config is None:
        config = {}
    if not isinstance(config, dict):
        errors.append(FieldError("trigger_config", _("The trigger settings are an object."), "invalid"))
        return {}
    if trigger in EVENT_TRIGGER_KINDS:
        if trigger not in record_type.events:
            offered = [kind for kind in EVENT_TRIGGER_KINDS if kind in record_type.events]
            errors.append(FieldError("trigger", _("%(record)s does not offer the trigger %(t)s; it offers %(offered)s.")
                                     % {"record": record_type.label, "t": trigger,
                                        "offered": ", ".join([*offered, "field_changed", "event", "time"])},
                                     "invalid_for_record_type"))
        return {}
    if trigger == TriggerKind.EVENT:
        event = config.get("event")
        if event not in registered_events():
            errors.append(FieldError("trigger_config.event", _("Unknown event %(e)r; GET /api/v1/webhook-events "
                                                               "lists them.") % {"e": event}, "unknown_event"))
        return {"event": event}
    if trigger == TriggerKind.FIELD_CHANGED:
        fields = config.get("fields") or []
        if not isinstance(fields, list) or not fields:
            errors.append(FieldError("trigger_config.fields", _("Name the fields whose change fires the rule."),
                                     "required"))
            return {}
        unknown = [f for f in fields if f not in record_type.fields]
        if unknown:
            errors.append(FieldError("trigger_config.fields", _("%(record)s has no field %(f)s.")
                                     % {"record": record_type.label, "f": ", ".join(map(str, unknown))},
                                     "unknown_field"))
        return {"fields": sorted(set(map(str, fields)))}
    # time
    date_field = config.get("date_field")
    if date_field not in record_type.date_fields:
        errors.append(FieldError("trigger_config.date_field", _("Choose the date to count from: %(fields)s.")
                                 % {"fields": ", ".join(record_type.date_fields) or _("(none offered)")},
                                 "invalid_choice"))
    offset = config.get("offset_days", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > MAX_OFFSET_DAYS:
        errors.append(FieldError("trigger_config.offset_days", _("A whole number of days from -%(max)d to %(max)d "
                                                                 "(negative: before the date).")
                                 % {"max": MAX_OFFSET_DAYS}, "invalid"))
    return {"date_field": date_field, "offset_days": offset}


def _check_action(index: int, item, record_type, errors: list[FieldError]) -> dict | None:
    where = f"actions[{index}]"
    if not isinstance(item, dict):
        errors.append(FieldError(where, _("An action is an object with type and params."), "invalid"))
        return None
    action = registry.action(item.get("type")) if isinstance(item.get("type"), str) else None
    if action is None or not action.applies_to(record_type):
        offered = [name for name, a in registry.actions().items() if a.applies_to(record_type)]
        errors.append(FieldError(f"{where}.type", _("Unknown action %(a)r for %(record)s; choose one of %(all)s.")
                                 % {"a": item.get("type"), "record": record_type.label, "all": ", ".join(offered)},
                                 "invalid_choice"))
        return None
    params = item.get("params") or {}
    if not isinstance(params, dict):
        errors.append(FieldError(f"{where}.params", _("The parameters are an object."), "invalid"))
        return None
    known = {p.name for p in action.params}
    for name in sorted(set(params) - known):
        errors.append(FieldError(f"{where}.params.{name}", _("Unknown parameter; %(action)s takes %(known)s.")
                                 % {"action": action.name, "known": ", ".join(sorted(known)) or "-"}, "unknown_field"))
    cleaned = {}
    for spec in action.params:
        value = params.get(spec.name, spec.default)
        if value in (None, "") and spec.required:
            errors.append(FieldError(f"{where}.params.{spec.name}", _("%(label)s is required.")
                                     % {"label": spec.label}, "required"))
            continue
        if value in (None, ""):
            continue
        if spec.kind in ("int", "user", "webhook"):
            if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
                errors.append(FieldError(f"{where}.params.{spec.name}", _("A whole number is expected."), "invalid"))
                continue
            value = int(value)
        elif spec.kind == "text":
            value = str(value).strip()
        cleaned[spec.name] = value
    if action.validate is not None and not any(e.field.startswith(where) for e in errors):
        for name, reason in (action.validate(record_type, cleaned) or {}).items():
            errors.append(FieldError(f"{where}.params.{name}", str(reason), "invalid"))
    return {"type": action.name, "params": cleaned}


def clean_rule(values: dict) -> dict:
    """Validate a whole rule (every field given); all errors at once, each naming its place."""
    errors: list[FieldError] = []
    cleaned: dict = {}
    name = values.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors.append(FieldError("name", _("Give the rule a name."), "required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", _("At most %(limit)d characters.") % {"limit": MAX_NAME}, "max_length"))
    cleaned["name"] = name
    description = (values.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors.append(FieldError("description", _("At most %(limit)d characters.") % {"limit": MAX_DESCRIPTION},
                                 "max_length"))
    cleaned["description"] = description
    cleaned["is_active"] = bool(values.get("is_active", True))
    record_type = registry.record_type(values.get("record_type") or "")
    if record_type is None:
        errors.append(FieldError("record_type", _("Unknown record type %(t)r; choose one of %(all)s.")
                                 % {"t": values.get("record_type"), "all": ", ".join(registry.record_types())},
                                 "invalid_choice"))
        raise ValidationFailed(errors)
    cleaned["record_type"] = record_type.name
    trigger = values.get("trigger")
    cleaned["trigger"] = trigger
    cleaned["trigger_config"] = _check_trigger(trigger, values.get("trigger_config"), record_type, errors)
    conditions = values.get("conditions") or []
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        errors.append(FieldError("conditions", _("A list of at most %(n)d conditions.") % {"n": MAX_CONDITIONS},
                                 "invalid"))
        conditions = []
    cleaned["conditions"] = [c for c in (_check_condition(i, c, record_type, trigger, errors)
                                         for i, c in enumerate(conditions)) if c is not None]
    actions = values.get("actions") or []
    if not isinstance(actions, list) or not actions:
        errors.append(FieldError("actions", _("Give at least one action."), "required"))
        actions = []
    elif len(actions) > MAX_ACTIONS:
        errors.append(FieldError("actions", _("At most %(n)d actions.") % {"n": MAX_ACTIONS}, "invalid"))
    cleaned["actions"] = [a for a in (_check_action(i, a, record_type, errors) for i, a in enumerate(actions))
                          if a is not None]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


# --- rules ------------------------------------------------------------------------------------------------

def _rules_changed() -> None:
    """Drop the engine's cached rules now (this transaction sees its change) and again after the commit."""
    from . import engine

    engine.forget_rules()
    transaction.on_commit(engine.forget_rules)


@transaction.atomic
def rule_create(*, actor, **values) -> AutomationRule:
    """A new rule (fields: RULE_FIELDS) acting as `actor`."""
    require_rule_manager(actor)
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field")
                                for f in sorted(unknown)])
    cleaned = clean_rule(values)
    rule = AutomationRule.objects.create(created_by=actor, run_as=actor, **cleaned)
    _rules_changed()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=rule,
                 changes={k: [None, v] for k, v in audit.snapshot(rule, AUDITED_FIELDS).items()
                          if v not in (None, "", [], {})})
    return rule


def _locked(rule) -> AutomationRule:
    pk = getattr(rule, "pk", rule)
    found = AutomationRule.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No automation rule with id %(id)s.") % {"id": pk})
    return found


@transaction.atomic
def rule_update(*, actor, rule, **values) -> AutomationRule:
    """Change the fields given; the whole rule is validated again and it now acts as `actor`."""
    require_rule_manager(actor)
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field")
                                for f in sorted(unknown)])
    rule = _locked(rule)
    current = {name: getattr(rule, name) for name in RULE_FIELDS}
    cleaned = clean_rule({**current, **values})
    before = audit.snapshot(rule, AUDITED_FIELDS)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.run_as = actor
    changes = audit.diff(before, audit.snapshot(rule, AUDITED_FIELDS))
    if changes:
        rule.save()
        _rules_changed()
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=rule, changes=changes)
    return rule


@transaction.atomic
def rule_delete(*, actor, rule) -> None:
    """Delete the rule and its run log."""
    require_rule_manager(actor)
    rule = _locked(rule)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=rule,
                 changes={k: [v, None] for k, v in audit.snapshot(rule, AUDITED_FIELDS).items()})
    rule.delete()
    _rules_changed()


# --- notifications ------------------------------------------------------------------------------------

@transaction.atomic
def notification_create(*, actor, recipient, text: str, link: str = "", rule=None) -> Notification:
    """A notification for `recipient` (written by a rule's action, acting as `actor`)."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed.single("text", _("Give the notification's text."), "required")
    if recipient is None or not recipient.is_active:
        raise ValidationFailed.single("user_id", _("The recipient is not an active user."), "inactive_user")
    notification = Notification.objects.create(recipient=recipient, text=text[:500], link=(link or "")[:300],
                                               rule=rule)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=notification,
                 changes={"recipient": [None, recipient.pk], "text": [None, notification.text]})
    return notification


@transaction.atomic
def notification_mark_read(*, actor, notification) -> Notification:
    """Mark one of the actor's own notifications read (another user's is not found)."""
    found = (Notification.objects.select_for_update()
             .filter(pk=getattr(notification, "pk", notification), recipient_id=getattr(actor, "pk", None)).first())
    if found is None:
        raise NotFound(_("No notification with id %(id)s.") % {"id": getattr(notification, "pk", notification)})
    if found.read_at is None:
        found.read_at = timezone.now()
        found.save(update_fields=["read_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=found, changes={"read_at": [None, found.read_at]})
    return found


@transaction.atomic
def notifications_mark_all_read(*, actor) -> int:
    """Mark every unread notification of the actor read; how many."""
    unread = list(Notification.objects.select_for_update().filter(recipient_id=actor.pk, read_at__isnull=True))
    if not unread:
        return 0
    now = timezone.now()
    Notification.objects.filter(pk__in=[n.pk for n in unread]).update(read_at=now)
    audit.record_many([audit.PendingEvent(action=audit.Action.UPDATE, object_type=audit.object_type_of(n),
                                          object_id=str(n.pk), object_repr=str(n), changes={"read_at": [None, now]})
                       for n in unread], actor=actor)
    return len(unread)
