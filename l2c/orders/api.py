"""API routes of the orders app: /orders (list, read, shipments, history) and the actions fulfil, cancel,
split, and the milestone plan of a line."""

import datetime as dt
from typing import Annotated, Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import BeforeValidator

from l2c.core import listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import NotFound, ValidationFailed
from l2c.customers.api import AccountRef, AuditEventOut, StrictSchema, UserRef

from . import selectors, services
from .models import OrderStatus

router = Router(tags=["orders"])

OrderOrdering = Literal[tuple(listing.ordering_choices(selectors.ORDER_ORDERING))]  # type: ignore[valid-type]


def _int_as_text(value):
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# a decimal as a string ("2.5") or an integer; a JSON float (2.5) is refused: quantities are exact
Quantity = Annotated[str, BeforeValidator(_int_as_text), Field(max_length=40)]


def _s(value) -> str | None:
    return None if value is None else str(value)


class MilestoneOut(Schema):
    id: int
    position: int
    name: str
    share_percent: str
    due_date: dt.date | None
    completed_on: dt.date | None

    @staticmethod
    def resolve_share_percent(obj) -> str:
        return str(obj.share_percent)


class OrderLineOut(Schema):
    id: int
    position: int
    contract_line_id: int
    product_id: int
    sku: str
    kind: str
    description: str
    quantity: str
    quantity_fulfilled: str
    quantity_open: str
    unit: str
    unit_price: str
    tax_rate: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    net_fulfilled: str
    tax_fulfilled: str
    gross_fulfilled: str
    service_start: dt.date | None
    service_end: dt.date | None
    status: str
    delivered_on: dt.date | None
    active_from: dt.date | None
    active_until: dt.date | None
    milestones: list[MilestoneOut]

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.product.sku

    @staticmethod
    def resolve_milestones(obj) -> list:
        return list(obj.milestones.all())

    @staticmethod
    def resolve_quantity(obj) -> str:
        return str(obj.quantity)

    @staticmethod
    def resolve_quantity_fulfilled(obj) -> str:
        return str(obj.quantity_fulfilled)

    @staticmethod
    def resolve_quantity_open(obj) -> str:
        return str(obj.quantity_open)

    @staticmethod
    def resolve_unit_price(obj) -> str:
        return str(obj.unit_price)

    @staticmethod
    def resolve_tax_rate(obj) -> str:
        return str(obj.tax_rate)

    @staticmethod
    def resolve_net_amount(obj) -> str:
        return str(obj.net_amount)

    @staticmethod
    def resolve_tax_amount(obj) -> str:
        return str(obj.tax_amount)

    @staticmethod
    def resolve_gross_amount(obj) -> str:
        return str(obj.gross_amount)

    @staticmethod
    def resolve_net_fulfilled(obj) -> str:
        return str(obj.net_fulfilled)

    @staticmethod
    def resolve_tax_fulfilled(obj) -> str:
        return str(obj.tax_fulfilled)

    @staticmethod
    def resolve_gross_fulfilled(obj) -> str:
        return str(obj.gross_fulfilled)


class ShipmentLineOut(Schema):
    line: int
    position: int
    quantity: str

    @staticmethod
    def resolve_line(obj) -> int:
        return obj.order_line_id

    @staticmethod
    def resolve_position(obj) -> int:
        return obj.order_line.position

    @staticmethod
    def resolve_quantity(obj) -> str:
        return str(obj.quantity)


class ShipmentOut(Schema):
    id: int
    shipped_on: dt.date
    carrier: str
    tracking_number: str
    lines: list[ShipmentLineOut]
    created_at: dt.datetime

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(obj.lines.all())


class OrderOut(Schema):
    id: int
    number: str
    status: str
    contract_id: int
    contract_number: str
    account: AccountRef
    owner: UserRef | None
    split_from_id: int | None
    currency: str
    ordered_on: dt.date
    fulfilled_on: dt.date | None
    cancelled_on: dt.date | None
    cancel_reason: str
    notes: str
    net_total: str
    tax_total: str
    gross_total: str
    status_changed_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_contract_number(obj) -> str:
        return obj.contract.number

    @staticmethod
    def resolve_net_total(obj) -> str:
        return str(obj.net_total)

    @staticmethod
    def resolve_tax_total(obj) -> str:
        return str(obj.tax_total)

    @staticmethod
    def resolve_gross_total(obj) -> str:
        return str(obj.gross_total)


class OrderLinks(Schema):
    self: str
    contract: str
    shipments: str
    fulfil: str
    cancel: str


class OrderDetailOut(OrderOut):
    lines: list[OrderLineOut]
    shipments: list[ShipmentOut]
    links: OrderLinks

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(selectors.order_lines(obj))

    @staticmethod
    def resolve_shipments(obj) -> list:
        return list(selectors.order_shipments(obj))

    @staticmethod
    def resolve_links(obj) -> dict:
        base = f"/api/v1/orders/{obj.pk}"
        return {"self": base, "contract": f"/api/v1/contracts/{obj.contract_id}", "shipments": f"{base}/shipments",
                "fulfil": f"{base}/fulfil", "cancel": f"{base}/cancel"}


class OrderFilters(Schema):
    status: OrderStatus | None = None
    account: RecordId | None = None
    contract: RecordId | None = None
    q: str | None = Field(None, max_length=200, description="Search number, customer, contract, notes")
    ordering: OrderOrdering | None = None


