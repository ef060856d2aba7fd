"""Factories for the quoting catalogue (factory_boy): products, price books and entries, tax rates."""
import datetime
from decimal import Decimal

import factory

from l2c.quoting.models import (
    PriceBook,
    PriceBookEntry,
    PriceTier,
    PricingMethod,
    Product,
    ProductKind,
    RevenueRule,
    StandaloneSellingPrice,
    TaxRate,
)


class ProductFactory(factory.django.DjangoModelFactory):
    """A one-time good; pass kind=ProductKind.SUBSCRIPTION, billing_period="month",
    revenue_rule=RevenueRule.RATABLE for a subscription."""

    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = ""
    kind = ProductKind.GOOD
    billing_period = ""
    unit = "each"
    tax_category = "standard"
    revenue_rule = RevenueRule.POINT_IN_TIME
    active = True


class SubscriptionProductFactory(ProductFactory):
    kind = ProductKind.SUBSCRIPTION
    billing_period = "month"
    unit = "user/month"
    revenue_rule = RevenueRule.RATABLE


class StandaloneSellingPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StandaloneSellingPrice

    product = factory.SubFactory(ProductFactory)
    currency = "USD"
    amount = Decimal("100.0000")


class PriceBookFactory(factory.django.DjangoModelFactory):
    """An active USD price book for every segment, valid all of this year."""

    class Meta:
        model = PriceBook

    name = factory.Sequence(lambda n: f"Price book {n}")
    currency = "USD"
    segment = ""
    valid_from = factory.LazyFunction(lambda: datetime.date(datetime.date.today().year, 1, 1))
    valid_until = factory.LazyFunction(lambda: datetime.date(datetime.date.today().year, 12, 31))
    active = True


class PriceBookEntryFactory(factory.django.DjangoModelFactory):
    """A flat list price; for volume/tiered pricing add PriceTierFactory rows (or pass tiers=[(min, price), ...])."""

    class Meta:
        model = PriceBookEntry
        skip_postgeneration_save = True

    price_book = factory.SubFactory(PriceBookFactory)
    product = factory.SubFactory(ProductFactory)
    list_price = Decimal("100.0000")
    pricing = PricingMethod.FLAT

    @factory.post_generation
    def tiers(obj, create, extracted, **kwargs):
        if create and extracted:
            for min_quantity, unit_price in extracted:
                PriceTier.objects.create(entry=obj, min_quantity=Decimal(str(min_quantity)),
                                         unit_price=Decimal(str(unit_price)))


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceTier

    entry = factory.SubFactory(PriceBookEntryFactory, pricing=PricingMethod.VOLUME)
    min_quantity = Decimal("1")
    unit_price = Decimal("100.0000")


class TaxRateFactory(factory.django.DjangoModelFactory):
    """19 % standard VAT in DE, exclusive, without validity dates.

    Migration 0002 seeds active CN and GB rates (standard, services, subscription, zero): a factory rate for
    CN or GB in one of those categories would be a second active rate for the same country and category."""

    class Meta:
        model = TaxRate

    name = factory.LazyAttribute(lambda o: f"VAT {o.country} {o.rate}%")
    country = "DE"
    tax_category = "standard"
    rate = Decimal("19.0000")
    inclusive = False
    valid_from = None
    valid_until = None
    active = True
