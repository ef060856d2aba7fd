"""API routes of lead capture at volume: POST /leads/bulk (up to 1,000 leads per call).

Single `POST /leads` lives in l2c/leads/api.py (it records a Touch of kind "api" too).
"""

from typing import Any, Literal

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import ValidationError as PydanticValidationError

from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.validation import as_id
from l2c.customers.api import StrictSchema
from l2c.identity.models import User

from ..api import _NULL_AS_EMPTY, LeadIn
from ..choices import TouchKind
from ..models import Campaign
from . import services
from .ratelimit import client_ip

router = Router(tags=["leads: capture"])

MAX_BULK = 1000


class BulkIn(StrictSchema):
    leads: list[Any] = Field(..., description=f"1 to {MAX_BULK} lead objects, each like the body of POST /leads")
    on_duplicate: Literal["skip", "update", "create"] = Field(
        "skip", description="A lead whose e-mail (email_key) or phone matches an existing lead or an earlier item: "
                            "skip it, update the existing lead with the fields sent, or create it anyway")


class BulkItemOut(Schema):
    index: int
    status: Literal["created", "updated", "duplicate", "error"]
    id: int | None = Field(None, description="The new lead, or the existing lead it duplicates (if you may see it)")
    duplicate_of_index: int | None = None
    errors: list[dict] | None = None


class BulkCounts(Schema):
    created: int
    updated: int
    duplicate: int
    error: int


class BulkOut(Schema):
    counts: BulkCounts
    results: list[BulkItemOut]


def _parse_items(raw_items: list) -> list[services.BulkItem]:
    """Each item through LeadIn (types, lengths, unknown fields), owner and campaign ids resolved in two
    queries for the whole batch; problems stay with their item."""
    from l2c.api import _datetimes_in_utc  # what every other operation does to its input's date-times

    items: list[services.BulkItem] = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            items.append(services.BulkItem(None, [FieldError("body", _("Each lead must be a JSON object."),
                                                              "invalid_type")]))
            continue
        try:
            parsed = LeadIn.model_validate(raw)
            _datetimes_in_utc(parsed)
        except ValidationFailed as exc:
            items.append(services.BulkItem(None, list(exc.errors)))
            continue
        except PydanticValidationError as exc:
            items.append(services.BulkItem(None, [
                FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"], err["type"])
                for err in exc.errors()]))
            continue
        values = parsed.model_dump(exclude_unset=True)
        for name in _NULL_AS_EMPTY & set(values):
            if values[name] is None:
                values[name] = ""
        items.append(services.BulkItem(values, [], set(values)))
    return items


def _resolve_refs(request, items: list[services.BulkItem]) -> None:
    owner_ids = {as_id(i.values["owner"]) for i in items if i.values and i.values.get("owner") is not None}
    campaign_ids = {as_id(i.values["campaign"]) for i in items if i.values and i.values.get("campaign") is not None}
    owners = {u.pk: u for u in User.objects.filter(pk__in=owner_ids - {None})} if owner_ids else {}
    campaigns = ({c.pk: c for c in Campaign.objects.restrict(request.auth).filter(pk__in=campaign_ids - {None})}
                 if campaign_ids else {})
    for item in items:
        if item.values is None:
            continue
        if "owner" in item.values and item.values["owner"] is not None:
            owner = owners.get(as_id(item.values["owner"]))
            if owner is None:
                item.errors.append(FieldError("owner", _("No user with id %(id)s.") % {"id": item.values["owner"]},
                                              "not_found"))
            item.values["owner"] = owner
        if item.values.get("campaign") is not None:
            campaign = campaigns.get(as_id(item.values["campaign"]))
            if campaign is None:
                item.errors.append(FieldError("campaign", _("No campaign with id %(id)s.")
                                              % {"id": item.values["campaign"]}, "not_found"))
            item.values["campaign"] = campaign
        if item.errors:
            item.values = None


@router.post("/leads/bulk", response={200: BulkOut, 201: BulkOut})
def bulk_create_leads(request, data: BulkIn):
    """Create up to 1,000 leads in one call. Every item is validated; the valid ones are written in one
    transaction (with a Touch of kind "api" each and their audit events); the answer lists each item's
    outcome by index. 201 when at least one lead was created, else 200. Send `Idempotency-Key` to make a
    retry safe."""
    if len(data.leads) > MAX_BULK:
        raise ValidationFailed.single("leads", _("At most %(max)s leads per call; this one has %(count)s. Split the "
                                                 "batch.") % {"max": f"{MAX_BULK:,}", "count": f"{len(data.leads):,}"},
                                      "too_many_items")
    if not data.leads:
        raise ValidationFailed.single("leads", _("Send at least one lead."), "required")
    items = _parse_items(data.leads)
    _resolve_refs(request, items)
    touch = {"kind": TouchKind.API, "ip": client_ip(request) or None,
             "user_agent": request.headers.get("User-Agent", "")[:300]}
    results = services.leads_bulk_capture(actor=request.auth, items=items, on_duplicate=data.on_duplicate,
                                          touch=touch)
    counts = {"created": 0, "updated": 0, "duplicate": 0, "error": 0}
    for result in results:
        counts[result["status"]] += 1
    return Status(201 if counts["created"] else 200, {"counts": counts, "results": results})
