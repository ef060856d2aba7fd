"""Catalogue services: every rule refuses bad input with a field error and changes nothing; writers only."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
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
from l2c.quoting.services import catalogue as services

from .factories import (
    PriceBookEntryFactory,
    PriceBookFactory,
    ProductFactory,
    StandaloneSellingPriceFactory,
    SubscriptionProductFactory,
    TaxRateFactory,
)

pytestmark = pytest.mark.django_db


def fields_of(exc_info) -> dict[str, str]:
    return {e.field: e.code for e in exc_info.value.errors}


def audit_events(instance, action=None):
    qs = AuditEvent.objects.filter(object_type=f"quoting.{instance._meta.model_name}", object_id=str(instance.pk))
    return qs.filter(action=action) if action else qs


# --- products -------------------------------------------------------------------------------------

def test_create_product_with_ssp_and_audit(finance):
    product = services.product_create(actor=finance, sku="CRM-PRO", name="CRM Pro", kind="subscription",
                                      billing_period="month", unit="user/month", tax_category=" Services ",
                                      ssp={"usd": "100.00", "CNY": Decimal("700.5")})
    assert product.revenue_rule == RevenueRule.RATABLE  # the subscription default
    assert product.tax_category == "services"
    assert services.product_ssp(product) == {"CNY": Decimal("700.5000"), "USD": Decimal("100.0000")}
    event = audit_events(product, AuditEvent.Action.CREATE).get()
    assert event.actor_id == finance.pk and event.changes["ssp"] == [None, {"CNY": "700.5000", "USD": "100.0000"}]


@pytest.mark.parametrize(("kind", "rule"), [
    ("good", RevenueRule.POINT_IN_TIME), ("service", RevenueRule.POINT_IN_TIME),
    ("milestone", RevenueRule.MILESTONE),
])
def test_revenue_rule_defaults_by_kind(admin_user, kind, rule):
    assert services.product_create(actor=admin_user, sku=f"X-{kind}", name="X", kind=kind).revenue_rule == rule


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"sku": ""}, "sku", "required"),
    ({"sku": "HAS SPACE"}, "sku", "invalid_sku"),
    ({"sku": "TAB\tSKU"}, "sku", "invalid_sku"),
    ({"sku": "x" * 65}, "sku", "max_length"),
    ({"name": "  "}, "name", "required"),
    ({"unit": ""}, "unit", "required"),
    ({"tax_category": " "}, "tax_category", "required"),
    ({"kind": "gadget"}, "kind", "invalid_choice"),
    ({"kind": "subscription"}, "billing_period", "required"),
    ({"kind": "subscription", "billing_period": "week"}, "billing_period", "invalid_choice"),
    ({"kind": "good", "billing_period": "month"}, "billing_period", "not_allowed"),
    ({"kind": "good", "revenue_rule": "ratable"}, "revenue_rule", "invalid_revenue_rule"),
    ({"kind": "good", "revenue_rule": "milestone"}, "revenue_rule", "invalid_revenue_rule"),
    ({"kind": "milestone", "revenue_rule": "ratable"}, "revenue_rule", "invalid_revenue_rule"),
    ({"kind": "subscription", "billing_period": "year", "revenue_rule": "milestone"}, "revenue_rule",
     "invalid_revenue_rule"),
    ({"revenue_rule": "whenever"}, "revenue_rule", "invalid_choice"),
    ({"ssp": {"US$": "1"}}, "ssp.US$", "invalid_currency"),
    ({"ssp": {"XXY": "1"}}, "ssp.XXY", "invalid_currency"),
    ({"ssp": {"USD": "-1"}}, "ssp.USD", "min_value"),
    ({"ssp": {"USD": "1.23456"}}, "ssp.USD", "max_decimal_places"),
    ({"ssp": {"USD": "abc"}}, "ssp.USD", "invalid_number"),
    ({"ssp": {"USD": "NaN"}}, "ssp.USD", "invalid_number"),
    ({"ssp": {"USD": 1.5}}, "ssp.USD", "invalid_number"),
    ({"ssp": {"USD": "1", "usd": "2"}}, "ssp.usd", "duplicate_currency"),
    ({"ssp": ["USD", "1"]}, "ssp", "invalid"),
])
def test_product_rules(finance, values, field, code):
    data = {"sku": "OK-1", "name": "Thing", **values}
    with pytest.raises(ValidationFailed) as exc:
        services.product_create(actor=finance, **data)
    assert fields_of(exc).get(field) == code, exc.value.errors
    assert not Product.objects.exists() and not StandaloneSellingPrice.objects.exists()
    assert not AuditEvent.objects.filter(object_type="quoting.product").exists()


def test_allowed_revenue_rule_overrides(finance):
    service = services.product_create(actor=finance, sku="IMPL", name="Implementation", kind="service",
                                      revenue_rule="milestone")
    licence = services.product_create(actor=finance, sku="LIC", name="Term licence", kind="subscription",
                                      billing_period="year", revenue_rule="point_in_time")
    assert service.revenue_rule == RevenueRule.MILESTONE and licence.revenue_rule == RevenueRule.POINT_IN_TIME


def test_sku_unique_ignoring_case(finance):
    ProductFactory(sku="CRM-Pro")
    with pytest.raises(ValidationFailed) as exc:
        services.product_create(actor=finance, sku="crm-pro", name="Duplicate")
    assert fields_of(exc) == {"sku": "duplicate_sku"}
    assert Product.objects.count() == 1


def test_update_keeps_own_sku_and_rejects_anothers(finance):
    mine, other = ProductFactory(sku="A-1"), ProductFactory(sku="B-1")
    services.product_update(actor=finance, product=mine, sku="a-1", name="Renamed")
    mine.refresh_from_db()
    assert mine.sku == "a-1" and mine.name == "Renamed"
    with pytest.raises(ValidationFailed) as exc:
        services.product_update(actor=finance, product=mine, sku="b-1")
    assert fields_of(exc) == {"sku": "duplicate_sku"}
    assert other.sku == "B-1" and Product.objects.get(pk=mine.pk).sku == "a-1"


def test_changing_kind_resets_rule_and_period(admin_user):
    product = SubscriptionProductFactory()
    services.product_update(actor=admin_user, product=product, kind="good")
    product.refresh_from_db()
    assert (product.kind, product.billing_period, product.revenue_rule) == ("good", "", RevenueRule.POINT_IN_TIME)
    with pytest.raises(ValidationFailed) as exc:
        services.product_update(actor=admin_user, product=product, kind="subscription")
    assert fields_of(exc) == {"billing_period": "required"}
    with pytest.raises(ValidationFailed) as exc:
        services.product_update(actor=admin_user, product=product, revenue_rule="ratable")
    assert fields_of(exc) == {"revenue_rule": "invalid_revenue_rule"}
    product.refresh_from_db()
    assert product.kind == "good" and product.revenue_rule == RevenueRule.POINT_IN_TIME


def test_update_replaces_ssp_and_audits_the_diff(finance):
    product = ProductFactory()
    StandaloneSellingPriceFactory(product=product, currency="USD", amount=Decimal("100"))
    StandaloneSellingPriceFactory(product=product, currency="EUR", amount=Decimal("90"))
    services.product_update(actor=finance, product=product, ssp={"USD": "120", "GBP": "80"})
    assert services.product_ssp(product) == {"GBP": Decimal("80.0000"), "USD": Decimal("120.0000")}
    event = audit_events(product, AuditEvent.Action.UPDATE).get()
    assert event.changes == {"ssp": [{"EUR": "90.0000", "USD": "100.0000"}, {"GBP": "80.0000", "USD": "120.0000"}]}
    # an update that changes nothing records nothing
    services.product_update(actor=finance, product=product, ssp={"USD": "120.00", "GBP": "80"}, name=product.name)
    assert audit_events(product, AuditEvent.Action.UPDATE).count() == 1


def test_update_rejects_unknown_fields(finance):
    with pytest.raises(ValidationFailed) as exc:
        services.product_update(actor=finance, product=ProductFactory(), price="1")
    assert fields_of(exc) == {"price": "unknown_field"}


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_sales_roles_cannot_write_the_catalogue(request, role):
    user = request.getfixturevalue(role)
    product, book, rate = ProductFactory(), PriceBookFactory(), TaxRateFactory()
    entry = PriceBookEntryFactory(price_book=book)
    calls = [
        lambda: services.product_create(actor=user, sku="NEW", name="New"),
        lambda: services.product_update(actor=user, product=product, name="Hacked"),
        lambda: services.product_delete(actor=user, product=product),
        lambda: services.price_book_create(actor=user, name="B", currency="USD"),
        lambda: services.price_book_update(actor=user, book=book, name="Hacked"),
        lambda: services.price_book_delete(actor=user, book=book),
        lambda: services.price_book_copy(actor=user, source=book, name="Copy"),
        lambda: services.entry_create(actor=user, price_book=book, product=product, list_price="1"),
        lambda: services.entry_update(actor=user, entry=entry, list_price="1"),
        lambda: services.entry_delete(actor=user, entry=entry),
        lambda: services.tax_rate_create(actor=user, name="T", country="GB", rate="5", tax_category="reduced"),
        lambda: services.tax_rate_update(actor=user, tax_rate=rate, rate="1"),
        lambda: services.tax_rate_delete(actor=user, tax_rate=rate),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert Product.objects.count() == 2 and PriceBook.objects.count() == 1
    assert TaxRate.objects.filter(country="DE").count() == 1 and not TaxRate.objects.filter(name="T").exists()
    assert Product.objects.get(pk=product.pk).name != "Hacked"


def test_delete_unused_product(finance):
    product = ProductFactory()
    StandaloneSellingPriceFactory(product=product)
    pk = product.pk
    services.product_delete(actor=finance, product=product)
    assert not Product.objects.filter(pk=pk).exists()
    assert AuditEvent.objects.filter(object_type="quoting.product", object_id=str(pk), action="delete").exists()


def test_product_in_a_price_book_cannot_be_deleted(finance):
    entry = PriceBookEntryFactory()
    with pytest.raises(Conflict) as exc:
        services.product_delete(actor=finance, product=entry.product)
    assert exc.value.code == "in_use" and "deactivate" in exc.value.message
    assert Product.objects.filter(pk=entry.product_id).exists()


def test_product_on_a_quote_cannot_be_deleted_but_can_be_deactivated(finance, rep):
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import Quote, QuoteLine

    product = ProductFactory()
    opportunity = OpportunityFactory(owner=rep)
    quote = Quote.objects.create(number="QUO-T-1", opportunity=opportunity, account=opportunity.account, owner=rep,
                                 currency="USD", quote_date=dt.date(2026, 1, 1), valid_until=dt.date(2026, 2, 1))
    QuoteLine.objects.create(quote=quote, product=product, list_price=Decimal("10"))
    with pytest.raises(Conflict) as exc:
        services.product_delete(actor=finance, product=product)
    assert "1 quote line" in exc.value.message
    services.product_update(actor=finance, product=product, active=False)
    assert Product.objects.get(pk=product.pk).active is False


# --- price books ----------------------------------------------------------------------------------

def test_create_price_book(finance):
    book = services.price_book_create(actor=finance, name=" 2026 list ", currency="eur", segment="SMB",
                                      valid_from=dt.date(2026, 1, 1), valid_until="2026-12-31")
    assert (book.name, book.currency, book.segment, book.valid_until) == ("2026 list", "EUR", "SMB",
                                                                          dt.date(2026, 12, 31))
    assert audit_events(book, "create").exists()


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"name": ""}, "name", "required"),
    ({"currency": "EURO"}, "currency", "invalid_currency"),
    ({"currency": "ABC"}, "currency", "invalid_currency"),
    ({"currency": ""}, "currency", "required"),
    ({"valid_from": "2026-02-01", "valid_until": "2026-01-31"}, "valid_until", "dates_out_of_order"),
    ({"valid_from": "2026-02-30"}, "valid_from", "invalid_date"),
    ({"segment": "s" * 41}, "segment", "max_length"),
])
def test_price_book_rules(finance, values, field, code):
    with pytest.raises(ValidationFailed) as exc:
        services.price_book_create(actor=finance, **{"name": "Book", "currency": "USD", **values})
    assert fields_of(exc).get(field) == code
    assert not PriceBook.objects.exists()


def test_price_book_update_checks_dates_against_stored_ones(finance):
    book = PriceBookFactory(valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    with pytest.raises(ValidationFailed) as exc:
        services.price_book_update(actor=finance, book=book, valid_until=dt.date(2025, 12, 31))
    assert fields_of(exc) == {"valid_until": "dates_out_of_order"}
    services.price_book_update(actor=finance, book=book, valid_until=None, active=False)
    book.refresh_from_db()
    assert book.valid_until is None and book.active is False
    assert audit_events(book, "update").get().changes["active"] == [True, False]


def _quote_with_book(book, owner):
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import Quote

    opportunity = OpportunityFactory(owner=owner)
    return Quote.objects.create(number="QUO-T-2", opportunity=opportunity, account=opportunity.account, owner=owner,
                                currency=book.currency, price_book=book, quote_date=dt.date(2026, 1, 1),
                                valid_until=dt.date(2026, 2, 1))


def test_price_book_used_by_quotes_cannot_be_deleted_nor_change_currency(finance, rep):
    book = PriceBookFactory()
    PriceBookEntryFactory(price_book=book)
    _quote_with_book(book, rep)
    with pytest.raises(Conflict) as exc:
        services.price_book_delete(actor=finance, book=book)
    assert "1 quote(s)" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        services.price_book_update(actor=finance, book=book, currency="EUR")
    assert fields_of(exc) == {"currency": "in_use"}
    assert PriceBook.objects.get(pk=book.pk).currency == "USD"


def test_delete_unused_price_book_with_its_entries(finance):
    book = PriceBookFactory()
    entry = PriceBookEntryFactory(price_book=book, pricing="volume", tiers=[(10, "9")])
    services.price_book_delete(actor=finance, book=book)
    assert not PriceBookEntry.objects.filter(pk=entry.pk).exists() and not PriceTier.objects.exists()
    assert Product.objects.filter(pk=entry.product_id).exists()


def test_copy_price_book_with_uplift(finance):
    source = PriceBookFactory(currency="USD", segment="SMB")
    PriceBookEntryFactory(price_book=source, list_price=Decimal("100.0000"))
    PriceBookEntryFactory(price_book=source, list_price=Decimal("10.0050"), pricing=PricingMethod.TIERED,
                          tiers=[(0, "10.0050"), (100, "9.99")])
    copy = services.price_book_copy(actor=finance, source=source, name="2027", valid_from=dt.date(2027, 1, 1),
                                    valid_until=dt.date(2027, 12, 31), uplift_percent="5")
    assert (copy.currency, copy.segment, copy.valid_from) == ("USD", "SMB", dt.date(2027, 1, 1))
    prices = sorted(e.list_price for e in copy.entries.all())
    assert prices == [Decimal("10.51"), Decimal("105.00")]  # 10.0050 × 1.05 = 10.505250 → 10.51 (half-up)
    tiers = list(PriceTier.objects.filter(entry__price_book=copy).order_by("min_quantity")
                 .values_list("min_quantity", "unit_price"))
    assert tiers == [(Decimal("0"), Decimal("10.51")), (Decimal("100"), Decimal("10.49"))]
    # the source is untouched
    assert sorted(e.list_price for e in source.entries.all()) == [Decimal("10.0050"), Decimal("100.0000")]
    assert audit_events(copy, "create").get().changes["copied_from"] == [None, source.pk]


def test_copy_without_uplift_keeps_exact_prices(admin_user):
    source = PriceBookFactory(currency="JPY")
    PriceBookEntryFactory(price_book=source, list_price=Decimal("0.1234"))
    copy = services.price_book_copy(actor=admin_user, source=source, name="Copy")
    assert copy.entries.get().list_price == Decimal("0.1234")


def test_copy_refuses_bad_input(finance):
    source = PriceBookFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.price_book_copy(actor=finance, source=source, name="", uplift_percent="-150",
                                 valid_from="2027-02-01", valid_until="2027-01-01")
    assert fields_of(exc) == {"name": "required", "uplift_percent": "min_value", "valid_until": "dates_out_of_order"}
    assert PriceBook.objects.count() == 1


# --- entries and tiers ----------------------------------------------------------------------------

def test_entry_with_tiers(finance):
    book, product = PriceBookFactory(), ProductFactory()
    entry = services.entry_create(actor=finance, price_book=book, product=product, list_price="10",
                                  pricing="volume", tiers=[{"min_quantity": "0", "unit_price": "10"},
                                                           {"min_quantity": "10", "unit_price": "9.00"},
                                                           ("100", Decimal("8.5"))])
    assert list(entry.tiers.values_list("min_quantity", "unit_price")) == [
        (Decimal("0"), Decimal("10")), (Decimal("10"), Decimal("9")), (Decimal("100"), Decimal("8.5"))]
    assert audit_events(entry, "create").get().changes["tiers"][1][1] == ["10.0000", "9.0000"]


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"list_price": "-1"}, "list_price", "min_value"),
    ({"list_price": ""}, "list_price", "required"),
    ({"list_price": "1.00001"}, "list_price", "max_decimal_places"),
    ({"list_price": "1e30"}, "list_price", "max_value"),
    ({"pricing": "stepped"}, "pricing", "invalid_choice"),
    ({"pricing": "flat", "tiers": [{"min_quantity": "1", "unit_price": "1"}]}, "tiers", "tiers_not_allowed"),
    ({"pricing": "volume", "tiers": []}, "tiers", "tiers_required"),
    ({"pricing": "tiered"}, "tiers", "tiers_required"),
    ({"pricing": "volume", "tiers": [{"min_quantity": "-1", "unit_price": "1"}]}, "tiers.0.min_quantity",
     "min_value"),
    ({"pricing": "volume", "tiers": [{"min_quantity": "1", "unit_price": "-0.01"}]}, "tiers.0.unit_price",
     "min_value"),
    ({"pricing": "volume", "tiers": [{"min_quantity": "10", "unit_price": "1"},
                                     {"min_quantity": "5", "unit_price": "1"}]}, "tiers.1.min_quantity",
     "tiers_out_of_order"),
    ({"pricing": "tiered", "tiers": [{"min_quantity": "10", "unit_price": "1"},
                                     {"min_quantity": "10.0", "unit_price": "2"}]}, "tiers.1.min_quantity",
     "duplicate_tier"),
    ({"pricing": "tiered", "tiers": [{"min_quantity": "1", "price": "2"}]}, "tiers.0.price", "unknown_field"),
    ({"pricing": "tiered", "tiers": [{"min_quantity": "1"}]}, "tiers.0.unit_price", "required"),
    ({"pricing": "tiered", "tiers": "10:1"}, "tiers", "invalid"),
])
def test_entry_rules(finance, values, field, code):
    book, product = PriceBookFactory(), ProductFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.entry_create(actor=finance, price_book=book, product=product, **{"list_price": "10", **values})
    assert fields_of(exc).get(field) == code, exc.value.errors
    assert not PriceBookEntry.objects.exists() and not PriceTier.objects.exists()


def test_entry_unique_per_product_and_product_must_be_active(finance):
    entry = PriceBookEntryFactory()
    with pytest.raises(ValidationFailed) as exc:
        services.entry_create(actor=finance, price_book=entry.price_book, product=entry.product, list_price="5")
    assert fields_of(exc) == {"product": "duplicate_entry"}
    inactive = ProductFactory(active=False)
    with pytest.raises(ValidationFailed) as exc:
        services.entry_create(actor=finance, price_book=entry.price_book, product=inactive, list_price="5")
    assert fields_of(exc) == {"product": "inactive_product"}
    with pytest.raises(ValidationFailed) as exc:
        services.entry_create(actor=finance, price_book=entry.price_book, product=None, list_price="5")
    assert fields_of(exc) == {"product": "required"}
    assert PriceBookEntry.objects.count() == 1


def test_entry_update_replaces_tiers_and_flat_drops_them(finance):
    entry = PriceBookEntryFactory(pricing="volume", tiers=[(1, "10"), (10, "9")])
    services.entry_update(actor=finance, entry=entry, tiers=[{"min_quantity": "5", "unit_price": "8"}])
    assert list(entry.tiers.values_list("min_quantity", "unit_price")) == [(Decimal("5"), Decimal("8"))]
    services.entry_update(actor=finance, entry=entry, list_price="12.5")  # tiers kept
    assert entry.tiers.count() == 1
    services.entry_update(actor=finance, entry=entry, pricing="flat")
    entry.refresh_from_db()
    assert entry.pricing == "flat" and entry.list_price == Decimal("12.5") and not entry.tiers.exists()
    changes = [e.changes for e in audit_events(entry, "update").order_by("id")]
    assert changes[0] == {"tiers": [[["1.0000", "10.0000"], ["10.0000", "9.0000"]], [["5.0000", "8.0000"]]]}
    assert changes[2]["pricing"] == ["volume", "flat"]
    with pytest.raises(ValidationFailed) as exc:
        services.entry_update(actor=finance, entry=entry, pricing="tiered")
    assert fields_of(exc) == {"tiers": "tiers_required"}
    with pytest.raises(ValidationFailed) as exc:
        services.entry_update(actor=finance, entry=entry, product=ProductFactory())
    assert fields_of(exc) == {"product": "unknown_field"}


def test_entry_delete(finance):
    entry = PriceBookEntryFactory(pricing="volume", tiers=[(1, "10")])
    services.entry_delete(actor=finance, entry=entry)
    assert not PriceBookEntry.objects.exists() and not PriceTier.objects.exists()
    assert AuditEvent.objects.filter(object_type="quoting.pricebookentry", action="delete").exists()


# --- tax rates ------------------------------------------------------------------------------------

def test_create_tax_rates(finance):
    goods = services.tax_rate_create(actor=finance, name="TVA 20%", country="fr", rate="20", tax_category="Standard")
    services_rate = services.tax_rate_create(actor=finance, name="TVA 5.5%", country="FR", rate=Decimal("5.5"),
                                             tax_category="reduced", inclusive=True)
    assert (goods.country, goods.tax_category, goods.rate) == ("FR", "standard", Decimal("20.0000"))
    assert services_rate.inclusive is True
    assert audit_events(goods, "create").exists()


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"rate": "100.01"}, "rate", "max_value"),
    ({"rate": "-1"}, "rate", "min_value"),
    ({"rate": "12.12345"}, "rate", "max_decimal_places"),
    ({"rate": None}, "rate", "required"),
    ({"country": "XX"}, "country", "invalid_country"),
    ({"country": "GBR"}, "country", "invalid_country"),
    ({"country": ""}, "country", "required"),
    ({"tax_category": "  "}, "tax_category", "required"),
    ({"name": ""}, "name", "required"),
    ({"valid_from": dt.date(2026, 2, 1), "valid_until": dt.date(2026, 1, 1)}, "valid_until", "dates_out_of_order"),
])
def test_tax_rate_rules(finance, values, field, code):
    with pytest.raises(ValidationFailed) as exc:
        services.tax_rate_create(actor=finance, **{"name": "VAT", "country": "FR", "rate": "20", **values})
    assert fields_of(exc).get(field) == code
    assert not TaxRate.objects.exclude(country__in=["CN", "GB"]).exists()  # only the seeded rates


def test_seeded_rate_blocks_a_second_active_rate(finance):
    with pytest.raises(ValidationFailed) as exc:
        services.tax_rate_create(actor=finance, name="VAT 13%", country="CN", rate="13")
    assert "China VAT 13% (goods)" in exc.value.errors[0].message


def test_tax_rates_may_not_overlap(finance):
    TaxRateFactory(country="DE", tax_category="standard", valid_from=dt.date(2020, 1, 1), valid_until=None)
    with pytest.raises(ValidationFailed) as exc:
        services.tax_rate_create(actor=finance, name="VAT new", country="DE", rate="21",
                                 valid_from=dt.date(2030, 1, 1))
    assert fields_of(exc) == {"valid_from": "overlapping_rate"}
    assert "VAT DE" in exc.value.errors[0].message
    # another category, an inactive rate, or a period before the existing one are fine
    services.tax_rate_create(actor=finance, name="Reduced", country="DE", rate="5", tax_category="reduced")
    services.tax_rate_create(actor=finance, name="Old", country="DE", rate="17.5", active=False)
    services.tax_rate_create(actor=finance, name="Before", country="DE", rate="15", valid_until=dt.date(2019, 12, 31))
    with pytest.raises(ValidationFailed):  # an open start overlaps everything before 2020 too
        services.tax_rate_create(actor=finance, name="Open", country="DE", rate="15", valid_until=dt.date(2019, 1, 1))
    assert TaxRate.objects.filter(country="DE").count() == 4


def test_tax_rate_update_checks_overlap_but_not_against_itself(finance):
    current = TaxRateFactory(valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2025, 12, 31))
    later = TaxRateFactory(valid_from=dt.date(2026, 1, 1), valid_until=None, rate=Decimal("21"))
    services.tax_rate_update(actor=finance, tax_rate=current, rate="20.5", valid_from=dt.date(2019, 1, 1))
    with pytest.raises(ValidationFailed) as exc:
        services.tax_rate_update(actor=finance, tax_rate=current, valid_until=dt.date(2026, 6, 30))
    assert fields_of(exc) == {"valid_from": "overlapping_rate"}
    with pytest.raises(ValidationFailed):  # reactivating an overlapping inactive rate is refused too
        inactive = TaxRateFactory(active=False, valid_from=None, valid_until=None)
        services.tax_rate_update(actor=finance, tax_rate=inactive, active=True)
    services.tax_rate_update(actor=finance, tax_rate=later, active=False)
    current.refresh_from_db()
    assert current.rate == Decimal("20.5") and current.valid_until == dt.date(2025, 12, 31)


def test_tax_rate_used_by_quote_lines_cannot_be_deleted(finance, rep):
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import Quote, QuoteLine

    rate = TaxRateFactory(country="DE", rate=Decimal("19"))
    unused = TaxRateFactory(country="FR", rate=Decimal("19"))
    opportunity = OpportunityFactory(owner=rep)
    quote = Quote.objects.create(number="QUO-T-3", opportunity=opportunity, account=opportunity.account, owner=rep,
                                 currency="EUR", tax_country="DE", quote_date=dt.date(2026, 1, 1),
                                 valid_until=dt.date(2026, 2, 1))
    QuoteLine.objects.create(quote=quote, product=ProductFactory(), list_price=Decimal("10"),
                             tax_category="standard", tax_rate=Decimal("19"))
    with pytest.raises(Conflict):
        services.tax_rate_delete(actor=finance, tax_rate=rate)
    services.tax_rate_delete(actor=finance, tax_rate=unused)
    assert TaxRate.objects.filter(pk=rate.pk).exists() and not TaxRate.objects.filter(pk=unused.pk).exists()


def test_system_actor_may_write(db):
    product = services.product_create(actor=None, sku="SYS", name="Seeded", kind=ProductKind.SERVICE)
    assert AuditEvent.objects.get(object_id=str(product.pk), object_type="quoting.product").actor_label == "system"
