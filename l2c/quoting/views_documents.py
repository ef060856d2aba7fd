"""Pages for quote documents: the PDF, sending by e-mail (and the portal links), the quote template editor
and the company profile. Thin: parse with a form, call a selector or service, render."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound, ValidationFailed
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows
from l2c.core.models import CompanyProfile

from . import pdf, portal_links
from . import selectors as quote_selectors
from .forms_documents import CompanyProfileForm, DocumentTemplateForm, QuoteSendForm
from .models import DocumentTemplate, PortalLink
from .services import sending


def _quote_or_404(user, pk):
    try:
        return quote_selectors.quote_get(user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _require_admin(user, message: str) -> None:
    if not user.is_admin:
        raise DjangoPermissionDenied(message)


def pdf_response(data: bytes, filename: str, *, download: bool = False) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- the quote's PDF and sending ---------------------------------------------------------------------

@login_required
@require_GET
def quote_pdf(request, pk: int):
    """The quote as a PDF: as the customer received it once sent, else rendered now."""
    quote = _quote_or_404(request.user, pk)
    return pdf_response(pdf.quote_pdf_bytes(quote), pdf.pdf_filename(quote), download="download" in request.GET)


def _links(quote):
    rows = []
    for link in portal_links.links_of_quote(quote):
        state = portal_links.link_state(link)
        rows.append({"link": link, "state": state, "state_label": portal_links.link_state_label(state)})
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def quote_send(request, pk: int):
    quote = _quote_or_404(request.user, pk)
    if not request.user.is_sales:
        raise DjangoPermissionDenied(_("Your role cannot send quotes."))
    refusal = sending.send_refusal(quote)
    initial = {"to": quote.contact.email if quote.contact and quote.contact.email else ""}
    form = QuoteSendForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            link = sending.quote_send(actor=request.user, quote=quote, to_email=form.cleaned_data["to"],
                                      cc=form.cc_list(), message=form.cleaned_data["message"])
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Quote sent to %(to)s. The customer's portal link (shown only now): %(url)s")
                             % {"to": link.email, "url": portal_links.portal_url(link.token)})
            return redirect("quoting:quote-detail", pk=quote.pk)
    return render(request, "quoting/documents/send.html", {
        "quote": quote, "form": form, "refusal": refusal, "links": _links(quote),
        "resend": quote.status == "sent", "nav": "quotes",
    }, status=422 if form.errors else 200)


@login_required
@require_POST
def link_revoke(request, pk: int, link_id: int):
    quote = _quote_or_404(request.user, pk)
    if not request.user.is_sales:
        raise DjangoPermissionDenied(_("Your role cannot send quotes."))
    link = PortalLink.objects.filter(pk=link_id, quote=quote).first()
    if link is None:
        raise Http404(_("No such link."))
    try:
        portal_links.link_revoke(actor=request.user, link=link)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Link %(prefix)s… revoked.") % {"prefix": link.token_prefix})
    return redirect("quoting:quote-send", pk=quote.pk)


# --- document templates (admin) ---------------------------------------------------------------------

@login_required
@require_GET
def template_list(request):
    _require_admin(request.user, _("Only an admin can edit document templates."))
    kinds = []
    for kind in pdf.DEFAULT_FILES:
        active = pdf.active_template(kind)
        kinds.append({"kind": kind, "label": DocumentTemplate.Kind(kind).label, "active": active,
                      "versions": list(pdf.template_versions(kind))})
    return render(request, "quoting/documents/template_list.html", {"kinds": kinds, "nav": "templates"})


def _preview(request, form: DocumentTemplateForm, kind: str):
    """The unsaved text as a PDF, with a chosen quote or the sample one (nothing is saved)."""
    draft = DocumentTemplate(kind=kind, html=form.cleaned_data["html"], css=form.cleaned_data.get("css") or "")
    errors = pdf.template_errors(draft.html)
    if errors:
        raise ValidationFailed(errors)
    quote_id = form.cleaned_data.get("preview_quote")
    if quote_id:
        try:
            quote = quote_selectors.quote_get(request.user, quote_id)
        except NotFound as exc:
            raise ValidationFailed.single("preview_quote", _("No quote with id %(id)s.") % {"id": quote_id},
                                          "not_found") from exc
        data, filename = pdf.render_quote_pdf(quote, template=draft), f"preview-{pdf.pdf_filename(quote)}"
    else:
        data, filename = pdf.render_sample_pdf(template=draft), "preview-sample.pdf"
    return pdf_response(data, filename)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, kind: str):
    _require_admin(request.user, _("Only an admin can edit document templates."))
    if kind not in pdf.DEFAULT_FILES:
        raise Http404(_("There is no such document template."))
    active = pdf.active_template(kind)
    shown = active
    version = request.GET.get("version", "")
    if version.isdigit():
        shown = DocumentTemplate.objects.filter(kind=kind, version=int(version)).first() or active
    elif version == "default":
        shown = pdf.default_template(kind)
    form = DocumentTemplateForm(request.POST or None, initial={"html": shown.html, "css": shown.css,
                                                               "name": shown.name if shown.pk else ""})
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action == "restore":
                pdf.document_template_restore_default(actor=request.user, kind=kind)
                messages.success(request, _("The default template is in use again; earlier versions are kept."))
                return redirect("quoting:template-edit", kind=kind)
            if form.is_valid():
                if action == "preview":
                    return _preview(request, form, kind)
                template = pdf.document_template_save(actor=request.user, kind=kind, html=form.cleaned_data["html"],
                                                      css=form.cleaned_data.get("css") or "",
                                                      name=form.cleaned_data.get("name") or "")
                messages.success(request, _("Template saved as version %(version)s and in use.")
                                 % {"version": template.version})
                return redirect("quoting:template-edit", kind=kind)
        except DomainError as exc:
            show_domain_error(form, exc)
    return render(request, "quoting/documents/template_edit.html", {
        "form": form, "kind": kind, "kind_label": DocumentTemplate.Kind(kind).label, "active": active,
        "shown": shown, "versions": pdf.template_versions(kind), "nav": "templates",
    }, status=422 if form.errors else 200)


# --- company profile (admin) ------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request):
    _require_admin(request.user, _("Only an admin can change the company profile."))
    profile = CompanyProfile.get()
    form = CompanyProfileForm(request.POST or None, request.FILES or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            pdf.company_profile_update(actor=request.user, **form.service_values())
        except DomainError as exc:
            show_domain_error(form, exc, field_map={"logo": "logo_file"})
        else:
            messages.success(request, _("Company profile saved."))
            return redirect("quoting:company-edit")
        profile.refresh_from_db()
    return render(request, "quoting/documents/company.html", {
        "form": form, "profile": profile, "logo_url": pdf.logo_data_uri(profile),
        "history": history_rows(profile, limit=30), "nav": "company",
    }, status=422 if form.errors else 200)
