"""Receivables pages: invoice PDF, send page, collection flags, dunning (levels, last runs, today's preview),
customer statements (HTML and PDF) for staff, and the customer portal (/portal/c/<token>/).

Thin: parse, call a selector or service, render. Finance and admin act; sales may read PDFs and statements
of the customers they see. The customer portal needs no login: the token is the key.
"""
from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from l2c.billing import selectors as billing_selectors
from l2c.billing.models import Invoice
from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.core.models import CompanyProfile
from l2c.customers import selectors as customer_selectors

from . import selectors, services
from .models import DunningLevel
from .pdf import invoice_filename, render_invoice_pdf, render_statement_pdf, statement_filename

PORTAL_LANGUAGES = ("en", "zh-hans")


def _invoice_or_404(user, pk) -> Invoice:
    try:
        return billing_selectors.invoice_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _account_or_404(user, pk):
    try:
        return customer_selectors.account_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _require_finance(user) -> None:
    if not services.can_manage(user):
        raise DjangoPermissionDenied(_("Only finance or an admin may do this."))


def _pdf(data: bytes, filename: str, *, inline: bool = True) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _date_param(request, name: str) -> dt.date | None:
    raw = (request.GET.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


# --- invoices ----------------------------------------------------------------------------------------

@login_required
@require_GET
def invoice_pdf(request, pk: int):
    invoice = _invoice_or_404(request.user, pk)
    return _pdf(render_invoice_pdf(invoice), invoice_filename(invoice))


class SendForm(forms.Form):
    to = forms.EmailField(label=gettext_lazy("To"), max_length=254)
    cc = forms.CharField(label=gettext_lazy("Cc"), required=False, max_length=2000,
                         help_text=gettext_lazy("Addresses separated by commas."))
    message = forms.CharField(label=gettext_lazy("Message"), required=False, max_length=services.MAX_MESSAGE,
                              widget=forms.Textarea(attrs={"rows": 5}))


@login_required
def invoice_send(request, pk: int):
    invoice = _invoice_or_404(request.user, pk)
    _require_finance(request.user)
    collection = selectors.collection_for(invoice)
    initial = {"to": (collection.sent_to if collection else "") or selectors.recipient_for(invoice.account)}
    form = SendForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.invoice_send(actor=request.user, invoice=invoice, to=form.cleaned_data["to"],
                                  cc=form.cleaned_data["cc"], message=form.cleaned_data["message"])
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Invoice %(number)s was sent to %(to)s.")
                             % {"number": invoice.number, "to": form.cleaned_data["to"]})
            return redirect("billing:invoice-detail", pk=invoice.pk)
    return render(request, "receivables/invoice_send.html", {
        "invoice": invoice, "form": form, "sendable": invoice.status in services.SENDABLE, "nav": "invoices"})


class CollectionForm(forms.Form):
    disputed = forms.BooleanField(label=gettext_lazy("Disputed"), required=False)
    dispute_note = forms.CharField(label=gettext_lazy("What is disputed"), required=False,
                                   max_length=services.MAX_NOTE, widget=forms.Textarea(attrs={"rows": 3}))
    promise_to_pay_date = forms.DateField(label=gettext_lazy("Promised payment date"), required=False,
                                          widget=forms.DateInput(attrs={"type": "date"}))


