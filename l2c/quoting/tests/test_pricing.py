"""Pricing: exact numbers for the rules, properties (Hypothesis) for the arithmetic, and the catalogue
look-ups (price book, tax rate, tier prices)."""
import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2c.core.money import minor_units, round_money
from l2c.quoting import pricing
from l2c.quoting.models import PricingMethod, TaxRate
from l2c.quoting.pricing import LineInput, list_price_for, price_lines
from l2c.quoting.services import quotes as quote_services
from l2c.quoting.tests.factories import (
    PriceBookEntryFactory,
    PriceBookFactory,
    ProductFactory,
    TaxRateFactory,
)
from l2c.quoting.tests.quote_factories import Catalogue, draft_quote

# --- exact numbers ------------------------------------------------------------------------------------


def test_mixed_chinese_vat_rates_on_one_quote_with_a_header_discount():
    # given: a good at 13 % (3 × 99.99, 10 % off) and a service at 6 %, 5 % off the whole quote
    lines = [LineInput(D(3), D("99.99"), D(10), D(13)), LineInput(D(1), D(1000), D(0), D(6))]
    # when
    amounts, totals = price_lines(lines, currency="CNY", header_discount_percent=D(5))
    # then: unit 89.991, subtotal 269.97; header discount round(1269.97 × 5 %) = 63.50 spread 13.50 + 50.00
    assert [a.unit_price for a in amounts] == [D("89.9910"), D("1000.0000")]
    assert [a.header_discount for a in amounts] == [D("13.50"), D("50.00")]
    assert [a.net_amount for a in amounts] == [D("256.47"), D("950.00")]
    assert [a.tax_amount for a in amounts] == [D("33.34"), D("57.00")]
    assert totals.tax_breakdown == [
        {"rate": "6", "inclusive": False, "net": "950.00", "tax": "57.00"},
        {"rate": "13", "inclusive": False, "net": "256.47", "tax": "33.34"},
    ]
    assert (totals.list_total, totals.discount_total) == (D("1299.97"), D("93.50"))
    assert (totals.net_total, totals.tax_total, totals.gross_total) == (D("1206.47"), D("90.34"), D("1296.81"))
    assert totals.effective_discount_percent == D("7.1925")  # 93.50 / 1299.97
    assert totals.max_line_discount_percent == D("10.0000")


def test_yen_has_no_minor_unit():
    amounts, totals = price_lines([LineInput(D(3), D(1234), D("7.5"), D(10))], currency="JPY")
    assert amounts[0].unit_price == D("1141.4500")
    assert (totals.list_total, totals.net_total, totals.tax_total, totals.gross_total) == (
        D("3702"), D("3424"), D("342"), D("3766"))  # 3 × 1141.45 = 3424.35 → 3424; 10 % → 342.4 → 342
    assert totals.tax_breakdown == [{"rate": "10", "inclusive": False, "net": "3424", "tax": "342"}]


def test_header_discount_rounding_residue_goes_to_one_line():
    # given: three lines of 3.33; 10 % of 9.99 is 0.999, rounded once to 1.00
    lines = [LineInput(D(1), D("3.33"), tax_rate=D(20))] * 3
    amounts, totals = price_lines(lines, currency="GBP", header_discount_percent=D(10))
    # then: the shares 0.33 + 0.34 + 0.33 add up to exactly 1.00
    assert [a.header_discount for a in amounts] == [D("0.33"), D("0.34"), D("0.33")]
    assert [a.net_amount for a in amounts] == [D("3.00"), D("2.99"), D("3.00")]
    assert (totals.net_total, totals.tax_total, totals.gross_total) == (D("8.99"), D("1.80"), D("10.79"))
    assert totals.discount_total == D("1.00")
    assert totals.effective_discount_percent == D("10.0100")


def test_tax_is_rounded_per_rate_group_and_spread_back_over_the_lines():
    # given: three lines of 0.05 at 10 %: per line 0.005 → 0.01 each would be 0.03; the group has 0.015 → 0.02
    lines = [LineInput(D(1), D("0.05"), tax_rate=D(10))] * 3
    amounts, totals = price_lines(lines, currency="USD")
    assert totals.tax_total == D("0.02")
    assert sum(a.tax_amount for a in amounts) == D("0.02")
    assert totals.tax_breakdown == [{"rate": "10", "inclusive": False, "net": "0.15", "tax": "0.02"}]


