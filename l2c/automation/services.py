"""Webhook services: endpoints (create, update, delete, rotate the secret), deliveries made from domain
events, sending with retries, replay and test events.

Only admins manage webhooks (`require_admin`); every change they make is audited (never the secret itself).
Deliveries are created by `webhooks_on_event` (subscribed to every event in AppConfig.ready) and sent by the
Celery task `deliver` right after their commit; the beat job `send_due_webhooks` sends what is due, so a lost
message or a crashed worker delays a delivery but never loses it.

An attempt is claimed before it is sent: the row is locked with `select_for_update(skip_locked=True)`, its
attempt counted and its `next_attempt_at` pushed out by CLAIM_LEASE, and committed; the HTTP request runs
outside any transaction. A second worker finds the row locked or not due, so an attempt is never sent twice;
a worker that dies mid-request leaves the delivery due again once the lease is over.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.events import registered_events

from .choices import MAX_ATTEMPTS, OPEN_STATUSES, RETRY_DELAYS, DeliveryStatus
from .models import ALL_EVENTS, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .signing import signature_header

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
CLAIM_LEASE = dt.timedelta(minutes=5)  # longer than any request (TIMEOUT_SECONDS) can take
MAX_URL = 500
MAX_NAME = 100
MAX_DESCRIPTION = 2000
RESPONSE_EXCERPT = 2000
USER_AGENT = "L2C-Webhooks/1"
TEST_EVENT = "webhook.test"
AUDITED_FIELDS = ["name", "url", "event_types", "is_active", "description"]

__all__ = ["can_manage", "require_admin", "endpoint_create", "endpoint_update", "endpoint_delete",
           "endpoint_rotate_secret", "endpoint_send_test", "delivery_replay", "webhooks_on_event",
           "delivery_send", "send_due"]


# --- permissions -------------------------------------------------------------------------------------

def can_manage(user) -> bool:
    """Webhooks carry data of every stage to other systems: admins only, reads included."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_admin", False))


def require_admin(user) -> None:
    if not can_manage(user):
        raise PermissionDenied(_("Only an admin may manage webhooks."))


# --- validation ---------------------------------------------------------------------------------------

def allow_private() -> bool:
    return bool(getattr(settings, "L2C_WEBHOOKS_ALLOW_PRIVATE", False))


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


def _private_host_message() -> str:
    return _("Private and loopback addresses are refused unless the setting L2C_WEBHOOKS_ALLOW_PRIVATE is on.")


def check_url(url) -> list[FieldError]:
    if not isinstance(url, str) or not url.strip():
        return [FieldError("url", _("Give the URL to send events to."), "required")]
    url = url.strip()
    if len(url) > MAX_URL:
        return [FieldError("url", _("At most %(limit)d characters (got %(count)d).")
                           % {"limit": MAX_URL, "count": len(url)}, "max_length")]
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return [FieldError("url", _("This is not a valid URL."), "invalid_url")]
    if parts.scheme.lower() not in ("http", "https"):
        return [FieldError("url", _("The URL must start with http:// or https://."), "invalid_scheme")]
    if not host:
        return [FieldError("url", _("The URL must name a host, e.g. https://example.com/hooks."), "missing_host")]
    if any(ch.isspace() for ch in url):
        return [FieldError("url", _("The URL may not contain spaces."), "invalid_url")]
    if not allow_private() and (host == "localhost" or host.endswith(".localhost") or _is_private(host)):
        return [FieldError("url", _private_host_message(), "private_address")]
    return []


def check_event_types(event_types) -> list[FieldError]:
    if not isinstance(event_types, list | tuple) or not event_types:
        return [FieldError("event_types", _("Pick at least one event, or \"*\" for every event."), "required")]
    known = registered_events()
    unknown = [name for name in event_types if not isinstance(name, str) or (name != ALL_EVENTS and name not in known)]
    if unknown:
        return [FieldError("event_types", _("Unknown event type: %(names)s. GET /api/v1/webhook-events lists them.")
                           % {"names": ", ".join(str(name) for name in unknown)}, "unknown_event")]
    return []


