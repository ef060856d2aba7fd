"""Receivables services: sending an invoice, collection flags, customer portal links, dunning levels and the
daily dunning run. Finance and admin act here (billing's `require_billing`); the dunning job runs as the
system (actor None).

E-mails are handed to the backend inside the transaction that records them: if the server refuses, nothing
is recorded (no activity, no dunning event), as quoting's `quote_send` does.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template import Context, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from l2c.billing.models import Invoice, InvoiceStatus
from l2c.billing.services import can_bill, require_billing
from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition, NotFound, ValidationFailed
from l2c.core.models import CompanyProfile
from l2c.core.validation import check_email
from l2c.quoting.pdf import DOCUMENT_ENGINE, money
from l2c.quoting.services.sending import EmailFailed

from . import selectors
from .models import CustomerPortalLink, DunningEvent, DunningLevel, DunningRun, InvoiceCollection
from .pdf import document_language, invoice_filename, render_invoice_pdf

log = logging.getLogger(__name__)

SENDABLE = (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID, InvoiceStatus.WRITTEN_OFF)
MAX_MESSAGE = 5000
MAX_CC = 10
MAX_NOTE = 2000
PORTAL_MAX_DAYS = 365
PREFIX_LENGTH = 8

__all__ = ["can_manage", "invoice_send", "collection_update", "portal_link_create", "portal_link_for_token",
           "portal_link_state", "portal_link_revoke", "dunning_level_update", "run_dunning", "EmailFailed"]


def can_manage(user) -> bool:
    """Finance and admin send invoices, set collection flags, run dunning and make customer links."""
    return can_bill(user)


def _visible_invoice(actor, invoice) -> Invoice:
    pk = getattr(invoice, "pk", invoice)
    found = Invoice.objects.restrict(actor).filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound(_("No invoice with id %(id)s.") % {"id": pk})
    return found


def _clean_recipients(to, cc, message) -> tuple[str, list[str], str]:
    errors: list[FieldError] = []
    to = to.strip() if isinstance(to, str) else ""
    if not to:
        errors.append(FieldError("to", _("Give the e-mail address to send the invoice to."), "required"))
    else:
        errors += check_email({"to": to}, "to")
    if isinstance(cc, str):
        cc = [part.strip() for part in cc.replace(";", ",").split(",")]
    cc = [address.strip() for address in (cc or []) if isinstance(address, str) and address.strip()]
    if len(cc) > MAX_CC:
        errors.append(FieldError("cc", _("At most %(max)d copies.") % {"max": MAX_CC}, "too_many"))
    for address in cc:
        errors += check_email({"cc": address}, "cc")
    message = message.strip() if isinstance(message, str) else ""
    if len(message) > MAX_MESSAGE:
        errors.append(FieldError("message", _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": MAX_MESSAGE, "count": len(message)}, "max_length"))
    if "\x00" in message:
        errors.append(FieldError("message", _("Text may not contain the NUL character."), "null_character"))
    if errors:
        raise ValidationFailed(errors)
    return to, list(dict.fromkeys(cc)), message


def _timeline(*, account, subject: str, body: str) -> None:
    """An e-mail activity on the customer's timeline, written as the system: finance may not write sales
    activities (pipeline's require_sales); who acted is in the audit event recorded beside it."""
    from l2c.pipeline.choices import ActivityKind
    from l2c.pipeline.services.activities import activity_create

    activity_create(actor=None, kind=ActivityKind.EMAIL, subject=subject[:200], body=body, account=account,
                    owner=account.owner, done=True)


def _deliver(email: EmailMultiAlternatives, what: str) -> None:
    try:
        email.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:  # OSError: refused connections and timeouts
        log.warning("sending %s failed: %s", what, exc)
        raise EmailFailed(_("The e-mail server did not accept the message (%(error)s). Nothing was sent or "
                            "recorded; try again later.") % {"error": exc}) from exc


# --- customer portal links ---------------------------------------------------------------------------

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def portal_url(token: str) -> str:
    return f"{settings.L2C_BASE_URL}/portal/c/{token}/"


def _create_link(*, actor, account, email: str, days: int) -> tuple[CustomerPortalLink, str]:
    token = secrets.token_urlsafe(32)
    link = CustomerPortalLink.objects.create(
        token_hash=token_hash(token), token_prefix=token[:PREFIX_LENGTH], account=account, email=email,
        expires_at=timezone.now() + dt.timedelta(days=days), created_by=actor if getattr(actor, "pk", None) else None)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=link)
    return link, token


