"""Money: Decimal amounts with an ISO 4217 currency. Never float.

Rounding happens in one place, `round_money`: half-up to the currency's minor unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units that differ from 2. Everything else has 2.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3, "CLF": 4, "UYW": 4,
}

# The currencies the UI offers; any valid 3-letter upper-case code is accepted by the API.
COMMON_CURRENCIES = ["USD", "EUR", "GBP", "CNY", "HKD", "JPY", "SGD", "AUD", "CAD", "CHF"]


class CurrencyMismatch(ValueError):
    pass


def is_currency_code(code: str) -> bool:
    return isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def to_decimal(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a str or Decimal")
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def round_money(amount, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: the only rounding of money in L2C."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self):
        if not is_currency_code(self.currency):
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")
        object.__setattr__(self, "amount", to_decimal(self.amount))

    def _check(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor) -> Money:
        if isinstance(factor, float):
            raise TypeError("multiply money by a Decimal or int, not a float")
        return Money(self.amount * to_decimal(factor), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __str__(self) -> str:
        return f"{round_money(self.amount, self.currency):,} {self.currency}"
