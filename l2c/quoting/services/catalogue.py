"""Writes of the catalogue: products (with their standalone selling prices), price books with their
entries and price tiers, and tax rates.

Admin and finance maintain the catalogue; everyone else reads it (`require_catalogue_writer`). Each
service validates all of its input first (every problem as a `FieldError` naming the field), then
writes in one transaction and records an audit event. A record that quotes or contracts refer to is
never deleted (the models PROTECT it): deleting it is a `Conflict` that says to deactivate it instead.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import router, transaction
from django.db.models import ProtectedError, Q
from django.db.models.deletion import Collector
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from l2c.core.money import round_money
from l2c.core.validation import check_max_lengths, is_country_code, is_iso_currency, raise_if_errors

from ..models import (
    BillingPeriod,
    PriceBook,
    PriceBookEntry,
    PriceTier,
    PricingMethod,
    Product,
    ProductKind,
    Quote,
    QuoteLine,
    RevenueRule,
    StandaloneSellingPrice,
    TaxRate,
)

PRICE_PLACES = 4  # quoting.models.PRICE
PRICE_DIGITS = 20
QUANTITY_PLACES = 4  # quoting.models.QUANTITY
QUANTITY_DIGITS = 18
PERCENT_PLACES = 4  # quoting.models.PERCENT

PRODUCT_FIELDS = ("sku", "name", "description", "kind", "billing_period", "unit", "tax_category", "revenue_rule",
                  "active", "ssp")
PRICE_BOOK_FIELDS = ("name", "currency", "segment", "valid_from", "valid_until", "active")
ENTRY_FIELDS = ("list_price", "pricing", "tiers")
TAX_RATE_FIELDS = ("name", "country", "tax_category", "rate", "inclusive", "valid_from", "valid_until", "active")

# The revenue rule each product type gets by default, and the ones it may be given explicitly.
DEFAULT_REVENUE_RULE = {
    ProductKind.GOOD: RevenueRule.POINT_IN_TIME,
    ProductKind.SERVICE: RevenueRule.POINT_IN_TIME,
    ProductKind.SUBSCRIPTION: RevenueRule.RATABLE,
    ProductKind.MILESTONE: RevenueRule.MILESTONE,
}
ALLOWED_REVENUE_RULES = {
    # a good is handed over once: it is never earned over time or by milestones
    ProductKind.GOOD: (RevenueRule.POINT_IN_TIME,),
    # a one-time service may be delivered at once, over a period, or in milestones
    ProductKind.SERVICE: (RevenueRule.POINT_IN_TIME, RevenueRule.RATABLE, RevenueRule.MILESTONE),
    # a subscription is earned over its service period; a term licence delivered up front at a point in time
    ProductKind.SUBSCRIPTION: (RevenueRule.RATABLE, RevenueRule.POINT_IN_TIME),
    ProductKind.MILESTONE: (RevenueRule.MILESTONE,),
}


# --- permissions ----------------------------------------------------------------------------------

def can_maintain_catalogue(user) -> bool:
    """Admin and finance maintain products, price books and tax rates; sales roles only read them."""
    return bool(user is not None and getattr(user, "is_active", False)
                and (getattr(user, "is_admin", False) or getattr(user, "is_finance", False)))


def require_catalogue_writer(actor) -> None:
    """`actor=None` is the system (demo data, imports)."""
    if actor is not None and not can_maintain_catalogue(actor):
        raise PermissionDenied(_("Only admin and finance can change the catalogue, price books and tax rates."))


# --- shared checks --------------------------------------------------------------------------------

def _reject_unknown(fields: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])


def _text(values: dict, *names: str) -> None:
    for name in names:
        if name in values:
            values[name] = (values[name] or "").strip()


def _required(values: dict, name: str, errors: list[FieldError]) -> None:
    if name in values and not values[name]:
        errors.append(FieldError(name, _("This field is required."), "required"))


def parse_decimal(raw, field: str, *, places: int, max_digits: int, errors: list[FieldError],
                  minimum: Decimal | None = Decimal(0), maximum: Decimal | None = None) -> Decimal | None:
    """`raw` as a Decimal with at most `places` decimals within the bounds, or None and a FieldError.

    Floats are refused (money is never a float); strings, ints and Decimals are read exactly."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append(FieldError(field, _("This field is required."), "required"))
        return None
    if isinstance(raw, float | bool):
        errors.append(FieldError(field, _("Send the number as a decimal string, not a float."), "invalid_number"))
        return None
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors.append(FieldError(field, _("%(value)r is not a number.") % {"value": raw}, "invalid_number"))
        return None
    if not value.is_finite():
        errors.append(FieldError(field, _("The number must be finite."), "invalid_number"))
        return None
    if minimum is not None and value < minimum:
        message = (_("The value cannot be negative.") if minimum == 0
                   else _("The value must be at least %(min)s.") % {"min": minimum})
        errors.append(FieldError(field, message, "min_value"))
        return None
    if maximum is not None and value > maximum:
        errors.append(FieldError(field, _("The value must be at most %(max)s.") % {"max": maximum}, "max_value"))
        return None
    if value != value.to_integral_value() and -value.as_tuple().exponent > places:
        errors.append(FieldError(field, _("At most %(places)d decimal places.") % {"places": places},
                                 "max_decimal_places"))
        return None
    if value != 0 and value.adjusted() >= max_digits - places:
        errors.append(FieldError(field, _("The number is too large."), "max_value"))
        return None
    return value.quantize(Decimal(1).scaleb(-places))


