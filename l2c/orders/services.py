"""Orders: creating them from signed contracts, splitting them into phases, fulfilling their lines
(ship goods, deliver services, complete milestones, activate and deactivate subscriptions) and cancelling.

Every function runs in one transaction, locks the order, checks the rules, writes its audit events and
publishes its domain events after commit. The order's status is recomputed from its lines after every change.

Rules that hold everywhere:
- across the orders of a contract (cancelled ones excepted) each contract line's quantity is ordered at most once;
- nothing is fulfilled beyond the ordered quantity; fulfilment dates lie not in the future;
- amounts reported as fulfilled (order.line_fulfilled) add up exactly to the line's amounts.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.money import round_money
from l2c.core.numbering import next_number
from l2c.core.validation import as_id
from l2c.core.visibility import Role

from .models import (
    DONE_LINE_STATUSES,
    LineKind,
    LineStatus,
    Milestone,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
)

FULFIL_ROLES = (Role.ADMIN, Role.MANAGER, Role.REP)  # who ships, delivers, activates, plans phases
CANCEL_ROLES = (Role.ADMIN, Role.MANAGER, Role.FINANCE)  # who may cancel an order
MAX_TEXT = 100  # carrier, tracking number
MAX_NAME = 200  # milestone name
MAX_REASON = 2000
MAX_MILESTONES = 50
QUANTUM = Decimal("0.0001")  # quantities carry 4 decimal places
HUNDRED = Decimal(100)


# --- helpers ------------------------------------------------------------------------------------------

def _has_role(user, roles) -> bool:
    return getattr(user, "is_superuser", False) or getattr(user, "role", None) in roles


def can_fulfil(user, order: Order) -> bool:
    return _has_role(user, FULFIL_ROLES) and order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FULFILLED)


def can_cancel(user, order: Order) -> bool:
    return _has_role(user, CANCEL_ROLES) and order.status == OrderStatus.OPEN and not _anything_fulfilled(order)


def _anything_fulfilled(order: Order) -> bool:
    return (order.lines.exclude(status__in=(LineStatus.PENDING, LineStatus.CANCELLED)).exists()
            or order.lines.filter(quantity_fulfilled__gt=0).exists() or order.shipments.exists())


def _lock_order(order: Order | int, actor, roles=FULFIL_ROLES) -> Order:
    """The order, locked, if `actor` may see it (404 otherwise) and holds one of `roles` (403 otherwise).
    actor=None is the system (event subscribers, tasks)."""
    pk = order.pk if isinstance(order, Order) else as_id(order)
    qs = Order.objects.all() if actor is None else Order.objects.restrict(actor)
    if pk is None or not qs.filter(pk=pk).exists():
        raise NotFound(_("No order with id %(id)s.") % {"id": getattr(order, "pk", order)})
    if actor is not None and not _has_role(actor, roles):
        raise PermissionDenied(_("Your role may not change orders this way."))
    return Order.objects.select_for_update().select_related("contract").get(pk=pk)


def _check_open(order: Order) -> None:
    if order.status not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FULFILLED):
        raise InvalidTransition(_("Order %(number)s is %(status)s: nothing more can be fulfilled.")
                                % {"number": order.number, "status": order.get_status_display().lower()},
                                code="order_closed")


def parse_quantity(value, field: str, errors: list[FieldError]) -> Decimal | None:
    """A positive quantity with at most 4 decimal places (a float is refused: quantities are exact)."""
    if value is None or value == "":
        errors.append(FieldError(field, _("Give a quantity."), "required"))
        return None
    if isinstance(value, float | bool):
        errors.append(FieldError(field, _("Give the quantity as a decimal string, e.g. \"3\" or \"2.5\"."),
                                 "invalid"))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.append(FieldError(field, _("%(value)r is not a number.") % {"value": str(value)[:40]}, "invalid"))
        return None
    if not number.is_finite():
        errors.append(FieldError(field, _("Give a finite number."), "invalid"))
        return None
    if number <= 0:
        errors.append(FieldError(field, _("The quantity must be more than zero."), "min_value"))
        return None
    if number.adjusted() >= 14 or number != number.quantize(QUANTUM):
        errors.append(FieldError(field, _("At most 4 decimal places and 14 digits before the point."), "invalid"))
        return None
    return number


def parse_day(value, field: str, errors: list[FieldError], *, default: dt.date | None = None,
              not_future: bool = True) -> dt.date | None:
    if value is None or value == "":
        if default is None:
            errors.append(FieldError(field, _("Give a date."), "required"))
        return default
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            errors.append(FieldError(field, _("Enter a date as YYYY-MM-DD."), "invalid"))
            return None
    if not isinstance(value, dt.date):
        errors.append(FieldError(field, _("Enter a date as YYYY-MM-DD."), "invalid"))
        return None
    if not_future and value > timezone.localdate():
        errors.append(FieldError(field, _("The date cannot be in the future (%(date)s).")
                                 % {"date": value.isoformat()}, "future"))
        return None
    return value


def _clean_text(value, field: str, limit: int, errors: list[FieldError]) -> str:
    text = " ".join(str(value or "").split())
    if len(text) > limit:
        errors.append(FieldError(field, _("At most %(n)d characters.") % {"n": limit}, "max_length"))
    return text


def _num(value: Decimal) -> str:
    """A quantity or percentage for a message: 2.5, 10, 90 (not 9E+1)."""
    return f"{value.normalize():f}"


def _portion(amount: Decimal, done: Decimal, part: Decimal, whole: Decimal, currency: str) -> Decimal:
    """The share `part/whole` of what is still unreported of `amount`; all of it when part is the whole,
    so the reported deltas of a line always add up to its amount."""
    rest = amount - done
    if part >= whole:
        return rest
    return round_money(rest * part / whole, currency)


def _advance_amounts(line: OrderLine, part: Decimal, whole: Decimal, currency: str) -> dict:
    """Move `part` of `whole` (still open) into the fulfilled amounts; return the deltas."""
    net = _portion(line.net_amount, line.net_fulfilled, part, whole, currency)
    tax = _portion(line.tax_amount, line.tax_fulfilled, part, whole, currency)
    gross = (line.gross_amount - line.gross_fulfilled) if part >= whole else net + tax
    line.net_fulfilled += net
    line.tax_fulfilled += tax
    line.gross_fulfilled += gross
    return {"net_amount": str(net), "tax_amount": str(tax), "gross_amount": str(gross)}


def _order_payload(order: Order) -> dict:
    return {"order_id": order.pk, "number": order.number, "contract_id": order.contract_id,
            "account_id": order.account_id, "owner_id": order.owner_id, "status": order.status,
            "currency": order.currency, "net_total": str(order.net_total), "tax_total": str(order.tax_total),
            "gross_total": str(order.gross_total), "ordered_on": order.ordered_on.isoformat(),
            "fulfilled_on": order.fulfilled_on.isoformat() if order.fulfilled_on else None}


def _line_fulfilled(order: Order, line: OrderLine, *, quantity: Decimal, on: dt.date, source: str,
                    amounts: dict, **extra) -> None:
    events.publish("order.line_fulfilled", {
        "order_id": order.pk, "order_number": order.number, "contract_id": order.contract_id,
        "account_id": order.account_id, "line_id": line.pk, "contract_line_id": line.contract_line_id,
        "product_id": line.product_id, "kind": line.kind, "source": source, "quantity": str(quantity),
        "quantity_fulfilled": str(line.quantity_fulfilled), "line_quantity": str(line.quantity),
        "line_status": line.status, "fulfilled_on": on.isoformat(), "currency": order.currency, **amounts, **extra,
    })


def _totals(order: Order) -> None:
    sums = order.lines.aggregate(net=Sum("net_amount"), tax=Sum("tax_amount"), gross=Sum("gross_amount"))
    order.net_total = Decimal(sums["net"] or 0).quantize(QUANTUM)
    order.tax_total = Decimal(sums["tax"] or 0).quantize(QUANTUM)
    order.gross_total = Decimal(sums["gross"] or 0).quantize(QUANTUM)


def status_from_lines(statuses: list[str], fulfilled_quantities: list[Decimal]) -> str:
    """open (nothing done), fulfilled (every line done: shipped, delivered, completed, activated or ended),
    else partially fulfilled. Cancelled lines do not count."""
    live = [(s, q) for s, q in zip(statuses, fulfilled_quantities, strict=True) if s != LineStatus.CANCELLED]
    if live and all(s in DONE_LINE_STATUSES for s, _q in live):
        return OrderStatus.FULFILLED
    if any(s != LineStatus.PENDING or q > 0 for s, q in live):
        return OrderStatus.PARTIALLY_FULFILLED
    return OrderStatus.OPEN


def _recompute(order: Order, *, actor, on: dt.date | None = None) -> Order:
    """Set the order's status from its lines; audit and announce a change."""
    if order.status == OrderStatus.CANCELLED:
        return order
    rows = list(order.lines.values_list("status", "quantity_fulfilled"))
    status = status_from_lines([r[0] for r in rows], [r[1] for r in rows])
    if status == order.status:
        return order
    before = order.status
    order.status = status
    order.status_changed_at = timezone.now()
    order.fulfilled_on = (on or timezone.localdate()) if status == OrderStatus.FULFILLED else None
    order.save(update_fields=["status", "status_changed_at", "fulfilled_on", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=order,
                 changes={"status": [before, status]})
    if status == OrderStatus.FULFILLED:
        events.publish("order.fulfilled", _order_payload(order))
    return order


def _line_of(order: Order, value, field: str, errors: list[FieldError]) -> OrderLine | None:
    pk = value.pk if isinstance(value, OrderLine) else as_id(value)
    line = None if pk is None else OrderLine.objects.select_for_update().filter(pk=pk, order=order).first()
    if line is None:
        errors.append(FieldError(field, _("Order %(number)s has no line %(id)s.")
                                 % {"number": order.number, "id": getattr(value, "pk", value)}, "not_found"))
    return line


# --- creating orders ----------------------------------------------------------------------------------

def _kind_of(product) -> str:
    return product.kind if product.kind in LineKind.values else LineKind.GOOD


def ordered_quantities(contract) -> dict[int, Decimal]:
    """Per contract line id: the quantity on the contract's orders (cancelled ones excepted)."""
    rows = (OrderLine.objects.filter(contract_line__contract=contract).exclude(order__status=OrderStatus.CANCELLED)
            .values("contract_line_id").annotate(total=Sum("quantity")))
    return {row["contract_line_id"]: row["total"] for row in rows}


def remaining_quantities(contract) -> dict[int, Decimal]:
    """Per contract line id: what may still be ordered (contract quantity − ordered), only lines with some left."""
    ordered = ordered_quantities(contract)
    left = {line.pk: line.quantity - ordered.get(line.pk, Decimal(0)) for line in contract.lines.all()}
    return {pk: qty for pk, qty in left.items() if qty > 0}


def _default_milestone(line: OrderLine) -> Milestone:
    return Milestone(order_line=line, position=1, name=(line.description or str(line.product))[:MAX_NAME],
                     share_percent=HUNDRED, due_date=line.service_end)


def order_create_from_contract(contract, actor=None, *, line_quantities: dict | None = None,
                               notes: str = "") -> Order:
    """The order of a signed contract.

    Without `line_quantities` (what the "contract.created" subscriber calls): idempotent — the contract's
    first order if it has one, else a new order for every contract line's full quantity.
    With `line_quantities` ({contract line or id: quantity}): a further order for quantities not yet ordered
    (e.g. after a cancellation), refused beyond what remains of each contract line.
    """
    from l2c.contracts.models import Contract

    with transaction.atomic():
        if actor is not None:
            if not Contract.objects.restrict(actor).filter(pk=contract.pk).exists():
                raise NotFound(_("No contract with id %(id)s.") % {"id": contract.pk})
            if not _has_role(actor, FULFIL_ROLES):
                raise PermissionDenied(_("Your role may not create orders."))
        # the contract's row serialises order creation: two deliveries of the event make one order
        contract = Contract.objects.select_for_update().get(pk=contract.pk)
        if line_quantities is None:
            existing = contract.orders.order_by("id").first()
            if existing is not None:
                return existing
        contract_lines = {line.pk: line for line in contract.lines.select_related("product")}
        remaining = remaining_quantities(contract)
        errors: list[FieldError] = []
        wanted: list[tuple] = []  # (contract line, quantity)
        if line_quantities is None:
            wanted = [(line, remaining[pk]) for pk, line in contract_lines.items() if pk in remaining]
        else:
            if not line_quantities:
                errors.append(FieldError("lines", _("Name at least one contract line and its quantity."),
                                         "required"))
            for index, (key, raw) in enumerate(line_quantities.items()):
                pk = key.pk if hasattr(key, "pk") else as_id(key)
                line = contract_lines.get(pk)
                if line is None:
                    errors.append(FieldError(f"lines.{index}.contract_line",
                                             _("Contract %(number)s has no line %(id)s.")
                                             % {"number": contract.number, "id": key}, "not_found"))
                    continue
                qty = parse_quantity(raw, f"lines.{index}.quantity", errors)
                if qty is not None and qty > remaining.get(pk, Decimal(0)):
                    errors.append(FieldError(
                        f"lines.{index}.quantity",
                        _("Only %(left)s of line %(position)s (%(description)s) remain to be ordered; "
                          "each contract line's quantity can be ordered once.")
                        % {"left": _num(remaining.get(pk, Decimal(0))), "position": line.position,
                           "description": line.description[:60]}, "over_ordered"))
                elif qty is not None:
                    wanted.append((line, qty))
        notes = (notes or "").strip()
        if errors:
            raise ValidationFailed(errors)
        if not wanted:
            raise InvalidTransition(_("Every line of contract %(number)s is already ordered.")
                                    % {"number": contract.number}, code="nothing_to_order")
        ordered_on = timezone.localtime(contract.signed_at).date() if contract.signed_at else timezone.localdate()
        if line_quantities is not None:
            ordered_on = timezone.localdate()
        order = Order.objects.create(
            number=next_number("ORD", ordered_on.year), contract=contract, account_id=contract.account_id,
            owner_id=contract.owner_id, currency=contract.currency, status=OrderStatus.OPEN,
            status_changed_at=timezone.now(), ordered_on=ordered_on, notes=notes,
            net_total=Decimal(0), tax_total=Decimal(0), gross_total=Decimal(0),
        )
        lines = []
        for position, (cline, qty) in enumerate(wanted, start=1):
            whole = qty >= cline.quantity
            lines.append(OrderLine(
                order=order, contract_line=cline, product_id=cline.product_id, kind=_kind_of(cline.product),
                position=position, description=cline.description, quantity=qty, unit=cline.unit,
                unit_price=cline.unit_price, tax_rate=cline.tax_rate,
                net_amount=cline.net_amount if whole else round_money(cline.net_amount * qty / cline.quantity,
                                                                      contract.currency),
                tax_amount=cline.tax_amount if whole else round_money(cline.tax_amount * qty / cline.quantity,
                                                                      contract.currency),
                gross_amount=Decimal(0), service_start=cline.service_start, service_end=cline.service_end,
            ))
            line = lines[-1]
            line.gross_amount = cline.gross_amount if whole else line.net_amount + line.tax_amount
        OrderLine.objects.bulk_create(lines)
        Milestone.objects.bulk_create([_default_milestone(line) for line in order.lines.filter(
            kind=LineKind.MILESTONE)])
        _totals(order)
        order.save(update_fields=["net_total", "tax_total", "gross_total"])
        audit.record(actor=actor, actor_label=None if actor else "system", action=audit.Action.CREATE,
                     instance=order)
        events.publish("order.created", {**_order_payload(order), "lines": len(lines)})
        return order


def on_contract_created(name: str, payload: dict) -> None:
    """Subscriber of "contract.created": the signed contract gets its order."""
    from l2c.contracts.models import Contract

    contract = Contract.objects.filter(pk=payload.get("contract_id")).first()
    if contract is not None:
        order_create_from_contract(contract, actor=None)


@transaction.atomic
def order_split(*, actor, order: Order, line_quantities: dict, notes: str = "") -> Order:
    """Move unfulfilled quantities into a new order of the same contract (a later delivery phase).

    `line_quantities`: {order line or id: quantity}. Goods may be split by quantity (up to what is not yet
    shipped); a service, milestone or subscription line moves whole and only while nothing of it is done.
    The original order keeps at least one line. Nothing is ordered twice: quantities move, they are not copied.
    """
    order = _lock_order(order, actor)
    _check_open(order)
    errors: list[FieldError] = []
    moves: list[tuple[OrderLine, Decimal]] = []
    if not line_quantities:
        errors.append(FieldError("lines", _("Name at least one line and the quantity to move."), "required"))
    seen: set[int] = set()
    for index, (key, raw) in enumerate((line_quantities or {}).items()):
        line = _line_of(order, key, f"lines.{index}.line", errors)
        qty = parse_quantity(raw, f"lines.{index}.quantity", errors)
        if line is None or qty is None:
            continue
        if line.pk in seen:
            errors.append(FieldError(f"lines.{index}.line", _("This line is named twice."), "duplicate"))
            continue
        seen.add(line.pk)
        if line.status not in (LineStatus.PENDING, LineStatus.PARTIALLY_FULFILLED) or (
                line.kind != LineKind.GOOD and line.status != LineStatus.PENDING):
            errors.append(FieldError(f"lines.{index}.line", _("Line %(position)s is %(status)s and cannot move.")
                                     % {"position": line.position, "status": line.get_status_display().lower()},
                                     "not_movable"))
        elif line.kind != LineKind.GOOD and qty != line.quantity:
            errors.append(FieldError(f"lines.{index}.quantity",
                                     _("A %(kind)s line moves whole: give its quantity %(quantity)s.")
                                     % {"kind": line.get_kind_display().lower(),
                                        "quantity": _num(line.quantity)}, "whole_line"))
        elif qty > line.quantity_open:
            errors.append(FieldError(f"lines.{index}.quantity",
                                     _("Only %(open)s of line %(position)s are not yet shipped.")
                                     % {"open": _num(line.quantity_open), "position": line.position},
                                     "over_quantity"))
        else:
            moves.append((line, qty))
    if errors:
        raise ValidationFailed(errors)
    whole_moves = {line.pk for line, qty in moves if qty == line.quantity}
    if not order.lines.exclude(pk__in=whole_moves).exclude(status=LineStatus.CANCELLED).exists():
        raise ValidationFailed.single("lines", _("Keep at least one line on this order (nothing would be left)."),
                                      "nothing_left")
    new = Order.objects.create(
        number=next_number("ORD", timezone.localdate().year), contract_id=order.contract_id,
        account_id=order.account_id, owner_id=order.owner_id, split_from=order, currency=order.currency,
        status=OrderStatus.OPEN, status_changed_at=timezone.now(), ordered_on=timezone.localdate(),
        notes=(notes or "").strip(), net_total=Decimal(0), tax_total=Decimal(0), gross_total=Decimal(0),
    )
    moved_summary = []
    for position, (line, qty) in enumerate(moves, start=1):
        before = audit.snapshot(line)
        if line.pk in whole_moves:
            line.order = new
            line.position = position
            line.save(update_fields=["order", "position"])
        else:
            open_qty = line.quantity_open
            net = _portion(line.net_amount, line.net_fulfilled, qty, open_qty, order.currency)
            tax = _portion(line.tax_amount, line.tax_fulfilled, qty, open_qty, order.currency)
            gross = (line.gross_amount - line.gross_fulfilled) if qty >= open_qty else net + tax
            OrderLine.objects.create(
                order=new, contract_line_id=line.contract_line_id, product_id=line.product_id, kind=line.kind,
                position=position, description=line.description, quantity=qty, unit=line.unit,
                unit_price=line.unit_price, tax_rate=line.tax_rate, net_amount=net, tax_amount=tax,
                gross_amount=gross, service_start=line.service_start, service_end=line.service_end,
            )
            line.quantity -= qty
            line.net_amount -= net
            line.tax_amount -= tax
            line.gross_amount -= gross
            if line.quantity_fulfilled >= line.quantity:
                line.status = LineStatus.FULFILLED
                line.delivered_on = line.delivered_on or _last_shipment_day(line)
            line.save(update_fields=["quantity", "net_amount", "tax_amount", "gross_amount", "status",
                                     "delivered_on"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=line, before=before)
        moved_summary.append(f"#{line.position} {_num(qty)}")
    for target in (order, new):
        _totals(target)
        target.save(update_fields=["net_total", "tax_total", "gross_total", "updated_at"])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=new)
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=order,
                 changes={"split_into": [None, new.number], "moved": [None, ", ".join(moved_summary)]})
    events.publish("order.created", {**_order_payload(new), "lines": len(moves), "split_from_id": order.pk})
    _recompute(order, actor=actor)
    _recompute(new, actor=actor)
    return new