@transaction.atomic
def portal_link_create(*, actor, account, email: str = "", days: int | None = None) -> tuple[CustomerPortalLink, str]:
    """A new link to the customer's invoices and statement; returns (link, token). Only the hash is kept."""
    from l2c.customers.models import Account

    require_billing(actor)
    pk = getattr(account, "pk", account)
    account = Account.objects.restrict(actor).filter(pk=pk).first() if pk is not None else None
    if account is None:
        raise NotFound(_("No customer with id %(id)s.") % {"id": pk})
    email = email.strip() if isinstance(email, str) else ""
    errors = check_email({"email": email}) if email else []
    days = settings.L2C_PORTAL_LINK_DAYS if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= PORTAL_MAX_DAYS:
        errors.append(FieldError("days", _("Enter a whole number of days from 1 to %(max)d.")
                                 % {"max": PORTAL_MAX_DAYS}, "out_of_range"))
    if errors:
        raise ValidationFailed(errors)
    return _create_link(actor=actor, account=account, email=email, days=days)


def portal_link_for_token(token: str) -> CustomerPortalLink | None:
    """The link a token opens, whatever its state; None for an unknown token."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return CustomerPortalLink.objects.select_related("account").filter(token_hash=token_hash(token)).first()


def portal_link_state(link: CustomerPortalLink) -> str:
    """"ok", "revoked" or "expired"."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= timezone.now():
        return "expired"
    return "ok"


@transaction.atomic
def portal_link_revoke(*, actor, link: CustomerPortalLink) -> CustomerPortalLink:
    require_billing(actor)
    link = CustomerPortalLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at", "updated_at"])
        audit.record(actor=actor, action=audit.Action.TRANSITION, instance=link,
                     changes={"revoked_at": [None, link.revoked_at.isoformat()]})
    return link


# --- sending an invoice ------------------------------------------------------------------------------

def _invoice_message(*, invoice: Invoice, to: str, cc: list[str], message: str, pdf: bytes, token: str,
                     link: CustomerPortalLink, sender) -> EmailMultiAlternatives:
    company = CompanyProfile.get()
    with translation.override(document_language(invoice.account)):
        context = {"invoice": invoice, "company": company, "message": message, "portal_url": portal_url(token),
                   "expires_at": link.expires_at, "sender": sender, "filename": invoice_filename(invoice),
                   "total": money(invoice.gross_total, invoice.currency),
                   "balance": money(invoice.balance, invoice.currency)}
        subject = _("Invoice %(number)s from %(company)s") % {"number": invoice.number, "company": company.name}
        text = render_to_string("receivables/email/invoice.txt", context)
        html = render_to_string("receivables/email/invoice.html", context)
    reply_to = [sender.email] if getattr(sender, "email", "") else []
    email = EmailMultiAlternatives(subject=" ".join(subject.split()), body=text, to=[to], cc=cc, reply_to=reply_to)
    email.attach_alternative(html, "text/html")
    email.attach(invoice_filename(invoice), pdf, "application/pdf")
    return email