def _clean(values: dict, *, creating: bool) -> dict:
    errors: list[FieldError] = []
    cleaned = {}
    if "name" in values or creating:
        name = values.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors.append(FieldError("name", _("Give the webhook a name."), "required"))
        elif len(name) > MAX_NAME:
            errors.append(FieldError("name", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_NAME, "count": len(name)}, "max_length"))
        cleaned["name"] = name
    if "url" in values or creating:
        url_errors = check_url(values.get("url"))
        errors += url_errors
        cleaned["url"] = values.get("url", "").strip() if isinstance(values.get("url"), str) else ""
    if "event_types" in values or creating:
        event_types = values.get("event_types")
        errors += check_event_types(event_types)
        if isinstance(event_types, list | tuple):
            # "*" covers every event: keep it alone; otherwise the names, once each, sorted
            cleaned["event_types"] = [ALL_EVENTS] if ALL_EVENTS in event_types else sorted(set(event_types))
    if "description" in values:
        description = (values.get("description") or "").strip()
        if len(description) > MAX_DESCRIPTION:
            errors.append(FieldError("description", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_DESCRIPTION, "count": len(description)}, "max_length"))
        cleaned["description"] = description
    if "is_active" in values:
        cleaned["is_active"] = bool(values["is_active"])
    unknown = set(values) - {"name", "url", "event_types", "description", "is_active"}
    if unknown:
        raise TypeError(f"unknown webhook fields: {sorted(unknown)}")
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- endpoints ----------------------------------------------------------------------------------------

@transaction.atomic
def endpoint_create(*, actor, name: str, url: str, event_types: list[str], description: str = "",
                    is_active: bool = True) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (the caller shows it once)."""
    require_admin(actor)
    cleaned = _clean({"name": name, "url": url, "event_types": event_types, "description": description,
                      "is_active": is_active}, creating=True)
    endpoint = WebhookEndpoint.objects.create(secret=_new_secret(), created_by=actor, **cleaned)
    after = audit.snapshot(endpoint, AUDITED_FIELDS)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=endpoint,
                 changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})})
    return endpoint


def _locked(endpoint) -> WebhookEndpoint:
    pk = getattr(endpoint, "pk", endpoint)
    found = WebhookEndpoint.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No webhook with id %(id)s.") % {"id": pk})
    return found


@transaction.atomic
def endpoint_update(*, actor, endpoint, **values) -> WebhookEndpoint:
    """Change name, url, event_types, description or is_active (only the fields given)."""
    require_admin(actor)
    cleaned = _clean(values, creating=False)
    endpoint = _locked(endpoint)
    before = audit.snapshot(endpoint, AUDITED_FIELDS)
    for name, value in cleaned.items():
        setattr(endpoint, name, value)
    changes = audit.diff(before, audit.snapshot(endpoint, AUDITED_FIELDS))
    if changes:
        endpoint.save(update_fields=[*cleaned, "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=endpoint, changes=changes)
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor, endpoint) -> None:
    """Delete the endpoint and its delivery log."""
    require_admin(actor)
    endpoint = _locked(endpoint)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=endpoint,
                 changes={k: [v, None] for k, v in audit.snapshot(endpoint, AUDITED_FIELDS).items()})
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(*, actor, endpoint) -> WebhookEndpoint:
    """A new secret, effective for the next request (the old one stops working at once)."""
    require_admin(actor)
    endpoint = _locked(endpoint)
    endpoint.secret = _new_secret()
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=endpoint,
                 changes={"secret": ["rotated", endpoint.secret_masked]})
    return endpoint


# --- deliveries ---------------------------------------------------------------------------------------

def _enqueue(deliveries: list[WebhookDelivery]) -> None:
    from . import tasks

    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [tasks.deliver.delay(pk) for pk in ids])


def _require_active(endpoint: WebhookEndpoint) -> None:
    if not endpoint.is_active:
        raise Conflict(_("The webhook is inactive; activate it first."), code="webhook_inactive")


@transaction.atomic
def endpoint_send_test(*, actor, endpoint) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint alone (whatever it subscribes to)."""
    require_admin(actor)
    endpoint = _locked(endpoint)
    _require_active(endpoint)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=TEST_EVENT, occurred_at=timezone.now(), next_attempt_at=timezone.now(),
        payload={"endpoint_id": endpoint.pk, "message": "This is a test event from L2C."})
    audit.record(actor=actor, action=audit.Action.CREATE, instance=delivery,
                 changes={"event": [None, TEST_EVENT], "endpoint": [None, endpoint.pk]})
    _enqueue([delivery])
    return delivery


@transaction.atomic
def delivery_replay(*, actor, delivery) -> WebhookDelivery:
    """Send a delivery's event again as a new delivery (new id, same event, time and payload)."""
    require_admin(actor)
    original = WebhookDelivery.objects.select_related("endpoint").filter(pk=getattr(delivery, "pk", delivery)).first()
    if original is None:
        raise NotFound(_("No webhook delivery with id %(id)s.") % {"id": getattr(delivery, "pk", delivery)})
    _require_active(original.endpoint)
    replay = WebhookDelivery.objects.create(
        endpoint=original.endpoint, event=original.event, occurred_at=original.occurred_at,
        payload=original.payload, replay_of=original, next_attempt_at=timezone.now())
    audit.record(actor=actor, action=audit.Action.CREATE, instance=replay,
                 changes={"event": [None, replay.event], "endpoint": [None, original.endpoint_id],
                          "replay_of": [None, original.pk]})
    _enqueue([replay])
    return replay


