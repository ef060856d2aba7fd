"""The customer portal: a quote behind an unguessable link, no account needed.

GET  /portal/q/<token>/          the quote (or why the link no longer works, or the outcome once answered)
GET  /portal/q/<token>/pdf       the PDF exactly as sent
GET  /portal/q/<token>/signed.pdf  the signed PDF (after signing)
GET/POST /portal/q/<token>/sign/     accept and sign
GET/POST /portal/q/<token>/decline/  decline with a reason

CSRF stays on (the forms are posted from these pages); posts are rate-limited per IP.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from l2c.contracts import services as contract_services
from l2c.contracts.consent import CONSENT_VERSION, consent_text
from l2c.core.errors import DomainError, ValidationFailed

from . import ratelimit
from .forms import DeclineForm, SignForm
from .services import record_view

LANG_PARAM = "lang"
PORTAL_LANGUAGES = ("en", "zh-hans")


def _use_language(request) -> str | None:
    """?lang=en|zh-hans switches the page's language (kept in the language cookie); returns the new one."""
    wanted = (request.GET.get(LANG_PARAM) or "").lower()
    if wanted in PORTAL_LANGUAGES:
        translation.activate(wanted)
        request.LANGUAGE_CODE = wanted
        return wanted
    return None


def _remember_language(response, language: str | None):
    if language:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax",
                            secure=getattr(settings, "SESSION_COOKIE_SECURE", False))
    return response


def _no_store(response):
    # a quote and its signature page are private to whoever holds the link: never cached on the way
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "same-origin"  # the token is in the URL: never sent to other sites
    return response


def _render(request, template: str, context: dict, status: int = 200, language: str | None = None):
    response = render(request, template, {"languages": PORTAL_LANGUAGES, **context}, status=status)
    return _remember_language(_no_store(response), language)


def _company():
    from l2c.core.models import CompanyProfile

    return CompanyProfile.get()


def _owner_contact(quote) -> dict:
    owner = quote.owner
    if owner is None:
        company = _company()
        return {"name": company.name, "email": company.email}
    return {"name": owner.get_full_name() or owner.username, "email": owner.email}


GONE_MESSAGES = {
    "expired": (_lazy("This link has expired."), _lazy("The link to this quote is no longer valid.")),
    "revoked": (_lazy("This link was withdrawn."), _lazy("The sender has withdrawn this link.")),
    "superseded": (_lazy("There is a newer version of this quote."),
                   _lazy("This quote was replaced by a newer version; please use the link you received with it.")),
    "quote_expired": (_lazy("This quote has expired."), _lazy("The validity period of this quote has ended.")),
    "closed": (_lazy("This quote can no longer be answered."), _lazy("This quote is no longer open for signature.")),
}


def _resolve(request, token: str):
    """(link, quote, state, response): state is "ok", "answered", or a response to send as it is."""
    from l2c.quoting import portal_links
    from l2c.quoting.models import QuoteStatus

    link = portal_links.link_for_token(token) if token else None
    if link is None:
        return None, None, None, _render(request, "portal/not_found.html", {}, status=404)
    quote = link.quote
    state = portal_links.link_state(link)
    if state == "used" or quote.status in (QuoteStatus.ACCEPTED, QuoteStatus.DECLINED):
        return link, quote, "answered", None
    if state in ("expired", "revoked", "superseded"):
        return link, quote, state, None
    if quote.status == QuoteStatus.EXPIRED or (quote.valid_until and quote.valid_until < timezone.localdate()):
        return link, quote, "quote_expired", None
    if quote.status != QuoteStatus.SENT:
        return link, quote, "closed", None
    return link, quote, "ok", None


def _gone(request, quote, state: str, language):
    title, text = GONE_MESSAGES.get(state, GONE_MESSAGES["closed"])
    return _render(request, "portal/gone.html", {
        "quote": quote, "title": str(title), "text": str(text), "contact": _owner_contact(quote),
        "company": _company(), "state": state,
    }, status=410, language=language)


def _answered(request, link, quote, language, status: int = 200):
    from l2c.contracts.models import Signature

    signature = Signature.objects.filter(quote=quote).only("signer_name", "signed_at", "signer_title").first()
    return _render(request, "portal/answered.html", {
        "link": link, "quote": quote, "signature": signature, "token": request.resolver_match.kwargs["token"],
        "company": _company(), "contact": _owner_contact(quote),
    }, status=status, language=language)


def _quote_context(link, quote, token: str) -> dict:
    lines = list(quote.lines.select_related("product").order_by("position", "id"))
    return {"link": link, "quote": quote, "lines": lines, "token": token, "company": _company(),
            "contact": _owner_contact(quote), "has_optional": any(line.optional for line in lines)}


@never_cache
@require_GET
def quote_page(request, token: str):
    language = _use_language(request)
    link, quote, state, response = _resolve(request, token)
    if response is not None:
        return response
    if state == "answered":
        return _answered(request, link, quote, language)
    if state != "ok":
        return _gone(request, quote, state, language)
    record_view(link=link, ip=ratelimit.client_ip(request) or None,
                user_agent=request.headers.get("User-Agent", ""))
    quote.refresh_from_db()
    return _render(request, "portal/quote.html", _quote_context(link, quote, token), language=language)


