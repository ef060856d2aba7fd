"""Catalogue pages: lists, forms, price book entries with tiers, tax rates; who may open what."""
from decimal import Decimal

import pytest
from django.urls import reverse

from l2c.quoting.models import PriceBook, PriceBookEntry, Product, TaxRate

from .factories import PriceBookEntryFactory, PriceBookFactory, ProductFactory, StandaloneSellingPriceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def ssp_management(total=2, initial=0):
    return {"ssp-TOTAL_FORMS": str(total), "ssp-INITIAL_FORMS": str(initial), "ssp-MIN_NUM_FORMS": "0",
            "ssp-MAX_NUM_FORMS": "50"}


def product_post(**values):
    data = {"sku": "CRM-PRO", "name": "CRM Pro", "kind": "subscription", "billing_period": "month", "unit": "seat",
            "tax_category": "subscription", "revenue_rule": "", "active": "on", "description": "",
            **ssp_management(), "ssp-0-currency": "USD", "ssp-0-amount": "100.00", "ssp-1-currency": "",
            "ssp-1-amount": ""}
    data.update(values)
    return data


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("quoting:product-list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", ["rep", "manager", "finance", "admin_user"])
def test_everyone_reads_the_catalogue(request, as_user, role):
    client = as_user(request.getfixturevalue(role))
    entry = PriceBookEntryFactory(product=ProductFactory(sku="READ-ME"), pricing="volume", tiers=[(10, "9.5")])
    assert "READ-ME" in client.get(reverse("quoting:product-list")).content.decode()
    detail = client.get(reverse("quoting:product-detail", args=[entry.product_id])).content.decode()
    assert entry.price_book.name in detail
    book = client.get(reverse("quoting:price-book-detail", args=[entry.price_book_id])).content.decode()
    assert "READ-ME" in book and "9.50" in book
    assert "China VAT 13% (goods)" in client.get(reverse("quoting:tax-rate-list")).content.decode()
    assert client.get(reverse("quoting:price-book-list")).status_code == 200


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_sales_roles_get_403_on_writing_pages(request, as_user, role):
    client = as_user(request.getfixturevalue(role))
    entry = PriceBookEntryFactory()
    rate = TaxRate.objects.first()
    book, product = entry.price_book, entry.product
    pages = [
        ("get", reverse("quoting:product-create")), ("post", reverse("quoting:product-create")),
        ("get", reverse("quoting:product-edit", args=[product.pk])),
        ("post", reverse("quoting:product-delete", args=[product.pk])),
        ("get", reverse("quoting:price-book-create")), ("get", reverse("quoting:price-book-edit", args=[book.pk])),
        ("post", reverse("quoting:price-book-delete", args=[book.pk])),
        ("get", reverse("quoting:price-book-copy", args=[book.pk])),
        ("post", reverse("quoting:price-book-entry-create", args=[book.pk])),
        ("get", reverse("quoting:price-book-entry-edit", args=[book.pk, entry.pk])),
        ("post", reverse("quoting:price-book-entry-delete", args=[book.pk, entry.pk])),
        ("get", reverse("quoting:tax-rate-create")), ("get", reverse("quoting:tax-rate-edit", args=[rate.pk])),
        ("post", reverse("quoting:tax-rate-delete", args=[rate.pk])),
    ]
    for method, url in pages:
        assert getattr(client, method)(url).status_code == 403, url
    assert PriceBookEntry.objects.filter(pk=entry.pk).exists() and TaxRate.objects.filter(pk=rate.pk).exists()
    # and no write buttons on the pages they read
    page = client.get(reverse("quoting:product-detail", args=[product.pk])).content.decode()
    assert reverse("quoting:product-edit", args=[product.pk]) not in page


def test_create_product_through_the_form(as_user, finance):
    client = as_user(finance)
    response = client.post(reverse("quoting:product-create"), product_post())
    product = Product.objects.get(sku="CRM-PRO")
    assert response.status_code == 302 and response["Location"] == reverse("quoting:product-detail", args=[product.pk])
    assert product.revenue_rule == "ratable" and product.ssps.get().amount == Decimal("100")
    page = client.get(response["Location"]).content.decode()
    assert "100.00" in page and "USD" in page


def test_product_form_shows_rule_errors_beside_fields(as_user, finance):
    client = as_user(finance)
    response = client.post(reverse("quoting:product-create"),
                           product_post(sku="HAS SPACE", billing_period="", **{"ssp-0-amount": "-1"}))
    assert response.status_code == 200
    form = response.context["form"]
    assert "sku" in form.errors and "billing_period" in form.errors
    assert any("ssp.USD" in e for e in form.non_field_errors())
    assert not Product.objects.exists()


def test_edit_product_replaces_ssp(as_user, admin_user):
    product = ProductFactory(sku="EDIT-1")
    StandaloneSellingPriceFactory(product=product, currency="EUR", amount=Decimal("90"))
    client = as_user(admin_user)
    form_page = client.get(reverse("quoting:product-edit", args=[product.pk]))
    assert form_page.context["ssp_formset"].initial == [{"currency": "EUR", "amount": "90.00"}]
    data = {"sku": "EDIT-1", "name": "Renamed", "kind": "good", "billing_period": "", "unit": "each",
            "tax_category": "standard", "revenue_rule": "point_in_time", "description": "",
            **ssp_management(total=3, initial=1), "ssp-0-currency": "EUR", "ssp-0-amount": "",
            "ssp-1-currency": "GBP", "ssp-1-amount": "80", "ssp-2-currency": "", "ssp-2-amount": ""}
    response = client.post(reverse("quoting:product-edit", args=[product.pk]), data)
    assert response.status_code == 302, response.context["form"].errors if response.context else None
    product.refresh_from_db()
    assert product.name == "Renamed" and product.active is False  # the unchecked box deactivates
    assert dict(product.ssps.values_list("currency", "amount")) == {"GBP": Decimal("80")}


