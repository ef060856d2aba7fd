"""Quote pricing: the one place quote arithmetic happens.

Rules (docs/quotes.md has them with examples):

- A line's unit list price comes from the quote's price book (`list_price_for`: flat, volume or tiered)
  unless the user typed one; it is kept with 4 decimal places.
- unit price = list price × (1 − line discount), kept with 4 places; line subtotal = quantity × unit price,
  rounded to the currency's minor unit.
- The header discount is taken off the sum of the non-optional lines' subtotals once (rounded), and spread
  over those lines in proportion to their subtotals by cumulative rounding, so the lines add up to the
  total exactly. Optional lines do not get it.
- Tax comes from `tax_rate_for(country, product tax category, quote date)`; a missing rate taxes at 0 %
  and adds a warning. Lines are grouped by rate: each group's tax is rounded once (exclusive: net × rate;
  inclusive: gross × rate / (100 + rate)) and spread back over its lines by cumulative rounding, so the
  document's tax lines, the line amounts and the totals all add up.
- gross = net + tax exactly; optional lines are priced but left out of every total.

Rounding to the minor unit is `core.money.round_money` (half-up) everywhere; unit prices and percentages
are kept with 4 places (half-up), the precision of their columns.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core.bulk import update_columns
from l2c.core.errors import ValidationFailed
from l2c.core.money import round_money

from .models import PriceBook, PriceBookEntry, PricingMethod, Quote, QuoteLine, TaxRate

ZERO = Decimal(0)
HUNDRED = Decimal(100)
FOUR_PLACES = Decimal("0.0001")

# the columns recompute writes on each line
LINE_FIELDS = ("tax_category", "tax_rate", "tax_inclusive", "unit_price", "list_amount", "net_amount",
               "tax_amount", "gross_amount")
QUOTE_FIELDS = ("list_total", "discount_total", "net_total", "tax_total", "gross_total", "tax_breakdown",
                "effective_discount_percent", "max_line_discount_percent")


def four_places(value: Decimal) -> Decimal:
    """Unit prices and percentages are kept with 4 decimal places (half-up): their columns' precision."""
    return Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def rate_label(rate: Decimal) -> str:
    """13.0000 → "13", 7.5000 → "7.5"."""
    text = format(Decimal(rate).normalize(), "f")
    return text if text else "0"


# --- catalogue look-ups --------------------------------------------------------------------------------

def _valid_on(on: dt.date) -> Q:
    return (Q(valid_from__isnull=True) | Q(valid_from__lte=on)) & (Q(valid_until__isnull=True) | Q(valid_until__gte=on))


def price_book_for(*, currency: str, segment: str, on: dt.date) -> PriceBook | None:
    """The active price book in `currency` valid on `on`: the segment's own book before the book for every
    segment (segment ""); among several, the one valid from the latest date, then the newest."""
    segment = (segment or "").strip().lower()
    books = [b for b in PriceBook.objects.filter(_valid_on(on), active=True, currency=currency)
             if b.segment.strip().lower() in (segment, "")]
    if not books:
        return None
    books.sort(key=lambda b: (b.segment.strip().lower() != segment or not segment,
                              -(b.valid_from or dt.date.min).toordinal(), -b.pk))
    return books[0]


def _rate_sort_key(rate: TaxRate):
    return (-(rate.valid_from or dt.date.min).toordinal(), -rate.pk)


def pick_tax_rate(rates: Iterable[TaxRate], *, tax_category: str, on: dt.date) -> TaxRate | None:
    """The rate of `tax_category` among `rates` (one country's active rates) that applies on `on`; when
    validity periods overlap, the one valid from the latest date."""
    candidates = [r for r in rates if r.active and r.tax_category == tax_category
                  and (r.valid_from is None or r.valid_from <= on) and (r.valid_until is None or r.valid_until >= on)]
    return min(candidates, key=_rate_sort_key) if candidates else None


def tax_rate_for(*, country: str, tax_category: str, on: dt.date) -> TaxRate | None:
    """The active tax rate of a product's tax category in a country on a date, or None."""
    if not country:
        return None
    rates = TaxRate.objects.filter(_valid_on(on), active=True, country=country.upper(), tax_category=tax_category)
    return pick_tax_rate(rates, tax_category=tax_category, on=on)


