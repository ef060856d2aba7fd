"""Billing pages: the finance home, invoices (post, credit, write off), payments (record with allocations),
the AR aging report. Thin: parse, call a selector or service, render."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error

from . import selectors, services
from .models import Invoice, InvoiceStatus, PaymentMethod

ALLOCATION_ROWS = 5


def _visible_or_404(selector, **kwargs):
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _require_billing(user) -> None:
    if not services.can_bill(user):
        raise DjangoPermissionDenied(_("Only finance or an admin may do this."))


def _page(request, qs):
    return Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))


def _error_text(exc: DomainError) -> str:
    if exc.errors:
        return "; ".join(f"{e.message}" for e in exc.errors)
    return exc.message


# --- forms -----------------------------------------------------------------------------------------------

class CreditForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount (gross)"), max_digits=20, decimal_places=4,
                                min_value=Decimal("0.0001"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=services.MAX_REASON, widget=forms.Textarea(
        attrs={"rows": 2}))
    post = forms.BooleanField(label=gettext_lazy("Post at once"), required=False, initial=True)


class WriteOffForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=20, decimal_places=4,
                                min_value=Decimal("0.0001"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=services.MAX_REASON, widget=forms.Textarea(
        attrs={"rows": 2}))


class PaymentForm(forms.Form):
    account = forms.ModelChoiceField(label=gettext_lazy("Customer"), queryset=None)
    date = forms.DateField(label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(label=gettext_lazy("Method"), choices=PaymentMethod.choices)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, min_length=3)
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=20, decimal_places=4)
    reference = forms.CharField(label=gettext_lazy("Reference"), max_length=services.MAX_REFERENCE, required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from l2c.customers.models import Account

        self.fields["account"].queryset = Account.objects.restrict(user).order_by("name")


def _allocation_rows(request, user) -> tuple[list[dict], list[tuple], list[str]]:
    """The allocation rows of the payment form: (rows to show again, [(invoice, amount)], errors)."""
    rows, pairs, errors = [], [], []
    visible = Invoice.objects.restrict(user)
    for index in range(ALLOCATION_ROWS):
        number = (request.POST.get(f"alloc-{index}-invoice") or "").strip()
        raw = (request.POST.get(f"alloc-{index}-amount") or "").strip()
        rows.append({"index": index, "invoice": number, "amount": raw})
        if not number and not raw:
            continue
        invoice = visible.filter(number=number).first() if number else None
        if invoice is None:
            errors.append(_("Row %(n)s: no posted invoice %(number)r.") % {"n": index + 1, "number": number})
            continue
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            errors.append(_("Row %(n)s: %(value)r is not an amount.") % {"n": index + 1, "value": raw})
            continue
        pairs.append((invoice, amount))
    return rows, pairs, errors


# --- pages -----------------------------------------------------------------------------------------------

@login_required
def billing_home(request):
    _require_billing(request.user)
    context = selectors.finance_home(user=request.user)
    return render(request, "billing/home.html", {**context, "nav": "billing"})


@login_required
def invoice_list(request):
    status = request.GET.get("status") or None
    if status not in (None, *InvoiceStatus.values):
        status = None
    qs = selectors.invoice_list(user=request.user, status=status, q=request.GET.get("q") or None,
                                overdue=request.GET.get("overdue") == "1")
    return render(request, "billing/invoice_list.html", {
        "page_obj": _page(request, qs), "statuses": InvoiceStatus.choices, "status": status or "",
        "q": request.GET.get("q", ""), "nav": "invoices"})


@login_required
def invoice_detail(request, pk: int):
    invoice = _visible_or_404(selectors.invoice_get, user=request.user, pk=pk)
    return render(request, "billing/invoice_detail.html", _detail_context(request, invoice))


def _detail_context(request, invoice, *, credit_form=None, write_off_form=None) -> dict:
    can_act = services.can_bill(request.user) and invoice.is_open
    return {
        "invoice": invoice, "lines": selectors.invoice_lines(invoice),
        "allocations": selectors.invoice_allocations(invoice),
        "credit_notes": invoice.credit_notes.order_by("id"), "write_offs": invoice.write_offs.order_by("id"),
        "can_post": services.can_bill(request.user) and invoice.status == InvoiceStatus.DRAFT,
        "can_act": can_act,
        "credit_form": credit_form or CreditForm(initial={"amount": invoice.balance, "post": True}),
        "write_off_form": write_off_form or WriteOffForm(initial={"amount": invoice.balance}),
        "nav": "invoices",
    }


@login_required
@require_POST
def invoice_post(request, pk: int):
    invoice = _visible_or_404(selectors.invoice_get, user=request.user, pk=pk)
    _require_billing(request.user)
    try:
        invoice = services.invoice_post(actor=request.user, invoice=invoice)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Invoice %(n)s posted.") % {"n": invoice.number})
    return redirect("billing:invoice-detail", pk=pk)


@login_required
@require_POST
def invoice_credit(request, pk: int):
    invoice = _visible_or_404(selectors.invoice_get, user=request.user, pk=pk)
    _require_billing(request.user)
    form = CreditForm(request.POST)
    if form.is_valid():
        try:
            note = services.credit_note_create(actor=request.user, invoice=invoice, reason=form.cleaned_data["reason"],
                                               amount=form.cleaned_data["amount"])
            if form.cleaned_data["post"]:
                note = services.credit_note_post(actor=request.user, credit_note=note)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Credit note %(n)s created.") % {"n": note})
            return redirect("billing:invoice-detail", pk=pk)
    return render(request, "billing/invoice_detail.html", _detail_context(request, invoice, credit_form=form),
                  status=422)


@login_required
@require_POST
def credit_note_post(request, pk: int):
    note = _visible_or_404(selectors.credit_note_get, user=request.user, pk=pk)
    _require_billing(request.user)
    try:
        services.credit_note_post(actor=request.user, credit_note=note)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect("billing:invoice-detail", pk=note.invoice_id)


@login_required
@require_POST
def invoice_write_off(request, pk: int):
    invoice = _visible_or_404(selectors.invoice_get, user=request.user, pk=pk)
    _require_billing(request.user)
    form = WriteOffForm(request.POST)
    if form.is_valid():
        try:
            services.write_off(actor=request.user, invoice=invoice, amount=form.cleaned_data["amount"],
                               reason=form.cleaned_data["reason"])
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Written off."))
            return redirect("billing:invoice-detail", pk=pk)
    return render(request, "billing/invoice_detail.html", _detail_context(request, invoice, write_off_form=form),
                  status=422)


@login_required
@require_POST
def contract_invoice(request, contract_pk: int):
    """Create a draft invoice for everything not yet invoiced on a contract."""
    from l2c.contracts.models import Contract

    _require_billing(request.user)
    contract = Contract.objects.restrict(request.user).filter(pk=contract_pk).first()
    if contract is None:
        raise Http404(_("No such contract."))
    try:
        invoice = services.invoice_create_from_contract(actor=request.user, contract=contract)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
        return redirect("billing:home")
    messages.success(request, _("Draft invoice created; check it and post it."))
    return redirect("billing:invoice-detail", pk=invoice.pk)


@login_required
def payment_list(request):
    can_record = services.can_bill(request.user)
    form = None
    rows = [{"index": i, "invoice": "", "amount": ""} for i in range(ALLOCATION_ROWS)]
    row_errors: list[str] = []
    status = 200
    if request.method == "POST":
        _require_billing(request.user)
        form = PaymentForm(request.POST, user=request.user)
        rows, pairs, row_errors = _allocation_rows(request, request.user)
        if form.is_valid() and not row_errors:
            data = form.cleaned_data
            try:
                payment = services.payment_record(
                    actor=request.user, account=data["account"], date=data["date"], method=data["method"],
                    currency=data["currency"].upper(), amount=data["amount"], reference=data["reference"],
                    allocations=pairs)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, _("Payment %(n)s recorded.") % {"n": payment.number})
                return redirect("billing:payment-list")
        status = 422
    elif can_record:
        form = PaymentForm(user=request.user, initial={"date": timezone.localdate(), "method": "bank_transfer",
                                                       "currency": services.company_currency()})
    qs = selectors.payment_list(user=request.user, unapplied=request.GET.get("unapplied") == "1")
    return render(request, "billing/payment_list.html", {
        "page_obj": _page(request, qs), "form": form, "rows": rows, "row_errors": row_errors,
        "can_record": can_record, "nav": "payments"}, status=status)


@login_required
def ar_aging_report(request):
    as_of = None
    raw = request.GET.get("as_of")
    error = ""
    if raw:
        try:
            as_of = dt.date.fromisoformat(raw)
        except ValueError:
            error = _("%(value)r is not a date (YYYY-MM-DD); showing today.") % {"value": raw}
    report = selectors.ar_aging(user=request.user, as_of=as_of)
    return render(request, "billing/ar_aging.html", {"report": report, "error": error, "nav": "ar-aging"})
