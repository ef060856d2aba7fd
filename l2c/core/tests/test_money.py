from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l2c.core.money import CurrencyMismatch, Money, round_money


def test_round_half_up_to_minor_unit():
    assert round_money(Decimal("2.345"), "USD") == Decimal("2.35")
    assert round_money(Decimal("2.344"), "USD") == Decimal("2.34")
    assert round_money(Decimal("-2.345"), "USD") == Decimal("-2.35")
    assert round_money(Decimal("100.5"), "JPY") == Decimal("101")
    assert round_money(Decimal("1.2345"), "KWD") == Decimal("1.235")


def test_float_is_refused():
    with pytest.raises(TypeError):
        Money(1.5, "USD")
    with pytest.raises(TypeError):
        Money(Decimal("1"), "USD") * 1.5


def test_mixing_currencies_is_refused():
    with pytest.raises(CurrencyMismatch):
        Money(Decimal("1"), "USD") + Money(Decimal("1"), "EUR")


def test_bad_currency_code():
    with pytest.raises(ValueError):
        Money(Decimal("1"), "usd")


@given(st.lists(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False), max_size=20))
def test_sum_of_two_place_amounts_is_exact(amounts):
    total = Money.zero("EUR")
    for amount in amounts:
        total = total + Money(amount, "EUR")
    assert total.amount == sum(amounts, Decimal(0))
    assert total.rounded().amount == total.amount
