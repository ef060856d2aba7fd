"""What each obligation has earned by a date, in bulk (the close asks for every obligation at once).

- ratable: the current schedule version's months, the month of the date prorated by its service days;
- at a point in time: the allocated price times the share of the obligation's quantity delivered by then
  (goods: shipments shipped on or before the date; one-time services: the day they were marked delivered);
  all of it once everything is delivered;
- on milestones: the allocated price times the shares (%) of the milestones completed by then; all of it once
  they reach 100 %.

An obligation that ended early (`ended_on`) earns nothing after its end: its schedule was cut when it ended.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum

from l2c.core.money import round_money

from . import engine
from .models import Method, ObligationLine, ScheduleLine

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def _share_of(allocated: Decimal, done: Decimal, whole: Decimal, currency: str) -> Decimal:
    if whole <= 0 or done >= whole:
        return allocated
    if done <= 0:
        return ZERO
    return round_money(allocated * done / whole, currency)


def delivered_quantities(contract_line_ids: list[int] | None, through: dt.date) -> dict[int, Decimal]:
    """{contract line id: quantity shipped or delivered on or before `through`} (cancelled order lines out);
    `contract_line_ids` None: every line (the close)."""
    from l2c.orders.models import OrderLine, ShipmentLine

    done: dict[int, Decimal] = defaultdict(lambda: ZERO)
    shipped = ShipmentLine.objects.filter(shipment__shipped_on__lte=through)
    delivered = OrderLine.objects.filter(delivered_on__lte=through, shipment_lines__isnull=True)
    if contract_line_ids is not None:
        shipped = shipped.filter(order_line__contract_line_id__in=contract_line_ids)
        delivered = delivered.filter(contract_line_id__in=contract_line_ids)
    shipped = (shipped.exclude(order_line__status="cancelled").values("order_line__contract_line_id")
               .annotate(q=Sum("quantity")))
    for row in shipped:
        done[row["order_line__contract_line_id"]] += row["q"] or ZERO
    delivered = (delivered.exclude(status="cancelled").values("contract_line_id").annotate(q=Sum("quantity")))
    for row in delivered:
        done[row["contract_line_id"]] += row["q"] or ZERO
    return done


def completed_shares(contract_line_ids: list[int] | None, through: dt.date) -> dict[int, Decimal]:
    """{contract line id: % of the line's milestones completed on or before `through`}, each order line's
    milestones weighted by its share of the contract line's quantity; `contract_line_ids` None: every line."""
    from l2c.orders.models import Milestone

    rows = Milestone.objects.filter(completed_on__lte=through)
    if contract_line_ids is not None:
        rows = rows.filter(order_line__contract_line_id__in=contract_line_ids)
    rows = (rows.exclude(order_line__status="cancelled")
            .values_list("order_line__contract_line_id", "order_line__quantity", "order_line__contract_line__quantity",
                         "share_percent"))
    done: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line_id, part, whole, share in rows:
        done[line_id] += share * (part / whole if whole else Decimal(1))
    return done


def earned_through(obligations: list, through: dt.date, versions: dict[int, int] | None = None, *,
                   ratable_totals: dict[int, Decimal] | None = None) -> dict[int, Decimal]:
    """{obligation id: cumulative amount earned by the end of `through`}.

    Each obligation needs `pk`, `revenue_contract_id`, `method`, `allocated_amount`, `start_date`,
    `end_date`, `ended_on` and `currency` (its contract's). Either `versions` maps each revenue contract id
    to its current schedule version id (any day), or — for a month end, all obligations at once (the
    close) — `ratable_totals` gives each ratable obligation's planned total through that month."""
    if not obligations:
        return {}
    every = ratable_totals is not None
    ids = None if every else [o.pk for o in obligations]
    links: dict[int, list[int]] = defaultdict(list)
    quantities: dict[int, Decimal] = {}
    line_rows = ObligationLine.objects.exclude(obligation__method=Method.RATABLE)
    if ids is not None:
        line_rows = line_rows.filter(obligation_id__in=ids)
    for obligation_id, line_id, quantity in line_rows.values_list("obligation_id", "contract_line_id",
                                                                  "contract_line__quantity"):
        links[obligation_id].append(line_id)
        quantities[line_id] = quantity
    plans: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
    ratable = [o for o in obligations if o.method == Method.RATABLE]
    if ratable and not every:
        for obligation_id, period, amount in ScheduleLine.objects.filter(
                obligation_id__in=[o.pk for o in ratable],
                version_id__in={versions[o.revenue_contract_id] for o in ratable},
                period__lte=engine.month_of(through)).values_list("obligation_id", "period", "amount"):
            plans[obligation_id][period] = amount
    others = None if every else [line for lines in links.values() for line in lines]
    delivered = delivered_quantities(others, through) if others is None or others else {}
    milestones = completed_shares(others, through) if others is None or others else {}
    earned: dict[int, Decimal] = {}
    for o in obligations:
        currency = o.currency
        if o.method == Method.RATABLE:
            if every:
                earned[o.pk] = ratable_totals.get(o.pk, ZERO)
            else:
                last = min(o.end_date, o.ended_on) if o.ended_on else o.end_date
                earned[o.pk] = engine.earned_ratably(plans[o.pk], o.start_date, last, through, currency)
            continue
        lines = links[o.pk]
        whole = sum((quantities[line] for line in lines), ZERO)
        if o.method == Method.MILESTONE:
            share = (sum((milestones.get(line, ZERO) * quantities[line] for line in lines), ZERO) / whole
                     if whole else ZERO)
            earned[o.pk] = _share_of(o.allocated_amount, share, HUNDRED, currency)
        else:
            done = sum((min(delivered.get(line, ZERO), quantities[line]) for line in lines), ZERO)
            earned[o.pk] = _share_of(o.allocated_amount, done, whole, currency)
    return earned