def test_delete_product_in_use_shows_why(as_user, finance):
    entry = PriceBookEntryFactory()
    client = as_user(finance)
    response = client.post(reverse("quoting:product-delete", args=[entry.product_id]), follow=True)
    assert "deactivate it instead" in response.content.decode()
    assert Product.objects.filter(pk=entry.product_id).exists()
    unused = ProductFactory()
    client.post(reverse("quoting:product-delete", args=[unused.pk]))
    assert not Product.objects.filter(pk=unused.pk).exists()


def test_product_list_search_htmx_and_query_count(as_user, finance, django_assert_max_num_queries):
    for n in range(30):
        StandaloneSellingPriceFactory(product=ProductFactory(sku=f"P-{n:02d}", name=f"Widget {n}"))
    client = as_user(finance)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("quoting:product-list"))
    assert response.status_code == 200
    partial = client.get(reverse("quoting:product-list"), {"q": "Widget 7"}, HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="results")
    html = partial.content.decode()
    assert "<html" not in html and "P-07" in html and "P-08" not in html


def test_product_export_csv(as_user, finance):
    ProductFactory(sku="EXPORT-ME")
    ProductFactory(sku="OTHER")
    response = as_user(finance).get(reverse("quoting:product-export"), {"format": "csv", "q": "export"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "EXPORT-ME" in text and "OTHER" not in text


def test_price_book_create_add_entries_edit_and_remove(as_user, finance):
    client = as_user(finance)
    product = ProductFactory(sku="SEAT")
    response = client.post(reverse("quoting:price-book-create"), {"name": "2026", "currency": "eur", "segment": "",
                                                                  "valid_from": "2026-01-01",
                                                                  "valid_until": "2026-12-31", "active": "on"})
    book = PriceBook.objects.get()
    assert response.status_code == 302 and book.currency == "EUR"
    add_url = reverse("quoting:price-book-entry-create", args=[book.pk])
    bad = client.post(add_url, {"product": product.pk, "list_price": "10", "pricing": "volume",
                                "tiers": "10 = 9\n5 = 8"})
    assert bad.status_code == 422 and "must be more than the previous" in bad.content.decode()
    assert not PriceBookEntry.objects.exists()
    ok = client.post(add_url, {"product": product.pk, "list_price": "10", "pricing": "volume",
                               "tiers": "1 = 10\n10 = 9.00\n"})
    assert ok.status_code == 302
    entry = PriceBookEntry.objects.get()
    assert list(entry.tiers.values_list("min_quantity", "unit_price")) == [(1, 10), (10, 9)]
    edit_url = reverse("quoting:price-book-entry-edit", args=[book.pk, entry.pk])
    assert client.get(edit_url).context["form"].initial["tiers"] == "1 = 10.00\n10 = 9.00"
    client.post(edit_url, {"list_price": "12", "pricing": "flat", "tiers": ""})
    entry.refresh_from_db()
    assert entry.list_price == Decimal("12") and not entry.tiers.exists()
    client.post(reverse("quoting:price-book-entry-delete", args=[book.pk, entry.pk]))
    assert not PriceBookEntry.objects.exists()


def test_copy_price_book_page(as_user, admin_user):
    source = PriceBookFactory(name="2026")
    PriceBookEntryFactory(price_book=source, list_price=Decimal("100"))
    client = as_user(admin_user)
    response = client.post(reverse("quoting:price-book-copy", args=[source.pk]),
                           {"name": "2027", "valid_from": "2027-01-01", "valid_until": "2027-12-31",
                            "uplift_percent": "10", "active": "on"})
    copy = PriceBook.objects.get(name="2027")
    assert response.status_code == 302 and copy.entries.get().list_price == Decimal("110")


def test_tax_rate_pages(as_user, finance):
    client = as_user(finance)
    response = client.post(reverse("quoting:tax-rate-create"), {"name": "TVA 20%", "country": "fr",
                                                                "tax_category": "standard", "rate": "20",
                                                                "active": "on"})
    assert response.status_code == 302
    rate = TaxRate.objects.get(country="FR")
    overlap = client.post(reverse("quoting:tax-rate-create"), {"name": "TVA bis", "country": "FR",
                                                               "tax_category": "standard", "rate": "21",
                                                               "active": "on"})
    assert overlap.status_code == 200 and "TVA 20%" in overlap.context["form"].errors["valid_from"][0]
    edit = client.post(reverse("quoting:tax-rate-edit", args=[rate.pk]),
                       {"name": "TVA 20%", "country": "FR", "tax_category": "standard", "rate": "20.0",
                        "inclusive": "on", "active": "on"})
    assert edit.status_code == 302
    rate.refresh_from_db()
    assert rate.inclusive is True and rate.rate == Decimal("20")
    client.post(reverse("quoting:tax-rate-delete", args=[rate.pk]))
    assert not TaxRate.objects.filter(pk=rate.pk).exists()
