"""Contracts: accepting and signing a quote through its portal link (which creates the contract),
declining it, and every change of a contract's status (expire, renew, terminate).

The customer acts without an account: `sign_quote` and `decline_quote` run with actor=None and the audit
events name the signer ("portal: <name>"). A refused attempt changes nothing but leaves an audit event.
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import io
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from l2c.core.money import minor_units, round_money
from l2c.core.numbering import next_number
from l2c.core.visibility import Role

from .consent import CONSENT_VERSION, consent_text
from .models import Contract, ContractLine, ContractStatus, Signature

log = logging.getLogger(__name__)

MAX_SIGNATURE_PNG_BYTES = 200 * 1024
MAX_SIGNATURE_PIXELS = 4000 * 4000  # a PNG is small on disk but may decompress to a huge image
MIN_INK_PIXELS = 20  # a drawing with fewer dark pixels than this is a dot, not a signature
MAX_NAME = 200
MAX_TITLE = 150
MAX_REASON = 2000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PORTAL_EVENT = "portal_event"  # the key under which portal events are kept in an audit event's changes
MAX_VIEW_EVENTS = 20  # the certificate page lists at most this many views (the first and the latest ones)

# Allowed status changes; anything else is an InvalidTransition. Nothing leaves TERMINATED or RENEWED.
TRANSITIONS: dict[str, set[str]] = {
    ContractStatus.ACTIVE: {ContractStatus.EXPIRED, ContractStatus.RENEWED, ContractStatus.TERMINATED},
    ContractStatus.EXPIRED: {ContractStatus.RENEWED},
    ContractStatus.RENEWED: set(),
    ContractStatus.TERMINATED: set(),
}
TERMINATE_ROLES = (Role.ADMIN, Role.MANAGER, Role.FINANCE)
RENEW_ROLES = (Role.ADMIN, Role.MANAGER, Role.REP)


# --- helpers ---------------------------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def contract_end(start: dt.date, term_months: int) -> dt.date:
    """The last day of a term: start + term months − 1 day (a 12-month term from 1 Jan ends on 31 Dec)."""
    if term_months <= 0:
        return start
    return add_months(start, term_months) - dt.timedelta(days=1)


def can_transition(contract: Contract, to: str) -> bool:
    return to in TRANSITIONS.get(contract.status, set())


def can_terminate(user, contract: Contract) -> bool:
    return _has_role(user, TERMINATE_ROLES) and can_transition(contract, ContractStatus.TERMINATED)


def can_renew(user, contract: Contract) -> bool:
    return (_has_role(user, RENEW_ROLES) and contract.renewal_opportunity_id is None
            and contract.status in (ContractStatus.ACTIVE, ContractStatus.EXPIRED))


def _has_role(user, roles) -> bool:
    return getattr(user, "is_superuser", False) or getattr(user, "role", None) in roles


def _portal_label(name: str) -> str:
    return f"portal: {name}"[:150] if name else "portal"


def record_portal_event(*, quote, event: str, link=None, ip: str | None = None, user_agent: str = "",
                        actor_label: str = "portal", **details) -> None:
    """An audit event on the quote for something the customer did in the portal (viewed, refused attempt…)."""
    changes = {PORTAL_EVENT: [None, event], "ip": [None, ip or None], "user_agent": [None, (user_agent or "")[:300]]}
    if link is not None:
        changes["portal_link"] = [None, link.pk]
    for key, value in details.items():
        changes[key] = [None, value]
    audit.record(actor=None, actor_label=actor_label, action=audit.Action.UPDATE, instance=quote, changes=changes)


def validate_drawn_signature(data: bytes | None) -> list[FieldError]:
    """A real PNG, at most 200 KB, of sensible size, with some ink on it (not blank)."""
    if not data:
        return [FieldError("drawn_signature", _("Draw your signature in the box."), "required")]
    if len(data) > MAX_SIGNATURE_PNG_BYTES:
        return [FieldError("drawn_signature", _("The drawn signature is too large (at most 200 KB)."), "too_large")]
    if not data.startswith(PNG_MAGIC):
        return [FieldError("drawn_signature", _("The drawn signature must be a PNG image."), "invalid")]
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != "PNG" or probe.width * probe.height > MAX_SIGNATURE_PIXELS:
                raise ValueError("not a PNG of a sensible size")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, ValueError, OSError, SyntaxError, Image.DecompressionBombError):
        return [FieldError("drawn_signature", _("The drawn signature is not a readable PNG image."), "invalid")]
    # ink = pixels that are visible (alpha) and darker than light grey once put on white paper
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(white, rgba).convert("L")
    ink = sum(grey.histogram()[:200])
    if ink < MIN_INK_PIXELS:
        return [FieldError("drawn_signature", _("The signature box is empty: draw your signature."), "blank")]
    return []


def _lock_link_and_quote(link):
    from l2c.quoting.models import PortalLink, Quote

    locked = PortalLink.objects.select_for_update().filter(pk=link.pk).first()
    if locked is None:
        raise NotFound(_("This link does not exist."))
    quote = Quote.objects.select_for_update().get(pk=locked.quote_id)
    return locked, quote


def _check_link_can_act(link, quote) -> None:
    """Raise if the customer can no longer sign or decline through this link."""
    from l2c.quoting import portal_links
    from l2c.quoting.models import QuoteStatus

    state = portal_links.link_state(link)
    messages = {
        "expired": _("This link has expired."),
        "revoked": _("This link was withdrawn by the sender."),
        "used": _("This quote was already answered through this link."),
        "superseded": _("A newer version of this quote was sent; please use the newest link."),
    }
    if state != "ok":
        raise InvalidTransition(messages.get(state, _("This link can no longer be used.")), code=f"link_{state}")
    if quote.status != QuoteStatus.SENT:
        raise InvalidTransition(_("This quote is %(status)s and can no longer be answered.")
                                % {"status": quote.get_status_display().lower()}, code="quote_not_sent")
    if quote.valid_until and quote.valid_until < timezone.localdate():
        raise InvalidTransition(_("This quote was valid until %(date)s.") % {"date": quote.valid_until.isoformat()},
                                code="quote_expired")


def _signature_events(quote, link, *, consented_at, signed_at, ip, user_agent) -> list[dict]:
    """What happened from sending to signing, for the record and the certificate page."""
    from l2c.core.models import AuditEvent

    items: list[dict] = []
    if quote.sent_at:
        items.append({"event": "sent", "at": quote.sent_at.isoformat(), "to": link.email or ""})
    views = list(
        AuditEvent.objects.filter(object_type=audit.object_type_of(quote), object_id=str(quote.pk),
                                  changes__portal_event__1="viewed").order_by("id")
    )
    if len(views) > MAX_VIEW_EVENTS:
        views = views[:1] + views[-(MAX_VIEW_EVENTS - 1):]
    for view in views:
        items.append({"event": "viewed", "at": view.occurred_at.isoformat(),
                      "ip": (view.changes.get("ip") or [None, None])[1]})
    if not views and link.first_viewed_at:
        items.append({"event": "viewed", "at": link.first_viewed_at.isoformat()})
    items.append({"event": "consented", "at": consented_at.isoformat(), "ip": ip, "consent_version": CONSENT_VERSION})
    items.append({"event": "signed", "at": signed_at.isoformat(), "ip": ip, "user_agent": user_agent})
    return items


def _won_stage():
    from l2c.pipeline.models import Stage

    return Stage.objects.filter(is_active=True, is_won=True).order_by("order", "id").first()


def _owner_task(*, opportunity, owner, subject: str, body: str) -> None:
    """A task for the owner on the opportunity (system actor), due tomorrow morning."""
    from l2c.pipeline.choices import ActivityKind
    from l2c.pipeline.services.activities import activity_create

    due = timezone.now() + dt.timedelta(days=1)
    owner = owner if owner is not None and owner.is_active and owner.role != Role.FINANCE else None
    activity_create(actor=None, kind=ActivityKind.TASK, subject=subject[:200], body=body, due_at=due,
                    owner=owner, opportunity=opportunity)


def _close_won(opportunity, contract: Contract) -> None:
    """Move the opportunity to the first won stage; if the pipeline refuses (a field the stage requires
    is empty, no won stage configured), the contract still stands and the owner gets a task."""
    from l2c.pipeline.services.opportunities import opportunity_move

    stage = _won_stage()
    problem = None
    if stage is None:
        problem = _("No active won stage is configured.")
    elif opportunity.stage_id != stage.pk and not opportunity.stage.is_won:
        try:
            opportunity_move(opportunity=opportunity, stage=stage, actor=None)
        except DomainError as exc:  # opportunity_move is atomic: its savepoint was rolled back
            problem = " ".join(e.message for e in exc.errors) or exc.message
    if problem:
        log.warning("contract %s: opportunity %s not moved to won: %s", contract.number, opportunity.pk, problem)
        _owner_task(opportunity=opportunity, owner=contract.owner,
                    subject=_("Close the opportunity as won: contract %(number)s signed") % {"number": contract.number},
                    body=_("The customer signed, but the opportunity could not be moved to the won stage: "
                           "%(problem)s") % {"problem": problem})


def _create_contract(*, quote, signature: Signature, signed_at) -> Contract:
    start = quote.contract_start or timezone.localtime(signed_at).date()
    term = quote.contract_term_months
    renewed = Contract.objects.select_for_update().filter(renewal_opportunity_id=quote.opportunity_id).first()
    contract = Contract.objects.create(
        number=next_number("CTR", timezone.localtime(signed_at).year),
        account_id=quote.account_id, contact_id=quote.contact_id, opportunity_id=quote.opportunity_id,
        quote=quote, signature=signature, owner_id=quote.owner_id, status=ContractStatus.ACTIVE,
        status_changed_at=signed_at, currency=quote.currency, start_date=start,
        end_date=contract_end(start, term), term_months=term, auto_renew=quote.auto_renew,
        notice_days=quote.notice_days, payment_terms=quote.payment_terms, terms=quote.terms, signed_at=signed_at,
        net_total=quote.net_total, tax_total=quote.tax_total, gross_total=quote.gross_total,
        renewal_of=renewed,
    )
    lines = [
        ContractLine(
            contract=contract, quote_line=line, product_id=line.product_id, position=position,
            description=line.description or line.product.name, quantity=line.quantity,
            unit=line.unit or line.product.unit, list_price=line.list_price, unit_price=line.unit_price,
            discount_percent=line.discount_percent, tax_rate=line.tax_rate, net_amount=line.net_amount,
            tax_amount=line.tax_amount, gross_amount=line.gross_amount, service_start=line.service_start,
            service_end=line.service_end,
        )
        for position, line in enumerate(quote.lines.filter(optional=False).select_related("product")
                                        .order_by("position", "id"), start=1)
    ]
    ContractLine.objects.bulk_create(lines)
    audit.record(actor=None, actor_label=_portal_label(signature.signer_name), action=audit.Action.CREATE,
                 instance=contract)
    if renewed is not None and can_transition(renewed, ContractStatus.RENEWED):
        _set_status(renewed, ContractStatus.RENEWED, actor=None, actor_label=_portal_label(signature.signer_name),
                    extra={"renewed_by": [None, contract.number]})
    return contract


def _contract_payload(contract: Contract) -> dict:
    return {"contract_id": contract.pk, "number": contract.number, "quote_id": contract.quote_id,
            "opportunity_id": contract.opportunity_id, "account_id": contract.account_id,
            "owner_id": contract.owner_id, "status": contract.status, "currency": contract.currency,
            "net_total": str(contract.net_total), "gross_total": str(contract.gross_total),
            "start_date": contract.start_date.isoformat(), "end_date": contract.end_date.isoformat()}


# --- accepting and signing --------------------------------------------------------------------------

def sign_quote(*, link, signer_name: str, signer_email: str, consent: bool, drawn_signature: bytes,
               ip: str | None, user_agent: str, shown_pdf_sha256: str, signer_title: str = "",
               language: str | None = None) -> Contract:
    """Accept and sign the quote behind a portal link: Signature, signed PDF, quote ACCEPTED, link used,
    Contract with frozen lines, opportunity won. All or nothing; a refusal is audited and re-raised."""
    try:
        return _sign_quote(link=link, signer_name=signer_name, signer_email=signer_email, consent=consent,
                           drawn_signature=drawn_signature, ip=ip, user_agent=user_agent,
                           shown_pdf_sha256=shown_pdf_sha256, signer_title=signer_title, language=language)
    except DomainError as exc:
        _record_refusal(link, "sign_refused", exc, ip=ip, user_agent=user_agent)
        raise


def _record_refusal(link, event: str, exc: DomainError, *, ip, user_agent) -> None:
    from l2c.quoting.models import Quote

    quote = Quote.objects.filter(pk=link.quote_id).first()
    if quote is None:
        return
    with transaction.atomic():
        record_portal_event(quote=quote, event=event, link=link, ip=ip, user_agent=user_agent,
                            reason=exc.message[:500], code=exc.code,
                            fields=sorted({e.field for e in exc.errors if e.field}))


def _clean_signer(signer_name, signer_email, signer_title, consent, drawn_signature) -> tuple[str, str, str]:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    errors: list[FieldError] = []
    if consent is not True:
        errors.append(FieldError("consent", _("Tick the box to agree to sign electronically."), "consent_required"))
    name = " ".join((signer_name or "").split())
    if not name:
        errors.append(FieldError("signer_name", _("Type your full name."), "required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("signer_name", _("At most %(n)d characters.") % {"n": MAX_NAME}, "max_length"))
    title = (signer_title or "").strip()
    if len(title) > MAX_TITLE:
        errors.append(FieldError("signer_title", _("At most %(n)d characters.") % {"n": MAX_TITLE}, "max_length"))
    email = (signer_email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(FieldError("signer_email", _("Enter a valid e-mail address."), "invalid"))
    errors += validate_drawn_signature(drawn_signature)
    if errors:
        raise ValidationFailed(errors)
    return name, email, title


@transaction.atomic
def _sign_quote(*, link, signer_name, signer_email, consent, drawn_signature, ip, user_agent, shown_pdf_sha256,
                signer_title, language) -> Contract:
    from l2c.contracts import signing
    from l2c.quoting.services import quotes as quote_services

    name, email, title = _clean_signer(signer_name, signer_email, signer_title, consent, drawn_signature)
    link, quote = _lock_link_and_quote(link)
    _check_link_can_act(link, quote)
    pdf = bytes(quote.sent_pdf or b"")
    if not pdf or hashlib.sha256(pdf).hexdigest() != quote.sent_pdf_sha256:
        raise Conflict(_("The quote's document is missing or damaged; please ask the sender for a new link."),
                       code="document_missing")
    if (shown_pdf_sha256 or "").strip().lower() != quote.sent_pdf_sha256:
        raise Conflict(_("The document changed since you opened this page (a new version was sent). "
                         "Reload the page and review it again."), code="document_changed", field="shown_pdf_sha256")
    user_agent = (user_agent or "")[:500]
    ip = ip or None
    consented_at = timezone.now()
    signed_at = timezone.now()
    text = consent_text(language or translation.get_language())
    events_list = _signature_events(quote, link, consented_at=consented_at, signed_at=signed_at, ip=ip,
                                    user_agent=user_agent)
    record = {
        "signer_name": name, "signer_email": email, "signer_title": title, "signed_at": signed_at,
        "consented_at": consented_at, "ip_address": ip, "user_agent": user_agent,
        "shown_pdf_sha256": quote.sent_pdf_sha256, "consent_text": text, "consent_version": CONSENT_VERSION,
        "quote_number": quote.number, "quote_version": quote.version, "events": events_list,
        "drawn_signature": drawn_signature,
    }
    record_portal_event(quote=quote, event="consented", link=link, ip=ip, user_agent=user_agent,
                        actor_label=_portal_label(name), consent_version=CONSENT_VERSION)
    signed_pdf = signing.sign_document(pdf, record=record)
    signature = Signature.objects.create(
        quote=quote, portal_link=link, signer_name=name, signer_email=email, signer_title=title,
        consent_text=text, consent_version=CONSENT_VERSION, consented_at=consented_at, signed_at=signed_at,
        ip_address=ip, user_agent=user_agent, drawn_signature=drawn_signature,
        shown_pdf_sha256=quote.sent_pdf_sha256, signed_pdf=signed_pdf,
        signed_pdf_sha256=hashlib.sha256(signed_pdf).hexdigest(), events=events_list,
    )
    label = _portal_label(name)
    audit.record(actor=None, actor_label=label, action=audit.Action.CREATE, instance=signature,
                 changes={"signer_name": [None, name], "signer_email": [None, email], "ip_address": [None, ip],
                          "consent_version": [None, CONSENT_VERSION],
                          "shown_pdf_sha256": [None, quote.sent_pdf_sha256],
                          "signed_pdf_sha256": [None, signature.signed_pdf_sha256]})
    quote = quote_services.quote_mark_accepted(quote=quote)
    link.used_at = signed_at
    link.save(update_fields=["used_at"])
    record_portal_event(quote=quote, event="signed", link=link, ip=ip, user_agent=user_agent, actor_label=label,
                        signature=signature.pk)
    contract = _create_contract(quote=quote, signature=signature, signed_at=signed_at)
    _close_won(quote.opportunity, contract)
    events.publish("quote.signed", {"quote_id": quote.pk, "number": quote.number, "version": quote.version,
                                    "signature_id": signature.pk, "contract_id": contract.pk,
                                    "signer_name": name, "opportunity_id": quote.opportunity_id})
    events.publish("contract.created", _contract_payload(contract))
    if email:
        transaction.on_commit(lambda: send_signed_copy(signature_id=signature.pk))
    return contract


def send_signed_copy(*, signature_id: int) -> bool:
    """E-mail the signer the signed PDF (best effort: a failure is logged, never raised)."""
    from django.core.mail import EmailMessage

    signature = Signature.objects.select_related("quote").filter(pk=signature_id).first()
    if signature is None or not signature.signer_email:
        return False
    quote = signature.quote
    try:
        from l2c.core.models import CompanyProfile

        company = CompanyProfile.get().name
        message = EmailMessage(
            subject=_("Your signed copy of quote %(number)s") % {"number": quote.number},
            body=_("Dear %(name)s,\n\nthank you for signing quote %(number)s (version %(version)s). "
                   "The signed document is attached; it carries a certificate page and a digital signature "
                   "of %(company)s.\n") % {"name": signature.signer_name, "number": quote.number,
                                            "version": quote.version, "company": company},
            from_email=settings.DEFAULT_FROM_EMAIL, to=[signature.signer_email],
        )
        message.attach(f"{quote.number}-v{quote.version}-signed.pdf", bytes(signature.signed_pdf), "application/pdf")
        message.send()
    except Exception:  # best effort: the signature stands; the copy can be downloaded from the portal
        log.exception("could not e-mail the signed copy of quote %s to the signer", quote.number)
        return False
    return True


# --- declining ---------------------------------------------------------------------------------------

def decline_quote(*, link, reason: str, ip, user_agent) -> object:
    """The customer declines the quote: DECLINED with the reason, link used, owner gets a task."""
    try:
        return _decline_quote(link=link, reason=reason, ip=ip, user_agent=user_agent)
    except DomainError as exc:
        _record_refusal(link, "decline_refused", exc, ip=ip, user_agent=user_agent)
        raise


@transaction.atomic
def _decline_quote(*, link, reason, ip, user_agent):
    from l2c.quoting.services import quotes as quote_services

    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.single("reason", _("Tell us why you decline, please."), "required")
    if len(reason) > MAX_REASON:
        raise ValidationFailed.single("reason", _("At most %(n)d characters.") % {"n": MAX_REASON}, "max_length")
    link, quote = _lock_link_and_quote(link)
    _check_link_can_act(link, quote)
    quote = quote_services.quote_mark_declined(quote=quote, reason=reason)
    now = timezone.now()
    link.used_at = now
    link.save(update_fields=["used_at"])
    record_portal_event(quote=quote, event="declined", link=link, ip=ip, user_agent=user_agent,
                        actor_label=_portal_label(link.email), reason=reason[:500])
    _owner_task(opportunity=quote.opportunity, owner=quote.owner,
                subject=_("Quote %(number)s v%(version)s was declined") % {"number": quote.number,
                                                                            "version": quote.version},
                body=_("The customer declined the quote in the portal. Reason: %(reason)s") % {"reason": reason})
    return quote


# --- contract status changes ------------------------------------------------------------------------

def _lock_contract(contract: Contract, actor) -> Contract:
    qs = Contract.objects.all() if actor is None else Contract.objects.restrict(actor)
    if not qs.filter(pk=contract.pk).exists():
        raise NotFound(_("No contract with id %(id)s.") % {"id": contract.pk})
    return Contract.objects.select_for_update().get(pk=contract.pk)


def _set_status(contract: Contract, to: str, *, actor, actor_label: str | None = None, extra: dict | None = None,
                fields: tuple[str, ...] = ()) -> Contract:
    if not can_transition(contract, to):
        raise InvalidTransition(
            _("A contract that is %(from)s cannot become %(to)s.")
            % {"from": contract.get_status_display().lower(), "to": ContractStatus(to).label.lower()})
    before = contract.status
    contract.status = to
    contract.status_changed_at = timezone.now()
    contract.save(update_fields=["status", "status_changed_at", "updated_at", *fields])
    changes = {"status": [before, to], **(extra or {})}
    audit.record(actor=actor, actor_label=actor_label, action=audit.Action.TRANSITION, instance=contract,
                 changes=changes)
    events.publish(f"contract.{to}", {**_contract_payload(contract), "from_status": before,
                                      "actor_id": getattr(actor, "pk", None)})
    return contract


@transaction.atomic
def contract_expire(*, contract: Contract, actor=None, today: dt.date | None = None) -> Contract:
    """ACTIVE → EXPIRED once the end date has passed (the daily job does this)."""
    contract = _lock_contract(contract, actor)
    today = today or timezone.localdate()
    if contract.status == ContractStatus.ACTIVE and contract.end_date >= today:
        raise InvalidTransition(_("The contract runs until %(date)s; it cannot expire before.")
                                % {"date": contract.end_date.isoformat()}, code="not_ended")
    return _set_status(contract, ContractStatus.EXPIRED, actor=actor)


@transaction.atomic
def contract_terminate(*, contract: Contract, actor, date, reason: str) -> Contract:
    """ACTIVE → TERMINATED on `date` (between start and end) with a reason. Admin, manager and finance."""
    if actor is not None and not _has_role(actor, TERMINATE_ROLES):
        raise PermissionDenied(_("Only a manager, finance or an admin can terminate a contract."))
    contract = _lock_contract(contract, actor)
    errors: list[FieldError] = []
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            errors.append(FieldError("date", _("Enter a date as YYYY-MM-DD."), "invalid"))
            date = None
    if date is None and not errors:
        errors.append(FieldError("date", _("Give the date the contract ends."), "required"))
    elif isinstance(date, dt.date) and not contract.start_date <= date <= contract.end_date:
        errors.append(FieldError("date", _("The date must lie within the contract (%(start)s to %(end)s).")
                                 % {"start": contract.start_date.isoformat(), "end": contract.end_date.isoformat()},
                                 "out_of_range"))
    reason = (reason or "").strip()
    if not reason:
        errors.append(FieldError("reason", _("Give the reason for the termination."), "required"))
    elif len(reason) > MAX_REASON:
        errors.append(FieldError("reason", _("At most %(n)d characters.") % {"n": MAX_REASON}, "max_length"))
    if not can_transition(contract, ContractStatus.TERMINATED):
        raise InvalidTransition(_("A contract that is %(status)s cannot be terminated.")
                                % {"status": contract.get_status_display().lower()})
    if errors:
        raise ValidationFailed(errors)
    contract.terminated_on = date
    contract.termination_reason = reason
    return _set_status(contract, ContractStatus.TERMINATED, actor=actor,
                       extra={"terminated_on": [None, date.isoformat()], "termination_reason": [None, reason]},
                       fields=("terminated_on", "termination_reason"))


def _renewal_quote(*, contract: Contract, opportunity, actor):
    """A draft quote for the next term with the contract's lines and prices, service dates moved on."""
    from l2c.quoting.services import quotes as quote_services

    start = contract.end_date + dt.timedelta(days=1)
    term = contract.term_months
    quote = quote_services.quote_create(
        actor=actor, opportunity=opportunity, title=_("Renewal of %(number)s") % {"number": contract.number},
        currency=contract.currency, payment_terms=contract.payment_terms, terms=contract.terms,
        contract_start=start, contract_term_months=term, auto_renew=contract.auto_renew,
        notice_days=contract.notice_days,
    )
    for line in contract.lines.select_related("product").order_by("position", "id"):
        service_start = service_end = None
        if line.service_start and line.service_end:
            service_start = line.service_start + (start - contract.start_date)
            service_end = contract_end(service_start, term) if term else service_start
        quote_services.line_add(actor=actor, quote=quote, product=line.product, quantity=line.quantity,
                                discount_percent=line.discount_percent, list_price=line.list_price,
                                description=line.description, service_start=service_start,
                                service_end=service_end)
    return quote


