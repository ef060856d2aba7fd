"""Catalogue pages: products, price books with their entries and tiers, tax rates (under settings).

Thin like the API: a form parses, a selector reads, a catalogue service validates and writes. Everyone
signed in reads; admin and finance change (anyone else gets a 403 on the writing pages).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core import exports
from l2c.core.errors import Conflict, DomainError
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows

from . import selectors_catalogue as selectors
from .forms_catalogue import (
    EntryForm,
    PriceBookCopyForm,
    PriceBookFilterForm,
    PriceBookForm,
    ProductFilterForm,
    ProductForm,
    SspFormSet,
    TaxRateForm,
    ssp_from_formset,
    tiers_text,
)
from .services import catalogue as services


def require_catalogue_writer(user) -> None:
    if not services.can_maintain_catalogue(user):
        raise DjangoPermissionDenied(_("Only admin and finance can change the catalogue, price books and tax rates."))


def _page(request, qs):
    return Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))


def _valid(form) -> dict:
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {k: v for k, v in data.items() if v not in (None, "") and k not in form.errors}


# --- products -------------------------------------------------------------------------------------

def _product_query(request):
    form = ProductFilterForm(request.GET or None)
    filters = _valid(form)
    active = {"yes": True, "no": False}.get(filters.get("active"))
    ordering = filters.get("ordering") or "sku"
    return form, {"q": filters.get("q", ""), "kind": filters.get("kind"), "active": active, "ordering": ordering}


@login_required
def product_list(request):
    form, query = _product_query(request)
    qs = selectors.product_list(user=request.user, **query)
    page_obj = _page(request, qs)
    for product in page_obj:
        product.ssp_display = [(s.currency, selectors.price_text(s.amount, s.currency)) for s in product.ssps.all()]
    context = {"form": form, "page_obj": page_obj, "ordering": query["ordering"], "q": query["q"],
               "can_write": services.can_maintain_catalogue(request.user)}
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "results" and not htmx.history_restore_request:
        return render(request, "quoting/catalogue/_product_table.html", context)
    return render(request, "quoting/catalogue/product_list.html", context)


@login_required
@require_GET
def product_export(request):
    """The product list as CSV or Excel (?format=csv|xlsx), with the list's search, filters and ordering."""

    def build():
        form, query = _product_query(request)
        exports.refuse_invalid_filters(form)
        return selectors.product_list(user=request.user, **query), query

    return exports.ui_export(request, build, columns=selectors.PRODUCT_COLUMNS, stem="products",
                             object_type="quoting.product", sheet_title=_("Products"),
                             back_url=reverse("quoting:product-list"))


def _ssp_initial(product) -> list[dict]:
    return [{"currency": s.currency, "amount": selectors.price_text(s.amount, s.currency)} for s in product.ssps.all()]


def _product_form_page(request, product=None):
    require_catalogue_writer(request.user)
    form = ProductForm(request.POST or None, instance=product)
    ssp_formset = SspFormSet(request.POST or None, prefix="ssp",
                             initial=_ssp_initial(product) if product is not None else None)
    if request.method == "POST" and form.is_valid() and ssp_formset.is_valid():
        values = dict(form.cleaned_data)
        values["ssp"] = ssp_from_formset(ssp_formset)
        try:
            if product is None:
                product = services.product_create(actor=request.user, **values)
                messages.success(request, _("Product %(sku)s created.") % {"sku": product.sku})
            else:
                changed = {name: values[name] for name in form.changed_data if name in values}
                services.product_update(actor=request.user, product=product, ssp=values["ssp"], **changed)
                messages.success(request, _("Product saved."))
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            return redirect("quoting:product-detail", pk=product.pk)
    return render(request, "quoting/catalogue/product_form.html",
                  {"form": form, "ssp_formset": ssp_formset, "product": product})


@login_required
@require_http_methods(["GET", "POST"])
def product_create(request):
    return _product_form_page(request)


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request, pk: int):
    require_catalogue_writer(request.user)
    return _product_form_page(request, selectors.product_get(user=request.user, pk=pk))