def _currency(values: dict, name: str, errors: list[FieldError]) -> None:
    if name not in values:
        return
    code = (values[name] or "").strip().upper()
    values[name] = code
    if not code:
        errors.append(FieldError(name, _("This field is required."), "required"))
    elif not is_iso_currency(code):
        errors.append(FieldError(name, _("%(value)r is not an ISO 4217 currency code (e.g. USD, EUR, CNY).")
                                 % {"value": code}, "invalid_currency"))


def _date(values: dict, name: str, errors: list[FieldError]) -> None:
    value = values.get(name)
    if value in (None, ""):
        if name in values:
            values[name] = None
        return
    if isinstance(value, dt.datetime):
        values[name] = value.date()
    elif not isinstance(value, dt.date):
        try:
            values[name] = dt.date.fromisoformat(str(value))
        except ValueError:
            errors.append(FieldError(name, _("Enter a date as YYYY-MM-DD."), "invalid_date"))


def _dates_in_order(start, end, errors: list[FieldError], field: str = "valid_until") -> None:
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        errors.append(FieldError(field, _("The end date %(end)s is before the start date %(start)s.")
                                 % {"end": end.isoformat(), "start": start.isoformat()}, "dates_out_of_order"))


def _choice(values: dict, name: str, choices, errors: list[FieldError]) -> None:
    if name in values and values[name] not in choices.values:
        errors.append(FieldError(name, _("Unknown value %(value)r; choose one of %(allowed)s.")
                                 % {"value": values[name], "allowed": ", ".join(choices.values)}, "invalid_choice"))


def _bool(values: dict, name: str, errors: list[FieldError]) -> None:
    if name in values and not isinstance(values[name], bool):
        errors.append(FieldError(name, _("Give true or false."), "invalid"))


def _category(values: dict, errors: list[FieldError]) -> None:
    """Tax categories are matched between products and tax rates: compared lower-case, without blanks."""
    if "tax_category" not in values:
        return
    values["tax_category"] = (values["tax_category"] or "").strip().lower()
    if not values["tax_category"]:
        errors.append(FieldError("tax_category", _("This field is required (e.g. standard, services, zero)."),
                                 "required"))


# --- products -------------------------------------------------------------------------------------

def product_ssp(product: Product) -> dict[str, Decimal]:
    """The product's standalone selling prices, {currency: amount}, by currency."""
    return {s.currency: s.amount for s in sorted(product.ssps.all(), key=lambda s: s.currency)}


