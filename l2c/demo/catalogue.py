"""The demo catalogue: products of a software company (licences, subscriptions, services, hardware),
their standalone selling prices, and price books per currency and segment with volume and tiered prices.
Idempotent: existing SKUs and price books (by name) are left as they are."""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from l2c.quoting.models import PriceBook, PriceBookEntry, PriceTier, Product, StandaloneSellingPrice

# sku, name, kind, billing period, unit, tax category, revenue rule, list price in USD
PRODUCTS = [
    ("L2C-CRM-SEAT", "CRM seat, yearly subscription", "subscription", "year", "seat", "subscription", "ratable", "600"),
    ("L2C-CPQ-SEAT", "CPQ seat, yearly subscription", "subscription", "year", "seat", "subscription", "ratable", "480"),
    ("L2C-BILL-MON", "Billing module, monthly subscription", "subscription", "month", "month", "subscription",
     "ratable", "900"),
    ("SUP-PREMIUM", "Premium support, yearly", "subscription", "year", "year", "services", "ratable", "5000"),
    ("SVC-IMPL", "Implementation service", "milestone", "", "project", "services", "milestone", "25000"),
    ("SVC-TRAIN", "On-site training day", "service", "", "day", "services", "point_in_time", "1500"),
    ("SVC-MIGRATE", "Data migration", "service", "", "project", "services", "point_in_time", "8000"),
    ("HW-SCANNER", "Barcode scanner", "good", "", "each", "standard", "point_in_time", "249"),
    ("HW-KIOSK", "Self-service kiosk", "good", "", "each", "standard", "point_in_time", "3900"),
]
RATES = {"USD": Decimal("1"), "CNY": Decimal("7"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79")}
# volume tiers for seats (from quantity → share of list price), tiered for the billing module's months
SEAT_TIERS = [("1", "1"), ("50", "0.9"), ("200", "0.8"), ("1000", "0.7")]
MONTH_TIERS = [("1", "1"), ("13", "0.85")]


def _price(usd: str, currency: str) -> Decimal:
    value = Decimal(usd) * RATES[currency]
    return value.quantize(Decimal("1")) if currency == "CNY" else value.quantize(Decimal("0.01"))


@transaction.atomic
def ensure_catalogue() -> dict[str, int]:
    created = {"products": 0, "price_books": 0}
    products = {}
    for sku, name, kind, period, unit, tax_category, rule, usd in PRODUCTS:
        product, new = Product.objects.get_or_create(sku=sku, defaults=dict(
            name=name, kind=kind, billing_period=period, unit=unit, tax_category=tax_category, revenue_rule=rule))
        products[sku] = (product, usd)
        created["products"] += new
        if new:
            StandaloneSellingPrice.objects.bulk_create(
                StandaloneSellingPrice(product=product, currency=c, amount=_price(usd, c)) for c in RATES)
    books = [("Standard USD", "USD", "", Decimal("1")), ("Standard CNY", "CNY", "", Decimal("1")),
             ("Standard EUR", "EUR", "", Decimal("1")), ("Standard GBP", "GBP", "", Decimal("1")),
             ("Enterprise USD", "USD", "enterprise", Decimal("0.95")),
             ("Enterprise CNY", "CNY", "enterprise", Decimal("0.95"))]
    for name, currency, segment, factor in books:
        if PriceBook.objects.filter(name=name).exists():
            continue
        book = PriceBook.objects.create(name=name, currency=currency, segment=segment)
        created["price_books"] += 1
        for sku, (product, usd) in products.items():
            price = _price(usd, currency) * factor
            price = price.quantize(Decimal("1") if currency == "CNY" else Decimal("0.01"))
            tiers = SEAT_TIERS if sku.endswith("-SEAT") else MONTH_TIERS if sku == "L2C-BILL-MON" else []
            pricing = "volume" if sku.endswith("-SEAT") else "tiered" if tiers else "flat"
            entry = PriceBookEntry.objects.create(price_book=book, product=product, list_price=price, pricing=pricing)
            PriceTier.objects.bulk_create(
                PriceTier(entry=entry, min_quantity=Decimal(q), unit_price=(price * Decimal(share)).quantize(
                    Decimal("1") if currency == "CNY" else Decimal("0.01"))) for q, share in tiers)
    return created


def ensure_demo_quotes(users: dict) -> int:
    """A few quotes on the demo reps' open deals, made through the quote services like a rep would: a draft,
    one waiting for the manager's approval (20 % off) and an approved one ready to send. Only into a
    database without quotes; returns how many were created."""
    import datetime as dt

    from django.utils import timezone

    from l2c.pipeline.models import Opportunity
    from l2c.quoting.models import Quote
    from l2c.quoting.services import approvals as approval_services
    from l2c.quoting.services import quotes as quote_services

    if Quote.objects.exists():
        return 0
    created = 0
    today = timezone.localdate()
    start = today.replace(day=1) + dt.timedelta(days=32)
    start = start.replace(day=1)
    end = start.replace(year=start.year + 1) - dt.timedelta(days=1)
    plans = [("draft", "0"), ("pending", "20"), ("approved", "5")]
    for username in ("rep", "rep2"):
        rep = users.get(username)
        if rep is None:
            continue
        deals = (Opportunity.objects.filter(owner=rep, stage__is_won=False, stage__is_lost=False,
                                            currency__in=("USD", "CNY", "EUR"))
                 .select_related("account").order_by("expected_close_date", "id")[:len(plans)])
        for opportunity, (plan, discount) in zip(deals, plans, strict=False):
            with transaction.atomic():
                quote = quote_services.quote_create(actor=rep, opportunity=opportunity, contract_start=start,
                                                    contract_term_months=12, auto_renew=True)
                seats = Product.objects.get(sku="L2C-CRM-SEAT")
                quote_services.line_add(actor=rep, quote=quote, product=seats, quantity=Decimal("60"),
                                        service_start=start, service_end=end,
                                        section="Subscriptions")
                quote_services.line_add(actor=rep, quote=quote, product=Product.objects.get(sku="SVC-IMPL"),
                                        section="Services")
                quote_services.line_add(actor=rep, quote=quote, product=Product.objects.get(sku="SVC-TRAIN"),
                                        quantity=Decimal("2"), optional=True, section="Services")
                if discount != "0":
                    quote_services.quote_update(actor=rep, quote=Quote.objects.get(pk=quote.pk),
                                                header_discount_percent=Decimal(discount))
                if plan != "draft":
                    approval_services.quote_submit(actor=rep, quote=Quote.objects.get(pk=quote.pk))
            created += 1
    return created