@login_required
def invoice_collection(request, pk: int):
    invoice = _invoice_or_404(request.user, pk)
    collection = selectors.collection_for(invoice)
    if request.method == "POST":
        _require_finance(request.user)
    form = CollectionForm(request.POST or None, initial={
        "disputed": bool(collection and collection.disputed),
        "dispute_note": collection.dispute_note if collection else "",
        "promise_to_pay_date": collection.promise_to_pay_date if collection else None})
    if request.method == "POST" and form.is_valid():
        try:
            services.collection_update(actor=request.user, invoice=invoice, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Collection flags saved."))
            return redirect("receivables:invoice-collection", pk=invoice.pk)
    return render(request, "receivables/invoice_collection.html", {
        "invoice": invoice, "form": form, "collection": collection, "can_edit": services.can_manage(request.user),
        "paused": selectors.is_paused(collection, timezone.localdate()),
        "events": selectors.dunning_events(invoice=invoice), "nav": "invoices"})


# --- dunning -----------------------------------------------------------------------------------------

class LevelForm(forms.ModelForm):
    class Meta:
        model = DunningLevel
        fields = ["name", "days_overdue", "email_subject", "email_body", "active"]
        widgets = {"email_body": forms.Textarea(attrs={"rows": 5})}


@login_required
def dunning_home(request):
    _require_finance(request.user)
    today = _date_param(request, "date") or timezone.localdate()
    return render(request, "receivables/dunning.html", {
        "levels": selectors.dunning_levels(), "runs": selectors.last_runs(), "today": today,
        "plan": selectors.dunning_plan(today), "events": selectors.dunning_events(limit=20), "nav": "dunning"})


@login_required
@require_POST
def dunning_run(request):
    _require_finance(request.user)
    run = services.run_dunning(actor=request.user)
    messages.success(request, _("Dunning ran: %(emails)s e-mail(s) sent for %(invoices)s invoice(s).")
                     % {"emails": run.emails_sent, "invoices": run.invoices_reminded})
    for failure in run.failures:
        messages.error(request, _("Customer %(account)s: %(error)s") % failure)
    return redirect("receivables:dunning")


@login_required
def dunning_level_edit(request, pk: int):
    _require_finance(request.user)
    level = DunningLevel.objects.filter(pk=pk).first()
    if level is None:
        raise Http404(_("No dunning level with id %(id)s.") % {"id": pk})
    form = LevelForm(request.POST or None, instance=DunningLevel.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.dunning_level_update(actor=request.user, level=level, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Dunning level saved."))
            return redirect("receivables:dunning")
    return render(request, "receivables/dunning_level.html", {"level": level, "form": form, "nav": "dunning"})


# --- statements and customer links (staff) ---------------------------------------------------------------

@login_required
@require_GET
def statement_page(request, account_pk: int):
    account = _account_or_404(request.user, account_pk)
    statement = selectors.statement(account=account, as_of=_date_param(request, "as_of"),
                                    since=_date_param(request, "since"))
    links = []
    if services.can_manage(request.user):
        links = [{"link": link, "state": services.portal_link_state(link)}
                 for link in selectors.portal_links_for(account)[:20]]
    return render(request, "receivables/statement.html", {
        "account": account, "statement": statement, "links": links,
        "can_manage": services.can_manage(request.user), "new_url": request.session.pop("receivables_new_link", ""),
        "nav": "billing"})


@login_required
@require_GET
def statement_pdf(request, account_pk: int):
    account = _account_or_404(request.user, account_pk)
    statement = selectors.statement(account=account, as_of=_date_param(request, "as_of"),
                                    since=_date_param(request, "since"))
    return _pdf(render_statement_pdf(statement), statement_filename(statement))


@login_required
@require_POST
def portal_link_create(request, account_pk: int):
    account = _account_or_404(request.user, account_pk)
    _require_finance(request.user)
    try:
        _link, token = services.portal_link_create(actor=request.user, account=account,
                                                   email=request.POST.get("email", ""))
    except DomainError as exc:
        messages.error(request, "; ".join(e.message for e in exc.errors) or exc.message)
    else:
        request.session["receivables_new_link"] = services.portal_url(token)  # shown once, on the next page
    return redirect("receivables:statement", account_pk=account.pk)


@login_required
@require_POST
def portal_link_revoke(request, account_pk: int, link_pk: int):
    account = _account_or_404(request.user, account_pk)
    _require_finance(request.user)
    link = selectors.portal_links_for(account).filter(pk=link_pk).first()
    if link is None:
        raise Http404(_("No such link."))
    services.portal_link_revoke(actor=request.user, link=link)
    messages.success(request, _("The link was revoked."))
    return redirect("receivables:statement", account_pk=account.pk)


# --- the customer portal -----------------------------------------------------------------------------

def _no_store(response):
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "same-origin"  # the token is in the URL: never sent to other sites
    return response


def _portal_link(request, token: str):
    """(link, error response): the link if it works, else a page saying why (unknown: 404; expired or
    revoked: 410)."""
    wanted = (request.GET.get("lang") or "").lower()
    if wanted in PORTAL_LANGUAGES:
        translation.activate(wanted)
        request.LANGUAGE_CODE = wanted
    link = services.portal_link_for_token(token)
    company = CompanyProfile.get()
    if link is None:
        return None, _no_store(render(request, "receivables/portal/gone.html",
                                      {"company": company, "state": "unknown"}, status=404))
    state = services.portal_link_state(link)
    if state != "ok":
        return None, _no_store(render(request, "receivables/portal/gone.html",
                                      {"company": company, "state": state}, status=410))
    link.last_used_at = timezone.now()
    link.save(update_fields=["last_used_at"])
    return link, None


@never_cache
@require_GET
def portal_home(request, token: str):
    link, response = _portal_link(request, token)
    if response is not None:
        return response
    statement = selectors.statement(account=link.account, as_of=_date_param(request, "as_of"))
    return _no_store(render(request, "receivables/portal/home.html", {
        "company": CompanyProfile.get(), "account": link.account, "token": token, "link": link,
        "invoices": selectors.open_invoices(account=link.account), "statement": statement}))


@require_GET
def portal_invoice_pdf(request, token: str, pk: int):
    link, response = _portal_link(request, token)
    if response is not None:
        return response
    invoice = Invoice.objects.filter(pk=pk, account=link.account).exclude(status="draft").first()
    if invoice is None:  # another customer's invoice is simply not there
        raise Http404(_("No such invoice."))
    return _no_store(_pdf(render_invoice_pdf(invoice), invoice_filename(invoice)))


@require_GET
def portal_statement_pdf(request, token: str):
    link, response = _portal_link(request, token)
    if response is not None:
        return response
    statement = selectors.statement(account=link.account, as_of=_date_param(request, "as_of"))
    return _no_store(_pdf(render_statement_pdf(statement), statement_filename(statement)))
