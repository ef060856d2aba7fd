"""The actions automation itself offers to every record type: assign the owner, update a field, post a
webhook, notify a user. Stage apps add their own (pipeline: create a task) and nurture will add "send an
e-mail" and "enrol in a sequence", all through `core.automation_registry.register_action`.

Each handler writes through a service (the stage's `updater`, webhook deliveries, notifications) acting as the
rule's user, and returns a short text for the run log.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core import audit
from l2c.core import automation_registry as registry
from l2c.core.errors import ValidationFailed

from .models import WebhookDelivery, WebhookEndpoint

RULE_EVENT = "automation.rule"


def _user(pk):
    return get_user_model().objects.filter(pk=pk).first() if pk is not None else None


def _check_user(record_type, params, name="user_id") -> dict:
    if name in params:
        user = _user(params[name])
        if user is None or not user.is_active:
            return {name: _("No active user with id %(id)s.") % {"id": params[name]}}
    return {}


# --- assign owner ---------------------------------------------------------------------------------------

def assign_owner(context: registry.ActionContext) -> str:
    owner = _user(context.params["user_id"])
    if owner is None:
        raise ValidationFailed.single("user_id", _("No user with id %(id)s.") % {"id": context.params["user_id"]})
    context.record_type.updater(context.actor, context.record, owner=owner)
    return _("owner set to %(user)s") % {"user": owner}


def _validate_assign(record_type, params) -> dict:
    if "owner" not in record_type.fields or not record_type.fields["owner"].updatable:
        return {"user_id": _("%(record)s has no owner a rule can set.") % {"record": record_type.label}}
    return _check_user(record_type, params)


# --- update a field -------------------------------------------------------------------------------------

def _updatable_spec(record_type, name):
    spec = record_type.fields.get(name)
    return spec if spec is not None and spec.updatable else None


def _validate_update(record_type, params) -> dict:
    spec = _updatable_spec(record_type, params.get("field"))
    if spec is None:
        allowed = [name for name, s in record_type.fields.items() if s.updatable]
        return {"field": _("A rule may set these fields of %(record)s: %(fields)s.")
                % {"record": record_type.label, "fields": ", ".join(allowed) or "-"}}
    try:
        value = spec.coerce(params.get("value"))
    except ValueError as exc:
        return {"value": _("%(value)r is not a valid %(field)s: %(reason)s.")
                % {"value": params.get("value"), "field": spec.label, "reason": exc}}
    if spec.kind == "user" and value is not None:
        return _check_user(record_type, {"value": value}, "value")
    return {}


def update_field(context: registry.ActionContext) -> str:
    spec = _updatable_spec(context.record_type, context.params["field"])
    if spec is None:
        raise ValidationFailed.single("field", _("This field can no longer be set by a rule."))
    value = spec.coerce(context.params.get("value"))
    if spec.kind == "user" and value is not None:
        value = _user(value)
    if value is None and spec.kind in ("text", "choice"):
        value = ""  # text columns store "empty" as ""
    context.record_type.updater(context.actor, context.record, **{spec.name: value})
    return _("%(field)s set to %(value)s") % {"field": spec.label, "value": value if value is not None else "—"}


# --- post a webhook -------------------------------------------------------------------------------------

def _validate_webhook(record_type, params) -> dict:
    if not WebhookEndpoint.objects.filter(pk=params.get("webhook_id")).exists():
        return {"webhook_id": _("No webhook with id %(id)s.") % {"id": params.get("webhook_id")}}
    return {}


def post_webhook(context: registry.ActionContext) -> str:
    from .services import _enqueue

    endpoint = WebhookEndpoint.objects.filter(pk=context.params["webhook_id"]).first()
    if endpoint is None:
        raise ValidationFailed.single("webhook_id", _("The webhook was deleted."))
    if not endpoint.is_active:
        raise ValidationFailed.single("webhook_id", _("The webhook %(name)s is inactive.") % {"name": endpoint.name})
    record = context.record
    fields = list(context.record_type.fields)
    payload = {"rule_id": context.rule.pk, "rule": context.rule.name, "record_type": context.record_type.name,
               "record_id": record.pk, "record": {"id": record.pk, "repr": str(record),
                                                  **audit.snapshot(record, fields)}}
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=RULE_EVENT, occurred_at=now, payload=payload,
                                              next_attempt_at=now)
    audit.record(actor=context.actor, action=audit.Action.CREATE, instance=delivery,
                 changes={"event": [None, RULE_EVENT], "endpoint": [None, endpoint.pk],
                          "rule": [None, context.rule.pk]})
    _enqueue([delivery])
    return _("delivery %(id)s queued for %(name)s") % {"id": delivery.delivery_id, "name": endpoint.name}


# --- notify a user --------------------------------------------------------------------------------------

def notify_user(context: registry.ActionContext) -> str:
    from .rule_services import notification_create

    recipient_id = context.params.get("user_id") or context.record_type.owner_id(context.record)
    recipient = _user(recipient_id)
    if recipient is None:
        raise ValidationFailed.single("user_id", _("The record has no owner to notify; name a user."))
    text = context.params["text"].replace("{record}", str(context.record))
    with transaction.atomic():
        notification_create(actor=context.actor, recipient=recipient, text=text, link=context.record_type.link(context.record),
                            rule=context.rule)
    return _("%(user)s notified") % {"user": recipient}


def register() -> None:
    from l2c.core.events import register_event

    register_event(RULE_EVENT, "Sent by a workflow rule's \"post a webhook\" action to the webhook it names "
                               "(not to other subscribers). Payload: rule_id, rule, record_type, record_id, record.")
    registry.register_action(
        "assign_owner", label=gettext_lazy("Assign the owner"), handler=assign_owner, validate=_validate_assign,
        needs_updater=True, params=[{"name": "user_id", "label": gettext_lazy("User"), "kind": "user"}])
    registry.register_action(
        "update_field", label=gettext_lazy("Update a field"), handler=update_field, validate=_validate_update,
        needs_updater=True, params=[{"name": "field", "label": gettext_lazy("Field"), "kind": "field"},
                                    {"name": "value", "label": gettext_lazy("Value"), "kind": "any",
                                     "required": False}])
    registry.register_action(
        "post_webhook", label=gettext_lazy("Post a webhook"), handler=post_webhook, validate=_validate_webhook,
        params=[{"name": "webhook_id", "label": gettext_lazy("Webhook"), "kind": "webhook"}])
    registry.register_action(
        "notify_user", label=gettext_lazy("Notify a user"), handler=notify_user,
        validate=lambda rt, params: _check_user(rt, params),
        params=[{"name": "text", "label": gettext_lazy("Text ({record} is replaced by the record)"), "kind": "text"},
                {"name": "user_id", "label": gettext_lazy("User (empty: the record's owner)"), "kind": "user",
                 "required": False}])
