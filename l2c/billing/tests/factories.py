"""Builders for billing tests: a signed contract with priced lines (stored as the contract services store
them: a quote with lines, the contract with frozen copies), exchange rates, and ledger sums."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from l2c.core.money import round_money
from l2c.customers.tests.factories import AccountFactory
from l2c.pipeline.tests.factories import OpportunityFactory
from l2c.quoting.tests.factories import ProductFactory

_counter = iter(range(1, 10**9))


def make_contract(*, owner=None, account=None, currency: str = "USD", payment_terms: str = "net_30",
                  lines=(("10", "90.00", "20"), ("1", "250.00", "20")), start: dt.date | None = None):
    """A contract with one line per (quantity, unit price, tax rate %); amounts rounded like quoting does."""
    from l2c.contracts.models import Contract, ContractLine
    from l2c.quoting.models import Quote, QuoteLine, QuoteStatus

    n = next(_counter)
    start = start or timezone.localdate()
    account = account or AccountFactory(owner=owner, country="GB")
    opportunity = OpportunityFactory(owner=owner, account=account, currency=currency)
    quote = Quote.objects.create(number=f"QUO-T-{n:06d}", opportunity=opportunity, account=account, owner=owner,
                                 status=QuoteStatus.ACCEPTED, currency=currency, quote_date=start,
                                 valid_until=start + dt.timedelta(days=30), payment_terms=payment_terms)
    contract = Contract.objects.create(
        number=f"CTR-T-{n:06d}", account=account, opportunity=opportunity, quote=quote, owner=owner,
        currency=currency, start_date=start, end_date=start + dt.timedelta(days=364), term_months=12,
        payment_terms=payment_terms, net_total=0, tax_total=0, gross_total=0, signed_at=timezone.now(),
    )
    net_total = tax_total = Decimal(0)
    for position, (quantity, unit_price, tax_rate) in enumerate(lines, start=1):
        quantity, unit_price, tax_rate = Decimal(quantity), Decimal(unit_price), Decimal(tax_rate)
        product = ProductFactory()
        net = round_money(quantity * unit_price, currency)
        tax = round_money(net * tax_rate / 100, currency)
        quote_line = QuoteLine.objects.create(
            quote=quote, position=position, product=product, quantity=quantity, list_price=unit_price,
            unit_price=unit_price, tax_rate=tax_rate, net_amount=net, tax_amount=tax, gross_amount=net + tax)
        ContractLine.objects.create(
            contract=contract, quote_line=quote_line, product=product, position=position,
            description=product.name, quantity=quantity, unit=product.unit, list_price=unit_price,
            unit_price=unit_price, discount_percent=0, tax_rate=tax_rate, net_amount=net, tax_amount=tax,
            gross_amount=net + tax)
        net_total += net
        tax_total += tax
    contract.net_total, contract.tax_total, contract.gross_total = net_total, tax_total, net_total + tax_total
    contract.save()
    return contract


def set_rate(currency: str, date: dt.date, rate: str):
    from l2c.ledger.models import ExchangeRate

    return ExchangeRate.objects.update_or_create(currency=currency, date=date, defaults={"rate": Decimal(rate)})[0]


def entry_lines(entry) -> list[tuple[str, Decimal, Decimal]]:
    """[(account code, debit, credit)] of an entry, in line order."""
    return [(line.account.code, line.debit, line.credit)
            for line in entry.lines.select_related("account").order_by("line_no")]


def account_balance(code: str, *, customer=None) -> Decimal:
    """Debits minus credits on an account (company currency), optionally for one customer."""
    from l2c.ledger.models import JournalLine

    qs = JournalLine.objects.filter(account__code=code)
    if customer is not None:
        qs = qs.filter(customer=customer)
    sums = qs.aggregate(d=Sum("debit"), c=Sum("credit"))
    return (sums["d"] or Decimal(0)) - (sums["c"] or Decimal(0))


def assert_books_balance() -> None:
    """Every entry balances and the trial balance sums to zero."""
    from l2c.ledger.models import JournalEntry, JournalLine

    for entry in JournalEntry.objects.all():
        sums = entry.lines.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert sums["d"] == sums["c"], f"entry {entry.number} does not balance: {sums}"
        for line in entry.lines.all():
            assert isinstance(line.debit, Decimal) and isinstance(line.credit, Decimal)
    total = JournalLine.objects.aggregate(d=Sum("debit"), c=Sum("credit"))
    assert (total["d"] or 0) == (total["c"] or 0)
    from l2c.ledger import totals

    assert totals.problems() == [], "the ledger's month totals differ from its lines"