@transaction.atomic
def invoice_send(*, actor, invoice, to, cc=(), message: str = "") -> CustomerPortalLink:
    """E-mail a posted invoice with its PDF and a new link to the customer's portal page; recorded on the
    customer's timeline and in the audit trail. Returns the link (its token on `link.token`, not stored)."""
    require_billing(actor)
    invoice = _visible_invoice(actor, invoice)
    to, cc, message = _clean_recipients(to, list(cc) if not isinstance(cc, str) else cc, message)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    invoice = Invoice.objects.select_related("account", "account__owner", "contract").get(pk=invoice.pk)
    if invoice.status not in SENDABLE:
        raise InvalidTransition(_("Only posted invoices can be sent; this one is %(status)s.")
                                % {"status": invoice.get_status_display().lower()}, code="not_sendable")
    pdf = render_invoice_pdf(invoice)
    link, token = _create_link(actor=actor, account=invoice.account, email=to, days=settings.L2C_PORTAL_LINK_DAYS)
    collection, _created = InvoiceCollection.objects.get_or_create(invoice=invoice)
    collection.sent_to, collection.sent_at = to, timezone.now()
    collection.save(update_fields=["sent_to", "sent_at", "updated_at"])
    recipients = ", ".join([to, *cc])
    body = _("Sent %(file)s with a portal link (%(prefix)s…, valid until %(expires)s) to %(to)s.") % {
        "file": invoice_filename(invoice), "prefix": link.token_prefix,
        "expires": link.expires_at.date().isoformat(), "to": recipients}
    if message:
        body += "\n\n" + message
    _timeline(account=invoice.account, subject=_("Invoice %(number)s sent") % {"number": invoice.number}, body=body)
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=invoice, changes={
        "sent_to": [None, to], "cc": [None, cc], "portal_link": [None, f"{link.token_prefix}…"],
        "pdf_sha256": [None, hashlib.sha256(pdf).hexdigest()]})
    _deliver(_invoice_message(invoice=invoice, to=to, cc=cc, message=message, pdf=pdf, token=token, link=link,
                              sender=actor), f"invoice {invoice.pk} to {to}")
    link.token = token
    return link


# --- collection flags --------------------------------------------------------------------------------

_UNSET = object()


@transaction.atomic
def collection_update(*, actor, invoice, disputed=_UNSET, dispute_note=_UNSET,
                      promise_to_pay_date=_UNSET) -> InvoiceCollection:
    """Mark an invoice disputed (with a note) or not, and set or clear the customer's promised payment date."""
    require_billing(actor)
    invoice = _visible_invoice(actor, invoice)
    errors: list[FieldError] = []
    values: dict = {}
    if disputed is not _UNSET:
        if not isinstance(disputed, bool):
            errors.append(FieldError("disputed", _("Give true or false."), "invalid"))
        else:
            values["disputed"] = disputed
    if dispute_note is not _UNSET:
        note = (dispute_note or "") if isinstance(dispute_note, str | None) else None
        if note is None:
            errors.append(FieldError("dispute_note", _("Give text."), "invalid"))
        elif len(note) > MAX_NOTE:
            errors.append(FieldError("dispute_note", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_NOTE, "count": len(note)}, "max_length"))
        elif "\x00" in note:
            errors.append(FieldError("dispute_note", _("Text may not contain the NUL character."), "null_character"))
        else:
            values["dispute_note"] = note.strip()
    if promise_to_pay_date is not _UNSET:
        if promise_to_pay_date is not None and not isinstance(promise_to_pay_date, dt.date):
            errors.append(FieldError("promise_to_pay_date", _("Give a date (YYYY-MM-DD)."), "invalid"))
        elif promise_to_pay_date is not None and promise_to_pay_date < invoice.issue_date:
            errors.append(FieldError("promise_to_pay_date", _("The promised date cannot be before the invoice date."),
                                     "before_issue"))
        else:
            values["promise_to_pay_date"] = promise_to_pay_date
    if values.get("disputed") and not (values.get("dispute_note") or
                                       getattr(selectors.collection_for(invoice), "dispute_note", "")):
        errors.append(FieldError("dispute_note", _("Say what the customer disputes."), "required"))
    if errors:
        raise ValidationFailed(errors)
    collection, _created = InvoiceCollection.objects.select_for_update().get_or_create(invoice=invoice)
    before = audit.snapshot(collection)
    for field, value in values.items():
        setattr(collection, field, value)
    collection.updated_by = actor
    collection.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=collection, before=before)
    return collection


