"""Orders: what a signed contract asks us to deliver, and the record of delivering it.

A signed contract creates one Order whose lines copy the contract lines (quantities, prices, service period).
Phased deliveries split unfulfilled quantities off into further orders of the same contract; across all the
orders of a contract (cancelled ones excepted) each contract line's quantity is ordered at most once.

Fulfilment depends on the product kind: goods are shipped (Shipment with ShipmentLines, partial quantities),
one-time services are delivered on a date, milestone services complete their Milestones one by one (shares of
the line summing to 100 %), subscriptions are activated from a service start date (and later deactivated).
Each line carries its own status; the order's status follows its lines. Only `l2c.orders.services` writes here.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

AMOUNT = {"max_digits": 20, "decimal_places": 4}
PERCENT = {"max_digits": 7, "decimal_places": 4}
QUANTITY = {"max_digits": 18, "decimal_places": 4}


class OrderStatus(models.TextChoices):
    OPEN = "open", _("Open")  # nothing fulfilled yet
    PARTIALLY_FULFILLED = "partially_fulfilled", _("Partially fulfilled")  # some lines (or parts) fulfilled
    FULFILLED = "fulfilled", _("Fulfilled")  # every line fulfilled (subscriptions: activated)
    CANCELLED = "cancelled", _("Cancelled")  # cancelled before anything was fulfilled


class LineKind(models.TextChoices):
    """How a line is fulfilled: the product's kind when the order was made."""

    GOOD = "good", _("Goods: shipped")
    SERVICE = "service", _("Service: delivered")
    SUBSCRIPTION = "subscription", _("Subscription: activated")
    MILESTONE = "milestone", _("Milestones: completed")


class LineStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # nothing done yet
    PARTIALLY_FULFILLED = "partially_fulfilled", _("Partially fulfilled")  # part shipped / some milestones done
    FULFILLED = "fulfilled", _("Fulfilled")  # all shipped, delivered, or every milestone completed
    ACTIVE = "active", _("Active")  # subscription running since active_from
    ENDED = "ended", _("Ended")  # subscription deactivated on active_until
    CANCELLED = "cancelled", _("Cancelled")  # the order was cancelled


# Line statuses that count as delivered for the order's status.
DONE_LINE_STATUSES = (LineStatus.FULFILLED, LineStatus.ACTIVE, LineStatus.ENDED)


class OrderQuerySet(VisibleQuerySet):
    owner_field = "owner"
    finance_visible = True  # finance invoices every order


class Order(TimeStampedModel):
    """One delivery commitment of a signed contract (the whole contract, or one phase of it)."""

    number = models.CharField(_("number"), max_length=30, unique=True)  # ORD-2026-000012
    contract = models.ForeignKey("contracts.Contract", verbose_name=_("contract"), on_delete=models.PROTECT,
                                 related_name="orders")
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="orders")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="orders")
    split_from = models.ForeignKey("self", verbose_name=_("split from"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="splits")
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.OPEN)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    ordered_on = models.DateField(_("ordered on"))
    fulfilled_on = models.DateField(_("fulfilled on"), null=True, blank=True)
    cancelled_on = models.DateField(_("cancelled on"), null=True, blank=True)
    cancel_reason = models.TextField(_("cancellation reason"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    net_total = models.DecimalField(_("net total"), **AMOUNT)
    tax_total = models.DecimalField(_("tax"), **AMOUNT)
    gross_total = models.DecimalField(_("total"), **AMOUNT)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-ordered_on", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [models.Index(fields=["owner", "status"]), models.Index(fields=["status", "ordered_on"])]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """A contract line (or the part of it in this order), with how much of it has been fulfilled."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    contract_line = models.ForeignKey("contracts.ContractLine", verbose_name=_("contract line"),
                                      on_delete=models.PROTECT, related_name="order_lines")
    product = models.ForeignKey("quoting.Product", verbose_name=_("product"), on_delete=models.PROTECT,
                                related_name="+")
    kind = models.CharField(_("type"), max_length=20, choices=LineKind.choices)
    position = models.PositiveIntegerField(_("position"), default=0)
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    quantity_fulfilled = models.DecimalField(_("quantity fulfilled"), default=0, **QUANTITY)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    tax_rate = models.DecimalField(_("tax rate"), **PERCENT)
    net_amount = models.DecimalField(_("net"), **AMOUNT)
    tax_amount = models.DecimalField(_("tax"), **AMOUNT)
    gross_amount = models.DecimalField(_("gross"), **AMOUNT)
    # the part of the amounts already reported as fulfilled (order.line_fulfilled events): billing "on
    # fulfilment" invoices exactly these deltas, and they add up to the line's amounts once it is fulfilled
    net_fulfilled = models.DecimalField(_("net fulfilled"), default=0, **AMOUNT)
    tax_fulfilled = models.DecimalField(_("tax fulfilled"), default=0, **AMOUNT)
    gross_fulfilled = models.DecimalField(_("gross fulfilled"), default=0, **AMOUNT)
    service_start = models.DateField(_("service start"), null=True, blank=True)
    service_end = models.DateField(_("service end"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=LineStatus.choices, default=LineStatus.PENDING)
    delivered_on = models.DateField(_("delivered on"), null=True, blank=True)  # fully fulfilled on
    active_from = models.DateField(_("active from"), null=True, blank=True)  # subscriptions
    active_until = models.DateField(_("active until"), null=True, blank=True)  # subscriptions, when ended

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.CheckConstraint(condition=Q(quantity_fulfilled__gte=0)
                                   & Q(quantity_fulfilled__lte=models.F("quantity")),
                                   name="order_line_fulfilled_within_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number if self.order_id else '?'} #{self.position}"

    @property
    def quantity_open(self):
        return self.quantity - self.quantity_fulfilled


class Shipment(TimeStampedModel):
    """Goods that left on one date with one carrier and tracking number."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    shipped_on = models.DateField(_("shipped on"))
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)

    class Meta:
        ordering = ["shipped_on", "id"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")

    def __str__(self) -> str:
        return f"{self.order.number if self.order_id else '?'} / {self.tracking_number or self.pk}"


class ShipmentLine(models.Model):
    """How much of one order line went in a shipment."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.DecimalField(_("quantity"), **QUANTITY)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipment_line_quantity_positive"),
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.quantity} of {self.order_line_id}"


class Milestone(models.Model):
    """One milestone of a milestone-service line: its share of the line, due date and completion."""

    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=200)
    share_percent = models.DecimalField(_("share (%)"), **PERCENT)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    completed_on = models.DateField(_("completed on"), null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        constraints = [
            models.CheckConstraint(condition=Q(share_percent__gt=0) & Q(share_percent__lte=100),
                                   name="milestone_share_0_to_100"),
        ]

    def __str__(self) -> str:
        return self.name