def test_tax_inclusive_prices_take_the_tax_out_of_the_entered_amount():
    amounts, totals = price_lines([LineInput(D(1), D(120), tax_rate=D(20), tax_inclusive=True)], currency="GBP")
    assert (amounts[0].gross_amount, amounts[0].tax_amount, amounts[0].net_amount) == (D("120.00"), D("20.00"),
                                                                                       D("100.00"))
    assert (totals.net_total, totals.tax_total, totals.gross_total) == (D("100.00"), D("20.00"), D("120.00"))
    assert totals.tax_breakdown == [{"rate": "20", "inclusive": True, "net": "100.00", "tax": "20.00"}]


def test_inclusive_discount_is_measured_on_the_entered_prices():
    _, totals = price_lines([LineInput(D(1), D(120), D(25), D(20), True)], currency="GBP")
    assert totals.list_total == D("120.00")
    assert totals.gross_total == D("90.00")
    assert totals.discount_total == D("30.00")
    assert totals.effective_discount_percent == D("25.0000")


def test_optional_lines_are_priced_but_left_out_of_the_totals_and_the_header_discount():
    lines = [LineInput(D(1), D(100), tax_rate=D(20)), LineInput(D(2), D(50), D(10), D(20), optional=True)]
    amounts, totals = price_lines(lines, currency="USD", header_discount_percent=D(10))
    assert amounts[1].header_discount == 0
    assert (amounts[1].net_amount, amounts[1].tax_amount, amounts[1].gross_amount) == (D("90.00"), D("18.00"),
                                                                                       D("108.00"))
    assert (totals.list_total, totals.net_total, totals.gross_total) == (D("100.00"), D("90.00"), D("108.00"))
    # an optional line's discount still counts for the largest line discount (it could be accepted)
    assert totals.max_line_discount_percent == D("10.0000")


def test_no_lines_and_free_lines_give_zero_everywhere():
    _, totals = price_lines([], currency="USD", header_discount_percent=D(50))
    assert (totals.net_total, totals.gross_total, totals.effective_discount_percent) == (0, 0, 0)
    _, totals = price_lines([LineInput(D(5), D(0), tax_rate=D(20))], currency="USD", header_discount_percent=D(10))
    assert (totals.net_total, totals.tax_total, totals.effective_discount_percent) == (0, 0, 0)


def test_full_discount_is_free_but_measured():
    _, totals = price_lines([LineInput(D(2), D("10.00"), D(100), D(20))], currency="USD")
    assert totals.gross_total == 0
    assert totals.effective_discount_percent == D("100.0000")


def test_spread_adds_up_and_stays_within_one_minor_unit():
    shares = pricing.spread(D("1.00"), [D(1), D(1), D(1)], "USD")
    assert shares == [D("0.33"), D("0.34"), D("0.33")]
    assert pricing.spread(D("0"), [], "USD") == []


# --- properties ------------------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["USD", "JPY", "CNY", "KWD", "GBP"])
quantities = st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=4)
prices = st.decimals(min_value=D(0), max_value=D("100000"), places=4)
percents = st.decimals(min_value=D(0), max_value=D(100), places=4)
rates = st.sampled_from([D(0), D(6), D(9), D(13), D("7.5"), D(20), D(25)])
line_inputs = st.builds(LineInput, quantity=quantities, list_price=prices, discount_percent=percents,
                        tax_rate=rates, tax_inclusive=st.booleans(), optional=st.booleans())


def _is_rounded(value: D, currency: str) -> bool:
    return value == round_money(value, currency) and value.as_tuple().exponent >= -minor_units(currency)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line_inputs, max_size=12), currency=CURRENCIES, header=percents)