@login_required
def product_detail(request, pk: int):
    product = selectors.product_get(user=request.user, pk=pk)
    entries = list(selectors.product_price_entries(user=request.user, product=product))
    for entry in entries:
        entry.list_price_display = selectors.price_text(entry.list_price, entry.price_book.currency)
        entry.tiers_display = tiers_text(entry)
    can_write = services.can_maintain_catalogue(request.user)
    return render(request, "quoting/catalogue/product_detail.html", {
        "product": product, "entries": entries, "can_write": can_write,
        "ssp": [(s.currency, selectors.price_text(s.amount, s.currency)) for s in product.ssps.all()],
        "events": history_rows(product) if can_write else [],
    })


@login_required
@require_POST
def product_delete(request, pk: int):
    require_catalogue_writer(request.user)
    product = selectors.product_get(user=request.user, pk=pk)
    try:
        services.product_delete(actor=request.user, product=product)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("quoting:product-detail", pk=pk)
    messages.success(request, _("Product %(sku)s deleted.") % {"sku": product.sku})
    return redirect("quoting:product-list")


# --- price books ----------------------------------------------------------------------------------

@login_required
def price_book_list(request):
    form = PriceBookFilterForm(request.GET or None)
    filters = _valid(form)
    ordering = filters.get("ordering") or "currency"
    qs = selectors.price_book_list(user=request.user, q=filters.get("q"), currency=filters.get("currency"),
                                   ordering=ordering)
    return render(request, "quoting/catalogue/price_book_list.html", {
        "form": form, "page_obj": _page(request, qs), "ordering": ordering, "q": filters.get("q", ""),
        "can_write": services.can_maintain_catalogue(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def price_book_create(request):
    require_catalogue_writer(request.user)
    form = PriceBookForm(request.POST or None, initial={"active": True})
    if request.method == "POST" and form.is_valid():
        try:
            book = services.price_book_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Price book “%(name)s” created.") % {"name": book.name})
            return redirect("quoting:price-book-detail", pk=book.pk)
    return render(request, "quoting/catalogue/price_book_form.html", {"form": form, "book": None})


@login_required
@require_http_methods(["GET", "POST"])
def price_book_edit(request, pk: int):
    require_catalogue_writer(request.user)
    book = selectors.price_book_get(user=request.user, pk=pk)
    form = PriceBookForm(request.POST or None, instance=book)
    if request.method == "POST" and form.is_valid():
        try:
            services.price_book_update(actor=request.user, book=book, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Price book saved."))
            return redirect("quoting:price-book-detail", pk=book.pk)
    return render(request, "quoting/catalogue/price_book_form.html", {"form": form, "book": book})


def _price_book_page(request, book, entry_form=None, status=200):
    can_write = services.can_maintain_catalogue(request.user)
    entries = list(book.entries.all())
    for entry in entries:
        entry.list_price_display = selectors.price_text(entry.list_price, book.currency)
        entry.tier_rows = [(selectors.quantity_text(t.min_quantity), selectors.price_text(t.unit_price, book.currency))
                           for t in entry.tiers.all()]
    if can_write and entry_form is None:
        entry_form = EntryForm(price_book=book)
    return render(request, "quoting/catalogue/price_book_detail.html", {
        "book": book, "entries": entries, "entry_form": entry_form, "can_write": can_write,
        "events": history_rows(book) if can_write else [],
    }, status=status)


@login_required
def price_book_detail(request, pk: int):
    return _price_book_page(request, selectors.price_book_get(user=request.user, pk=pk))


@login_required
@require_POST
def price_book_delete(request, pk: int):
    require_catalogue_writer(request.user)
    book = selectors.price_book_get(user=request.user, pk=pk)
    try:
        services.price_book_delete(actor=request.user, book=book)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("quoting:price-book-detail", pk=pk)
    messages.success(request, _("Price book “%(name)s” deleted.") % {"name": book.name})
    return redirect("quoting:price-book-list")


@login_required
@require_http_methods(["GET", "POST"])
def price_book_copy(request, pk: int):
    require_catalogue_writer(request.user)
    source = selectors.price_book_get(user=request.user, pk=pk)
    form = PriceBookCopyForm(request.POST or None, initial={"name": _("%(name)s (copy)") % {"name": source.name}})
    if request.method == "POST" and form.is_valid():
        try:
            book = services.price_book_copy(actor=request.user, source=source, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Price book “%(name)s” created from “%(source)s”.")
                             % {"name": book.name, "source": source.name})
            return redirect("quoting:price-book-detail", pk=book.pk)
    return render(request, "quoting/catalogue/price_book_copy.html", {"form": form, "book": source})


# --- price book entries ---------------------------------------------------------------------------

@login_required
@require_POST
def entry_create(request, pk: int):
    require_catalogue_writer(request.user)
    book = selectors.price_book_get(user=request.user, pk=pk)
    form = EntryForm(request.POST, price_book=book)
    if form.is_valid():
        try:
            services.entry_create(actor=request.user, price_book=book, product=form.cleaned_data["product"],
                                  **form.service_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("%(sku)s added to the price book.") % {"sku": form.cleaned_data["product"].sku})
            return redirect("quoting:price-book-detail", pk=book.pk)
    book = selectors.price_book_get(user=request.user, pk=pk)
    return _price_book_page(request, book, entry_form=form, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def entry_edit(request, pk: int, entry_id: int):
    require_catalogue_writer(request.user)
    book = selectors.price_book_get(user=request.user, pk=pk)
    entry = selectors.entry_get(user=request.user, price_book=book, pk=entry_id)
    initial = {"list_price": selectors.price_text(entry.list_price, book.currency), "pricing": entry.pricing,
               "tiers": tiers_text(entry)}
    form = EntryForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.entry_update(actor=request.user, entry=entry, **form.service_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Price of %(sku)s saved.") % {"sku": entry.product.sku})
            return redirect("quoting:price-book-detail", pk=book.pk)
    return render(request, "quoting/catalogue/entry_form.html", {"form": form, "book": book, "entry": entry})


@login_required
@require_POST
def entry_delete(request, pk: int, entry_id: int):
    require_catalogue_writer(request.user)
    book = selectors.price_book_get(user=request.user, pk=pk)
    entry = selectors.entry_get(user=request.user, price_book=book, pk=entry_id)
    services.entry_delete(actor=request.user, entry=entry)
    messages.success(request, _("%(sku)s removed from the price book.") % {"sku": entry.product.sku})
    return redirect("quoting:price-book-detail", pk=book.pk)


# --- tax rates ------------------------------------------------------------------------------------

@login_required
def tax_rate_list(request):
    country = (request.GET.get("country") or "").strip()[:2]
    qs = selectors.tax_rate_list(user=request.user, country=country or None)
    page_obj = _page(request, qs)
    for rate in page_obj:
        rate.rate_display = selectors.quantity_text(rate.rate)
    return render(request, "quoting/catalogue/tax_rate_list.html", {
        "page_obj": page_obj, "country": country, "can_write": services.can_maintain_catalogue(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def tax_rate_create(request):
    require_catalogue_writer(request.user)
    form = TaxRateForm(request.POST or None, initial={"active": True, "tax_category": "standard"})
    if request.method == "POST" and form.is_valid():
        try:
            rate = services.tax_rate_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Tax rate “%(name)s” created.") % {"name": rate.name})
            return redirect("quoting:tax-rate-list")
    return render(request, "quoting/catalogue/tax_rate_form.html", {"form": form, "tax_rate": None})


@login_required
@require_http_methods(["GET", "POST"])
def tax_rate_edit(request, pk: int):
    require_catalogue_writer(request.user)
    tax_rate = selectors.tax_rate_get(user=request.user, pk=pk)
    form = TaxRateForm(request.POST or None, instance=tax_rate)
    if request.method == "POST" and form.is_valid():
        changed = form.changed_values()
        if "rate" in changed and not form.has_changed_rate():
            del changed["rate"]
        try:
            services.tax_rate_update(actor=request.user, tax_rate=tax_rate, **changed)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Tax rate saved."))
            return redirect("quoting:tax-rate-list")
    return render(request, "quoting/catalogue/tax_rate_form.html", {
        "form": form, "tax_rate": tax_rate, "events": history_rows(tax_rate)})


@login_required
@require_POST
def tax_rate_delete(request, pk: int):
    require_catalogue_writer(request.user)
    tax_rate = selectors.tax_rate_get(user=request.user, pk=pk)
    try:
        services.tax_rate_delete(actor=request.user, tax_rate=tax_rate)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("quoting:tax-rate-edit", pk=pk)
    messages.success(request, _("Tax rate “%(name)s” deleted.") % {"name": tax_rate.name})
    return redirect("quoting:tax-rate-list")