# --- dunning levels ----------------------------------------------------------------------------------

def _template_errors(text: str, field: str) -> list[FieldError]:
    try:
        DOCUMENT_ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        return [FieldError(field, _("Not a valid template: %(error)s") % {"error": exc}, "template_syntax")]
    return []


@transaction.atomic
def dunning_level_update(*, actor, level: DunningLevel, **values) -> DunningLevel:
    """Change a level's name, days overdue, e-mail subject/text or whether it is active."""
    require_billing(actor)
    allowed = {"name", "days_overdue", "email_subject", "email_body", "active"}
    errors = [FieldError(k, _("Unknown field."), "unknown") for k in values if k not in allowed]
    level = DunningLevel.objects.select_for_update().get(pk=level.pk)
    for field in ("name", "email_subject", "email_body"):
        if field in values:
            text = values[field].strip() if isinstance(values[field], str) else ""
            if not text:
                errors.append(FieldError(field, _("This field is required."), "required"))
            elif "\x00" in text:
                errors.append(FieldError(field, _("Text may not contain the NUL character."), "null_character"))
            else:
                errors += _template_errors(text, field) if field != "name" else []
                values[field] = text
    if "days_overdue" in values:
        days = values["days_overdue"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            errors.append(FieldError("days_overdue", _("Enter a whole number of days from 1 to 3650."), "out_of_range"))
        elif DunningLevel.objects.filter(days_overdue=days).exclude(pk=level.pk).exists():
            errors.append(FieldError("days_overdue", _("Another level starts at %(days)s days.") % {"days": days},
                                     "duplicate"))
    if "active" in values and not isinstance(values["active"], bool):
        errors.append(FieldError("active", _("Give true or false."), "invalid"))
    from l2c.core.validation import check_max_lengths

    errors += check_max_lengths(DunningLevel, {k: v for k, v in values.items() if k in allowed})
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(level)
    for field, value in values.items():
        setattr(level, field, value)
    level.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=level, before=before)
    return level


# --- the dunning run ---------------------------------------------------------------------------------

def _render_text(text: str, context: dict) -> str:
    try:
        return DOCUMENT_ENGINE.from_string(text).render(Context(context, autoescape=False))
    except Exception:  # noqa: BLE001 - a level text that fails to render is sent as written
        log.warning("dunning text failed to render; sent as written")
        return text


def _dunning_message(plan: dict, *, token: str, pdfs: list[tuple[str, bytes]]) -> EmailMultiAlternatives:
    company = CompanyProfile.get()
    account, level = plan["account"], plan["level"]
    totals: dict[str, object] = {}
    for item in plan["items"]:
        currency = item["invoice"].currency
        totals[currency] = totals.get(currency, 0) + item["balance"]
    with translation.override(document_language(account)):
        values = {"company": company.name, "customer": account.name, "count": len(plan["items"]),
                  "level": level.name}
        subject = " ".join(_render_text(level.email_subject, values).split())[:200]
        context = {"intro": _render_text(level.email_body, values), "company": company,
                   "items": [{**i, "amount": money(i["balance"], i["invoice"].currency)} for i in plan["items"]],
                   "account": account, "portal_url": portal_url(token),
                   "totals": [(c, money(a, c)) for c, a in sorted(totals.items())]}
        text = render_to_string("receivables/email/dunning.txt", context)
        html = render_to_string("receivables/email/dunning.html", context)
    email = EmailMultiAlternatives(subject=subject, body=text, to=[plan["email"]])
    email.attach_alternative(html, "text/html")
    for filename, pdf in pdfs:
        email.attach(filename, pdf, "application/pdf")
    return email


