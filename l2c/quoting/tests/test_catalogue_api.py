"""The catalogue API: /products, /price-books (+ entries, copy), /tax-rates — shapes, rules, roles."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.quoting.models import PriceBook, PriceBookEntry, PriceTier, Product, TaxRate

from .factories import (
    PriceBookEntryFactory,
    PriceBookFactory,
    ProductFactory,
    StandaloneSellingPriceFactory,
    TaxRateFactory,
)

pytestmark = pytest.mark.django_db


def fields_of(response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# --- products -------------------------------------------------------------------------------------

def test_create_and_read_product(api_for, finance, rep):
    response = api_for(finance).post("/api/v1/products", {
        "sku": "CRM-PRO", "name": "CRM Pro", "kind": "subscription", "billing_period": "month",
        "unit": "user/month", "tax_category": "subscription", "ssp": {"USD": "100.00", "JPY": "15000", "CNY": 700.5},
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["revenue_rule"] == "ratable"
    assert body["ssp"] == {"CNY": "700.50", "JPY": "15000", "USD": "100.00"}
    # a rep reads it
    got = api_for(rep).get(f"/api/v1/products/{body['id']}")
    assert got.status_code == 200 and got.json()["sku"] == "CRM-PRO"


def test_ssp_keeps_sub_cent_precision(api_for, admin_user):
    product = ProductFactory()
    StandaloneSellingPriceFactory(product=product, currency="USD", amount=Decimal("0.1234"))
    assert api_for(admin_user).get(f"/api/v1/products/{product.pk}").json()["ssp"] == {"USD": "0.1234"}


@pytest.mark.parametrize(("payload", "field"), [
    ({"sku": "A B", "name": "x"}, "sku"),
    ({"sku": "A", "name": "x", "kind": "gadget"}, "kind"),
    ({"sku": "A", "name": "x", "kind": "subscription"}, "billing_period"),
    ({"sku": "A", "name": "x", "billing_period": "month"}, "billing_period"),
    ({"sku": "A", "name": "x", "revenue_rule": "ratable"}, "revenue_rule"),
    ({"sku": "A", "name": "x", "ssp": {"usdx": "1"}}, "ssp.usdx"),
    ({"sku": "A", "name": "x", "ssp": {"USD": "-5"}}, "ssp.USD"),
    ({"sku": "A", "name": "x", "ssp": {"USD": "abc"}}, "ssp.USD"),
    ({"sku": "A", "name": "x", "price": "1"}, "price"),
    ({"name": "x"}, "sku"),
])
def test_create_product_bad_input(api_for, finance, payload, field):
    response = api_for(finance).post("/api/v1/products", payload)
    assert response.status_code == 422, response.json()
    assert field in fields_of(response)
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Product.objects.exists()


def test_duplicate_sku_is_422(api_for, finance):
    ProductFactory(sku="WIDGET")
    response = api_for(finance).post("/api/v1/products", {"sku": "widget", "name": "Again"})
    assert response.status_code == 422 and fields_of(response) == ["sku"]
    assert "already used" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_sales_roles_read_but_cannot_write(request, api_for, role):
    client = api_for(request.getfixturevalue(role))
    product, book, rate = ProductFactory(), PriceBookFactory(), TaxRateFactory()
    entry = PriceBookEntryFactory(price_book=book, product=product)
    assert client.get("/api/v1/products").status_code == 200
    assert client.get(f"/api/v1/price-books/{book.pk}").status_code == 200
    assert client.get(f"/api/v1/tax-rates/{rate.pk}").status_code == 200
    writes = [
        client.post("/api/v1/products", {"sku": "NEW", "name": "New"}),
        client.patch(f"/api/v1/products/{product.pk}", {"name": "Hacked"}),
        client.delete(f"/api/v1/products/{product.pk}"),
        client.post("/api/v1/price-books", {"name": "B", "currency": "USD"}),
        client.patch(f"/api/v1/price-books/{book.pk}", {"name": "Hacked"}),
        client.delete(f"/api/v1/price-books/{book.pk}"),
        client.post(f"/api/v1/price-books/{book.pk}/copy", {"name": "Copy"}),
        client.post(f"/api/v1/price-books/{book.pk}/entries", {"product": ProductFactory().pk, "list_price": "1"}),
        client.patch(f"/api/v1/price-books/{book.pk}/entries/{entry.pk}", {"list_price": "0"}),
        client.delete(f"/api/v1/price-books/{book.pk}/entries/{entry.pk}"),
        client.post("/api/v1/tax-rates", {"name": "T", "country": "FR", "rate": "20"}),
        client.patch(f"/api/v1/tax-rates/{rate.pk}", {"rate": "1"}),
        client.delete(f"/api/v1/tax-rates/{rate.pk}"),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert writes[0].json()["code"] == "permission_denied"
    assert Product.objects.get(pk=product.pk).name != "Hacked" and PriceBook.objects.count() == 1
    assert PriceBookEntry.objects.get(pk=entry.pk).list_price == Decimal("100")


def test_anonymous_gets_401(client):
    assert client.get("/api/v1/products").status_code == 401
    assert client.get("/api/v1/tax-rates").status_code == 401


def test_sales_roles_list_only_active_products(api_for, rep, finance):
    ProductFactory(sku="ON")
    ProductFactory(sku="OFF", active=False)
    assert [p["sku"] for p in api_for(rep).get("/api/v1/products").json()["items"]] == ["ON"]
    assert api_for(rep).get("/api/v1/products", {"active": "false"}).json()["count"] == 0
    assert [p["sku"] for p in api_for(finance).get("/api/v1/products").json()["items"]] == ["OFF", "ON"]
    assert [p["sku"] for p in api_for(finance).get("/api/v1/products", {"active": "false"}).json()["items"]] == ["OFF"]


def test_product_list_filters_and_paging(api_for, admin_user):
    for n in range(5):
        ProductFactory(sku=f"GOOD-{n}", name=f"Widget {n}")
    ProductFactory(sku="SVC-1", name="Consulting", kind="service")
    client = api_for(admin_user)
    page = client.get("/api/v1/products", {"limit": 2, "offset": 2, "ordering": "-sku"}).json()
    assert page["count"] == 6 and [p["sku"] for p in page["items"]] == ["GOOD-3", "GOOD-2"]
    assert [p["sku"] for p in client.get("/api/v1/products", {"kind": "service"}).json()["items"]] == ["SVC-1"]
    assert client.get("/api/v1/products", {"q": "widget 3"}).json()["count"] == 1
    assert client.get("/api/v1/products", {"kind": "gadget"}).status_code == 422
    assert client.get("/api/v1/products", {"ordering": "price"}).status_code == 422


def test_product_list_query_count(api_for, admin_user, django_assert_max_num_queries):
    for n in range(20):
        StandaloneSellingPriceFactory(product=ProductFactory(sku=f"P-{n:02d}"))
    client = api_for(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/products")
    assert response.json()["count"] == 20 and response.json()["items"][0]["ssp"] == {"USD": "100.00"}


def test_patch_product_and_deactivate(api_for, finance):
    product = ProductFactory()
    StandaloneSellingPriceFactory(product=product, currency="EUR")
    client = api_for(finance)
    response = client.patch(f"/api/v1/products/{product.pk}", {"name": "New name", "active": False,
                                                                "ssp": {"USD": "12.5"}})
    assert response.status_code == 200, response.json()
    assert response.json()["active"] is False and response.json()["ssp"] == {"USD": "12.50"}
    assert client.patch(f"/api/v1/products/{product.pk}", {"kind": None}).status_code == 422
    assert client.patch(f"/api/v1/products/{product.pk}", {"name": None}).status_code == 422
    assert client.patch("/api/v1/products/999999", {"name": "x"}).status_code == 404


def test_delete_product_unused_and_in_use(api_for, finance):
    unused, listed = ProductFactory(), ProductFactory()
    PriceBookEntryFactory(product=listed)
    client = api_for(finance)
    assert client.delete(f"/api/v1/products/{unused.pk}").status_code == 204
    response = client.delete(f"/api/v1/products/{listed.pk}")
    assert response.status_code == 409 and response.json()["code"] == "in_use"
    assert "deactivate" in response.json()["detail"]
    assert Product.objects.filter(pk=listed.pk).exists() and not Product.objects.filter(pk=unused.pk).exists()


def test_product_export(api_for, finance):
    ProductFactory(sku="EXP-1", name="=cmd")
    response = api_for(finance).get("/api/v1/products/export", {"format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "EXP-1" in text and "'=cmd" in text


# --- price books ----------------------------------------------------------------------------------

def test_price_book_lifecycle(api_for, finance):
    client = api_for(finance)
    product = ProductFactory(sku="SEAT")
    created = client.post("/api/v1/price-books", {"name": "2026 USD", "currency": "usd", "segment": "SMB",
                                                  "valid_from": "2026-01-01", "valid_until": "2026-12-31"})
    assert created.status_code == 201, created.json()
    book_id = created.json()["id"]
    assert created.json()["currency"] == "USD" and created.json()["entries"] == []
    entry = client.post(f"/api/v1/price-books/{book_id}/entries", {
        "product": product.pk, "list_price": "10", "pricing": "volume",
        "tiers": [{"min_quantity": "1", "unit_price": "10"}, {"min_quantity": "10", "unit_price": "9.00"}]})
    assert entry.status_code == 201, entry.json()
    assert entry.json() == {"id": entry.json()["id"], "product": {"id": product.pk, "sku": "SEAT", "name": product.name,
                                                                  "active": True},
                            "list_price": "10.00", "pricing": "volume",
                            "tiers": [{"min_quantity": "1", "unit_price": "10.00"},
                                      {"min_quantity": "10", "unit_price": "9.00"}]}
    detail = client.get(f"/api/v1/price-books/{book_id}").json()
    assert detail["entry_count"] == 1 and detail["entries"][0]["tiers"][1]["unit_price"] == "9.00"
    # replace the tiers as a whole
    patched = client.patch(f"/api/v1/price-books/{book_id}/entries/{entry.json()['id']}",
                           {"tiers": [{"min_quantity": "5", "unit_price": "8.5"}]})
    assert patched.status_code == 200 and patched.json()["tiers"] == [{"min_quantity": "5", "unit_price": "8.50"}]
    # flat pricing drops them
    flat = client.patch(f"/api/v1/price-books/{book_id}/entries/{entry.json()['id']}", {"pricing": "flat"})
    assert flat.json()["tiers"] == [] and not PriceTier.objects.exists()
    listing = client.get("/api/v1/price-books", {"currency": "usd"}).json()
    assert listing["count"] == 1 and listing["items"][0]["entry_count"] == 1
    assert client.delete(f"/api/v1/price-books/{book_id}/entries/{entry.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/price-books/{book_id}").status_code == 204
    assert not PriceBook.objects.exists()


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "B", "currency": "US"}, "currency"),
    ({"name": "B", "currency": "ZZZ"}, "currency"),
    ({"name": "", "currency": "USD"}, "name"),
    ({"name": "B", "currency": "USD", "valid_from": "2026-05-01", "valid_until": "2026-04-30"}, "valid_until"),
    ({"name": "B", "currency": "USD", "valid_from": "2026-13-01"}, "valid_from"),
])
def test_price_book_bad_input(api_for, finance, payload, field):
    response = api_for(finance).post("/api/v1/price-books", payload)
    assert response.status_code == 422 and field in fields_of(response), response.json()
    assert not PriceBook.objects.exists()


@pytest.mark.parametrize(("payload", "field"), [
    ({"list_price": "-1"}, "list_price"),
    ({"list_price": "1.123456"}, "list_price"),
    ({"list_price": "1", "pricing": "volume"}, "tiers"),
    ({"list_price": "1", "tiers": [{"min_quantity": "1", "unit_price": "1"}]}, "tiers"),
    ({"list_price": "1", "pricing": "tiered", "tiers": [{"min_quantity": "5", "unit_price": "1"},
                                                        {"min_quantity": "2", "unit_price": "1"}]},
     "tiers.1.min_quantity"),
    ({"list_price": "1", "pricing": "tiered", "tiers": [{"min_quantity": "1", "unit_price": "-1"}]},
     "tiers.0.unit_price"),
    ({"list_price": "1", "pricing": "tiered", "tiers": [{"min_quantity": "1", "unit_price": "1", "x": 1}]},
     "tiers.0.x"),
    ({"list_price": "1", "pricing": "stepped"}, "pricing"),
])
def test_entry_bad_input(api_for, finance, payload, field):
    book, product = PriceBookFactory(), ProductFactory()
    response = api_for(finance).post(f"/api/v1/price-books/{book.pk}/entries", {"product": product.pk, **payload})
    assert response.status_code == 422 and field in fields_of(response), response.json()
    assert not PriceBookEntry.objects.exists()


def test_entry_product_must_exist_and_be_unique(api_for, finance):
    entry = PriceBookEntryFactory()
    client = api_for(finance)
    url = f"/api/v1/price-books/{entry.price_book_id}/entries"
    missing = client.post(url, {"product": 987654, "list_price": "1"})
    assert missing.status_code == 422 and fields_of(missing) == ["product"]
    duplicate = client.post(url, {"product": entry.product_id, "list_price": "1"})
    assert duplicate.status_code == 422 and fields_of(duplicate) == ["product"]
    assert PriceBookEntry.objects.count() == 1


def test_entry_of_another_book_is_404(api_for, finance):
    entry, other = PriceBookEntryFactory(), PriceBookFactory()
    client = api_for(finance)
    assert client.patch(f"/api/v1/price-books/{other.pk}/entries/{entry.pk}", {"list_price": "1"}).status_code == 404
    assert client.delete(f"/api/v1/price-books/{other.pk}/entries/{entry.pk}").status_code == 404
    assert PriceBookEntry.objects.get(pk=entry.pk).list_price == Decimal("100")


def test_sales_roles_do_not_see_inactive_price_books(api_for, rep, finance):
    active, inactive = PriceBookFactory(), PriceBookFactory(active=False)
    assert [b["id"] for b in api_for(rep).get("/api/v1/price-books").json()["items"]] == [active.pk]
    assert api_for(rep).get(f"/api/v1/price-books/{inactive.pk}").status_code == 404
    assert api_for(finance).get(f"/api/v1/price-books/{inactive.pk}").status_code == 200


def test_copy_price_book(api_for, finance):
    source = PriceBookFactory(currency="EUR")
    PriceBookEntryFactory(price_book=source, list_price=Decimal("100"), pricing="volume", tiers=[(10, "90")])
    response = api_for(finance).post(f"/api/v1/price-books/{source.pk}/copy", {
        "name": "2027 EUR", "valid_from": "2027-01-01", "valid_until": "2027-12-31", "uplift_percent": "3"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["currency"] == "EUR" and body["valid_from"] == "2027-01-01"
    assert body["entries"][0]["list_price"] == "103.00" and body["entries"][0]["tiers"][0]["unit_price"] == "92.70"
    bad = api_for(finance).post(f"/api/v1/price-books/{source.pk}/copy", {"name": "x", "uplift_percent": "-101"})
    assert bad.status_code == 422 and fields_of(bad) == ["uplift_percent"]


# --- tax rates ------------------------------------------------------------------------------------

def test_tax_rate_crud(api_for, finance, manager):
    client = api_for(finance)
    created = client.post("/api/v1/tax-rates", {"name": "TVA 20%", "country": "fr", "rate": "20",
                                                "inclusive": True, "valid_from": "2026-01-01"})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["country"], body["tax_category"], body["rate"], body["inclusive"]) == ("FR", "standard", "20", True)
    listed = api_for(manager).get("/api/v1/tax-rates", {"country": "FR"}).json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]
    seeded = api_for(manager).get("/api/v1/tax-rates", {"country": "CN", "tax_category": "services"}).json()
    assert [r["rate"] for r in seeded["items"]] == ["6"]
    patched = client.patch(f"/api/v1/tax-rates/{body['id']}", {"rate": "19.6"})
    assert patched.status_code == 200 and patched.json()["rate"] == "19.6"
    assert client.delete(f"/api/v1/tax-rates/{body['id']}").status_code == 204


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "T", "country": "FR", "rate": "101"}, "rate"),
    ({"name": "T", "country": "FR", "rate": "-0.5"}, "rate"),
    ({"name": "T", "country": "ZZ", "rate": "5"}, "country"),
    ({"name": "T", "country": "FR", "rate": "5", "tax_category": ""}, "tax_category"),
    ({"name": "T", "country": "FR", "rate": "5", "valid_from": "2026-02-01", "valid_until": "2026-01-01"},
     "valid_until"),
    ({"name": "UK again", "country": "GB", "rate": "20"}, "valid_from"),  # overlaps the seeded UK VAT 20%
])
def test_tax_rate_bad_input(api_for, finance, payload, field):
    before = TaxRate.objects.count()
    response = api_for(finance).post("/api/v1/tax-rates", payload)
    assert response.status_code == 422 and field in fields_of(response), response.json()
    assert TaxRate.objects.count() == before


def test_tax_rate_end_then_add_the_next_one(api_for, finance):
    """The usual change of a VAT rate: end the current one, then add the new one from the next day."""
    client = api_for(finance)
    current = TaxRate.objects.get(country="GB", tax_category="standard")
    assert client.patch(f"/api/v1/tax-rates/{current.pk}", {"valid_until": "2026-12-31"}).status_code == 200
    response = client.post("/api/v1/tax-rates", {"name": "UK VAT 22%", "country": "GB", "rate": "22",
                                                 "valid_from": "2027-01-01"})
    assert response.status_code == 201, response.json()
    assert TaxRate.objects.filter(country="GB", tax_category="standard").count() == 2
    assert TaxRate.objects.get(pk=current.pk).valid_until == dt.date(2026, 12, 31)