def _clean_ssp(raw, errors: list[FieldError]) -> dict[str, Decimal] | None:
    """{currency: amount} from a mapping of codes to decimals; one per currency, each ≥ 0."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(FieldError("ssp", _('Give the standalone selling prices as {"USD": "100.00", …}.'),
                                 "invalid"))
        return None
    cleaned: dict[str, Decimal] = {}
    for key, amount in raw.items():
        code = str(key or "").strip().upper()
        field = f"ssp.{key}"
        if not is_iso_currency(code):
            errors.append(FieldError(field, _("%(value)r is not an ISO 4217 currency code (e.g. USD, EUR, CNY).")
                                     % {"value": key}, "invalid_currency"))
            continue
        if code in cleaned:
            errors.append(FieldError(field, _("Only one standalone selling price per currency (%(code)s is given "
                                              "twice).") % {"code": code}, "duplicate_currency"))
            continue
        value = parse_decimal(amount, field, places=PRICE_PLACES, max_digits=PRICE_DIGITS, errors=errors)
        if value is not None:
            cleaned[code] = value
    return cleaned


def _product_errors(values: dict, *, product: Product | None) -> list[FieldError]:
    """Check `values` (the final state of the fields that matter); fills in defaults in place."""
    errors = check_max_lengths(Product, values)
    for name in ("sku", "name", "unit"):
        _required(values, name, errors)
    sku = values.get("sku")
    if sku and any(ch.isspace() for ch in sku):
        errors.append(FieldError("sku", _("A SKU cannot contain spaces."), "invalid_sku"))
    elif sku:
        clash = Product.objects.filter(sku__iexact=sku)
        if product is not None:
            clash = clash.exclude(pk=product.pk)
        if clash.exists():
            errors.append(FieldError("sku", _("SKU %(sku)s is already used by another product (SKUs are compared "
                                              "ignoring case).") % {"sku": sku}, "duplicate_sku"))
    _category(values, errors)
    _choice(values, "kind", ProductKind, errors)
    _bool(values, "active", errors)
    kind = values.get("kind", product.kind if product else ProductKind.GOOD)
    if kind not in ProductKind.values:
        return errors
    period = values.get("billing_period", product.billing_period if product else "")
    if kind == ProductKind.SUBSCRIPTION:
        if not period:
            errors.append(FieldError("billing_period", _("A subscription needs a billing period (month, quarter or "
                                                         "year)."), "required"))
        elif period not in BillingPeriod.values:
            _choice(values, "billing_period", BillingPeriod, errors)
    elif period:
        errors.append(FieldError("billing_period", _("Only a subscription has a billing period; leave it empty for "
                                                     "this product type."), "not_allowed"))
    rule = values.get("revenue_rule")
    if rule not in RevenueRule.values:
        _choice(values, "revenue_rule", RevenueRule, errors)
    elif rule not in ALLOWED_REVENUE_RULES[kind]:
        errors.append(FieldError("revenue_rule", _("%(kind)s cannot be recognised “%(rule)s”; use %(allowed)s.") % {
            "kind": ProductKind(kind).label, "rule": RevenueRule(rule).label,
            "allowed": ", ".join(f"“{RevenueRule(r).label}”" for r in ALLOWED_REVENUE_RULES[kind])},
            "invalid_revenue_rule"))
    return errors


def _product_state(product: Product) -> dict:
    state = audit.snapshot(product)
    state["ssp"] = {code: str(amount) for code, amount in product_ssp(product).items()}
    return state


def _write_ssp(product: Product, ssp: dict[str, Decimal]) -> None:
    product.ssps.exclude(currency__in=list(ssp)).delete()
    existing = {s.currency: s for s in product.ssps.all()}
    for code, amount in ssp.items():
        row = existing.get(code)
        if row is None:
            StandaloneSellingPrice.objects.create(product=product, currency=code, amount=amount)
        elif row.amount != amount:
            row.amount = amount
            row.save(update_fields=["amount"])


@transaction.atomic
def product_create(*, actor, sku: str, name: str, kind: str = ProductKind.GOOD, description: str = "",
                   billing_period: str = "", unit: str = "each", tax_category: str = "standard",
                   revenue_rule: str | None = None, active: bool = True,
                   ssp: dict | None = None) -> Product:
    """Create a product. `revenue_rule` defaults by type (subscription → ratable, milestone → milestone,
    others → point in time); `ssp` is {currency: amount}, one standalone selling price per currency."""
    require_catalogue_writer(actor)
    values = dict(sku=sku, name=name, kind=kind, description=description, billing_period=billing_period,
                  unit=unit, tax_category=tax_category, active=active)
    _text(values, "sku", "name", "unit", "billing_period")
    values["description"] = values["description"] or ""
    values["revenue_rule"] = revenue_rule or DEFAULT_REVENUE_RULE.get(values["kind"], RevenueRule.POINT_IN_TIME)
    errors = _product_errors(values, product=None)
    cleaned_ssp = _clean_ssp(ssp, errors)
    raise_if_errors(errors)
    product = Product.objects.create(**values)
    _write_ssp(product, cleaned_ssp)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=product,
                 changes={k: [None, v] for k, v in _product_state(product).items() if v not in (None, "", {}, [])})
    return product


@transaction.atomic
def product_update(*, actor, product: Product, **fields) -> Product:
    """Change any of PRODUCT_FIELDS. `ssp`, when given, replaces all standalone selling prices.

    Changing the type without a revenue rule resets the rule to the new type's default; changing it away
    from subscription without a billing period clears the period."""
    require_catalogue_writer(actor)
    _reject_unknown(fields, PRODUCT_FIELDS)
    values = dict(fields)
    ssp = values.pop("ssp", None) if "ssp" in values else Ellipsis
    _text(values, "sku", "name", "unit", "billing_period")
    if "description" in values:
        values["description"] = values["description"] or ""
    product = Product.objects.select_for_update().get(pk=product.pk)
    kind_changes = "kind" in values and values["kind"] != product.kind
    if kind_changes and "revenue_rule" not in values:
        values["revenue_rule"] = DEFAULT_REVENUE_RULE.get(values["kind"], product.revenue_rule)
    if kind_changes and values["kind"] != ProductKind.SUBSCRIPTION and "billing_period" not in values:
        values["billing_period"] = ""
    if "revenue_rule" in values and not values["revenue_rule"]:
        values["revenue_rule"] = DEFAULT_REVENUE_RULE.get(values.get("kind", product.kind), product.revenue_rule)
    check = dict(values)
    check.setdefault("revenue_rule", product.revenue_rule)
    errors = _product_errors(check, product=product)
    values.update({k: check[k] for k in values})
    cleaned_ssp = None if ssp is Ellipsis else _clean_ssp(ssp if ssp is not None else {}, errors)
    raise_if_errors(errors)
    before = _product_state(product)
    for name, value in values.items():
        setattr(product, name, value)
    product.save()
    if cleaned_ssp is not None:
        _write_ssp(product, cleaned_ssp)
    after = _product_state(product)
    if after != before:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=product, changes=audit.diff(before, after))
    return product


def product_usage(product: Product) -> dict[str, int]:
    """Where a product is used in quoting: quote lines and price book entries (counts)."""
    return {
        "quote_lines": QuoteLine.objects.filter(product=product).count(),
        "price_book_entries": PriceBookEntry.objects.filter(product=product).count(),
    }


@transaction.atomic
def product_delete(*, actor, product: Product) -> None:
    """Delete a product that nothing refers to; one on quotes, contracts or in price books is a Conflict:
    deactivate it instead (it then disappears from pickers, and every document keeps it)."""
    require_catalogue_writer(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    usage = product_usage(product)
    if usage["quote_lines"]:
        raise Conflict(_("Product %(sku)s is on %(count)d quote line(s) and cannot be deleted; deactivate it "
                         "instead.") % {"sku": product.sku, "count": usage["quote_lines"]}, code="in_use")
    if usage["price_book_entries"]:
        raise Conflict(_("Product %(sku)s is listed in %(count)d price book(s); remove it from them first, or "
                         "deactivate it instead.") % {"sku": product.sku, "count": usage["price_book_entries"]},
                       code="in_use")
    # Later stages (contracts, orders, …) refer to products too; quoting does not import them, so ask
    # Django's deletion collector, which finds every PROTECT reference before anything is deleted.
    try:
        Collector(using=router.db_for_write(Product)).collect([product])
    except ProtectedError as exc:
        raise Conflict(_("Product %(sku)s is used by %(count)d other record(s) (e.g. contracts) and cannot be "
                         "deleted; deactivate it instead.") % {"sku": product.sku, "count": len(exc.protected_objects)},
                       code="in_use") from exc
    audit.record(actor=actor, action=audit.Action.DELETE, instance=product,
                 changes={k: [v, None] for k, v in _product_state(product).items() if v not in (None, "", {}, [])})
    product.delete()


# --- price books ----------------------------------------------------------------------------------

def _price_book_errors(values: dict, *, book: PriceBook | None) -> list[FieldError]:
    errors = check_max_lengths(PriceBook, {k: v for k, v in values.items() if k != "currency"})
    _required(values, "name", errors)
    _currency(values, "currency", errors)
    _bool(values, "active", errors)
    _date(values, "valid_from", errors)
    _date(values, "valid_until", errors)
    start = values.get("valid_from", book.valid_from if book else None)
    end = values.get("valid_until", book.valid_until if book else None)
    _dates_in_order(start, end, errors)
    if book is not None and "currency" in values and values["currency"] != book.currency \
            and Quote.objects.filter(price_book=book).exists():
        errors.append(FieldError("currency", _("Quotes use this price book, so its currency cannot change; copy it "
                                               "into a new book in the other currency instead."), "in_use"))
    return errors


@transaction.atomic
def price_book_create(*, actor, name: str, currency: str, segment: str = "", valid_from=None, valid_until=None,
                      active: bool = True) -> PriceBook:
    """A price book for one currency and customer segment ("" = every segment), valid between dates."""
    require_catalogue_writer(actor)
    values = dict(name=name, currency=currency, segment=segment, valid_from=valid_from, valid_until=valid_until,
                  active=active)
    _text(values, "name", "segment")
    raise_if_errors(_price_book_errors(values, book=None))
    book = PriceBook.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=book)
    return book


@transaction.atomic
def price_book_update(*, actor, book: PriceBook, **fields) -> PriceBook:
    require_catalogue_writer(actor)
    _reject_unknown(fields, PRICE_BOOK_FIELDS)
    values = dict(fields)
    _text(values, "name", "segment")
    book = PriceBook.objects.select_for_update().get(pk=book.pk)
    raise_if_errors(_price_book_errors(values, book=book))
    before = audit.snapshot(book)
    for name, value in values.items():
        setattr(book, name, value)
    book.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=book, before=before)
    return book


@transaction.atomic
def price_book_delete(*, actor, book: PriceBook) -> None:
    """Delete a price book (with its entries) that no quote uses; otherwise a Conflict: deactivate it."""
    require_catalogue_writer(actor)
    book = PriceBook.objects.select_for_update().get(pk=book.pk)
    quotes = Quote.objects.filter(price_book=book).count()
    if quotes:
        raise Conflict(_("%(count)d quote(s) use price book “%(name)s”, so it cannot be deleted; deactivate it "
                         "instead.") % {"count": quotes, "name": book.name}, code="in_use")
    audit.record(actor=actor, action=audit.Action.DELETE, instance=book,
                 changes={**{k: [v, None] for k, v in audit.snapshot(book).items() if v not in (None, "")},
                          "entries": [book.entries.count(), None]})
    book.delete()


@transaction.atomic
def price_book_copy(*, actor, source: PriceBook, name: str, currency: str | None = None, segment: str | None = None,
                    valid_from=None, valid_until=None, active: bool = True, uplift_percent=0) -> PriceBook:
    """A new price book with every entry and tier of `source` (e.g. next year's prices).

    `uplift_percent` (e.g. "5" or "-10") changes every list and tier price by that percentage; changed
    prices are rounded to the currency's minor unit (`round_money`). Currency and segment default to the
    source's."""
    require_catalogue_writer(actor)
    errors: list[FieldError] = []
    uplift = parse_decimal(uplift_percent if uplift_percent not in (None, "") else "0", "uplift_percent",
                           places=PERCENT_PLACES, max_digits=7, errors=errors, minimum=Decimal(-100),
                           maximum=Decimal(1000))
    values = dict(name=name, currency=source.currency if currency in (None, "") else currency,
                  segment=source.segment if segment is None else segment, valid_from=valid_from,
                  valid_until=valid_until, active=active)
    _text(values, "name", "segment")
    errors = _price_book_errors(values, book=None) + errors
    raise_if_errors(errors)
    book = PriceBook.objects.create(**values)
    factor = (Decimal(100) + uplift) / Decimal(100)

    def price(amount: Decimal) -> Decimal:
        return amount if uplift == 0 else round_money(amount * factor, book.currency)

    for entry in source.entries.select_related("product").prefetch_related("tiers"):
        copy = PriceBookEntry.objects.create(price_book=book, product=entry.product, list_price=price(entry.list_price),
                                             pricing=entry.pricing)
        PriceTier.objects.bulk_create([PriceTier(entry=copy, min_quantity=t.min_quantity, unit_price=price(t.unit_price))
                                       for t in entry.tiers.all()])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=book,
                 changes={**{k: [None, v] for k, v in audit.snapshot(book).items() if v not in (None, "")},
                          "copied_from": [None, source.pk], "uplift_percent": [None, str(uplift)],
                          "entries": [None, book.entries.count()]})
    return book


