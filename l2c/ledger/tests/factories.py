"""Helpers for ledger tests: customers, rates and a quick way to post an entry."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from l2c.customers.models import Account
from l2c.ledger import services
from l2c.ledger.services import Line

D = Decimal
DAY = dt.date(2026, 3, 15)


def customer(name: str = "Acme Ltd") -> Account:
    return Account.objects.create(name=name)


def invoice_entry(actor, cust, gross="113.00", net="100.00", tax="13.00", date=DAY, **kwargs):
    """An invoice-style posting: AR (gross) against deferred revenue (net) and tax payable (tax)."""
    return services.post_entry(
        actor=actor, date=date, journal="SALES", memo="Invoice", source_type=kwargs.pop("source_type", "billing.invoice"),
        source_id=kwargs.pop("source_id", 1), source_label=kwargs.pop("source_label", "INV-2026-000001"),
        lines=[Line("1100", debit=D(gross), customer=cust), Line("2100", credit=D(net)), Line("2200", credit=D(tax))],
        **kwargs,
    )


def payment_entry(actor, cust, amount="113.00", date=DAY):
    return services.post_entry(
        actor=actor, date=date, journal="CASH", memo="Payment", source_type="billing.payment", source_id=1,
        lines=[Line("1000", debit=D(amount)), Line("1100", credit=D(amount), customer=cust)],
    )
