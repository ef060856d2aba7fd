"""Reads of orders, always scoped to what the user may see (owner, team for managers, all for finance)."""
from __future__ import annotations

from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.core.validation import as_id

from .models import Milestone, Order, OrderLine, OrderStatus, Shipment, ShipmentLine

ORDER_ORDERING = {
    "number": ("number",),
    "ordered_on": ("ordered_on",),
    "account": ("account__name",),
    "gross_total": ("gross_total",),
    "status": ("status",),
}
ORDER_SEARCH = ("number", "account__name", "contract__number", "notes")


def _id_filter(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    pk = as_id(value)
    if pk is None:
        raise ValidationFailed.single(field, _("Give a numeric id."), "invalid")
    return pk


def order_list(*, user, status: str | None = None, account=None, contract=None, q: str | None = None,
               ordering: str | None = None):
    """The orders `user` may see, filtered and searched (an unknown status, id or ordering: 422)."""
    qs = Order.objects.restrict(user).select_related("account", "owner", "contract")
    if status:
        if status not in OrderStatus.values:
            raise ValidationFailed.single("status", _("Choose one of %(s)s.") % {"s": ", ".join(OrderStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status=status)
    account_id = _id_filter(account, "account")
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    contract_id = _id_filter(contract, "contract")
    if contract_id is not None:
        qs = qs.filter(contract_id=contract_id)
    qs = listing.search(qs, q, ORDER_SEARCH)
    return listing.order(qs, ordering, ORDER_ORDERING, "-ordered_on")


def order_get(*, user, pk) -> Order:
    order = (Order.objects.restrict(user).select_related("account", "owner", "contract", "split_from")
             .filter(pk=as_id(pk) if as_id(pk) is not None else 0).first())
    if order is None:
        raise NotFound(_("No order with id %(id)s.") % {"id": pk})
    return order


def order_lines(order: Order):
    """The lines with their product and milestones (one query each)."""
    return (order.lines.select_related("product")
            .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position", "id")))
            .order_by("position", "id"))


def order_shipments(order: Order):
    return (order.shipments.prefetch_related(
        Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line").order_by("id")))
        .order_by("shipped_on", "id"))


def orders_for_contract(*, user, contract_id: int):
    """The orders of a contract the user may see (for the contract page)."""
    return Order.objects.restrict(user).filter(contract_id=contract_id).order_by("id")


def order_history(order: Order, limit: int = 200):
    """Audit events of the order, its lines, shipments and milestones, newest first."""
    line_ids = [str(pk) for pk in OrderLine.objects.filter(order=order).values_list("pk", flat=True)]
    shipment_ids = [str(pk) for pk in Shipment.objects.filter(order=order).values_list("pk", flat=True)]
    milestone_ids = [str(pk) for pk in Milestone.objects.filter(order_line__order=order).values_list("pk", flat=True)]
    where = Q(object_type="orders.order", object_id=str(order.pk))
    where |= Q(object_type="orders.orderline", object_id__in=line_ids)
    where |= Q(object_type="orders.shipment", object_id__in=shipment_ids)
    where |= Q(object_type="orders.milestone", object_id__in=milestone_ids)
    return AuditEvent.objects.filter(where).order_by("-id")[:limit]
