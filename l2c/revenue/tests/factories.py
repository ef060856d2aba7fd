"""Builders for revenue tests: a signed contract with products of given kinds, SSPs and service dates."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Sum

from l2c.billing.tests.factories import make_contract

D = Decimal


def bundle_contract(*, lines, start=dt.date(2026, 1, 15), currency="USD", end=None, account=None):
    """`lines`: [(kind, quantity, unit price, SSP per unit or None, (service start, service end) or None)]."""
    from l2c.quoting.models import StandaloneSellingPrice

    contract = make_contract(currency=currency, start=start, account=account,
                             lines=[(str(q), str(price), "0") for _kind, q, price, _ssp, _period in lines])
    if end is not None:
        contract.end_date = end
        contract.save(update_fields=["end_date"])
    for line, (kind, _q, _price, ssp, period) in zip(contract.lines.select_related("product").order_by("position"),
                                                     lines, strict=True):
        line.product.kind = kind
        line.product.billing_period = "month" if kind == "subscription" else ""
        line.product.save(update_fields=["kind", "billing_period"])
        if ssp is not None:
            StandaloneSellingPrice.objects.create(product=line.product, currency=currency, amount=D(ssp))
        if period is not None:
            line.service_start, line.service_end = period
            line.save(update_fields=["service_start", "service_end"])
    return contract


def balance(code: str) -> Decimal:
    """Debits minus credits on a ledger account (company currency)."""
    from l2c.ledger.models import JournalLine

    sums = JournalLine.objects.filter(account__code=code).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (sums["d"] or D(0)) - (sums["c"] or D(0))


def plan_of(obligation) -> dict[str, Decimal]:
    """{"2026-01": amount} of the obligation's current schedule version."""
    from l2c.revenue.models import RevenueContract

    rc = RevenueContract.objects.get(pk=obligation.revenue_contract_id)
    version = rc.versions.get(number=rc.version)
    return {line.period.strftime("%Y-%m"): line.amount
            for line in version.lines.filter(obligation=obligation).order_by("period")}