def webhooks_on_event(name: str, payload: dict) -> list[WebhookDelivery]:
    """Subscriber of every domain event (after its commit): one delivery per active endpoint that wants it,
    created in one insert and each sent by the `deliver` task after this commit."""
    endpoints = [endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True).only("id", "event_types")
                 if endpoint.wants(name)]
    if not endpoints:
        return []
    now = timezone.now()
    # the payload as JSON now: a later change of a mutable payload cannot alter what was recorded
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create([
            WebhookDelivery(endpoint_id=endpoint.pk, event=name, occurred_at=now, payload=data, next_attempt_at=now)
            for endpoint in endpoints])
        if any(delivery.pk is None for delivery in deliveries):  # a backend without RETURNING
            ids = [d.delivery_id for d in deliveries]
            deliveries = list(WebhookDelivery.objects.filter(delivery_id__in=ids))
        _enqueue(deliveries)
    return deliveries


# --- sending ------------------------------------------------------------------------------------------

def _claim(delivery_id: int, now: dt.datetime) -> WebhookDelivery | None:
    """Lock a due delivery, count the attempt and lease it; None when it is not due, done, or another
    worker holds it."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("endpoint")
                    .filter(pk=delivery_id, status__in=OPEN_STATUSES, next_attempt_at__lte=now,
                            endpoint__is_active=True)
                    .first())
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + CLAIM_LEASE
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery


def _refused_address(url: str) -> str:
    """An error when private addresses are not allowed and the URL's host resolves to one (checked at send
    time too, since a name may point elsewhere than when the URL was saved)."""
    if allow_private():
        return ""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return _("Could not resolve %(host)s: %(error)s") % {"host": host, "error": exc}
    if any(_is_private(info[4][0]) for info in infos):
        return _private_host_message()
    return ""


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str, str, int]:
    """POST the delivery once: (status code, error, response excerpt, duration in ms)."""
    body = json.dumps(delivery.body(), cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-L2C-Event": delivery.event,
        "X-L2C-Delivery": str(delivery.delivery_id),
        "X-L2C-Signature": signature_header(endpoint.secret, body),
    }
    started = time.monotonic()
    refused = _refused_address(endpoint.url)
    if refused:
        return None, refused, "", 0
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                excerpt = b""
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_EXCERPT * 4:  # enough bytes for 2,000 characters
                        break
                text = excerpt.decode(response.encoding or "utf-8", errors="replace")[:RESPONSE_EXCERPT]
                return response.status_code, "", text, int((time.monotonic() - started) * 1000)
    except httpx.TimeoutException as exc:
        error = _("Timed out after %(seconds)s s (%(kind)s).") % {"seconds": int(TIMEOUT_SECONDS),
                                                                   "kind": type(exc).__name__}
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return None, error[:500], "", int((time.monotonic() - started) * 1000)


def delivery_send(*, delivery_id: int, now: dt.datetime | None = None,
                  max_attempts: int = MAX_ATTEMPTS) -> WebhookDelivery | None:
    """Make the delivery's next attempt if it is due; record it; schedule a retry (RETRY_DELAYS) or give up
    after `max_attempts`. Safe to call twice: None when there is nothing to send."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    status_code, error, excerpt, duration = _post(delivery.endpoint, delivery)
    succeeded = status_code is not None and 200 <= status_code < 300
    if status_code is not None and not succeeded:
        error = _("The receiver answered %(code)s.") % {"code": status_code}
        if 300 <= status_code < 400:
            error += " " + _("Redirects are not followed; use the final URL.")
    finished = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, number=delivery.attempts, attempted_at=now,
                                      status_code=status_code, error=error, duration_ms=duration,
                                      succeeded=succeeded)
        delivery.last_status_code = status_code
        delivery.last_error = error
        delivery.response_body = excerpt
        delivery.duration_ms = duration
        if succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
        elif delivery.attempts >= max_attempts:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
        delivery.save(update_fields=["status", "next_attempt_at", "last_status_code", "last_error",
                                     "response_body", "duration_ms", "delivered_at"])
    if not succeeded:
        log.info("webhook delivery %s attempt %s failed: %s", delivery.delivery_id, delivery.attempts, error)
    return delivery


def due_ids(now: dt.datetime, limit: int = 500) -> list[int]:
    return list(WebhookDelivery.objects.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=now,
                                               endpoint__is_active=True)
                .order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])


def send_due(*, now: dt.datetime | None = None, max_attempts: int = MAX_ATTEMPTS, limit: int = 500) -> int:
    """Send every delivery that is due (first attempts whose task was lost, retries); the number sent."""
    now = now or timezone.now()
    sent = 0
    for pk in due_ids(now, limit):
        if delivery_send(delivery_id=pk, now=now, max_attempts=max_attempts) is not None:
            sent += 1
    return sent