def test_totals_add_up_and_are_rounded_to_the_minor_unit(lines, currency, header):
    amounts, totals = price_lines(lines, currency=currency, header_discount_percent=header)
    counted = [a for a, line in zip(amounts, lines, strict=True) if not line.optional]
    # gross = net + tax, per line and in total
    assert totals.gross_total == totals.net_total + totals.tax_total
    for amount in amounts:
        assert amount.gross_amount == amount.net_amount + amount.tax_amount
        for value in (amount.list_amount, amount.subtotal, amount.net_amount, amount.tax_amount, amount.gross_amount):
            assert _is_rounded(value, currency)
    # totals = sum of the (non-optional) lines
    assert totals.net_total == sum((a.net_amount for a in counted), D(0))
    assert totals.tax_total == sum((a.tax_amount for a in counted), D(0))
    assert totals.list_total == sum((a.list_amount for a in counted), D(0))
    # the tax lines of the document add up to the totals
    assert sum((D(b["tax"]) for b in totals.tax_breakdown), D(0)) == totals.tax_total
    assert sum((D(b["net"]) for b in totals.tax_breakdown), D(0)) == totals.net_total
    # the header discount is taken exactly once
    subtotal = sum((a.subtotal for a in counted), D(0))
    assert sum((a.header_discount for a in counted), D(0)) == round_money(subtotal * header / 100, currency)
    # discounts are never negative and never more than everything
    assert 0 <= totals.discount_total <= totals.list_total
    assert 0 <= totals.effective_discount_percent <= 100
    for value in (totals.list_total, totals.discount_total, totals.net_total, totals.tax_total, totals.gross_total):
        assert _is_rounded(value, currency)


@settings(max_examples=200, deadline=None)
@given(quantity=st.integers(min_value=1, max_value=500),
       price=st.decimals(min_value=D("0.01"), max_value=D("50000"), places=2),
       rate=st.integers(min_value=0, max_value=30), currency=st.sampled_from(["USD", "EUR", "CNY"]))
def test_inclusive_and_exclusive_prices_agree_to_a_cent_or_two(quantity, price, rate, currency):
    # given: the same price entered without tax (exclusive) and with it (inclusive: price × (1 + rate))
    rate = D(rate)
    inclusive_price = price * (100 + rate) / 100  # exact: 2 decimals × 2 decimals
    _, excl = price_lines([LineInput(D(quantity), price, tax_rate=rate)], currency=currency)
    _, incl = price_lines([LineInput(D(quantity), inclusive_price, tax_rate=rate, tax_inclusive=True)],
                          currency=currency)
    # then: net, tax and gross agree within 2 minor units (each side rounds twice)
    cent = D("0.01")
    assert abs(excl.net_total - incl.net_total) <= 2 * cent
    assert abs(excl.gross_total - incl.gross_total) <= 2 * cent
    assert abs(excl.tax_total - incl.tax_total) <= 2 * cent
    assert incl.gross_total == incl.net_total + incl.tax_total


@settings(max_examples=200, deadline=None)
@given(total=st.decimals(min_value=D(0), max_value=D("1000000"), places=2),
       weights=st.lists(st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2), min_size=1, max_size=20))
def test_spread_is_exact_and_fair(total, weights):
    shares = pricing.spread(total, weights, "USD")
    assert sum(shares, D(0)) == total
    whole = sum(weights, D(0))
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - total * weight / whole) <= D("0.01")


# --- tier prices ---------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("quantity", "expected"), [
    ("1", "10.0000"), ("10", "10.0000"), ("11", "8.0000"), ("100", "8.0000"), ("101", "5.0000"), ("1000", "5.0000"),
])
def test_volume_pricing_takes_the_tier_of_the_whole_quantity(quantity, expected):
    entry = PriceBookEntryFactory(list_price=D("12"), pricing=PricingMethod.VOLUME,
                                  tiers=[("1", "10"), ("11", "8"), ("101", "5")])
    assert list_price_for(entry, D(quantity)) == D(expected)


@pytest.mark.django_db
def test_volume_below_the_first_tier_is_the_list_price():
    entry = PriceBookEntryFactory(list_price=D("12"), pricing=PricingMethod.VOLUME, tiers=[("10", "9")])
    assert list_price_for(entry, D(9)) == D("12.0000")
    assert list_price_for(entry, D(10)) == D("9.0000")


@pytest.mark.django_db
def test_tiered_pricing_prices_each_tiers_units():
    entry = PriceBookEntryFactory(list_price=D("12"), pricing=PricingMethod.TIERED,
                                  tiers=[("1", "10"), ("11", "8"), ("101", "5")])
    # 150 units: 10 × 10 + 90 × 8 + 50 × 5 = 1070 → 7.1333 a unit
    assert list_price_for(entry, D(150)) == D("7.1333")
    assert list_price_for(entry, D(10)) == D("10.0000")
    assert list_price_for(entry, D(20)) == D("9.0000")  # 10 × 10 + 10 × 8 = 180


