"""Reads of the catalogue: products, price books (with entries and tiers) and tax rates.

Every signed-in user may read the catalogue. Admin and finance, who maintain it, see inactive products
and price books too; sales roles see only the active ones in lists and pickers (a product that an old
quote refers to can still be opened by id).
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from l2c.core import exports, listing
from l2c.core.errors import ValidationFailed
from l2c.core.money import minor_units
from l2c.core.validation import as_id

from .models import (
    PriceBook,
    PriceBookEntry,
    PriceTier,
    Product,
    ProductKind,
    StandaloneSellingPrice,
    TaxRate,
)
from .services.catalogue import can_maintain_catalogue

# Columns of the product list export (CSV / Excel, see l2c.core.exports).
PRODUCT_COLUMNS = [
    exports.field(_l("ID"), "id"),
    exports.field(_l("SKU"), "sku"),
    exports.field(_l("Name"), "name"),
    exports.choice(_l("Type"), "kind"),
    exports.choice(_l("Billing period"), "billing_period"),
    exports.field(_l("Unit"), "unit"),
    exports.field(_l("Tax category"), "tax_category"),
    exports.choice(_l("Revenue rule"), "revenue_rule"),
    exports.field(_l("Active"), "active"),
    exports.Column(_l("Standalone selling prices"),
                   lambda p: " ".join(f"{s.currency} {price_text(s.amount, s.currency)}" for s in p.ssps.all())),
    exports.field(_l("Description"), "description"),
    exports.field(_l("Created"), "created_at"),
    exports.field(_l("Updated"), "updated_at"),
]
PRODUCT_ORDERING = {"sku": ("sku",), "name": ("name",), "kind": ("kind",), "created_at": ("created_at",),
                    "updated_at": ("updated_at",)}
PRODUCT_SEARCH = ("sku", "name", "description")
PRICE_BOOK_ORDERING = {"name": ("name",), "currency": ("currency", "segment", "name"),
                       "valid_from": ("valid_from",), "created_at": ("created_at",)}
PRICE_BOOK_SEARCH = ("name", "segment", "currency")
TAX_RATE_ORDERING = {"country": ("country", "tax_category", "valid_from"), "rate": ("rate",), "name": ("name",),
                     "valid_from": ("valid_from",)}


# --- how prices and quantities read (API and pages) -------------------------------------------------

def price_text(amount: Decimal | None, currency: str | None = None) -> str:
    """A stored price (4 places) as text with the currency's minor unit and any further places it has:
    100.0000 USD -> "100.00", 0.1234 USD -> "0.1234", 5000 JPY -> "5000". Never rounds."""
    if amount is None:
        return ""
    places = minor_units(currency) if currency else 0
    exponent = amount.normalize().as_tuple().exponent
    places = max(places, -exponent if isinstance(exponent, int) else 0)
    return str(amount.quantize(Decimal(1).scaleb(-places)))


def quantity_text(value: Decimal | None) -> str:
    """A quantity without trailing zeros: 10.0000 -> "10", 2.5000 -> "2.5"."""
    if value is None:
        return ""
    return format(value.normalize(), "f")


def _get(qs: QuerySet, pk):
    """The record with id `pk` in `qs`, or a 404 (also for an id no database integer can hold)."""
    if as_id(pk) is None:
        raise Http404(_("No such record."))
    return get_object_or_404(qs, pk=as_id(pk))


def _anonymous(user) -> bool:
    return user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False)


# --- products -------------------------------------------------------------------------------------

def product_list(*, user, q: str | None = None, active: bool | None = None, kind: str | None = None,
                 ordering: str | None = None) -> QuerySet[Product]:
    """Products `user` may list, with their SSPs prefetched. Sales roles see active products only."""
    qs = Product.objects.prefetch_related(
        Prefetch("ssps", queryset=StandaloneSellingPrice.objects.order_by("currency")))
    if _anonymous(user):
        return qs.none()
    if not can_maintain_catalogue(user):
        qs = qs.filter(active=True)
    if active is not None:
        qs = qs.filter(active=active)
    if kind:
        if kind not in ProductKind.values:
            raise ValidationFailed.single("kind", _("Choose one of %(c)s.") % {"c": ", ".join(ProductKind.values)},
                                          "invalid_choice")
        qs = qs.filter(kind=kind)
    qs = listing.search(qs, q, PRODUCT_SEARCH)
    return listing.order(qs, ordering, PRODUCT_ORDERING, "sku")


def product_get(*, user, pk) -> Product:
    """One product (any signed-in user; 404 when there is none)."""
    qs = Product.objects.prefetch_related(
        Prefetch("ssps", queryset=StandaloneSellingPrice.objects.order_by("currency")))
    if _anonymous(user):
        qs = qs.none()
    return _get(qs, pk)


def product_price_entries(*, user, product: Product) -> QuerySet[PriceBookEntry]:
    """The price book entries of a product (the books it is in), with tiers; sales roles: active books."""
    qs = PriceBookEntry.objects.filter(product=product).select_related("price_book").prefetch_related("tiers") \
        .order_by("price_book__currency", "price_book__segment", "price_book__name")
    if not can_maintain_catalogue(user):
        qs = qs.filter(price_book__active=True)
    return qs


def active_products(*, user=None) -> QuerySet[Product]:
    """Active products, for pickers (quote lines, price book entries)."""
    return Product.objects.filter(active=True).order_by("sku")


# --- price books ----------------------------------------------------------------------------------

def price_book_list(*, user, q: str | None = None, currency: str | None = None, segment: str | None = None,
                    active: bool | None = None, ordering: str | None = None) -> QuerySet[PriceBook]:
    """Price books `user` may list, with an `entry_count`. Sales roles see active books only."""
    qs = PriceBook.objects.annotate(entry_count=Count("entries"))
    if _anonymous(user):
        return qs.none()
    if not can_maintain_catalogue(user):
        qs = qs.filter(active=True)
    if active is not None:
        qs = qs.filter(active=active)
    if currency:
        qs = qs.filter(currency=currency.strip().upper())
    if segment is not None and segment != "":
        qs = qs.filter(segment__iexact=segment.strip())
    qs = listing.search(qs, q, PRICE_BOOK_SEARCH)
    return listing.order(qs, ordering, PRICE_BOOK_ORDERING, "currency")


def price_book_get(*, user, pk) -> PriceBook:
    """One price book with its entries (product and tiers prefetched, by SKU)."""
    entries = PriceBookEntry.objects.select_related("product").order_by("product__sku").prefetch_related(
        Prefetch("tiers", queryset=PriceTier.objects.order_by("min_quantity")))
    qs = PriceBook.objects.prefetch_related(Prefetch("entries", queryset=entries))
    if _anonymous(user):
        qs = qs.none()
    elif not can_maintain_catalogue(user):
        qs = qs.filter(active=True)
    return _get(qs, pk)


def entry_get(*, user, price_book: PriceBook, pk) -> PriceBookEntry:
    """One entry of `price_book` (404 for an entry of another book)."""
    return _get(PriceBookEntry.objects.select_related("product", "price_book").prefetch_related("tiers")
                .filter(price_book=price_book), pk)


# --- tax rates ------------------------------------------------------------------------------------

def tax_rate_list(*, user, country: str | None = None, tax_category: str | None = None, active: bool | None = None,
                  ordering: str | None = None) -> QuerySet[TaxRate]:
    """Tax rates (every signed-in user reads them)."""
    qs = TaxRate.objects.all()
    if _anonymous(user):
        return qs.none()
    if country:
        qs = qs.filter(country=country.strip().upper())
    if tax_category:
        qs = qs.filter(tax_category=tax_category.strip().lower())
    if active is not None:
        qs = qs.filter(active=active)
    return listing.order(qs, ordering, TAX_RATE_ORDERING, "country")


def tax_rate_get(*, user, pk) -> TaxRate:
    qs = TaxRate.objects.none() if _anonymous(user) else TaxRate.objects.all()
    return _get(qs, pk)
