"""Ledger pages (finance and admin): home, accounts, entries, manual entry, periods, rates and reports.

Thin: a form parses, a selector reads or a service writes. Sales roles get 403 on every page.
"""
from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core import exports
from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows

from . import selectors, services
from .exports import LINE_COLUMNS
from .forms import (
    CURRENCIES,
    AccountForm,
    AsOfForm,
    EntryFilterForm,
    EntryForm,
    GeneralLedgerForm,
    LineFormSet,
    RateForm,
    RateImportForm,
    ReverseForm,
)
from .models import JournalLine, LedgerAccount


def ledger_page(view):
    """Logged in, and finance or admin; anyone else gets 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not services.can_use_ledger(request.user):
            raise DjangoPermissionDenied(_("Only finance and admin users can use the ledger."))
        return view(request, *args, **kwargs)

    return wrapper


def _render(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": "ledger", **context}, status=status)


def _page(request, qs):
    return Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))


@require_GET
@ledger_page
def home(request):
    today = timezone.localdate()
    report = selectors.trial_balance(today)
    return _render(request, "ledger/home.html", {
        "entries": selectors.entry_list(user=request.user)[:10], "report": report,
        "ar": selectors.ar_subledger(today), "today": today,
        "open_month_locked": services.is_period_locked(today),
    })


# --- accounts ---------------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@ledger_page
def account_list(request):
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        values["normal_balance"] = values["normal_balance"] or None
        try:
            account = services.account_create(actor=request.user, **values)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Account %(account)s added.") % {"account": account})
            return redirect("ledger:accounts")
    return _render(request, "ledger/account_list.html", {
        "accounts": selectors.account_list(user=request.user), "form": form})


@require_http_methods(["GET", "POST"])
@ledger_page
def account_edit(request, pk: int):
    try:
        account = selectors.account_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    initial = {name: getattr(account, name) for name in services.ACCOUNT_FIELDS}
    form = AccountForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        if "normal_balance" in values and not values["normal_balance"]:
            values.pop("normal_balance")
        try:
            services.account_update(actor=request.user, account=account, **values)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Account saved."))
            return redirect("ledger:accounts")
    return _render(request, "ledger/account_form.html", {"form": form, "account": account,
                                                         "events": history_rows(account)})


# --- entries ----------------------------------------------------------------------------------------

def _entry_query(request):
    form = EntryFilterForm(request.GET or None)
    filters = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return form, filters


@require_GET
@ledger_page
def entry_list(request):
    form, filters = _entry_query(request)
    qs = selectors.entry_list(user=request.user, **filters)
    return _render(request, "ledger/entry_list.html", {"form": form, "page_obj": _page(request, qs)})


@require_GET
@ledger_page
def entry_export(request):
    """The lines of the entries the list shows, as CSV or XLSX."""

    def build():
        form, filters = _entry_query(request)
        exports.refuse_invalid_filters(form)
        entries = selectors.entry_list(user=request.user, **filters)
        qs = (JournalLine.objects.filter(entry__in=entries.values("pk"))
              .select_related("entry", "entry__journal", "account", "customer")
              .order_by("entry__date", "entry_id", "line_no"))
        return qs, {k: str(v) for k, v in filters.items()}

    return exports.ui_export(request, build, columns=LINE_COLUMNS, stem="journal-lines",
                             object_type="ledger.journalline", sheet_title=_("Journal lines"),
                             back_url=request.path.replace("export/", ""))


@require_GET
@ledger_page
def entry_detail(request, pk: int):
    try:
        entry = selectors.entry_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return _render(request, "ledger/entry_detail.html", {
        "entry": entry, "lines": entry.lines.all(), "reversal": entry.reversal, "reverse_form": ReverseForm(),
        "events": history_rows(entry),
    })


@require_POST
@ledger_page
def entry_reverse(request, pk: int):
    try:
        entry = selectors.entry_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    form = ReverseForm(request.POST)
    if form.is_valid():
        try:
            reversal = services.reverse_entry(actor=request.user, entry=entry, date=form.cleaned_data["date"],
                                              memo=form.cleaned_data["memo"])
        except DomainError as exc:
            messages.error(request, exc.message)  # also when the form is hidden (already reversed)
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Entry %(number)s reversed by %(reversal)s.")
                             % {"number": entry.number, "reversal": reversal.number})
            return redirect("ledger:entry-detail", pk=reversal.pk)
    return _render(request, "ledger/entry_detail.html", {
        "entry": entry, "lines": entry.lines.all(), "reversal": entry.reversal, "reverse_form": form,
        "events": history_rows(entry)}, status=400 if form.errors else 200)


def _show_line_errors(form, formset, positions: list[int], exc: DomainError) -> None:
    """Service errors beside their field: `lines.N.field` on the N-th filled line, the rest on the header."""
    for error in exc.errors or []:
        parts = (error.field or "").split(".")
        if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(positions):
            line_form = formset.forms[positions[int(parts[1])]]
            if parts[2] in line_form.fields:
                line_form.add_error(parts[2], error.message)
                continue
        if parts[0] == "lines":
            formset._non_form_errors = formset.non_form_errors() + [error.message]
        elif error.field in form.fields:
            form.add_error(error.field, error.message)
        else:
            form.add_error(None, error.message)
    if not exc.errors:
        form.add_error(None, exc.message)


@require_http_methods(["GET", "POST"])
@ledger_page
def entry_create(request):
    data = request.POST if request.method == "POST" else None
    form = EntryForm(data, initial={"date": timezone.localdate(), "journal": "GENERAL"})
    formset = LineFormSet(data, user=request.user, prefix="lines")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        positions, lines = [], []
        for index, line_form in enumerate(formset.forms):
            if line_form.is_blank():
                continue
            values = line_form.cleaned_data
            positions.append(index)
            lines.append(services.Line(
                account=values.get("account") or "", debit=values.get("debit") or 0, credit=values.get("credit") or 0,
                currency=values.get("currency") or "", amount=values.get("amount"), rate=values.get("rate"),
                customer=values.get("customer"), description=values.get("description") or ""))
        try:
            entry = services.post_entry(actor=request.user, date=form.cleaned_data["date"],
                                        journal=form.cleaned_data["journal"], memo=form.cleaned_data["memo"],
                                        lines=lines)
        except DomainError as exc:
            _show_line_errors(form, formset, positions, exc)
        else:
            messages.success(request, _("Entry %(number)s posted.") % {"number": entry.number})
            return redirect("ledger:entry-detail", pk=entry.pk)
    return _render(request, "ledger/entry_form.html", {"form": form, "formset": formset, "currencies": CURRENCIES})


# --- periods and rates ------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@ledger_page
def period_list(request):
    if request.method == "POST":
        try:
            year, month = (int(part) for part in request.POST.get("period", "").split("-"))
            if request.POST.get("action") == "unlock":
                services.period_unlock(actor=request.user, year=year, month=month)
                messages.success(request, _("Period %(period)s unlocked.") % {"period": f"{year:04d}-{month:02d}"})
            else:
                services.period_lock(actor=request.user, year=year, month=month)
                messages.success(request, _("Period %(period)s locked.") % {"period": f"{year:04d}-{month:02d}"})
        except ValueError:
            messages.error(request, _("Give the period as YYYY-MM."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("ledger:periods")
    return _render(request, "ledger/period_list.html", {
        "periods": selectors.period_list(user=request.user, today=timezone.localdate())})


@require_http_methods(["GET", "POST"])
@ledger_page
def rate_list(request):
    form = RateForm(request.POST if request.POST.get("action") == "set" else None)
    import_form = RateImportForm(request.POST if request.POST.get("action") == "import" else None,
                                 request.FILES if request.POST.get("action") == "import" else None)
    if request.method == "POST" and request.POST.get("action") == "set" and form.is_valid():
        try:
            rate = services.rate_set(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Rate %(rate)s saved.") % {"rate": rate})
            return redirect("ledger:rates")
    if request.method == "POST" and request.POST.get("action") == "import" and import_form.is_valid():
        upload = import_form.cleaned_data["file"]
        try:
            text = upload.read(5_000_001).decode("utf-8")
            if len(text) > 5_000_000:
                raise ValueError
            count = services.rates_import(actor=request.user, text=text)
        except (UnicodeDecodeError, ValueError):
            import_form.add_error("file", _("The file must be UTF-8 CSV text of at most 5 MB."))
        except DomainError as exc:
            for error in exc.errors or []:
                import_form.add_error(None, f"{error.field}: {error.message}")
        else:
            messages.success(request, _("%(count)s rates imported.") % {"count": count})
            return redirect("ledger:rates")
    currency = (request.GET.get("currency") or "").strip()[:3]
    return _render(request, "ledger/rate_list.html", {
        "form": form, "import_form": import_form, "page_obj": _page(request, selectors.rate_list(
            user=request.user, currency=currency or None)), "currency": currency, "currencies": CURRENCIES,
        "company_currency": services.company_currency()})


# --- reports ----------------------------------------------------------------------------------------

def _as_of(request) -> tuple[AsOfForm, dt.date]:
    form = AsOfForm(request.GET or None)
    as_of = form.cleaned_data.get("as_of") if form.is_valid() else None
    return form, as_of or timezone.localdate()


@require_GET
@ledger_page
def trial_balance(request):
    form, as_of = _as_of(request)
    return _render(request, "ledger/trial_balance.html", {
        "form": form, "report": selectors.trial_balance(as_of, user=request.user)})


@require_GET
@ledger_page
def general_ledger(request):
    form = GeneralLedgerForm(request.GET or None, initial={"account": "1100"})
    report = None
    if form.is_valid():
        try:
            report = selectors.general_ledger(form.cleaned_data["account"], form.cleaned_data["date_from"],
                                              form.cleaned_data["date_to"], user=request.user)
        except DomainError as exc:
            show_domain_error(form, exc, {"from": "date_from"})
    return _render(request, "ledger/general_ledger.html", {"form": form, "report": report})


@require_GET
@ledger_page
def ar_subledger(request):
    form, as_of = _as_of(request)
    return _render(request, "ledger/ar_subledger.html", {
        "form": form, "report": selectors.ar_subledger(as_of, user=request.user),
        "control": LedgerAccount.objects.filter(code="1100").first()})