@transaction.atomic
def _dun_customer(plan: dict, *, run: DunningRun, actor, today: dt.date) -> int:
    """Send one customer's reminder and record it; returns the number of invoices reminded (0: raced)."""
    ids = [item["invoice"].pk for item in plan["items"]]
    locked = {i.pk: i for i in Invoice.objects.select_for_update().filter(pk__in=ids)}
    items = []
    for item in plan["items"]:
        invoice = locked.get(item["invoice"].pk)
        # paid, credited or already reminded at this level since the plan was made: leave it out
        if invoice is None or invoice.status not in selectors.OPEN or invoice.balance <= 0 \
                or DunningEvent.objects.filter(invoice=invoice, level=item["level"]).exists():
            continue
        items.append({**item, "invoice": invoice, "balance": invoice.balance})
    if not items:
        return 0
    plan = {**plan, "items": items}
    link, token = _create_link(actor=actor, account=plan["account"], email=plan["email"],
                               days=settings.L2C_PORTAL_LINK_DAYS)
    pdfs = [(invoice_filename(i["invoice"]), render_invoice_pdf(i["invoice"])) for i in items]
    email = _dunning_message(plan, token=token, pdfs=pdfs)
    now = timezone.now()
    for item in items:
        DunningEvent.objects.create(invoice=item["invoice"], level=item["level"], run=run, sent_at=now,
                                    email_to=plan["email"], email_subject=email.subject[:200],
                                    balance=item["balance"], days_overdue=item["days_overdue"])
    lines = [f"{i['invoice'].number}: {money(i['balance'], i['invoice'].currency)} {i['invoice'].currency}, "
             + _("%(days)s days overdue (%(level)s)") % {"days": i["days_overdue"], "level": i["level"].name}
             for i in items]
    _timeline(account=plan["account"], subject=_("Reminder sent: %(level)s") % {"level": plan["level"].name},
              body=_("Sent to %(to)s with %(count)s invoice(s) attached:") % {"to": plan["email"], "count": len(items)}
              + "\n" + "\n".join(lines))
    audit.record(actor=actor, action=audit.Action.CREATE, instance=run, actor_label="dunning", changes={
        "account": [None, plan["account"].pk], "level": [None, plan["level"].name], "to": [None, plan["email"]],
        "invoices": [None, [i["invoice"].number for i in items]]})
    _deliver(email, f"dunning for account {plan['account'].pk}")
    return len(items)


def run_dunning(today: dt.date | None = None, *, actor=None) -> DunningRun:
    """Send today's reminders: one e-mail per customer listing every invoice that reached a new level,
    with their PDFs. Safe to run again the same day: an invoice is reminded once per level, so a second
    run sends only what the first could not (a refused e-mail is retried). `actor` None is the daily job."""
    if actor is not None:
        require_billing(actor)
    today = today or timezone.localdate()
    try:
        with transaction.atomic():
            run, _created = DunningRun.objects.get_or_create(run_date=today)
    except IntegrityError:  # two runs starting at once on the same day
        run = DunningRun.objects.get(run_date=today)
    failures = []
    sent = reminded = 0
    for plan in selectors.dunning_plan(today):
        if not plan["email"]:
            failures.append({"account": plan["account"].pk, "error": _("No e-mail address is known.")})
            continue
        try:
            count = _dun_customer(plan, run=run, actor=actor, today=today)
        except EmailFailed as exc:
            failures.append({"account": plan["account"].pk, "error": exc.message})
            continue
        if count:
            sent += 1
            reminded += count
    DunningRun.objects.filter(pk=run.pk).update(
        emails_sent=run.emails_sent + sent, invoices_reminded=run.invoices_reminded + reminded,
        failures=failures, finished_at=timezone.now())
    run.refresh_from_db()
    log.info("dunning %s: %d e-mails, %d invoices, %d failures", today, sent, reminded, len(failures))
    return run