def list_price_for(entry: PriceBookEntry, quantity) -> Decimal:
    """The unit list price of `quantity` units under a price book entry (4 places).

    flat: the entry's list price. volume: the tier with the highest "from quantity" that the quantity
    reaches prices every unit (below the first tier: the entry's list price). tiered: each tier prices
    the units inside it, counting units from 1 (a tier from 11 prices the 11th unit on; units before the
    first tier cost the entry's list price); the unit price is the average.
    """
    quantity = Decimal(quantity)
    tiers = sorted(entry.tiers.all(), key=lambda t: t.min_quantity)
    if entry.pricing == PricingMethod.FLAT or not tiers or quantity <= 0:
        return four_places(entry.list_price)
    if entry.pricing == PricingMethod.VOLUME:
        price = entry.list_price
        for tier in tiers:
            if quantity >= tier.min_quantity:
                price = tier.unit_price
        return four_places(price)
    # tiered: tier i covers the quantity between its start and the next tier's start
    starts = [max(t.min_quantity - 1, ZERO) for t in tiers]
    total = min(quantity, starts[0]) * entry.list_price
    for index, tier in enumerate(tiers):
        end = starts[index + 1] if index + 1 < len(tiers) else None
        upper = quantity if end is None else min(quantity, end)
        if upper > starts[index]:
            total += (upper - starts[index]) * tier.unit_price
    return four_places(total / quantity)


def entry_for(price_book: PriceBook | None, product) -> PriceBookEntry | None:
    if price_book is None:
        return None
    return (PriceBookEntry.objects.filter(price_book=price_book, product=product)
            .prefetch_related("tiers").first())


def book_price(price_book: PriceBook | None, product, quantity) -> Decimal | None:
    """The list price the price book gives `product` at `quantity`, or None when it is not in the book."""
    entry = entry_for(price_book, product)
    return None if entry is None else list_price_for(entry, quantity)


# --- the arithmetic (pure: no database) ----------------------------------------------------------------

@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    list_price: Decimal
    discount_percent: Decimal = ZERO
    tax_rate: Decimal = ZERO
    tax_inclusive: bool = False
    optional: bool = False


@dataclass
class LineAmounts:
    unit_price: Decimal  # after the line discount, 4 places
    list_amount: Decimal  # quantity × list price, rounded
    subtotal: Decimal  # quantity × unit price, rounded (before the header discount)
    header_discount: Decimal  # this line's share of the header discount
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal


@dataclass
class Totals:
    currency: str
    list_total: Decimal = ZERO
    discount_total: Decimal = ZERO
    net_total: Decimal = ZERO
    tax_total: Decimal = ZERO
    gross_total: Decimal = ZERO
    tax_breakdown: list[dict] = field(default_factory=list)
    effective_discount_percent: Decimal = ZERO
    max_line_discount_percent: Decimal = ZERO
    warnings: list[str] = field(default_factory=list)


