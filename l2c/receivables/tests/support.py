"""Builders for receivables tests: posted invoices (via billing's services) for a customer."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from l2c.billing import services as billing
from l2c.billing.tests.factories import make_contract
from l2c.customers.tests.factories import AccountFactory, ContactFactory


def posted_invoice(actor, *, account=None, owner=None, issue_date: dt.date, lines=(("1", "100.00", "10"),),
                   currency: str = "USD", payment_terms: str = "net_30"):
    """A posted invoice (gross = net + tax per line) on a fresh contract of `account`."""
    contract = make_contract(owner=owner, account=account, currency=currency, payment_terms=payment_terms,
                             lines=lines, start=issue_date)
    invoice = billing.invoice_create_from_contract(actor=actor, contract=contract, issue_date=issue_date)
    return billing.invoice_post(actor=actor, invoice=invoice)


def customer(owner=None, *, name=None, email="ap@customer.example"):
    account = AccountFactory(owner=owner, **({"name": name} if name else {}))
    if email:
        ContactFactory(account=account, owner=owner, email=email)
    return account


def pay(actor, invoice, amount, date: dt.date):
    return billing.payment_record(actor=actor, account=invoice.account, date=date, method="bank_transfer",
                                  currency=invoice.currency, amount=Decimal(amount),
                                  allocations=[(invoice, Decimal(amount))])


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