def _last_shipment_day(line: OrderLine) -> dt.date | None:
    last = line.shipment_lines.select_related("shipment").order_by("-shipment__shipped_on").first()
    return last.shipment.shipped_on if last else None


# --- fulfilment ---------------------------------------------------------------------------------------

def _check_kind(line: OrderLine, kind: str, field: str, errors: list[FieldError]) -> bool:
    if line.kind == kind:
        return True
    hints = {LineKind.GOOD: _("ship it"), LineKind.SERVICE: _("mark it delivered"),
             LineKind.MILESTONE: _("complete its milestones"), LineKind.SUBSCRIPTION: _("activate it")}
    errors.append(FieldError(field, _("Line %(position)s is a %(kind)s line: %(hint)s instead.")
                             % {"position": line.position, "kind": line.get_kind_display().lower(),
                                "hint": hints[line.kind]}, "wrong_kind"))
    return False


@transaction.atomic
def shipment_create(*, actor, order: Order, lines: list, shipped_on=None, carrier: str = "",
                    tracking_number: str = "") -> Shipment:
    """Ship goods: `lines` is [(order line or id, quantity), ...]; partial quantities are fine, more than
    is still open is refused. Errors name `lines.<i>.line` / `lines.<i>.quantity`."""
    order = _lock_order(order, actor)
    _check_open(order)
    errors: list[FieldError] = []
    day = parse_day(shipped_on, "date", errors, default=timezone.localdate())
    carrier = _clean_text(carrier, "carrier", MAX_TEXT, errors)
    tracking_number = _clean_text(tracking_number, "tracking_number", MAX_TEXT, errors)
    if not lines:
        errors.append(FieldError("lines", _("Name at least one line and the quantity shipped."), "required"))
    wanted: list[tuple[OrderLine, Decimal]] = []
    seen: set[int] = set()
    for index, (key, raw) in enumerate(lines or []):
        line = _line_of(order, key, f"lines.{index}.line", errors)
        qty = parse_quantity(raw, f"lines.{index}.quantity", errors)
        if line is None or not _check_kind(line, LineKind.GOOD, f"lines.{index}.line", errors) or qty is None:
            continue
        if line.pk in seen:
            errors.append(FieldError(f"lines.{index}.line", _("This line is named twice."), "duplicate"))
            continue
        seen.add(line.pk)
        if line.status == LineStatus.CANCELLED:
            errors.append(FieldError(f"lines.{index}.line", _("This line is cancelled."), "cancelled"))
        elif qty > line.quantity_open:
            errors.append(FieldError(
                f"lines.{index}.quantity",
                _("Cannot ship %(qty)s of line %(position)s: %(ordered)s ordered, %(shipped)s already shipped, "
                  "at most %(open)s left.")
                % {"qty": _num(qty), "position": line.position, "ordered": _num(line.quantity),
                   "shipped": _num(line.quantity_fulfilled), "open": _num(line.quantity_open)},
                "over_shipped"))
        else:
            wanted.append((line, qty))
    if errors:
        raise ValidationFailed(errors)
    shipment = Shipment.objects.create(order=order, shipped_on=day, carrier=carrier, tracking_number=tracking_number)
    ShipmentLine.objects.bulk_create([ShipmentLine(shipment=shipment, order_line=line, quantity=qty)
                                      for line, qty in wanted])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=shipment,
                 changes={"order": [None, order.number], "shipped_on": [None, day.isoformat()],
                          "carrier": [None, carrier], "tracking_number": [None, tracking_number],
                          "lines": [None, {str(line.position): str(qty) for line, qty in wanted}]})
    for line, qty in wanted:
        before = audit.snapshot(line)
        amounts = _advance_amounts(line, qty, line.quantity_open, order.currency)
        line.quantity_fulfilled += qty
        if line.quantity_fulfilled >= line.quantity:
            line.status, line.delivered_on = LineStatus.FULFILLED, day
        else:
            line.status = LineStatus.PARTIALLY_FULFILLED
        line.save(update_fields=["quantity_fulfilled", "status", "delivered_on", "net_fulfilled", "tax_fulfilled",
                                 "gross_fulfilled"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=line, before=before)
        _line_fulfilled(order, line, quantity=qty, on=day, source="shipment", amounts=amounts,
                        shipment_id=shipment.pk, tracking_number=tracking_number, carrier=carrier)
    _recompute(order, actor=actor, on=day)
    return shipment


@transaction.atomic
def service_deliver(*, actor, line: OrderLine, delivered_on=None) -> OrderLine:
    """A one-time service was delivered (on `delivered_on`, default today): the line is fulfilled."""
    order = _lock_order(line.order_id, actor)
    _check_open(order)
    errors: list[FieldError] = []
    line = _line_of(order, line, "line", errors)
    day = parse_day(delivered_on, "date", errors, default=timezone.localdate())
    if line is not None and _check_kind(line, LineKind.SERVICE, "line", errors) and line.status != LineStatus.PENDING:
        errors.append(FieldError("line", _("Line %(position)s is already %(status)s.")
                                 % {"position": line.position, "status": line.get_status_display().lower()},
                                 "already_done"))
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(line)
    qty = line.quantity_open
    amounts = _advance_amounts(line, qty, qty, order.currency)
    line.quantity_fulfilled = line.quantity
    line.status, line.delivered_on = LineStatus.FULFILLED, day
    line.save(update_fields=["quantity_fulfilled", "status", "delivered_on", "net_fulfilled", "tax_fulfilled",
                             "gross_fulfilled"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line, before=before)
    _line_fulfilled(order, line, quantity=qty, on=day, source="delivery", amounts=amounts)
    _recompute(order, actor=actor, on=day)
    return line


@transaction.atomic
def milestones_set(*, actor, line: OrderLine, milestones: list[dict]) -> list[Milestone]:
    """Replace the milestones of a milestone line: [{"name", "share" (percent), "due_date"}, ...].
    The shares are positive and sum to exactly 100; only while none of them is completed."""
    order = _lock_order(line.order_id, actor)
    _check_open(order)
    errors: list[FieldError] = []
    line = _line_of(order, line, "line", errors)
    if line is not None and _check_kind(line, LineKind.MILESTONE, "line", errors):
        if line.milestones.filter(completed_on__isnull=False).exists():
            errors.append(FieldError("milestones", _("A milestone is already completed: the plan cannot change."),
                                     "locked"))
    if errors:
        raise ValidationFailed(errors)
    if not milestones:
        errors.append(FieldError("milestones", _("Give at least one milestone."), "required"))
    elif len(milestones) > MAX_MILESTONES:
        errors.append(FieldError("milestones", _("At most %(n)d milestones.") % {"n": MAX_MILESTONES}, "too_many"))
    rows: list[Milestone] = []
    total = Decimal(0)
    for index, item in enumerate(milestones or []):
        prefix = f"milestones.{index}"
        name = _clean_text(item.get("name"), f"{prefix}.name", MAX_NAME, errors)
        if not name:
            errors.append(FieldError(f"{prefix}.name", _("Give the milestone a name."), "required"))
        share = parse_quantity(item.get("share"), f"{prefix}.share", errors)
        if share is not None and share > HUNDRED:
            errors.append(FieldError(f"{prefix}.share", _("A share is at most 100 %."), "max_value"))
            share = None
        due = parse_day(item.get("due_date"), f"{prefix}.due_date", errors, not_future=False,
                        default=dt.date.min)
        rows.append(Milestone(order_line=line, position=index + 1, name=name, share_percent=share or Decimal(0),
                              due_date=None if due == dt.date.min else due))
        total += share or Decimal(0)
    if milestones and not errors and total != HUNDRED:
        errors.append(FieldError("milestones", _("The shares add up to %(total)s %%; they must add up to 100 %%.")
                                 % {"total": _num(total)}, "shares_not_100"))
    if errors:
        raise ValidationFailed(errors)
    before = [f"{m.name} {_num(m.share_percent)}%" for m in line.milestones.all()]
    line.milestones.all().delete()
    Milestone.objects.bulk_create(rows)
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=line,
                 changes={"milestones": [before, [f"{m.name} {_num(m.share_percent)}%" for m in rows]]})
    return list(line.milestones.all())


@transaction.atomic
def milestone_complete(*, actor, milestone: Milestone | int, completed_on=None) -> Milestone:
    """Complete one milestone (on `completed_on`, default today); the last one fulfils the line."""
    pk = milestone.pk if isinstance(milestone, Milestone) else as_id(milestone)
    found = Milestone.objects.filter(pk=pk).values_list("order_line__order_id", flat=True).first() if pk else None
    if found is None:
        raise NotFound(_("No milestone with id %(id)s.") % {"id": getattr(milestone, "pk", milestone)})
    order = _lock_order(found, actor)
    _check_open(order)
    errors: list[FieldError] = []
    milestone = Milestone.objects.select_for_update().select_related("order_line").get(pk=pk)
    day = parse_day(completed_on, "date", errors, default=timezone.localdate())
    if milestone.completed_on is not None:
        errors.append(FieldError("milestone", _("Milestone %(name)s was already completed on %(date)s.")
                                 % {"name": milestone.name, "date": milestone.completed_on.isoformat()},
                                 "already_completed"))
    if errors:
        raise ValidationFailed(errors)
    line = OrderLine.objects.select_for_update().get(pk=milestone.order_line_id)
    before_line = audit.snapshot(line)
    done_share = sum((m.share_percent for m in line.milestones.filter(completed_on__isnull=False)), Decimal(0))
    open_share = HUNDRED - done_share
    amounts = _advance_amounts(line, milestone.share_percent, open_share, order.currency)
    milestone.completed_on = day
    milestone.save(update_fields=["completed_on"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=milestone,
                 changes={"completed_on": [None, day.isoformat()], "share_percent": [None, milestone.share_percent]})
    last = not line.milestones.filter(completed_on__isnull=True).exists()
    before_qty = line.quantity_fulfilled
    if last:
        line.quantity_fulfilled = line.quantity
        line.status, line.delivered_on = LineStatus.FULFILLED, day
    else:
        line.quantity_fulfilled = (line.quantity * (done_share + milestone.share_percent) / HUNDRED).quantize(QUANTUM)
        line.status = LineStatus.PARTIALLY_FULFILLED
    line.save(update_fields=["quantity_fulfilled", "status", "delivered_on", "net_fulfilled", "tax_fulfilled",
                             "gross_fulfilled"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=line, before=before_line)
    _line_fulfilled(order, line, quantity=line.quantity_fulfilled - before_qty, on=day, source="milestone",
                    amounts=amounts, milestone_id=milestone.pk, milestone_name=milestone.name,
                    share_percent=str(milestone.share_percent))
    _recompute(order, actor=actor, on=day)
    return milestone


@transaction.atomic
def subscription_activate(*, actor, line: OrderLine, service_start=None) -> OrderLine:
    """Start a subscription line on `service_start` (default: the line's service start, else the contract's
    start): the line becomes active. The date may be in the future (a scheduled start)."""
    order = _lock_order(line.order_id, actor)
    _check_open(order)
    errors: list[FieldError] = []
    line = _line_of(order, line, "line", errors)
    if line is None or not _check_kind(line, LineKind.SUBSCRIPTION, "line", errors):
        raise ValidationFailed(errors)
    default = line.service_start or order.contract.start_date
    day = parse_day(service_start, "service_start", errors, default=default, not_future=False)
    end = line.service_end or order.contract.end_date
    if line.status != LineStatus.PENDING:
        errors.append(FieldError("line", _("Line %(position)s is already %(status)s.")
                                 % {"position": line.position, "status": line.get_status_display().lower()},
                                 "already_done"))
    elif day is not None and day > end:
        errors.append(FieldError("service_start", _("The service must start by its end, %(end)s.")
                                 % {"end": end.isoformat()}, "out_of_range"))
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(line)
    qty = line.quantity_open
    amounts = _advance_amounts(line, qty, qty, order.currency)
    line.quantity_fulfilled = line.quantity
    line.status, line.active_from, line.delivered_on = LineStatus.ACTIVE, day, day
    line.save(update_fields=["quantity_fulfilled", "status", "active_from", "delivered_on", "net_fulfilled",
                             "tax_fulfilled", "gross_fulfilled"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line, before=before)
    _line_fulfilled(order, line, quantity=qty, on=day, source="activation", amounts=amounts,
                    service_start=day.isoformat(), service_end=end.isoformat())
    _recompute(order, actor=actor, on=day)
    return line


@transaction.atomic
def subscription_deactivate(*, actor, line: OrderLine, date) -> OrderLine:
    """End an active subscription line on `date` (not before it started): the line is ended."""
    order = _lock_order(line.order_id, actor)
    errors: list[FieldError] = []
    line = _line_of(order, line, "line", errors)
    if line is None or not _check_kind(line, LineKind.SUBSCRIPTION, "line", errors):
        raise ValidationFailed(errors)
    day = parse_day(date, "date", errors, not_future=False)
    if line.status != LineStatus.ACTIVE:
        raise InvalidTransition(_("Line %(position)s is %(status)s; only an active subscription can be ended.")
                                % {"position": line.position, "status": line.get_status_display().lower()},
                                code="not_active")
    if day is not None and day < line.active_from:
        errors.append(FieldError("date", _("The subscription started on %(start)s; it cannot end before.")
                                 % {"start": line.active_from.isoformat()}, "out_of_range"))
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(line)
    line.status, line.active_until = LineStatus.ENDED, day
    line.save(update_fields=["status", "active_until"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line, before=before)
    events.publish("order.subscription_ended", {
        "order_id": order.pk, "order_number": order.number, "contract_id": order.contract_id, "line_id": line.pk,
        "contract_line_id": line.contract_line_id, "product_id": line.product_id,
        "active_from": line.active_from.isoformat(), "active_until": day.isoformat()})
    _recompute(order, actor=actor, on=day)
    return line


@transaction.atomic
def order_cancel(*, actor, order: Order, reason: str) -> Order:
    """Cancel an order nothing of which is fulfilled (no shipment, delivery, milestone or activation).
    Its quantities become orderable again. Admin, manager and finance."""
    order = _lock_order(order, actor, roles=CANCEL_ROLES)
    reason = (reason or "").strip()
    if order.status != OrderStatus.OPEN or _anything_fulfilled(order):
        raise InvalidTransition(_("Order %(number)s is %(status)s: only an order nothing of which is fulfilled "
                                  "can be cancelled.")
                                % {"number": order.number, "status": order.get_status_display().lower()},
                                code="not_cancellable")
    if not reason:
        raise ValidationFailed.single("reason", _("Give the reason for the cancellation."), "required")
    if len(reason) > MAX_REASON:
        raise ValidationFailed.single("reason", _("At most %(n)d characters.") % {"n": MAX_REASON}, "max_length")
    order.lines.update(status=LineStatus.CANCELLED)
    before = order.status
    order.status = OrderStatus.CANCELLED
    order.status_changed_at = timezone.now()
    order.cancelled_on = timezone.localdate()
    order.cancel_reason = reason
    order.save(update_fields=["status", "status_changed_at", "cancelled_on", "cancel_reason", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=order,
                 changes={"status": [before, order.status], "cancel_reason": [None, reason]})
    events.publish("order.cancelled", {**_order_payload(order), "reason": reason})
    return order


# --- the API's combined fulfilment request --------------------------------------------------------------

_INDEX = re.compile(r"^lines\.(\d+)")


def _prefixed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    return ValidationFailed([FieldError(f"{prefix}.{e.field}" if e.field not in (None, "__all__") else prefix,
                                        e.message, e.code) for e in exc.errors])


@transaction.atomic
def order_fulfil(*, actor, order: Order, lines: list[dict] | None = None, milestone=None, date=None,
                 activate: list[dict] | None = None, deactivate: list[dict] | None = None) -> Order:
    """One request that fulfils several things at once, all or nothing (POST /orders/{id}/fulfil).

    lines:      [{"line", "quantity", "date", "tracking_number", "carrier"}] — goods are shipped (lines that
                share date, carrier and tracking number make one shipment); a service line is delivered
                (quantity omitted or its full quantity)
    milestone:  a milestone id to complete, on `date`
    activate:   [{"line", "service_start"}] — subscriptions
    deactivate: [{"line", "date"}] — subscriptions
    """
    order = _lock_order(order, actor)
    if not (lines or milestone is not None or activate or deactivate):
        raise ValidationFailed.single("lines", _("Say what is fulfilled: lines, milestone, activate or deactivate."),
                                      "required")
    errors: list[FieldError] = []
    groups: dict[tuple, list[tuple[int, OrderLine, object]]] = defaultdict(list)
    services_done: list[tuple[int, OrderLine, object]] = []
    for index, item in enumerate(lines or []):
        line = _line_of(order, item.get("line"), f"lines.{index}.line", errors)
        if line is None:
            continue
        if line.kind == LineKind.GOOD:
            key = (str(item.get("date") or ""), (item.get("carrier") or "").strip(),
                   (item.get("tracking_number") or "").strip())
            groups[key].append((index, line, item.get("quantity")))
        elif line.kind == LineKind.SERVICE:
            qty = item.get("quantity")
            if qty not in (None, ""):
                parsed = parse_quantity(qty, f"lines.{index}.quantity", errors)
                if parsed is not None and parsed != line.quantity:
                    errors.append(FieldError(f"lines.{index}.quantity",
                                             _("A service is delivered whole: omit the quantity or give %(q)s.")
                                             % {"q": _num(line.quantity)}, "whole_line"))
            services_done.append((index, line, item.get("date")))
        else:
            _check_kind(line, LineKind.GOOD, f"lines.{index}.line", errors)
    if errors:
        raise ValidationFailed(errors)
    for (day, carrier, tracking), members in groups.items():
        try:
            shipment_create(actor=actor, order=order, lines=[(line, qty) for _i, line, qty in members],
                            shipped_on=day or None, carrier=carrier, tracking_number=tracking)
        except ValidationFailed as exc:
            first = members[0][0]
            fixed = []
            for e in exc.errors:
                match = _INDEX.match(e.field or "")
                if match:
                    fixed.append(FieldError(f"lines.{members[int(match.group(1))][0]}{e.field[match.end():]}",
                                            e.message, e.code))
                else:
                    fixed.append(FieldError(f"lines.{first}.{e.field}", e.message, e.code))
            raise ValidationFailed(fixed) from exc
    for index, line, day in services_done:
        try:
            service_deliver(actor=actor, line=line, delivered_on=day)
        except ValidationFailed as exc:
            raise _prefixed(exc, f"lines.{index}") from exc
    if milestone is not None:
        mpk = as_id(milestone)
        exists = mpk is not None and Milestone.objects.filter(pk=mpk, order_line__order=order).exists()
        if not exists:
            raise ValidationFailed.single("milestone", _("Order %(number)s has no milestone %(id)s.")
                                          % {"number": order.number, "id": milestone}, "not_found")
        milestone_complete(actor=actor, milestone=mpk, completed_on=date)
    for index, item in enumerate(activate or []):
        errs: list[FieldError] = []
        line = _line_of(order, item.get("line"), f"activate.{index}.line", errs)
        if errs:
            raise ValidationFailed(errs)
        try:
            subscription_activate(actor=actor, line=line, service_start=item.get("service_start"))
        except ValidationFailed as exc:
            raise _prefixed(exc, f"activate.{index}") from exc
    for index, item in enumerate(deactivate or []):
        errs = []
        line = _line_of(order, item.get("line"), f"deactivate.{index}.line", errs)
        if errs:
            raise ValidationFailed(errs)
        try:
            subscription_deactivate(actor=actor, line=line, date=item.get("date"))
        except ValidationFailed as exc:
            raise _prefixed(exc, f"deactivate.{index}") from exc
    order.refresh_from_db()
    return order