# --- price book entries and tiers -----------------------------------------------------------------

def _clean_tiers(raw, errors: list[FieldError]) -> list[tuple[Decimal, Decimal]] | None:
    """[(min_quantity, unit_price), ...] from [{"min_quantity": "10", "unit_price": "9.00"}, ...]:
    min_quantity ≥ 0, strictly ascending (so unique), unit_price ≥ 0."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        errors.append(FieldError("tiers", _('Give the tiers as a list of {"min_quantity": …, "unit_price": …}.'),
                                 "invalid"))
        return None
    tiers: list[tuple[Decimal, Decimal]] = []
    previous: Decimal | None = None
    ok = True
    for index, tier in enumerate(raw):
        if isinstance(tier, dict):
            unknown = sorted(set(tier) - {"min_quantity", "unit_price"})
            if unknown:
                errors.append(FieldError(f"tiers.{index}.{unknown[0]}", _("This field cannot be set here."),
                                         "unknown_field"))
                ok = False
                continue
            min_raw, price_raw = tier.get("min_quantity"), tier.get("unit_price")
        elif isinstance(tier, list | tuple) and len(tier) == 2:
            min_raw, price_raw = tier
        else:
            errors.append(FieldError(f"tiers.{index}", _("A tier has a min_quantity and a unit_price."), "invalid"))
            ok = False
            continue
        count = len(errors)
        minimum = parse_decimal(min_raw, f"tiers.{index}.min_quantity", places=QUANTITY_PLACES,
                                max_digits=QUANTITY_DIGITS, errors=errors)
        unit_price = parse_decimal(price_raw, f"tiers.{index}.unit_price", places=PRICE_PLACES,
                                   max_digits=PRICE_DIGITS, errors=errors)
        if len(errors) > count:
            ok = False
            continue
        if previous is not None and minimum <= previous:
            message = (_("Each tier starts at a different quantity (%(qty)s is given twice).") % {"qty": minimum}
                       if minimum == previous else
                       _("Tiers go from the smallest quantity up: %(qty)s must be more than the previous tier's "
                         "%(prev)s.") % {"qty": minimum, "prev": previous})
            errors.append(FieldError(f"tiers.{index}.min_quantity", message,
                                     "duplicate_tier" if minimum == previous else "tiers_out_of_order"))
            ok = False
        previous = minimum
        tiers.append((minimum, unit_price))
    return tiers if ok else None


def _tier_rule_errors(pricing: str, tiers: list | None) -> list[FieldError]:
    if tiers is None or pricing not in PricingMethod.values:
        return []
    if pricing == PricingMethod.FLAT and tiers:
        return [FieldError("tiers", _("A flat list price has no tiers; choose volume or tiered pricing, or remove "
                                      "the tiers."), "tiers_not_allowed")]
    if pricing != PricingMethod.FLAT and not tiers:
        return [FieldError("tiers", _("Volume and tiered pricing need at least one tier."), "tiers_required")]
    return []


def _entry_state(entry: PriceBookEntry) -> dict:
    state = audit.snapshot(entry)
    state["tiers"] = [[str(t.min_quantity), str(t.unit_price)] for t in entry.tiers.order_by("min_quantity")]
    return state


def _write_tiers(entry: PriceBookEntry, tiers: list[tuple[Decimal, Decimal]]) -> None:
    entry.tiers.all().delete()
    PriceTier.objects.bulk_create([PriceTier(entry=entry, min_quantity=q, unit_price=p) for q, p in tiers])


@transaction.atomic
def entry_create(*, actor, price_book: PriceBook, product: Product | None, list_price, pricing: str = PricingMethod.FLAT,
                 tiers: list | None = None) -> PriceBookEntry:
    """List `product` in `price_book` at `list_price` (in the book's currency); volume and tiered pricing
    need `tiers` [{"min_quantity", "unit_price"}, ...]; a flat price has none."""
    require_catalogue_writer(actor)
    price_book = PriceBook.objects.select_for_update().get(pk=price_book.pk)  # one entry writer per book
    errors: list[FieldError] = []
    if product is None:
        errors.append(FieldError("product", _("Choose a product."), "required"))
    elif not product.active:
        errors.append(FieldError("product", _("Product %(sku)s is inactive; activate it before listing it.")
                                 % {"sku": product.sku}, "inactive_product"))
    elif PriceBookEntry.objects.filter(price_book=price_book, product=product).exists():
        errors.append(FieldError("product", _("Product %(sku)s is already in this price book; edit its entry instead.")
                                 % {"sku": product.sku}, "duplicate_entry"))
    price = parse_decimal(list_price, "list_price", places=PRICE_PLACES, max_digits=PRICE_DIGITS, errors=errors)
    values = {"pricing": pricing}
    _choice(values, "pricing", PricingMethod, errors)
    cleaned = _clean_tiers(tiers, errors)
    errors += _tier_rule_errors(pricing, cleaned)
    raise_if_errors(errors)
    entry = PriceBookEntry.objects.create(price_book=price_book, product=product, list_price=price, pricing=pricing)
    _write_tiers(entry, cleaned)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=entry,
                 changes={k: [None, v] for k, v in _entry_state(entry).items() if v not in (None, "", [])})
    return entry


@transaction.atomic
def entry_update(*, actor, entry: PriceBookEntry, **fields) -> PriceBookEntry:
    """Change the list price, pricing method or tiers (`tiers`, when given, replaces all of them).
    Switching to flat pricing without giving tiers drops the tiers."""
    require_catalogue_writer(actor)
    _reject_unknown(fields, ENTRY_FIELDS)
    entry = PriceBookEntry.objects.select_for_update().get(pk=entry.pk)
    errors: list[FieldError] = []
    values: dict = {}
    if "list_price" in fields:
        values["list_price"] = parse_decimal(fields["list_price"], "list_price", places=PRICE_PLACES,
                                             max_digits=PRICE_DIGITS, errors=errors)
    pricing = fields.get("pricing", entry.pricing)
    if "pricing" in fields:
        values["pricing"] = pricing
        _choice(values, "pricing", PricingMethod, errors)
    if "tiers" in fields:
        tiers = _clean_tiers(fields["tiers"], errors)
    elif pricing == PricingMethod.FLAT:
        tiers = []
    else:
        tiers = [(t.min_quantity, t.unit_price) for t in entry.tiers.all()]
    errors += _tier_rule_errors(pricing, tiers)
    raise_if_errors(errors)
    before = _entry_state(entry)
    for name, value in values.items():
        setattr(entry, name, value)
    entry.save()
    if [(q, p) for q, p in tiers] != [(t.min_quantity, t.unit_price) for t in entry.tiers.all()]:
        _write_tiers(entry, tiers)
    after = _entry_state(entry)
    if after != before:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=entry, changes=audit.diff(before, after))
    return entry


@transaction.atomic
def entry_delete(*, actor, entry: PriceBookEntry) -> None:
    """Remove a product from a price book. Quotes keep the prices they were given (lines store them)."""
    require_catalogue_writer(actor)
    entry = PriceBookEntry.objects.select_for_update().get(pk=entry.pk)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=entry,
                 changes={k: [v, None] for k, v in _entry_state(entry).items() if v not in (None, "", [])})
    entry.delete()


# --- tax rates ------------------------------------------------------------------------------------

def _overlapping_rates(*, country: str, tax_category: str, valid_from, valid_until, exclude_pk=None):
    """Active rates of the same country and category whose validity overlaps [valid_from, valid_until]
    (an empty date is open-ended)."""
    qs = TaxRate.objects.filter(active=True, country=country, tax_category=tax_category)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if valid_until is not None:
        qs = qs.filter(Q(valid_from__isnull=True) | Q(valid_from__lte=valid_until))
    if valid_from is not None:
        qs = qs.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from))
    return qs


def _tax_rate_errors(values: dict, *, rate: TaxRate | None) -> list[FieldError]:
    errors = check_max_lengths(TaxRate, {k: v for k, v in values.items() if k != "country"})
    _required(values, "name", errors)
    if "country" in values:
        values["country"] = (values["country"] or "").strip().upper()
        if not values["country"]:
            errors.append(FieldError("country", _("This field is required."), "required"))
        elif not is_country_code(values["country"]):
            errors.append(FieldError("country", _("%(value)r is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, "
                                                  "GB).") % {"value": values["country"]}, "invalid_country"))
    _category(values, errors)
    if "rate" in values:
        values["rate"] = parse_decimal(values["rate"], "rate", places=PERCENT_PLACES, max_digits=7, errors=errors,
                                       maximum=Decimal(100))
    _bool(values, "inclusive", errors)
    _bool(values, "active", errors)
    _date(values, "valid_from", errors)
    _date(values, "valid_until", errors)
    if errors:
        return errors

    def final(name):
        return values[name] if name in values else getattr(rate, name, None)

    _dates_in_order(final("valid_from"), final("valid_until"), errors)
    if not errors and final("active"):
        clash = _overlapping_rates(country=final("country"), tax_category=final("tax_category"),
                                   valid_from=final("valid_from"), valid_until=final("valid_until"),
                                   exclude_pk=getattr(rate, "pk", None)).first()
        if clash is not None:
            def when(day):
                return day.isoformat() if day else "…"

            errors.append(FieldError(
                "valid_from", _("The active rate “%(name)s” (%(rate)s %%, %(start)s to %(end)s) already applies to "
                                "%(country)s / %(category)s in this period; end it or deactivate it first.") % {
                    "name": clash.name, "rate": clash.rate.normalize(), "start": when(clash.valid_from),
                    "end": when(clash.valid_until), "country": clash.country, "category": clash.tax_category},
                "overlapping_rate"))
    return errors


@transaction.atomic
def tax_rate_create(*, actor, name: str, country: str, rate, tax_category: str = "standard",
                    inclusive: bool = False, valid_from=None, valid_until=None, active: bool = True) -> TaxRate:
    """A tax rate (0–100 %) for a product tax category in a country. Two active rates for the same country
    and category may not overlap in time."""
    require_catalogue_writer(actor)
    values = dict(name=name, country=country, tax_category=tax_category, rate=rate, inclusive=inclusive,
                  valid_from=valid_from, valid_until=valid_until, active=active)
    _text(values, "name")
    # lock the country's existing rates (PostgreSQL): a concurrent change of one cannot slip past the check
    list(TaxRate.objects.select_for_update().filter(country=str(country or "").strip().upper()).values_list("pk"))
    raise_if_errors(_tax_rate_errors(values, rate=None))
    tax_rate = TaxRate.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=tax_rate)
    return tax_rate


@transaction.atomic
def tax_rate_update(*, actor, tax_rate: TaxRate, **fields) -> TaxRate:
    require_catalogue_writer(actor)
    _reject_unknown(fields, TAX_RATE_FIELDS)
    values = dict(fields)
    _text(values, "name")
    tax_rate = TaxRate.objects.select_for_update().get(pk=tax_rate.pk)
    list(TaxRate.objects.select_for_update().filter(country=tax_rate.country).values_list("pk"))
    raise_if_errors(_tax_rate_errors(values, rate=tax_rate))
    before = audit.snapshot(tax_rate)
    for name, value in values.items():
        setattr(tax_rate, name, value)
    tax_rate.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=tax_rate, before=before)
    return tax_rate


def tax_rate_usage(tax_rate: TaxRate) -> int:
    """Quote lines priced with this rate: same country, category and percentage (lines store the rate)."""
    return QuoteLine.objects.filter(quote__tax_country=tax_rate.country, tax_category=tax_rate.tax_category,
                                    tax_rate=tax_rate.rate).count()


@transaction.atomic
def tax_rate_delete(*, actor, tax_rate: TaxRate) -> None:
    """Delete a tax rate no quote was priced with; otherwise a Conflict: end or deactivate it instead."""
    require_catalogue_writer(actor)
    tax_rate = TaxRate.objects.select_for_update().get(pk=tax_rate.pk)
    used = tax_rate_usage(tax_rate)
    if used:
        raise Conflict(_("%(count)d quote line(s) were priced with tax rate “%(name)s”, so it cannot be deleted; set "
                         "an end date or deactivate it instead.") % {"count": used, "name": tax_rate.name},
                       code="in_use")
    audit.record(actor=actor, action=audit.Action.DELETE, instance=tax_rate,
                 changes={k: [v, None] for k, v in audit.snapshot(tax_rate).items() if v not in (None, "")})
    tax_rate.delete()
