"""Outbound webhooks: endpoints that receive signed JSON for the domain events they subscribe to, and the
log of every delivery and every HTTP attempt."""
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import DeliveryStatus

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
