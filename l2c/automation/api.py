"""API routes of outbound webhooks: endpoints (list, create, read, change, delete, rotate the secret, send a
test event), each endpoint's delivery log, replaying a delivery, and the events one may subscribe to.

Admins only, reads included (403 for every other role); bad input is a 422 naming the field.
"""
from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core.api_types import LimitOffsetPagination

from . import selectors, services
from .choices import DeliveryStatus

router = Router(tags=["webhooks"])


class StrictSchema(Schema):
    """Unknown fields are refused, so a misspelt field is an error, not silently lost."""

    model_config = ConfigDict(extra="forbid")


class WebhookIn(StrictSchema):
    name: str = Field(..., max_length=services.MAX_NAME)
    url: str = Field(..., max_length=services.MAX_URL, description="http:// or https:// address that receives POSTs")
    event_types: list[str] = Field(..., description='Event names (GET /webhook-events), or ["*"] for every event')
    description: str = Field("", max_length=services.MAX_DESCRIPTION)
    is_active: bool = True


class WebhookPatch(StrictSchema):
    name: str | None = Field(None, max_length=services.MAX_NAME)
    url: str | None = Field(None, max_length=services.MAX_URL)
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=services.MAX_DESCRIPTION)
    is_active: bool | None = None


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    description: str
    is_active: bool
    secret_masked: str = Field(description="The secret's last characters; the full secret is shown only when it "
                                           "is made (creation, rotation)")
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookWithSecretOut(WebhookOut):
    secret: str = Field(description="The signing secret, shown this once: keep it in the receiver")


class AttemptOut(Schema):
    number: int
    attempted_at: dt.datetime
    status_code: int | None
    error: str
    duration_ms: int
    succeeded: bool


class DeliveryOut(Schema):
    id: int
    delivery_id: uuid.UUID
    webhook: int = Field(alias="endpoint_id")
    event: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    response_body: str = Field(description="The first 2,000 characters of the latest answer")
    duration_ms: int | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    replay_of: int | None = Field(None, alias="replay_of_id")
    payload: dict
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_attempt_log(obj):
        return list(obj.attempt_log.all())


class EventOut(Schema):
    name: str
    description: str


def _admin(request):
    services.require_admin(request.auth)
    return request.auth


def _with_secret(endpoint) -> dict:
    return {**WebhookOut.from_orm(endpoint).model_dump(), "secret": endpoint.secret}


@router.get("/webhooks", response=list[WebhookOut])
@paginate(LimitOffsetPagination)
def list_webhooks(request):
    return selectors.endpoint_list(user=request.auth).order_by("id")


@router.post("/webhooks", response={201: WebhookWithSecretOut})
def create_webhook(request, data: WebhookIn):
    endpoint = services.endpoint_create(actor=_admin(request), **data.model_dump())
    return Status(201, _with_secret(endpoint))


@router.get("/webhooks/{int:webhook_id}", response=WebhookOut)
def get_webhook(request, webhook_id: int):
    return selectors.endpoint_get(user=request.auth, pk=webhook_id)


@router.patch("/webhooks/{int:webhook_id}", response=WebhookOut)
def update_webhook(request, webhook_id: int, data: WebhookPatch):
    endpoint = selectors.endpoint_get(user=_admin(request), pk=webhook_id)
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k == "event_types"}
    return services.endpoint_update(actor=request.auth, endpoint=endpoint, **values)


@router.delete("/webhooks/{int:webhook_id}", response={204: None})
def delete_webhook(request, webhook_id: int):
    endpoint = selectors.endpoint_get(user=_admin(request), pk=webhook_id)
    services.endpoint_delete(actor=request.auth, endpoint=endpoint)
    return Status(204, None)


@router.post("/webhooks/{int:webhook_id}/rotate-secret", response=WebhookWithSecretOut)
def rotate_secret(request, webhook_id: int):
    endpoint = selectors.endpoint_get(user=_admin(request), pk=webhook_id)
    return _with_secret(services.endpoint_rotate_secret(actor=request.auth, endpoint=endpoint))


@router.post("/webhooks/{int:webhook_id}/test", response={202: DeliveryOut})
def send_test(request, webhook_id: int):
    endpoint = selectors.endpoint_get(user=_admin(request), pk=webhook_id)
    delivery = services.endpoint_send_test(actor=request.auth, endpoint=endpoint)
    return Status(202, selectors.delivery_get(user=request.auth, pk=delivery.pk))


@router.get("/webhooks/{int:webhook_id}/deliveries", response=list[DeliveryOut])
@paginate(LimitOffsetPagination)
def list_deliveries(request, webhook_id: int):
    endpoint = selectors.endpoint_get(user=request.auth, pk=webhook_id)
    return selectors.delivery_list(user=request.auth, endpoint=endpoint)


@router.post("/webhook-deliveries/{int:delivery_id}/replay", response={202: DeliveryOut})
def replay_delivery(request, delivery_id: int):
    delivery = selectors.delivery_get(user=_admin(request), pk=delivery_id)
    replay = services.delivery_replay(actor=request.auth, delivery=delivery)
    return Status(202, selectors.delivery_get(user=request.auth, pk=replay.pk))


@router.get("/webhook-events", response=list[EventOut])
def list_events(request):
    _admin(request)
    return [{"name": name, "description": str(description)} for name, description in selectors.event_choices()]
