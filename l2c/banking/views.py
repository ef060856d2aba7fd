"""Banking pages (finance and admin): statements, the review of a statement's lines, and the import (upload, then
a column mapping step for CSV/XLSX files). Thin: parse, call a selector or service, render."""
from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.validation import as_id

from . import parsers, selectors, services
from .models import LineStatus

PENDING_DIR = "banking/pending"
TOKEN_SALT = "l2c.banking.import"
TOKEN_MAX_AGE = 3600


def banking_page(view):
    """Logged in, and finance or admin; anyone else gets 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not services.can_bank(request.user):
            raise DjangoPermissionDenied(_("Only finance or an admin may work with bank statements."))
        return view(request, *args, **kwargs)

    return wrapper


def _error_text(exc: DomainError) -> str:
    if exc.errors:
        return "; ".join(f"{e.field}: {e.message}" if e.field not in (None, "__all__") else e.message
                         for e in exc.errors)
    return exc.message


def _statement_or_404(user, pk):
    try:
        return selectors.statement_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _line_or_404(user, pk, line_pk):
    try:
        return selectors.line_get(user=user, statement_id=pk, line_id=line_pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@banking_page
def statement_list(request):
    status = "open" if request.GET.get("status") == "open" else None
    qs = selectors.statement_list(user=request.user, status=status)
    page = Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "banking/statement_list.html", {"page_obj": page, "status": status or "",
                                                           "nav": "banking"})


@banking_page
def statement_detail(request, pk: int):
    statement = _statement_or_404(request.user, pk)
    lines = list(selectors.statement_lines(statement))
    for line in lines:
        line.invoices = selectors.matched_invoices(line)
    return render(request, "banking/statement_detail.html", {
        "statement": statement, "lines": lines, "nav": "banking", "unmatched": LineStatus.UNMATCHED,
        "ignored": LineStatus.IGNORED, "matched": LineStatus.MATCHED})


@banking_page
@require_POST
def statement_rematch(request, pk: int):
    statement = _statement_or_404(request.user, pk)
    counts = services.statement_match(actor=request.user, statement=statement)
    messages.success(request, _("Matching done: %(matched)d matched, %(review)d left for review.") % counts)
    return redirect("banking:statement-detail", pk=pk)


@banking_page
@require_POST
def line_match(request, pk: int, line_pk: int):
    from l2c.billing.models import Invoice

    line = _line_or_404(request.user, pk, line_pk)
    visible = Invoice.objects.restrict(request.user)
    invoice_id = (request.POST.get("invoice_id") or "").strip()
    number = (request.POST.get("invoice") or "").strip()
    invoice = None
    if as_id(invoice_id):
        invoice = visible.filter(pk=as_id(invoice_id)).first()
    elif number:
        invoice = visible.filter(number__iexact=number).first()
    if invoice is None:
        messages.error(request, _("Line %(n)s: no invoice %(number)r.") % {"n": line.position,
                                                                        "number": number or invoice_id})
        return redirect(f"{_detail_url(pk)}#line-{line.pk}")
    try:
        services.line_match(actor=request.user, line=line, invoice=invoice,
                            amount=(request.POST.get("amount") or "").strip() or None)
    except DomainError as exc:
        messages.error(request, _("Line %(n)s: %(error)s") % {"n": line.position, "error": _error_text(exc)})
    else:
        messages.success(request, _("Line %(n)s matched to %(invoice)s.") % {"n": line.position, "invoice": invoice})
    return redirect(f"{_detail_url(pk)}#line-{line.pk}")


@banking_page
@require_POST
def line_ignore(request, pk: int, line_pk: int):
    line = _line_or_404(request.user, pk, line_pk)
    try:
        services.line_ignore(actor=request.user, line=line, note=request.POST.get("note") or "")
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect(f"{_detail_url(pk)}#line-{line.pk}")


@banking_page
@require_POST
def line_restore(request, pk: int, line_pk: int):
    line = _line_or_404(request.user, pk, line_pk)
    try:
        services.line_restore(actor=request.user, line=line)
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect(f"{_detail_url(pk)}#line-{line.pk}")


def _detail_url(pk: int) -> str:
    from django.urls import reverse

    return reverse("banking:statement-detail", args=[pk])


# --- import ----------------------------------------------------------------------------------------------

MAPPING_FIELDS = (
    ("date", True), ("value_date", False), ("amount", False), ("credit", False), ("debit", False),
    ("currency", False), ("counterparty", False), ("reference", False), ("end_to_end_id", False),
)


def _mapping_labels() -> dict[str, str]:
    return {"date": _("Booking date"), "value_date": _("Value date"), "amount": _("Amount (+ in / − out)"),
            "credit": _("Credit (money in)"), "debit": _("Debit (money out)"), "currency": _("Currency"),
            "counterparty": _("Counterparty name"), "reference": _("Reference / remittance text"),
            "end_to_end_id": _("End-to-end id")}


def _import_done(request, statement) -> object:
    counts = {"lines": statement.lines.count(), "matched": statement.lines.filter(status=LineStatus.MATCHED).count()}
    messages.success(request, _("Statement imported: %(lines)d lines, %(matched)d matched automatically.") % counts)
    return redirect("banking:statement-detail", pk=statement.pk)


@banking_page
def statement_import(request):
    context = {"nav": "banking", "error": ""}
    if request.method != "POST":
        return render(request, "banking/import.html", context)
    if request.POST.get("token"):
        return _import_mapped(request)
    upload = request.FILES.get("file")
    if upload is None:
        context["error"] = _("Choose a file.")
        return render(request, "banking/import.html", context, status=422)
    if upload.size > parsers.MAX_FILE_BYTES:
        context["error"] = _("The file is larger than %(n)d MB.") % {"n": parsers.MAX_FILE_BYTES // (1024 * 1024)}
        return render(request, "banking/import.html", context, status=422)
    data = upload.read()
    try:
        if parsers.looks_like_xml(data):
            statement = services.statement_import(actor=request.user, file_name=upload.name, data=data)
            return _import_done(request, statement)
        headers, sample = parsers.read_headers(data)
    except DomainError as exc:
        context["error"] = _error_text(exc)
        return render(request, "banking/import.html", context, status=422)
    name = default_storage.save(f"{PENDING_DIR}/{uuid.uuid4().hex}.bin", ContentFile(data))
    token = signing.dumps({"path": name, "file_name": upload.name, "user": request.user.pk}, salt=TOKEN_SALT)
    return render(request, "banking/import_mapping.html", _mapping_context(
        token=token, file_name=upload.name, headers=headers, sample=sample, values=parsers.suggest_mapping(headers)))


def _mapping_context(*, token, file_name, headers, sample, values, error="", status_fields=None) -> dict:
    labels = _mapping_labels()
    fields = [{"key": key, "label": labels[key], "required": required, "value": values.get(key, "")}
              for key, required in MAPPING_FIELDS]
    return {"nav": "banking", "token": token, "file_name": file_name, "headers": headers, "sample": sample,
            "fields": fields, "default_currency": values.get("default_currency", ""),
            "date_format": values.get("date_format", ""), "decimal": values.get("decimal", ""),
            "account_name": values.get("account_name", ""), "iban": values.get("iban", ""), "error": error}


def _import_mapped(request):
    try:
        payload = signing.loads(request.POST["token"], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return render(request, "banking/import.html", {"nav": "banking", "error": _(
            "The upload has expired; choose the file again.")}, status=422)
    if payload.get("user") != request.user.pk or not default_storage.exists(payload["path"]):
        return render(request, "banking/import.html", {"nav": "banking", "error": _(
            "The upload has expired; choose the file again.")}, status=422)
    with default_storage.open(payload["path"], "rb") as fh:
        data = fh.read()
    mapping = {key: (request.POST.get(key) or "").strip() for key, _required in MAPPING_FIELDS}
    for option in ("default_currency", "date_format", "decimal", "account_name", "iban"):
        mapping[option] = (request.POST.get(option) or "").strip()
    mapping = {k: v for k, v in mapping.items() if v}
    try:
        statement = services.statement_import(actor=request.user, file_name=payload["file_name"], data=data,
                                              mapping=mapping)
    except DomainError as exc:
        try:
            headers, sample = parsers.read_headers(data)
        except DomainError:
            headers, sample = [], []
        return render(request, "banking/import_mapping.html", _mapping_context(
            token=request.POST["token"], file_name=payload["file_name"], headers=headers, sample=sample,
            values=mapping, error=_error_text(exc)), status=422)
    default_storage.delete(payload["path"])
    return _import_done(request, statement)