@pytest.mark.django_db
def test_tiered_units_before_the_first_tier_cost_the_list_price():
    entry = PriceBookEntryFactory(list_price=D("12"), pricing=PricingMethod.TIERED, tiers=[("5", "6")])
    assert list_price_for(entry, D(8)) == D("9.0000")  # units 1–4 × 12 + units 5–8 × 6 = 72 → 9
    assert list_price_for(entry, D(4)) == D("12.0000")


@pytest.mark.django_db
def test_flat_pricing_ignores_quantity():
    entry = PriceBookEntryFactory(list_price=D("99.995"))
    assert list_price_for(entry, D(1000)) == D("99.9950")


# --- price books and tax rates -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_price_book_for_prefers_the_segment_and_respects_dates_and_currency():
    today = dt.date(2026, 6, 1)
    general = PriceBookFactory(currency="USD", segment="", valid_from=dt.date(2026, 1, 1), valid_until=None)
    enterprise = PriceBookFactory(currency="USD", segment="enterprise", valid_from=None, valid_until=None)
    PriceBookFactory(currency="USD", segment="enterprise", active=False, valid_from=None, valid_until=None)
    PriceBookFactory(currency="USD", segment="smb", valid_from=None, valid_until=dt.date(2026, 5, 31))
    PriceBookFactory(currency="EUR", segment="", valid_from=None, valid_until=None)
    assert pricing.price_book_for(currency="USD", segment="Enterprise", on=today) == enterprise
    assert pricing.price_book_for(currency="USD", segment="smb", on=today) == general  # smb's book ended
    assert pricing.price_book_for(currency="USD", segment="", on=today) == general
    assert pricing.price_book_for(currency="USD", segment="", on=dt.date(2025, 12, 31)) is None
    assert pricing.price_book_for(currency="GBP", segment="", on=today) is None


@pytest.mark.django_db
def test_tax_rate_for_takes_the_rate_valid_on_the_date():
    TaxRate.objects.all().delete()
    old = TaxRateFactory(country="GB", rate=D("17.5"), valid_from=None, valid_until=dt.date(2010, 12, 31))
    new = TaxRateFactory(country="GB", rate=D("20"), valid_from=dt.date(2011, 1, 1))
    TaxRateFactory(country="GB", rate=D("99"), active=False)
    TaxRateFactory(country="GB", tax_category="zero", rate=D("0"))
    assert pricing.tax_rate_for(country="GB", tax_category="standard", on=dt.date(2010, 6, 1)) == old
    assert pricing.tax_rate_for(country="gb", tax_category="standard", on=dt.date(2026, 6, 1)) == new
    assert pricing.tax_rate_for(country="GB", tax_category="books", on=dt.date(2026, 6, 1)) is None
    assert pricing.tax_rate_for(country="", tax_category="standard", on=dt.date(2026, 6, 1)) is None


@pytest.mark.django_db
def test_the_seeded_chinese_rates_price_goods_and_services_differently(rep):
    # the migration seeds CN 13 % (standard) and 6 % (services)
    cat = Catalogue("CNY", good_price="99.99", service_price="1000")
    quote = draft_quote(rep, catalogue=cat, country="CN", currency="CNY", header_discount_percent=D(5),
                        lines=[(cat.good, 3, 10), (cat.service, 1, 0)])
    assert (quote.net_total, quote.tax_total, quote.gross_total) == (D("1206.47"), D("90.34"), D("1296.81"))
    assert [(b["rate"], b["tax"]) for b in quote.tax_breakdown] == [("6", "57.00"), ("13", "33.34")]
    lines = list(quote.lines.order_by("position"))
    assert [(line.tax_rate, line.net_amount, line.tax_amount) for line in lines] == [
        (D("13"), D("256.47"), D("33.34")), (D("6"), D("950.00"), D("57.00"))]


@pytest.mark.django_db
def test_a_missing_tax_rate_taxes_at_zero_with_a_warning(rep):
    cat = Catalogue("USD")
    quote = draft_quote(rep, catalogue=cat, country="US", lines=[(cat.good, 1, 0)])
    totals = pricing.recompute(quote)
    assert quote.tax_total == 0 and quote.gross_total == D("100")
    assert len(totals.warnings) == 1
    assert "No tax rate for US" in totals.warnings[0] and "standard" in totals.warnings[0]


