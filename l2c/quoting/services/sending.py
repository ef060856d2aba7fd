"""Sending a quote to the customer: the PDF attached, a personal portal link, a record on the timeline.

One transaction: render (or, for a resend, reuse) the PDF, mark the quote SENT (which stores the PDF and
its SHA-256), create the portal link, log an e-mail activity on the opportunity, audit the send, and hand
the message to the e-mail backend. If the SMTP server refuses or cannot be reached, everything is rolled
back: the quote is not marked sent and no link exists.
"""
from __future__ import annotations

import hashlib
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import (
    DomainError,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from l2c.core.models import CompanyProfile
from l2c.core.validation import check_email

from .. import portal_links
from ..models import PortalLink, Quote, QuoteStatus
from ..pdf import money, pdf_filename, render_quote_pdf

log = logging.getLogger(__name__)

SENDABLE_STATUSES = (QuoteStatus.APPROVED, QuoteStatus.SENT)
MAX_MESSAGE = 5000
MAX_CC = 10


class EmailFailed(DomainError):
    """The e-mail server did not take the message; nothing was changed."""

    status = 502
    code = "email_failed"
    title = "The e-mail could not be sent"


def send_refusal(quote: Quote) -> list[str]:
    """Why the quote cannot be sent now ([] when it can): the approval blockers, or its status."""
    from . import approvals as approval_services

    reasons = list(approval_services.blockers(quote))
    if quote.status not in SENDABLE_STATUSES and not reasons:
        reasons.append(_("A quote that is %(status)s cannot be sent.") % {"status": quote.get_status_display().lower()})
    return reasons


def _clean(to_email: str, cc, message: str) -> tuple[str, list[str], str]:
    errors: list[FieldError] = []
    to_email = (to_email or "").strip() if isinstance(to_email, str) else ""
    if not to_email:
        errors.append(FieldError("to", _("Give the e-mail address to send the quote to."), "required"))
    else:
        errors += check_email({"to": to_email}, "to")
    if isinstance(cc, str):
        cc = [part.strip() for part in cc.replace(";", ",").split(",")]
    cc = [address.strip() for address in (cc or []) if isinstance(address, str) and address.strip()]
    if len(cc) > MAX_CC:
        errors.append(FieldError("cc", _("At most %(max)d copies.") % {"max": MAX_CC}, "too_many"))
    for address in cc:
        errors += check_email({"cc": address}, "cc")
    message = (message or "").strip() if isinstance(message, str) else ""
    if len(message) > MAX_MESSAGE:
        errors.append(FieldError("message", _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": MAX_MESSAGE, "count": len(message)}, "max_length"))
    if "\x00" in message:
        errors.append(FieldError("message", _("Text may not contain the NUL character."), "null_character"))
    if errors:
        raise ValidationFailed(errors)
    return to_email, list(dict.fromkeys(cc)), message


def _language(quote: Quote) -> str:
    owner = quote.owner
    return (getattr(owner, "language", "") or settings.LANGUAGE_CODE) if owner else settings.LANGUAGE_CODE


def build_message(*, quote: Quote, to_email: str, cc: list[str], message: str, token: str, pdf: bytes,
                  link: PortalLink) -> EmailMultiAlternatives:
    """The e-mail (text + HTML, the owner's language) with the PDF attached and the portal link."""
    company = CompanyProfile.get()
    with translation.override(_language(quote)):
        context = {
            "quote": quote, "company": company, "message": message, "portal_url": portal_links.portal_url(token),
            "expires_at": link.expires_at, "contact": quote.contact, "sender": quote.owner,
            "filename": pdf_filename(quote), "total": money(quote.gross_total, quote.currency),
        }
        subject = _("Quote %(number)s from %(company)s") % {"number": quote.number, "company": company.name}
        if quote.version > 1:
            subject = _("Quote %(number)s (version %(version)s) from %(company)s") % {
                "number": quote.number, "version": quote.version, "company": company.name}
        text = render_to_string("quoting/email/quote_sent.txt", context)
        html = render_to_string("quoting/email/quote_sent.html", context)
    reply_to = [quote.owner.email] if quote.owner and quote.owner.email else []
    email = EmailMultiAlternatives(subject=" ".join(subject.split()), body=text, to=[to_email], cc=cc,
                                   reply_to=reply_to)
    email.attach_alternative(html, "text/html")
    email.attach(pdf_filename(quote), pdf, "application/pdf")
    return email


@transaction.atomic
def quote_send(*, actor, quote: Quote, to_email: str, message: str = "", cc: list[str] | None = None) -> PortalLink:
    """Send the quote by e-mail with its PDF and a new portal link; returns the link.

    The token is in the e-mail only; callers that must show it once read `link.token` (set on the
    returned object, not stored). A resend (quote already SENT) keeps the PDF the customer already has.
    """
    from l2c.pipeline.choices import ActivityKind
    from l2c.pipeline.services.activities import activity_create

    from . import quotes as quote_services

    if actor is None or not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role cannot send quotes."))
    if not Quote.objects.restrict(actor).filter(pk=getattr(quote, "pk", None)).exists():
        raise NotFound(_("No quote with id %(id)s.") % {"id": getattr(quote, "pk", quote)})
    to_email, cc, message = _clean(to_email, cc, message)
    quote = Quote.objects.select_for_update().get(pk=quote.pk)
    quote = Quote.objects.select_related("account", "contact", "owner", "opportunity").get(pk=quote.pk)
    refusal = send_refusal(quote)
    if refusal:
        raise InvalidTransition(_("The quote cannot be sent: %(reasons)s") % {"reasons": " ".join(refusal)},
                                code="not_sendable")
    resend = quote.status == QuoteStatus.SENT and bool(quote.sent_pdf)
    pdf = bytes(quote.sent_pdf) if resend else render_quote_pdf(quote)
    quote = quote_services.quote_mark_sent(actor=actor, quote=quote, pdf=pdf)
    link, token = portal_links.link_create(actor=actor, quote=quote, email=to_email)
    recipients = ", ".join([to_email, *cc])
    body = _("Sent %(file)s with a portal link (%(prefix)s…, valid until %(expires)s) to %(to)s.") % {
        "file": pdf_filename(quote), "prefix": link.token_prefix, "expires": link.expires_at.date().isoformat(),
        "to": recipients}
    if message:
        body += "\n\n" + message
    activity_create(actor=actor, kind=ActivityKind.EMAIL,
                    subject=(_("Quote %(number)s v%(version)s sent") % {"number": quote.number,
                                                                         "version": quote.version})[:200],
                    body=body, opportunity=quote.opportunity, done=True)
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=quote, changes={
        "sent_to": [None, to_email], "cc": [None, cc], "portal_link": [None, f"{link.token_prefix}…"],
        "pdf_sha256": [None, hashlib.sha256(pdf).hexdigest()], "resend": [None, resend],
    })
    email = build_message(quote=quote, to_email=to_email, cc=cc, message=message, token=token, pdf=pdf, link=link)
    try:
        email.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections and timeouts
        log.warning("sending quote %s to %s failed: %s", quote.pk, to_email, exc)
        raise EmailFailed(_("The e-mail server did not accept the message (%(error)s). Nothing was sent and the "
                            "quote was not marked as sent; try again later.") % {"error": exc}) from exc
    link.token = token  # shown once to the sender; never stored
    return link
