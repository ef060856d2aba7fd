"""Fixtures for banking tests: posted invoices of named customers, and statement files."""
import datetime as dt
from pathlib import Path

import pytest

from l2c.billing import services as billing
from l2c.billing.tests.factories import make_contract
from l2c.customers.tests.factories import AccountFactory

DATA = Path(__file__).parent / "data"
DAY = dt.date(2026, 3, 10)


def post_invoice(actor, *, name: str, owner=None, currency: str = "USD", lines=None):
    """A posted invoice (gross 1380.00 by default) for a customer called `name`."""
    account = AccountFactory(name=name, owner=owner, country="GB")
    kwargs = {"lines": lines} if lines else {}
    contract = make_contract(owner=owner, account=account, currency=currency, start=DAY, **kwargs)
    invoice = billing.invoice_create_from_contract(actor=actor, contract=contract, issue_date=DAY)
    return billing.invoice_post(actor=actor, invoice=invoice)


@pytest.fixture
def camt_sample() -> bytes:
    return (DATA / "camt053_sample.xml").read_bytes()


@pytest.fixture
def two_invoices(finance, rep):
    """INV-2026-000001 for Northwind Traders Ltd and INV-2026-000002 for Contoso GmbH, 1380.00 USD each."""
    first = post_invoice(finance, name="Northwind Traders Ltd", owner=rep)
    second = post_invoice(finance, name="Contoso GmbH", owner=rep)
    assert (first.number, second.number) == ("INV-2026-000001", "INV-2026-000002")
    return first, second