@pytest.mark.django_db
def test_no_tax_country_at_all_is_a_warning(rep):
    cat = Catalogue("USD")
    quote = draft_quote(rep, catalogue=cat, country="", lines=[(cat.good, 1, 0)])
    assert quote.tax_country == ""
    assert "No tax country" in pricing.compute(quote).warnings[0]


@pytest.mark.django_db
def test_recompute_writes_only_changed_lines_and_is_idempotent(rep, django_assert_max_num_queries):
    TaxRateFactory(country="GB", tax_category="standard", rate=D("20"))
    cat = Catalogue("GBP")
    quote = draft_quote(rep, catalogue=cat, currency="GBP", lines=[(cat.good, i, 0) for i in range(1, 21)])
    before = (quote.net_total, quote.tax_total, quote.gross_total)
    with django_assert_max_num_queries(6):
        pricing.recompute(quote)
    quote.refresh_from_db()
    assert (quote.net_total, quote.tax_total, quote.gross_total) == before == (D("21000"), D("4200"), D("25200"))


@pytest.mark.django_db
def test_a_new_tax_rate_is_picked_up_by_recompute(rep):
    cat = Catalogue("USD")
    quote = draft_quote(rep, catalogue=cat, country="US", lines=[(cat.good, 2, 0)])
    assert quote.tax_total == 0
    TaxRateFactory(country="US", tax_category="standard", rate=D("8.875"))
    totals = pricing.recompute(quote)
    assert totals.warnings == []
    assert quote.tax_total == D("17.75")  # 200 × 8.875 % = 17.75
    assert quote.tax_breakdown == [{"rate": "8.875", "inclusive": False, "net": "200.00", "tax": "17.75"}]


@pytest.mark.django_db
def test_amounts_too_large_for_the_columns_are_refused(rep):
    cat = Catalogue("USD")
    quote = draft_quote(rep, catalogue=cat)
    from l2c.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=cat.good, quantity=D("1000000000000"),
                                list_price=D("99999999999999"))
    assert caught.value.errors[0].field == "quantity"
    assert not quote.lines.exists()


def test_rate_label():
    assert pricing.rate_label(D("13.0000")) == "13"
    assert pricing.rate_label(D("7.5000")) == "7.5"
    assert pricing.rate_label(D("0.0000")) == "0"
    assert pricing.rate_label(D("20")) == "20"


@pytest.mark.django_db
def test_book_price_of_a_product_not_in_the_book_is_none():
    cat = Catalogue("USD")
    assert pricing.book_price(cat.book, ProductFactory(), D(1)) is None
    assert pricing.book_price(None, cat.good, D(1)) is None
    assert pricing.book_price(cat.book, cat.good, D(1)) == D("100.0000")


@pytest.mark.django_db
def test_stored_lines_add_up_to_the_stored_totals_after_every_change(rep):
    TaxRateFactory(country="GB", tax_category="standard", rate=D("20"))
    TaxRateFactory(country="GB", tax_category="services", rate=D("5"), inclusive=True)
    cat = Catalogue("GBP", good_price="3.33", service_price="105")
    quote = draft_quote(rep, catalogue=cat, currency="GBP", lines=[(cat.good, 1, 0), (cat.good, 1, 0),
                                                                   (cat.service, 3, "12.5")])
    for header in (D("10"), D("7.5"), D("0")):
        quote = quote_services.quote_update(actor=rep, quote=quote, header_discount_percent=header)
        stored = list(quote.lines.all())  # read back from the database
        assert sum(line.net_amount for line in stored) == quote.net_total
        assert sum(line.tax_amount for line in stored) == quote.tax_total
        assert sum(line.gross_amount for line in stored) == quote.gross_total == quote.net_total + quote.tax_total
    service = quote.lines.get(product=cat.service)
    assert service.tax_inclusive and service.gross_amount == D("275.63")  # 3 × 91.875 = 275.625 → 275.63
    assert service.tax_amount == D("13.13") and service.net_amount == D("262.50")  # 275.63 × 5/105 = 13.125…
