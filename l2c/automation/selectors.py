"""Webhook reads: admins only (the URLs and the payloads are sensitive), as the services' writes."""
from __future__ import annotations

from django.db.models import Count, Max, QuerySet
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound
from l2c.core.events import registered_events

from .models import ALL_EVENTS, WebhookDelivery, WebhookEndpoint
from .services import require_admin


def endpoint_list(*, user) -> QuerySet[WebhookEndpoint]:
    require_admin(user)
    return WebhookEndpoint.objects.annotate(delivery_count=Count("deliveries"),
                                            last_delivery_at=Max("deliveries__created_at"))


def endpoint_get(*, user, pk) -> WebhookEndpoint:
    require_admin(user)
    endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise NotFound(_("No webhook with id %(id)s.") % {"id": pk})
    return endpoint


def delivery_list(*, user, endpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, each with its attempts."""
    require_admin(user)
    return (WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")
            .prefetch_related("attempt_log"))


def delivery_get(*, user, pk) -> WebhookDelivery:
    require_admin(user)
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=pk).first()
    if delivery is None:
        raise NotFound(_("No webhook delivery with id %(id)s.") % {"id": pk})
    return delivery


def event_choices() -> list[tuple[str, str]]:
    """Every event a webhook may subscribe to: "*" then the registered events, with their descriptions."""
    return [(ALL_EVENTS, _("Every event")), *registered_events().items()]