def _opportunity_amount(contract: Contract):
    """The contract's net total as an opportunity amount (2 decimal places at most)."""
    # currencies with 3 or 4 minor units (KWD, CLF) are rounded to 2 places, as the opportunity stores them
    currency = contract.currency if minor_units(contract.currency) <= 2 else "USD"
    return round_money(contract.net_total, currency)


@transaction.atomic
def contract_renew(*, contract: Contract, actor) -> Contract:
    """Start the renewal: a renewal opportunity (closing at the end date) and a draft quote for the next
    term copied from the contract's lines. Once per contract. The contract becomes RENEWED when the
    renewal quote is signed (see `_create_contract`). If the quote cannot be built (e.g. a product was
    retired), the opportunity stays and the owner gets a task to prepare it."""
    from l2c.pipeline.services.opportunities import opportunity_create

    if actor is not None and not _has_role(actor, RENEW_ROLES):
        raise PermissionDenied(_("Only sales users can renew a contract."))
    contract = _lock_contract(contract, actor)
    if contract.renewal_opportunity_id is not None:
        raise Conflict(_("This contract already has a renewal opportunity."), code="already_renewing")
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.EXPIRED):
        raise InvalidTransition(_("A contract that is %(status)s cannot be renewed.")
                                % {"status": contract.get_status_display().lower()})
    owner = contract.owner if contract.owner is not None and contract.owner.is_active else None
    opportunity = opportunity_create(
        actor=actor, name=(_("Renewal: %(number)s %(account)s") % {"number": contract.number,
                                                                 "account": contract.account.name})[:200],
        account=contract.account, contact=contract.contact, owner=owner if actor is None else (owner or actor),
        amount=_opportunity_amount(contract), currency=contract.currency, expected_close_date=contract.end_date,
        description=_("Renewal of contract %(number)s, which ends on %(date)s.")
        % {"number": contract.number, "date": contract.end_date.isoformat()},
    )
    contract.renewal_opportunity = opportunity
    contract.save(update_fields=["renewal_opportunity", "updated_at"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=contract,
                 changes={"renewal_opportunity": [None, opportunity.pk]})
    try:
        with transaction.atomic():
            quote = _renewal_quote(contract=contract, opportunity=opportunity, actor=actor)
    except DomainError as exc:
        log.warning("renewal quote for %s not created: %s", contract.number, exc.message)
        _owner_task(opportunity=opportunity, owner=opportunity.owner,
                    subject=_("Prepare the renewal quote for %(number)s") % {"number": contract.number},
                    body=_("The renewal quote could not be created automatically: %(problem)s")
                    % {"problem": exc.message})
        quote = None
    events.publish("contract.renewal_started", {**_contract_payload(contract), "renewal_opportunity_id":
                                                opportunity.pk, "renewal_quote_id": getattr(quote, "pk", None)})
    return contract


# --- the daily job ----------------------------------------------------------------------------------

def renewal_lead_days(contract: Contract) -> int:
    """How many days before the end the renewal starts: the notice period, or L2C_RENEWAL_LEAD_DAYS."""
    return contract.notice_days or int(getattr(settings, "L2C_RENEWAL_LEAD_DAYS", 30))


def expire_ended_contracts(today: dt.date | None = None) -> int:
    """Expire every active contract whose end date has passed; returns how many."""
    today = today or timezone.localdate()
    count = 0
    for pk in Contract.objects.filter(status=ContractStatus.ACTIVE, end_date__lt=today).values_list("pk", flat=True):
        try:
            contract_expire(contract=Contract(pk=pk), actor=None, today=today)
            count += 1
        except InvalidTransition:  # changed meanwhile (renewed, terminated)
            continue
    return count


def start_due_renewals(today: dt.date | None = None) -> int:
    """For every active auto-renew contract within its notice window and without a renewal yet: start
    the renewal (opportunity + quote). Safe to run twice: a contract is renewed once."""
    from django.db.models import Max

    today = today or timezone.localdate()
    base = Contract.objects.filter(status=ContractStatus.ACTIVE, auto_renew=True, renewal_opportunity__isnull=True,
                                   end_date__gte=today)
    widest = max(base.aggregate(m=Max("notice_days"))["m"] or 0, int(getattr(settings, "L2C_RENEWAL_LEAD_DAYS", 30)))
    count = 0
    for contract in base.filter(end_date__lte=today + dt.timedelta(days=widest)):
        if contract.end_date - dt.timedelta(days=renewal_lead_days(contract)) > today:
            continue
        try:
            contract_renew(contract=contract, actor=None)
            count += 1
        except (Conflict, InvalidTransition):  # another run got there first
            continue
        except DomainError:
            log.exception("could not start the renewal of contract %s", contract.number)
    return count
