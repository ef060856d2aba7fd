from decimal import Decimal

import pytest

from l2c.demo.catalogue import PRODUCTS, ensure_catalogue
from l2c.quoting.models import PriceBook, PriceBookEntry, Product, StandaloneSellingPrice

pytestmark = pytest.mark.django_db


def test_catalogue_is_created_once_with_prices_in_every_book():
    first = ensure_catalogue()
    second = ensure_catalogue()
    assert first == {"products": len(PRODUCTS), "price_books": 6}
    assert second == {"products": 0, "price_books": 0}
    assert Product.objects.count() == len(PRODUCTS)
    assert StandaloneSellingPrice.objects.count() == len(PRODUCTS) * 4
    assert PriceBookEntry.objects.count() == len(PRODUCTS) * 6


def test_seat_prices_are_volume_tiers_and_enterprise_gets_its_discount():
    ensure_catalogue()
    standard = PriceBookEntry.objects.get(price_book__name="Standard USD", product__sku="L2C-CRM-SEAT")
    enterprise = PriceBookEntry.objects.get(price_book__name="Enterprise USD", product__sku="L2C-CRM-SEAT")
    assert standard.pricing == "volume"
    assert [(t.min_quantity, t.unit_price) for t in standard.tiers.all()] == [
        (Decimal("1"), Decimal("600")), (Decimal("50"), Decimal("540")), (Decimal("200"), Decimal("480")),
        (Decimal("1000"), Decimal("420"))]
    assert enterprise.list_price == Decimal("570")
    assert PriceBook.objects.get(name="Enterprise CNY").segment == "enterprise"
    assert PriceBookEntry.objects.get(price_book__name="Standard CNY", product__sku="HW-SCANNER").list_price == 1743


def test_the_demo_has_quotes_in_each_state_made_through_the_services():
    from l2c.demo.generator import generate
    from l2c.quoting.models import Quote

    generate(leads=300, seed=1)
    quotes = Quote.objects.select_related("owner")
    assert {q.owner.username for q in quotes} == {"rep", "rep2"}
    assert {q.status for q in quotes} == {"draft", "pending_approval", "approved"}
    waiting = quotes.filter(status="pending_approval").first()
    assert waiting.approvals.get().reason.startswith("Overall discount 20.00 %")
    assert all(q.lines.count() == 3 and q.gross_total > 0 for q in quotes)
    assert all(q.opportunity.amount == q.net_total.quantize(Decimal("0.01")) for q in quotes if q.is_primary)
