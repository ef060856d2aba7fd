"""The arithmetic of revenue: how an obligation is satisfied, standalone selling prices, the allocation of a
price by relative SSP, and schedules (daily proration over months).

Pure functions over Decimals; `revenue.services` stores what they compute. Every amount is rounded with
`core.money.round_money` and every split hands its rounding residue to one part, so parts always add up to
the whole exactly.
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from l2c.core.money import round_money

from .models import Method

ZERO = Decimal(0)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_month(day: dt.date) -> dt.date:
    return (month_end(day) + dt.timedelta(days=1)).replace(day=1)


def method_for(product_kind: str, *, has_service_period: bool = False) -> str:
    """How an obligation of this product kind is satisfied: subscriptions ratably over their service period,
    milestone services on their milestones, goods at delivery; a one-time service sold with a service period
    (e.g. 12 months of support) ratably, otherwise at delivery."""
    if product_kind == "subscription":
        return Method.RATABLE
    if product_kind == "milestone":
        return Method.MILESTONE
    if product_kind == "service" and has_service_period:
        return Method.RATABLE
    return Method.POINT_IN_TIME


def allocate(price: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """`price` in parts proportional to `weights` (relative SSP), each rounded to the currency; the rounding
    residue goes to the part with the largest weight (the first of equals), so the parts sum to `price`."""
    if not weights:
        return []
    total = sum(weights, ZERO)
    if total <= 0:
        weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
    parts = [round_money(price * weight / total, currency) for weight in weights]
    largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    parts[largest] += price - sum(parts, ZERO)
    return parts


def days_by_month(start: dt.date, end: dt.date) -> list[tuple[dt.date, int]]:
    """[(first day of month, days of [start, end] in that month)] for the inclusive range."""
    result = []
    day = start
    while day <= end:
        last = min(month_end(day), end)
        result.append((month_of(day), (last - day).days + 1))
        day = last + dt.timedelta(days=1)
    return result


def spread_daily(amount: Decimal, start: dt.date, end: dt.date, currency: str) -> dict[dt.date, Decimal]:
    """`amount` over the days from `start` to `end` (inclusive), summed per month: a service from 15 January
    to 14 April gives January 17 days, February 28 (or 29), March 31 and April 14. Each month is rounded;
    the last month takes the residue so the months add up to `amount`. No month goes past what is left: a few
    cents over many months (0.08 over a year rounds to 0.01 a month) fill the first months and leave the
    others at 0.00, rather than planning 0.11 by November and −0.03 in December."""
    if end < start:
        return {month_of(start): amount} if amount else {}
    months = days_by_month(start, end)
    total_days = sum(days for _month, days in months)
    result: dict[dt.date, Decimal] = {}
    given = ZERO
    for index, (month, days) in enumerate(months):
        left = amount - given
        if index == len(months) - 1:
            part = left
        else:
            part = round_money(amount * days / total_days, currency)
            if (part > left) if amount >= 0 else (part < left):
                part = left
        given += part
        result[month] = part
    return result


def earned_ratably(plan: dict[dt.date, Decimal], start: dt.date, end: dt.date, through: dt.date,
                   currency: str) -> Decimal:
    """What a ratable plan has earned by the end of `through`: the months before `through`'s month in full,
    and that month's planned amount prorated by its service days up to `through`."""
    if through < start:
        return ZERO
    earned = sum((amount for month, amount in plan.items() if month < month_of(through)), ZERO)
    current = plan.get(month_of(through), ZERO)
    if current:
        first = max(start, month_of(through))
        last = min(end, month_end(through))
        served = (min(through, last) - first).days + 1
        whole = (last - first).days + 1
        if served >= whole:
            earned += current
        elif served > 0:
            earned += round_money(current * served / whole, currency)
    return earned


def merge(*plans: dict[dt.date, Decimal]) -> dict[dt.date, Decimal]:
    total: dict[dt.date, Decimal] = defaultdict(lambda: ZERO)
    for plan in plans:
        for month, amount in plan.items():
            total[month] += amount
    return {month: amount for month, amount in sorted(total.items())}


def split_plan(plan: dict[dt.date, Decimal], start: dt.date, end: dt.date, cut: dt.date,
               currency: str) -> dict[dt.date, Decimal]:
    """The part of a ratable plan earned before `cut` (a modification's effective day), month by month,
    with the month of `cut` prorated by its days before `cut`."""
    before = cut - dt.timedelta(days=1)
    kept = {month: amount for month, amount in plan.items() if month < month_of(cut)}
    partial = earned_ratably({month_of(cut): plan.get(month_of(cut), ZERO)}, start, end, before, currency) \
        if month_of(cut) in plan and before >= month_of(cut) else ZERO
    if partial:
        kept[month_of(cut)] = partial
    return kept