class FulfilLineIn(StrictSchema):
    line: RecordId = Field(..., description="Order line id")
    quantity: Quantity | None = Field(None, description="Goods: the quantity shipped (required). Services: omit "
                                                        "(or give the line's full quantity)")
    date: dt.date | None = Field(None, description="Shipped or delivered on (default today; not in the future)")
    tracking_number: str = Field("", max_length=services.MAX_TEXT)
    carrier: str = Field("", max_length=services.MAX_TEXT)


class ActivateIn(StrictSchema):
    line: RecordId = Field(..., description="Subscription order line id")
    service_start: dt.date | None = Field(None, description="Default: the line's service start, else the "
                                                            "contract's start")


class DeactivateIn(StrictSchema):
    line: RecordId = Field(..., description="Active subscription order line id")
    date: dt.date = Field(..., description="The last day of the service")


class FulfilIn(StrictSchema):
    """Name what was fulfilled; everything in one request succeeds or fails together."""

    lines: list[FulfilLineIn] | None = Field(None, max_length=500,
                                             description="Goods shipped (lines with the same date, carrier and "
                                                         "tracking number make one shipment) and services delivered")
    milestone: RecordId | None = Field(None, description="A milestone id to complete")
    date: dt.date | None = Field(None, description="The milestone's completion date (default today)")
    activate: list[ActivateIn] | None = Field(None, max_length=500, description="Subscriptions to activate")
    deactivate: list[DeactivateIn] | None = Field(None, max_length=500, description="Subscriptions to end")


class CancelIn(StrictSchema):
    reason: str = Field(..., max_length=services.MAX_REASON)


class SplitLineIn(StrictSchema):
    line: RecordId = Field(..., description="Order line id")
    quantity: Quantity = Field(..., description="Quantity to move to the new order")


class SplitIn(StrictSchema):
    lines: list[SplitLineIn] = Field(..., max_length=500)
    notes: str = Field("", max_length=2000)


class MilestoneIn(StrictSchema):
    name: str = Field(..., max_length=services.MAX_NAME)
    share: Quantity = Field(..., description="Percent of the line, e.g. \"30\"; the shares sum to 100")
    due_date: dt.date | None = None


class MilestonesIn(StrictSchema):
    milestones: list[MilestoneIn] = Field(..., max_length=services.MAX_MILESTONES)


@router.get("/orders", response=list[OrderOut])
@paginate(LimitOffsetPagination)
def list_orders(request, filters: Query[OrderFilters]):
    values = filters.dict()
    if values.get("status") is not None:
        values["status"] = OrderStatus(values["status"]).value
    return selectors.order_list(user=request.auth, **values)


@router.get("/orders/{int:order_id}", response=OrderDetailOut)
def get_order(request, order_id: int):
    return selectors.order_get(user=request.auth, pk=order_id)


@router.get("/orders/{int:order_id}/shipments", response=list[ShipmentOut])
def list_shipments(request, order_id: int):
    return list(selectors.order_shipments(selectors.order_get(user=request.auth, pk=order_id)))


@router.get("/orders/{int:order_id}/history", response=list[AuditEventOut])
def order_history(request, order_id: int):
    return list(selectors.order_history(selectors.order_get(user=request.auth, pk=order_id)))


@router.post("/orders/{int:order_id}/fulfil", response=OrderDetailOut)
def fulfil_order(request, order_id: int, data: FulfilIn):
    order = selectors.order_get(user=request.auth, pk=order_id)
    body = data.dict()
    services.order_fulfil(actor=request.auth, order=order, lines=body["lines"], milestone=body["milestone"],
                          date=body["date"], activate=body["activate"], deactivate=body["deactivate"])
    return selectors.order_get(user=request.auth, pk=order_id)


@router.post("/orders/{int:order_id}/cancel", response=OrderDetailOut)
def cancel_order(request, order_id: int, data: CancelIn):
    order = selectors.order_get(user=request.auth, pk=order_id)
    services.order_cancel(actor=request.auth, order=order, reason=data.reason)
    return selectors.order_get(user=request.auth, pk=order_id)


@router.post("/orders/{int:order_id}/split", response={201: OrderDetailOut})
def split_order(request, order_id: int, data: SplitIn):
    order = selectors.order_get(user=request.auth, pk=order_id)
    moves: dict = {}
    for index, item in enumerate(data.lines):
        if item.line in moves:
            raise ValidationFailed.single(f"lines.{index}.line", _("This line is named twice."), "duplicate")
        moves[item.line] = item.quantity
    new = services.order_split(actor=request.auth, order=order, line_quantities=moves, notes=data.notes)
    return Status(201, selectors.order_get(user=request.auth, pk=new.pk))


@router.put("/orders/{int:order_id}/lines/{int:line_id}/milestones", response=list[MilestoneOut])
def set_milestones(request, order_id: int, line_id: int, data: MilestonesIn):
    order = selectors.order_get(user=request.auth, pk=order_id)
    line = order.lines.filter(pk=line_id).first()
    if line is None:
        raise NotFound(_("Order %(number)s has no line %(id)s.") % {"number": order.number, "id": line_id})
    return services.milestones_set(actor=request.auth, line=line,
                                   milestones=[m.dict() for m in data.milestones])
