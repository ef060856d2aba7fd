"""Builders for order tests: a contract with one line of each product kind, made from a real priced quote
(through the quote services) and stored with the ORM like the signature would (no PDF signing: fast)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named
from l2c.quoting.models import BillingPeriod, ProductKind, RevenueRule
from l2c.quoting.tests.factories import PriceBookEntryFactory, PriceBookFactory, ProductFactory

# (name, kind, list price, quantity)
DEFAULT_LINES = (
    ("Widget", ProductKind.GOOD, "100.00", 10),
    ("Installation", ProductKind.SERVICE, "250.00", 1),
    ("Rollout project", ProductKind.MILESTONE, "1000.00", 1),
    ("Cloud seats", ProductKind.SUBSCRIPTION, "30.00", 5),
)


def make_contract(*, owner, lines=DEFAULT_LINES, start: dt.date | None = None, term: int = 12,
                  name: str = "Acme Trading Ltd"):
    """A Contract (ACTIVE, signed now) with frozen lines copied from a priced quote, as sign_quote makes it.
    No order is created: call services.order_create_from_contract (or publish "contract.created")."""
    from l2c.contracts.models import Contract, ContractLine, ContractStatus
    from l2c.contracts.services import contract_end
    from l2c.core.numbering import next_number
    from l2c.quoting.models import QuoteStatus
    from l2c.quoting.services import quotes as quote_services

    start = start or timezone.localdate()
    account = AccountFactory(owner=owner, country="GB", name=name)
    contact = ContactFactory(account=account, owner=owner)
    opportunity = OpportunityFactory(owner=owner, account=account, contact=contact, currency="USD",
                                     stage=stage_named("Negotiation"), expected_close_date=start)
    book = PriceBookFactory(currency="USD")
    quote = quote_services.quote_create(actor=owner, opportunity=opportunity, title="Order test", price_book=book,
                                        contract_start=start, contract_term_months=term)
    for label, kind, price, qty in lines:
        extra = {}
        if kind == ProductKind.SUBSCRIPTION:
            extra = {"billing_period": BillingPeriod.MONTH, "revenue_rule": RevenueRule.RATABLE}
        elif kind == ProductKind.MILESTONE:
            extra = {"revenue_rule": RevenueRule.MILESTONE}
        product = ProductFactory(name=label, kind=kind, **extra)
        PriceBookEntryFactory(price_book=book, product=product, list_price=Decimal(price))
        service = {}
        if kind == ProductKind.SUBSCRIPTION:
            service = {"service_start": start, "service_end": contract_end(start, term)}
        quote_services.line_add(actor=owner, quote=quote, product=product, quantity=qty, **service)
    quote.refresh_from_db()
    type(quote).objects.filter(pk=quote.pk).update(status=QuoteStatus.ACCEPTED)
    now = timezone.now()
    from django.db import transaction

    with transaction.atomic():
        contract = Contract.objects.create(
            number=next_number("CTR", now.year), account=account, contact=contact, opportunity=opportunity,
            quote=quote, owner=owner, status=ContractStatus.ACTIVE, status_changed_at=now, currency=quote.currency,
            start_date=start, end_date=contract_end(start, term), term_months=term, payment_terms=quote.payment_terms,
            signed_at=now, net_total=quote.net_total, tax_total=quote.tax_total, gross_total=quote.gross_total,
        )
    ContractLine.objects.bulk_create([
        ContractLine(contract=contract, quote_line=line, product_id=line.product_id, position=position,
                     description=line.description or line.product.name, quantity=line.quantity,
                     unit=line.unit or line.product.unit, list_price=line.list_price, unit_price=line.unit_price,
                     discount_percent=line.discount_percent, tax_rate=line.tax_rate, net_amount=line.net_amount,
                     tax_amount=line.tax_amount, gross_amount=line.gross_amount, service_start=line.service_start,
                     service_end=line.service_end)
        for position, line in enumerate(quote.lines.select_related("product").order_by("position", "id"), start=1)
    ])
    return contract


def make_order(*, owner, **kwargs):
    """A contract (see make_contract) and its order, as the "contract.created" subscriber makes it."""
    from l2c.orders import services

    contract = make_contract(owner=owner, **kwargs)
    return services.order_create_from_contract(contract, actor=None)


def line_of(order, kind: str):
    return order.lines.get(kind=kind)