def spread(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `total` (already rounded) in proportion to `weights` into amounts rounded to the currency's
    minor unit that add up to `total` exactly: each share is the rounded running total minus the
    previous one (cumulative rounding), so no share is off by more than one minor unit."""
    whole = sum(weights, ZERO)
    if whole == 0:
        return [ZERO for _ in weights] if total == 0 else [total] + [ZERO] * (len(weights) - 1)
    shares, running, previous = [], ZERO, ZERO
    for weight in weights:
        running += weight
        current = round_money(total * running / whole, currency)
        shares.append(current - previous)
        previous = current
    return shares


def price_lines(lines: Sequence[LineInput], *, currency: str,
                header_discount_percent: Decimal = ZERO) -> tuple[list[LineAmounts], Totals]:
    """Price every line and total the quote (see the module docstring for the rules)."""
    header = Decimal(header_discount_percent)
    amounts: list[LineAmounts] = []
    for line in lines:
        unit_price = four_places(line.list_price * (HUNDRED - line.discount_percent) / HUNDRED)
        amounts.append(LineAmounts(
            unit_price=unit_price,
            list_amount=round_money(line.quantity * line.list_price, currency),
            subtotal=round_money(line.quantity * unit_price, currency),
            header_discount=ZERO, net_amount=ZERO, tax_amount=ZERO, gross_amount=ZERO,
        ))
    counted = [i for i, line in enumerate(lines) if not line.optional]
    subtotal = sum((amounts[i].subtotal for i in counted), ZERO)
    header_total = round_money(subtotal * header / HUNDRED, currency)
    for i, share in zip(counted, spread(header_total, [amounts[i].subtotal for i in counted], currency), strict=True):
        amounts[i].header_discount = share

    # tax: one rounding per rate group of the counted lines; optional lines each on their own
    groups: dict[tuple[Decimal, bool], list[int]] = {}
    for i in counted:
        groups.setdefault((lines[i].tax_rate, lines[i].tax_inclusive), []).append(i)
    breakdown = []
    for (rate, inclusive), members in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
        discounted = [amounts[i].subtotal - amounts[i].header_discount for i in members]
        base = sum(discounted, ZERO)
        factor = rate / (HUNDRED + rate) if inclusive else rate / HUNDRED
        group_tax = round_money(base * factor, currency)
        for i, value, tax in zip(members, discounted, spread(group_tax, discounted, currency), strict=True):
            _set_tax(amounts[i], value, tax, inclusive)
        net = sum((amounts[i].net_amount for i in members), ZERO)
        breakdown.append({"rate": rate_label(rate), "inclusive": inclusive, "net": str(net), "tax": str(group_tax)})
    for i, line in enumerate(lines):
        if line.optional:
            value = amounts[i].subtotal
            factor = line.tax_rate / (HUNDRED + line.tax_rate) if line.tax_inclusive else line.tax_rate / HUNDRED
            _set_tax(amounts[i], value, round_money(value * factor, currency), line.tax_inclusive)

    totals = Totals(currency=currency)
    totals.list_total = sum((amounts[i].list_amount for i in counted), round_money(ZERO, currency))
    discounted_total = subtotal - header_total
    totals.discount_total = totals.list_total - discounted_total
    totals.net_total = sum((amounts[i].net_amount for i in counted), round_money(ZERO, currency))
    totals.tax_total = sum((amounts[i].tax_amount for i in counted), round_money(ZERO, currency))
    totals.gross_total = totals.net_total + totals.tax_total
    totals.tax_breakdown = breakdown
    if totals.list_total > 0:
        totals.effective_discount_percent = four_places(totals.discount_total * HUNDRED / totals.list_total)
    else:
        totals.effective_discount_percent = four_places(ZERO)
    totals.max_line_discount_percent = four_places(max((line.discount_percent for line in lines), default=ZERO))
    return amounts, totals


def _set_tax(amount: LineAmounts, value: Decimal, tax: Decimal, inclusive: bool) -> None:
    """`value` is the discounted amount as entered: the net (exclusive) or the gross (inclusive)."""
    amount.tax_amount = tax
    if inclusive:
        amount.gross_amount = value
        amount.net_amount = value - tax
    else:
        amount.net_amount = value
        amount.gross_amount = value + tax


# --- quotes ----------------------------------------------------------------------------------------------

def tax_country_of(quote: Quote) -> str:
    return (quote.tax_country or getattr(quote.account, "country", "") or "").upper()


def _rates_of(country: str, on: dt.date) -> list[TaxRate]:
    if not country:
        return []
    return list(TaxRate.objects.filter(_valid_on(on), active=True, country=country))


def compute(quote: Quote, lines: Sequence[QuoteLine] | None = None) -> Totals:
    """Price `quote` (its lines as stored, or `lines`) without saving anything: fills the computed fields
    of the line objects and returns the totals, with warnings (e.g. a missing tax rate)."""
    if lines is None:
        lines = list(quote.lines.select_related("product").order_by("position", "id"))
    country = tax_country_of(quote)
    rates = _rates_of(country, quote.quote_date)
    warnings: list[str] = []
    if not country and lines:
        warnings.append(_("No tax country is set on the quote or its account: no tax is charged."))
    inputs, by_category = [], {}
    for line in lines:
        category = line.product.tax_category
        if category not in by_category:
            by_category[category] = pick_tax_rate(rates, tax_category=category, on=quote.quote_date)
            if by_category[category] is None and country:
                warnings.append(_("No tax rate for %(country)s, tax category “%(category)s” on %(date)s: "
                                  "those lines are taxed at 0 %%.")
                                % {"country": country, "category": category, "date": quote.quote_date.isoformat()})
        rate = by_category[category]
        line.tax_category = category
        line.tax_rate = rate.rate if rate is not None else ZERO
        line.tax_inclusive = rate.inclusive if rate is not None else False
        inputs.append(LineInput(quantity=Decimal(line.quantity), list_price=Decimal(line.list_price),
                                discount_percent=Decimal(line.discount_percent), tax_rate=Decimal(line.tax_rate),
                                tax_inclusive=line.tax_inclusive, optional=line.optional))
    amounts, totals = price_lines(inputs, currency=quote.currency,
                                  header_discount_percent=Decimal(quote.header_discount_percent or 0))
    for line, amount in zip(lines, amounts, strict=True):
        line.unit_price = amount.unit_price
        line.list_amount = amount.list_amount
        line.net_amount = amount.net_amount
        line.tax_amount = amount.tax_amount
        line.gross_amount = amount.gross_amount
    totals.warnings = warnings
    return totals


# AMOUNT columns hold 20 digits, 4 of them decimals; refuse well before that
MAX_AMOUNT = Decimal(10) ** 15


def _check_fits(lines: Sequence[QuoteLine], totals: Totals) -> None:
    amounts = [totals.list_total, totals.gross_total]
    for line in lines:
        amounts += [line.list_amount, line.gross_amount]
    if any(abs(a) >= MAX_AMOUNT for a in amounts):
        raise ValidationFailed.single("quantity", _("The amount would be too large (%(limit)s or more).")
                                      % {"limit": f"{MAX_AMOUNT:,}"}, "max_value")


class _Product:
    __slots__ = ("tax_category",)

    def __init__(self, tax_category: str):
        self.tax_category = tax_category


class _LineRow:
    """The columns of a line that pricing reads and writes: a light stand-in for a QuoteLine (building
    500 model instances costs more than pricing them)."""

    __slots__ = ("pk", "quantity", "list_price", "discount_percent", "optional", "product", *LINE_FIELDS)

    def __init__(self, pk, quantity, list_price, discount_percent, optional, product_category, *computed):
        self.pk, self.quantity, self.list_price = pk, quantity, list_price
        self.discount_percent, self.optional = discount_percent, optional
        self.product = _Product(product_category)
        for name, value in zip(LINE_FIELDS, computed, strict=True):
            setattr(self, name, value)

    def computed(self) -> tuple:
        return tuple(getattr(self, name) for name in LINE_FIELDS)


def _write_lines(rows: Sequence[_LineRow]) -> None:
    """Write the changed lines' computed columns in one statement per 500 lines (core.bulk)."""
    update_columns(QuoteLine, LINE_FIELDS, [(row.pk, *row.computed()) for row in rows])


@transaction.atomic
def recompute(quote: Quote) -> Totals:
    """Recompute and save every line and the quote's totals (only the lines whose values changed are
    written). Returns the totals with their warnings."""
    values = list(quote.lines.order_by("position", "id").values_list(
        "pk", "quantity", "list_price", "discount_percent", "optional", "product__tax_category", *LINE_FIELDS))
    rows = [_LineRow(*v) for v in values]
    totals = compute(quote, rows)
    _check_fits(rows, totals)
    # Decimals compare by value (90.0000 == 90), so a line is written only when a number really changed
    computed_from = len(values[0]) - len(LINE_FIELDS) if values else 0
    changed = [row for row, v in zip(rows, values, strict=True) if row.computed() != tuple(v[computed_from:])]
    if changed:
        _write_lines(changed)
    for name in QUOTE_FIELDS:
        setattr(quote, name, getattr(totals, name))
    quote.updated_at = timezone.now()
    quote.save(update_fields=[*QUOTE_FIELDS, "updated_at"])
    return totals


def fingerprint(quote: Quote, lines: Sequence[QuoteLine] | None = None) -> str:
    """SHA-256 of what the customer would be charged: currency, price book, tax country, header discount
    and every line's product, quantity, prices, discount, tax and service dates, and the totals. An
    approval holds only while this stays the same."""
    if lines is None:
        lines = list(quote.lines.order_by("position", "id"))

    def d(value) -> str:
        return format(Decimal(value or 0).normalize(), "f")

    content = {
        "currency": quote.currency, "price_book": quote.price_book_id, "tax_country": tax_country_of(quote),
        "header_discount": d(quote.header_discount_percent),
        "lines": sorted([
            [line.product_id, d(line.quantity), d(line.list_price), d(line.discount_percent), bool(line.optional),
             d(line.tax_rate), bool(line.tax_inclusive), d(line.net_amount), d(line.tax_amount),
             line.service_start.isoformat() if line.service_start else "",
             line.service_end.isoformat() if line.service_end else ""]
            for line in lines
        ]),
        "totals": [d(quote.net_total), d(quote.tax_total), d(quote.gross_total)],
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
