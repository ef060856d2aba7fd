"""API routes of the catalogue: /products, /price-books (+ entries with tiers, copy), /tax-rates.

Every signed-in user reads; admin and finance write (others get 403 from the services). Prices and
quantities are decimal strings in JSON, e.g. "ssp": {"USD": "100.00"}, "list_price": "9.50".
"""

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core import exports, listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed
from l2c.customers.api import StrictSchema

from . import selectors_catalogue as selectors
from .models import PriceBook, Product, TaxRate
from .services import catalogue as services

router = Router(tags=["catalogue"])

ProductKindIn = Literal["good", "service", "subscription", "milestone"]
PricingIn = Literal["flat", "volume", "tiered"]


def _len(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _not_null(values: dict, *names: str) -> dict:
    for name in names:
        if name in values and values[name] is None:
            raise ValidationFailed.single(name, _("This field cannot be null."), "null")
    return values


# --- products -------------------------------------------------------------------------------------

class ProductOut(Schema):
    id: int
    sku: str
    name: str
    description: str
    kind: str
    billing_period: str
    unit: str
    tax_category: str
    revenue_rule: str
    active: bool
    ssp: dict[str, str] = Field(..., description='Standalone selling price per currency, e.g. {"USD": "100.00"}')
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_ssp(obj) -> dict[str, str]:
        return {s.currency: selectors.price_text(s.amount, s.currency) for s in obj.ssps.all()}


class ProductIn(StrictSchema):
    sku: str = Field(..., max_length=_len(Product, "sku"), description="Unique (ignoring case), no spaces")
    name: str = Field(..., max_length=_len(Product, "name"))
    description: str = Field("", max_length=20000)
    kind: ProductKindIn = "good"
    billing_period: str = Field("", description="month, quarter or year; subscriptions only")
    unit: str = Field("each", max_length=_len(Product, "unit"))
    tax_category: str = Field("standard", max_length=_len(Product, "tax_category"))
    revenue_rule: str | None = Field(None, description="point_in_time, ratable or milestone; default by kind")
    active: bool = True
    ssp: dict[str, Decimal] = Field(default_factory=dict, description='{"USD": "100.00", "CNY": "700.00"}')


class ProductPatch(StrictSchema):
    sku: str | None = Field(None, max_length=_len(Product, "sku"))
    name: str | None = Field(None, max_length=_len(Product, "name"))
    description: str | None = Field(None, max_length=20000)
    kind: ProductKindIn | None = None
    billing_period: str | None = None
    unit: str | None = Field(None, max_length=_len(Product, "unit"))
    tax_category: str | None = Field(None, max_length=_len(Product, "tax_category"))
    revenue_rule: str | None = None
    active: bool | None = None
    ssp: dict[str, Decimal] | None = Field(None, description="Replaces every standalone selling price")


ProductOrdering = Literal[tuple(listing.ordering_choices(selectors.PRODUCT_ORDERING))]  # type: ignore[valid-type]


class ProductFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search SKU, name, description")
    active: bool | None = None
    kind: ProductKindIn | None = None
    ordering: ProductOrdering | None = None


def _product_list(request, filters: ProductFilters):
    return selectors.product_list(user=request.auth, q=filters.q, active=filters.active, kind=filters.kind,
                                  ordering=filters.ordering)


@router.get("/products", response=list[ProductOut])
@paginate(LimitOffsetPagination)
def list_products(request, filters: Query[ProductFilters]):
    return _product_list(request, filters)


@router.get("/products/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_products(request, filters: Query[ProductFilters], format: exports.ExportFormat = "csv"):
    """Every product the list would return for these filters (no pagination), as CSV or XLSX."""
    return exports.export_response(queryset=_product_list(request, filters), columns=selectors.PRODUCT_COLUMNS, fmt=format,
                                   actor=request.auth, stem="products", object_type="quoting.product",
                                   sheet_title=_("Products"), filters=filters.dict())


@router.post("/products", response={201: ProductOut})
def create_product(request, data: ProductIn):
    product = services.product_create(actor=request.auth, **data.dict())
    return Status(201, selectors.product_get(user=request.auth, pk=product.pk))


@router.get("/products/{int:product_id}", response=ProductOut)
def get_product(request, product_id: int):
    return selectors.product_get(user=request.auth, pk=product_id)


@router.patch("/products/{int:product_id}", response=ProductOut)
def update_product(request, product_id: int, data: ProductPatch):
    product = selectors.product_get(user=request.auth, pk=product_id)
    values = _not_null(data.dict(exclude_unset=True), "kind", "active")
    services.product_update(actor=request.auth, product=product, **values)
    return selectors.product_get(user=request.auth, pk=product_id)


@router.delete("/products/{int:product_id}", response={204: None})
def delete_product(request, product_id: int):
    """Delete an unused product; one on quotes or in price books is a 409: deactivate it instead."""
    services.product_delete(actor=request.auth, product=selectors.product_get(user=request.auth, pk=product_id))
    return Status(204, None)


# --- price books ----------------------------------------------------------------------------------

class ProductRef(Schema):
    id: int
    sku: str
    name: str
    active: bool


class TierOut(Schema):
    min_quantity: str
    unit_price: str


class EntryOut(Schema):
    id: int
    product: ProductRef
    list_price: str
    pricing: str
    tiers: list[TierOut]

    @staticmethod
    def resolve_list_price(obj) -> str:
        return selectors.price_text(obj.list_price, obj.price_book.currency)

    @staticmethod
    def resolve_tiers(obj) -> list[dict]:
        currency = obj.price_book.currency
        return [{"min_quantity": selectors.quantity_text(t.min_quantity),
                 "unit_price": selectors.price_text(t.unit_price, currency)}
                for t in sorted(obj.tiers.all(), key=lambda t: t.min_quantity)]


class PriceBookOut(Schema):
    id: int
    name: str
    currency: str
    segment: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    active: bool
    entry_count: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_entry_count(obj) -> int:
        count = getattr(obj, "entry_count", None)
        return count if count is not None else len(obj.entries.all())


class PriceBookDetailOut(PriceBookOut):
    entries: list[EntryOut]

    @staticmethod
    def resolve_entries(obj) -> list:
        return list(obj.entries.all())


class PriceBookIn(StrictSchema):
    name: str = Field(..., max_length=_len(PriceBook, "name"))
    currency: str = Field(..., max_length=3, description="ISO 4217")
    segment: str = Field("", max_length=_len(PriceBook, "segment"), description="Customer segment; empty: all")
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    active: bool = True


class PriceBookPatch(StrictSchema):
    name: str | None = Field(None, max_length=_len(PriceBook, "name"))
    currency: str | None = Field(None, max_length=3)
    segment: str | None = Field(None, max_length=_len(PriceBook, "segment"))
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    active: bool | None = None


class PriceBookCopyIn(StrictSchema):
    name: str = Field(..., max_length=_len(PriceBook, "name"))
    currency: str | None = Field(None, max_length=3, description="Default: the source's")
    segment: str | None = Field(None, max_length=_len(PriceBook, "segment"), description="Default: the source's")
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    active: bool = True
    uplift_percent: Decimal = Field(Decimal(0), description='Change every price by this %, e.g. "5" or "-10"')


PriceBookOrdering = Literal[tuple(listing.ordering_choices(selectors.PRICE_BOOK_ORDERING))]  # type: ignore[valid-type]


class PriceBookFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search name, segment, currency")
    currency: str | None = Field(None, max_length=3)
    segment: str | None = Field(None, max_length=40)
    active: bool | None = None
    ordering: PriceBookOrdering | None = None


@router.get("/price-books", response=list[PriceBookOut])
@paginate(LimitOffsetPagination)
def list_price_books(request, filters: Query[PriceBookFilters]):
    return selectors.price_book_list(user=request.auth, **filters.dict())


@router.post("/price-books", response={201: PriceBookDetailOut})
def create_price_book(request, data: PriceBookIn):
    book = services.price_book_create(actor=request.auth, **data.dict())
    return Status(201, selectors.price_book_get(user=request.auth, pk=book.pk))


@router.get("/price-books/{int:book_id}", response=PriceBookDetailOut)
def get_price_book(request, book_id: int):
    return selectors.price_book_get(user=request.auth, pk=book_id)


@router.patch("/price-books/{int:book_id}", response=PriceBookDetailOut)
def update_price_book(request, book_id: int, data: PriceBookPatch):
    book = selectors.price_book_get(user=request.auth, pk=book_id)
    values = _not_null(data.dict(exclude_unset=True), "name", "currency", "segment", "active")
    services.price_book_update(actor=request.auth, book=book, **values)
    return selectors.price_book_get(user=request.auth, pk=book_id)


@router.delete("/price-books/{int:book_id}", response={204: None})
def delete_price_book(request, book_id: int):
    """Delete a price book (and its entries) no quote uses; otherwise 409: deactivate it instead."""
    services.price_book_delete(actor=request.auth, book=selectors.price_book_get(user=request.auth, pk=book_id))
    return Status(204, None)


@router.post("/price-books/{int:book_id}/copy", response={201: PriceBookDetailOut})
def copy_price_book(request, book_id: int, data: PriceBookCopyIn):
    """A new price book with every entry and tier of this one, prices changed by `uplift_percent`."""
    source = selectors.price_book_get(user=request.auth, pk=book_id)
    book = services.price_book_copy(actor=request.auth, source=source, **data.dict())
    return Status(201, selectors.price_book_get(user=request.auth, pk=book.pk))


# --- price book entries ---------------------------------------------------------------------------

class TierIn(StrictSchema):
    min_quantity: Decimal = Field(..., description='From this quantity on, e.g. "10"')
    unit_price: Decimal = Field(..., description='e.g. "9.00"')


class EntryIn(StrictSchema):
    product: RecordId = Field(..., description="Product id")
    list_price: Decimal = Field(..., description='In the price book currency, e.g. "10.00"')
    pricing: PricingIn = "flat"
    tiers: list[TierIn] = Field(default_factory=list, description="Volume/tiered pricing only; ascending")


class EntryPatch(StrictSchema):
    list_price: Decimal | None = None
    pricing: PricingIn | None = None
    tiers: list[TierIn] | None = Field(None, description="Replaces every tier")


def _tiers(values: dict) -> dict:
    if values.get("tiers") is not None:
        values["tiers"] = [{"min_quantity": t["min_quantity"], "unit_price": t["unit_price"]} for t in values["tiers"]]
    return values


@router.post("/price-books/{int:book_id}/entries", response={201: EntryOut})
def create_entry(request, book_id: int, data: EntryIn):
    book = selectors.price_book_get(user=request.auth, pk=book_id)
    values = _tiers(data.dict())
    product = Product.objects.filter(pk=values.pop("product")).first()
    if product is None:
        raise ValidationFailed.single("product", _("No product with id %(id)s.") % {"id": data.product}, "not_found")
    entry = services.entry_create(actor=request.auth, price_book=book, product=product, **values)
    return Status(201, selectors.entry_get(user=request.auth, price_book=book, pk=entry.pk))


@router.get("/price-books/{int:book_id}/entries/{int:entry_id}", response=EntryOut)
def get_entry(request, book_id: int, entry_id: int):
    book = selectors.price_book_get(user=request.auth, pk=book_id)
    return selectors.entry_get(user=request.auth, price_book=book, pk=entry_id)


@router.patch("/price-books/{int:book_id}/entries/{int:entry_id}", response=EntryOut)
def update_entry(request, book_id: int, entry_id: int, data: EntryPatch):
    book = selectors.price_book_get(user=request.auth, pk=book_id)
    entry = selectors.entry_get(user=request.auth, price_book=book, pk=entry_id)
    values = _tiers(_not_null(data.dict(exclude_unset=True), "list_price", "pricing"))
    if "tiers" in values and values["tiers"] is None:
        values["tiers"] = []
    services.entry_update(actor=request.auth, entry=entry, **values)
    return selectors.entry_get(user=request.auth, price_book=book, pk=entry_id)


@router.delete("/price-books/{int:book_id}/entries/{int:entry_id}", response={204: None})
def delete_entry(request, book_id: int, entry_id: int):
    book = selectors.price_book_get(user=request.auth, pk=book_id)
    services.entry_delete(actor=request.auth, entry=selectors.entry_get(user=request.auth, price_book=book,
                                                                        pk=entry_id))
    return Status(204, None)


# --- tax rates ------------------------------------------------------------------------------------

class TaxRateOut(Schema):
    id: int
    name: str
    country: str
    tax_category: str
    rate: str
    inclusive: bool
    valid_from: dt.date | None
    valid_until: dt.date | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_rate(obj) -> str:
        return selectors.quantity_text(obj.rate)


class TaxRateIn(StrictSchema):
    name: str = Field(..., max_length=_len(TaxRate, "name"))
    country: str = Field(..., max_length=2, description="ISO 3166-1 alpha-2, e.g. CN")
    tax_category: str = Field("standard", max_length=_len(TaxRate, "tax_category"))
    rate: Decimal = Field(..., description='Percent, 0 to 100, e.g. "13"')
    inclusive: bool = False
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    active: bool = True


class TaxRatePatch(StrictSchema):
    name: str | None = Field(None, max_length=_len(TaxRate, "name"))
    country: str | None = Field(None, max_length=2)
    tax_category: str | None = Field(None, max_length=_len(TaxRate, "tax_category"))
    rate: Decimal | None = None
    inclusive: bool | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    active: bool | None = None


TaxRateOrdering = Literal[tuple(listing.ordering_choices(selectors.TAX_RATE_ORDERING))]  # type: ignore[valid-type]


class TaxRateFilters(Schema):
    country: str | None = Field(None, max_length=2)
    tax_category: str | None = Field(None, max_length=40)
    active: bool | None = None
    ordering: TaxRateOrdering | None = None


@router.get("/tax-rates", response=list[TaxRateOut])
@paginate(LimitOffsetPagination)
def list_tax_rates(request, filters: Query[TaxRateFilters]):
    return selectors.tax_rate_list(user=request.auth, **filters.dict())


@router.post("/tax-rates", response={201: TaxRateOut})
def create_tax_rate(request, data: TaxRateIn):
    return Status(201, services.tax_rate_create(actor=request.auth, **data.dict()))


@router.get("/tax-rates/{int:rate_id}", response=TaxRateOut)
def get_tax_rate(request, rate_id: int):
    return selectors.tax_rate_get(user=request.auth, pk=rate_id)


@router.patch("/tax-rates/{int:rate_id}", response=TaxRateOut)
def update_tax_rate(request, rate_id: int, data: TaxRatePatch):
    tax_rate = selectors.tax_rate_get(user=request.auth, pk=rate_id)
    values = _not_null(data.dict(exclude_unset=True), "name", "country", "tax_category", "rate", "inclusive",
                       "active")
    services.tax_rate_update(actor=request.auth, tax_rate=tax_rate, **values)
    return selectors.tax_rate_get(user=request.auth, pk=rate_id)


@router.delete("/tax-rates/{int:rate_id}", response={204: None})
def delete_tax_rate(request, rate_id: int):
    """Delete a tax rate no quote line was priced with; otherwise 409: end or deactivate it instead."""
    services.tax_rate_delete(actor=request.auth, tax_rate=selectors.tax_rate_get(user=request.auth, pk=rate_id))
    return Status(204, None)