def _pdf(data: bytes, filename: str, *, inline: bool = True) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return _no_store(response)


@require_GET
def quote_pdf(request, token: str):
    """The PDF exactly as it was sent (the bytes the customer signs)."""
    link, quote, state, response = _resolve(request, token)
    if response is not None:
        return response
    if state not in ("ok", "answered") or not quote.sent_pdf:
        return _gone(request, quote, state if state not in ("ok", "answered") else "closed", None)
    return _pdf(bytes(quote.sent_pdf), f"{quote.number}-v{quote.version}.pdf")


@require_GET
def signed_pdf(request, token: str):
    from l2c.contracts.models import Signature

    link, quote, state, response = _resolve(request, token)
    if response is not None:
        return response
    signature = Signature.objects.filter(quote=quote).first() if state == "answered" else None
    if signature is None:
        return _render(request, "portal/not_found.html", {}, status=404)
    return _pdf(bytes(signature.signed_pdf), f"{quote.number}-v{quote.version}-signed.pdf", inline=False)


def _rate_limited(request, template: str, context: dict):
    wait = ratelimit.check(ip=ratelimit.client_ip(request) or "unknown")
    if wait is None:
        return None
    response = _render(request, template, {**context, "top_error": _(
        "Too many attempts from your address; please try again in %(seconds)d seconds.") % {"seconds": wait}},
        status=429)
    response["Retry-After"] = str(wait)
    return response


def _show_errors(form, exc: DomainError) -> str | None:
    """Put field errors beside their fields; returns the message to show at the top, if any."""
    if isinstance(exc, ValidationFailed):
        for error in exc.errors:
            if error.field in form.fields:
                form.add_error(error.field, error.message)
        return _("Please correct the marked fields.")
    for error in exc.errors:
        if error.field in form.fields and error.field != "shown_pdf_sha256":
            form.add_error(error.field, error.message)
    return exc.message


@never_cache
@require_http_methods(["GET", "POST"])
def sign(request, token: str):
    language = _use_language(request)
    link, quote, state, response = _resolve(request, token)
    if response is not None:
        return response
    if state == "answered":
        return _answered(request, link, quote, language, status=409 if request.method == "POST" else 200)
    if state != "ok":
        return _gone(request, quote, state, language)
    current = translation.get_language()
    context = {**_quote_context(link, quote, token), "consent_text": consent_text(current),
               "consent_version": CONSENT_VERSION}
    if request.method == "GET":
        form = SignForm(initial={"signer_email": link.email, "shown_pdf_sha256": quote.sent_pdf_sha256})
        return _render(request, "portal/sign.html", {**context, "form": form}, language=language)
    form = SignForm(request.POST)
    limited = _rate_limited(request, "portal/sign.html", {**context, "form": form})
    if limited is not None:
        return limited
    form.is_valid()  # parsing only: every field is optional here, the service checks the rules
    data = form.cleaned_data
    try:
        contract_services.sign_quote(
            link=link, signer_name=data.get("signer_name", ""), signer_email=data.get("signer_email", ""),
            signer_title=data.get("signer_title", ""), consent=bool(data.get("consent")),
            drawn_signature=form.signature_bytes(), ip=ratelimit.client_ip(request) or None,
            user_agent=request.headers.get("User-Agent", ""), shown_pdf_sha256=data.get("shown_pdf_sha256", ""),
            language=current,
        )
    except DomainError as exc:
        top_error = _show_errors(form, exc)
        # the page shows the document as it is now: a new hash if it changed
        form.data = form.data.copy()
        form.data["shown_pdf_sha256"] = quote.sent_pdf_sha256
        quote.refresh_from_db()
        return _render(request, "portal/sign.html", {**context, "form": form, "top_error": top_error,
                                                     "quote": quote},
                       status=exc.status)
    return redirect("portal:quote", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
def decline(request, token: str):
    language = _use_language(request)
    link, quote, state, response = _resolve(request, token)
    if response is not None:
        return response
    if state == "answered":
        return _answered(request, link, quote, language, status=409 if request.method == "POST" else 200)
    if state != "ok":
        return _gone(request, quote, state, language)
    context = _quote_context(link, quote, token)
    if request.method == "GET":
        return _render(request, "portal/decline.html", {**context, "form": DeclineForm()}, language=language)
    form = DeclineForm(request.POST)
    limited = _rate_limited(request, "portal/decline.html", {**context, "form": form})
    if limited is not None:
        return limited
    form.is_valid()
    try:
        contract_services.decline_quote(link=link, reason=form.cleaned_data.get("reason", ""),
                                        ip=ratelimit.client_ip(request) or None,
                                        user_agent=request.headers.get("User-Agent", ""))
    except DomainError as exc:
        top_error = _show_errors(form, exc)
        return _render(request, "portal/decline.html", {**context, "form": form, "top_error": top_error},
                       status=exc.status)
    return redirect("portal:quote", token=token)
