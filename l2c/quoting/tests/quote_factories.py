"""Helpers for quote tests: an opportunity with a priced catalogue, and quotes made through the services
(so every test quote is numbered, priced and audited like a real one)."""
from __future__ import annotations

from decimal import Decimal

from l2c.pipeline.tests.factories import AccountFactory, ContactFactory, OpportunityFactory
from l2c.quoting.models import ApprovalRule
from l2c.quoting.services import quotes as quote_services
from l2c.quoting.tests.factories import (
    PriceBookEntryFactory,
    PriceBookFactory,
    ProductFactory,
    TaxRateFactory,
)


def opportunity_for(owner, *, currency: str = "USD", country: str = "GB", segment: str = "", amount="10000.00"):
    account = AccountFactory(owner=owner, country=country, segment=segment)
    contact = ContactFactory(owner=owner, account=account)
    return OpportunityFactory(owner=owner, account=account, contact=contact, currency=currency,
                              amount=Decimal(amount))


class Catalogue:
    """A price book in `currency` with a good (tax category standard) and a service (category services)."""

    def __init__(self, currency: str = "USD", *, good_price="100.00", service_price="1000.00", segment=""):
        self.book = PriceBookFactory(currency=currency, segment=segment)
        self.good = ProductFactory(name="Widget", tax_category="standard", unit="each")
        self.service = ProductFactory(name="Consulting day", kind="service", tax_category="services", unit="day")
        self.good_entry = PriceBookEntryFactory(price_book=self.book, product=self.good,
                                                list_price=Decimal(good_price))
        self.service_entry = PriceBookEntryFactory(price_book=self.book, product=self.service,
                                                   list_price=Decimal(service_price))


def gb_vat():
    TaxRateFactory(country="GB", tax_category="standard", rate=Decimal("20"))
    TaxRateFactory(country="GB", tax_category="services", rate=Decimal("20"))


def draft_quote(owner, *, catalogue: Catalogue | None = None, country="GB", currency="USD", lines=(), **values):
    """A draft quote on a new opportunity of `owner`; `lines` = [(product, quantity, discount), ...]."""
    catalogue = catalogue or Catalogue(currency)
    opportunity = opportunity_for(owner, currency=currency, country=country)
    values.setdefault("price_book", catalogue.book)
    quote = quote_services.quote_create(actor=owner, opportunity=opportunity, **values)
    for product, quantity, discount in lines:
        quote_services.line_add(actor=owner, quote=quote, product=product, quantity=Decimal(str(quantity)),
                                discount_percent=Decimal(str(discount)))
    quote.refresh_from_db()
    return quote


def default_rules():
    """The two rules the migration seeds (15 % → manager/admin, 30 % → finance/admin), made sure of."""
    ApprovalRule.objects.all().delete()
    return [
        ApprovalRule.objects.create(name="Over 15 %", measure="overall", threshold_percent=Decimal("15"),
                                    approver_roles=["manager", "admin"], level=1),
        ApprovalRule.objects.create(name="Over 30 %", measure="overall", threshold_percent=Decimal("30"),
                                    approver_roles=["finance", "admin"], level=2),
    ]
