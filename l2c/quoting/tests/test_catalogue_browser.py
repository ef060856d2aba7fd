"""The catalogue in a real browser: finance creates a subscription product with an SSP, a price book,
and lists the product in it with volume tiers. The `page`/`login` fixtures live in the root conftest.py."""
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from l2c.quoting.models import PriceBookEntry, Product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_builds_a_price_book(page, login, finance):
    login("finance")
    page.goto("/products/new/")
    page.fill("#id_sku", "CRM-PRO")
    page.fill("#id_name", "CRM Pro")
    page.select_option("#id_kind", "subscription")
    page.select_option("#id_billing_period", "month")
    page.fill("#id_tax_category", "subscription")
    page.fill("#id_ssp-0-currency", "USD")
    page.fill("#id_ssp-0-amount", "100")
    page.click("form.card button[type=submit].btn-primary")
    expect(page.locator("h1")).to_contain_text("CRM-PRO")
    expect(page.locator("#ssp")).to_contain_text("100.00")
    product = Product.objects.get(sku="CRM-PRO")
    assert product.revenue_rule == "ratable"

    page.goto("/price-books/new/")
    page.fill("#id_name", "2026 USD")
    page.fill("#id_currency", "USD")
    page.click("form.card button[type=submit].btn-primary")
    expect(page.locator("h1")).to_have_text("2026 USD")

    page.select_option("#add-entry #id_product", str(product.pk))
    page.fill("#add-entry #id_list_price", "100")
    page.select_option("#add-entry #id_pricing", "volume")
    page.fill("#add-entry #id_tiers", "1 = 100\n50 = 90")
    page.click("#add-entry button[type=submit]")
    expect(page.locator("#entries")).to_contain_text("CRM-PRO")
    expect(page.locator("#entries")).to_contain_text("90.00")
    entry = PriceBookEntry.objects.get(product=product)
    assert list(entry.tiers.values_list("unit_price", flat=True)) == [Decimal("100"), Decimal("90")]
