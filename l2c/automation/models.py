"""Outbound webhooks: endpoints that receive signed JSON for the domain events they subscribe to, and the
log of every delivery and every HTTP attempt."""
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import DeliveryStatus, RunStatus, TriggerKind

ALL_EVENTS = "*"


class WebhookEndpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its secret."""

    name = models.CharField(_("name"), max_length=100)
    url = models.CharField(_("URL"), max_length=500)
    # Kept readable: every request is signed with it. Shown in full once (creation, rotation), then masked.
    secret = models.CharField(max_length=100)
    event_types = models.JSONField(_("event types"), default=list, blank=True)  # event names, or ["*"]
    is_active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def wants(self, event: str) -> bool:
        return ALL_EVENTS in self.event_types or event in self.event_types

    @property
    def secret_masked(self) -> str:
        return "…" + self.secret[-4:] if self.secret else ""


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one endpoint, with the outcome of its latest attempt."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # X-L2C-Delivery
    occurred_at = models.DateTimeField()  # when the event happened (a replay keeps the original's)
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict)  # the event's data
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_body = models.TextField(blank=True)  # the first 2,000 characters of the latest answer
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="automation_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="automation_delivery_log"),
        ]

    def __str__(self):
        return f"{self.event} → {self.endpoint_id} ({self.delivery_id})"

    def body(self) -> dict:
        """The JSON object POSTed to the endpoint."""
        return {"id": str(self.delivery_id), "event": self.event, "created_at": self.occurred_at.isoformat(),
                "data": self.payload}


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: the answer's status code, or the error that stopped it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"


class AutomationRule(models.Model):
    """A workflow rule: when its trigger fires for a record that meets its conditions, run its actions."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    record_type = models.CharField(_("record type"), max_length=40)  # core.automation_registry name
    trigger = models.CharField(_("trigger"), max_length=20, choices=TriggerKind.choices)
    # event: {"event": name}; field_changed: {"fields": [...]}; time: {"date_field": f, "offset_days": n}
    trigger_config = models.JSONField(_("trigger settings"), default=dict, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)  # [{field, operator, value}], ANDed
    actions = models.JSONField(_("actions"), default=list)  # [{type, params}], run in order
    # The user the actions act as (the last to save the rule): their permissions bound what the rule may do
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["record_type", "trigger", "is_active"], name="automation_rule_trigger")]

    def __str__(self):
        return self.name


class RuleRun(models.Model):
    """One firing of a rule for one record: its trigger, outcome, each action's result and any error."""

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs")
    record_type = models.CharField(max_length=40)
    record_id = models.CharField(max_length=40)
    record_repr = models.CharField(max_length=200, blank=True)
    trigger = models.CharField(max_length=20, choices=TriggerKind.choices)
    event = models.CharField(max_length=100, blank=True)  # the domain event, when one fired it
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    results = models.JSONField(encoder=DjangoJSONEncoder, default=list)  # [{action, ok, result|error}]
    error = models.TextField(blank=True)
    depth = models.PositiveSmallIntegerField(default=0)  # how many rule runs caused this one
    chain = models.JSONField(default=list)  # the causing runs: [[rule_id, record_type, record_id], ...]
    run_key = models.CharField(max_length=200, null=True, blank=True)  # time triggers: fire once per key
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "run_key"], name="automation_run_once_per_key")]
        indexes = [models.Index(fields=["rule", "-started_at"], name="automation_run_log"),
                   models.Index(fields=["record_type", "record_id"], name="automation_run_record")]

    def __str__(self):
        return f"{self.rule_id} on {self.record_type} {self.record_id}: {self.status}"


class Notification(models.Model):
    """A message for one user (from a rule's "notify a user" action), read or not."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(_("text"), max_length=500)
    link = models.CharField(_("link"), max_length=300, blank=True)
    rule = models.ForeignKey(AutomationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="automation_notification_unread")]

    def __str__(self):
        return self.text[:50]
