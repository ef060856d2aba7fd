"""Workflow rule reads: rules, their runs, what rules can be built from (admins and managers, as the writes),
and each user's own notifications."""
from __future__ import annotations

from django.db.models import Count, Max, QuerySet
from django.utils.translation import gettext as _

from l2c.core import automation_registry as registry
from l2c.core.errors import NotFound
from l2c.core.events import registered_events

from .choices import EVENT_TRIGGER_KINDS, Operator, TriggerKind
from .models import AutomationRule, Notification, RuleRun
from .rule_services import require_rule_manager


def rule_list(*, user) -> QuerySet[AutomationRule]:
    require_rule_manager(user)
    return AutomationRule.objects.select_related("run_as").annotate(run_count=Count("runs"),
                                                                    last_run_at=Max("runs__started_at"))


def rule_get(*, user, pk) -> AutomationRule:
    require_rule_manager(user)
    rule = AutomationRule.objects.select_related("run_as", "created_by").filter(pk=pk).first()
    if rule is None:
        raise NotFound(_("No automation rule with id %(id)s.") % {"id": pk})
    return rule


def run_list(*, user, rule=None, status: str | None = None) -> QuerySet[RuleRun]:
    """Runs, newest first: one rule's or every rule's, optionally of one status."""
    require_rule_manager(user)
    runs = RuleRun.objects.select_related("rule").order_by("-started_at", "-id")
    if rule is not None:
        runs = runs.filter(rule=rule)
    if status:
        runs = runs.filter(status=status)
    return runs


def record_type_catalogue(*, user) -> list[dict]:
    """Every record type with its triggers, fields (kind, choices, settable) and the actions that apply."""
    require_rule_manager(user)
    out = []
    for rt in registry.record_types().values():
        triggers = [kind for kind in EVENT_TRIGGER_KINDS if kind in rt.events]
        triggers += [TriggerKind.FIELD_CHANGED, TriggerKind.EVENT]
        if rt.date_fields:
            triggers.append(TriggerKind.TIME)
        out.append({
            "name": rt.name, "label": str(rt.label),
            "triggers": [{"name": str(kind), "label": str(TriggerKind(kind).label), "event": rt.events.get(kind, "")}
                         for kind in triggers],
            "date_fields": rt.date_fields,
            "fields": [{"name": spec.name, "label": spec.label, "kind": spec.kind, "updatable": spec.updatable,
                        "choices": [c[0] for c in spec.choices]} for spec in rt.fields.values()],
            "actions": [{"name": action.name, "label": str(action.label),
                         "params": [{"name": p.name, "label": str(p.label), "kind": p.kind, "required": p.required}
                                    for p in action.params]}
                        for action in registry.actions().values() if action.applies_to(rt)],
        })
    return out


def operator_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Operator.choices]


def event_names() -> list[str]:
    return list(registered_events())


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient_id=user.pk).order_by("-created_at", "-id")


def unread_notification_count(*, user) -> int:
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()
