"""Quotes: create from an opportunity, edit the header and the lines, versions, the primary quote, and
the customer's side (sent, viewed, accepted, declined, expired).

Every write validates its input (a `ValidationFailed` naming each bad field, nothing changed), runs in one
transaction with the quote row locked, recomputes the prices through `quoting.pricing`, writes its audit
events and publishes its domain events after commit.

Who may write: the sales roles on quotes they can see (a rep their own, a manager their team's, an admin
all); finance reads quotes only (403); a quote the actor cannot see is a 404.

Editing: DRAFT and REJECTED quotes are edited in place; an APPROVED one too, but a change to anything
priced (lines, discounts, price book, tax country, quote date) sends it back to DRAFT. Other statuses are
read-only: `quote_new_version` makes an editable copy.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.money import minor_units
from l2c.core.numbering import next_number
from l2c.core.validation import as_id, check_max_lengths, is_country_code, is_iso_currency

from .. import pricing
from ..models import (
    ApprovalStatus,
    PaymentTerms,
    PriceBook,
    Product,
    ProductKind,
    Quote,
    QuoteApproval,
    QuoteLine,
    QuoteStatus,
)

HEADER_FIELDS = ("title", "contact", "price_book", "currency", "tax_country", "quote_date", "valid_until",
                 "payment_terms", "terms", "notes", "header_discount_percent", "contract_start",
                 "contract_term_months", "auto_renew", "notice_days")
LINE_FIELDS = ("product", "quantity", "discount_percent", "list_price", "description", "section", "optional",
               "service_start", "service_end")
EDITABLE_STATUSES = (QuoteStatus.DRAFT, QuoteStatus.REJECTED, QuoteStatus.APPROVED)
# a new version may be made of these (the old one becomes SUPERSEDED)
VERSIONABLE_STATUSES = (QuoteStatus.PENDING_APPROVAL, QuoteStatus.APPROVED, QuoteStatus.REJECTED,
                        QuoteStatus.SENT, QuoteStatus.EXPIRED, QuoteStatus.DECLINED)
DEFAULT_VALIDITY_DAYS = 30
MAX_TEXT = 20000
MAX_QUANTITY = Decimal(10) ** 12
MAX_PRICE = Decimal(10) ** 14


# --- permissions, locking, state ---------------------------------------------------------------------

def require_quote_writer(actor) -> None:
    """Sales roles write quotes; finance reads them. `actor=None` is the system."""
    if actor is not None and not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role can read quotes but not change them."))


def _visible_or_404(quote_or_pk, actor) -> int:
    from ..selectors import visible_quotes

    pk = getattr(quote_or_pk, "pk", quote_or_pk)
    qs = Quote.objects.all() if actor is None else visible_quotes(actor)
    if as_id(pk) is None or not qs.filter(pk=as_id(pk)).exists():
        raise NotFound(_("No quote with id %(id)s.") % {"id": pk})
    return as_id(pk)


def lock_quote(quote_or_pk, actor) -> Quote:
    """The quote, checked for visibility (404) and locked for the rest of the transaction."""
    pk = _visible_or_404(quote_or_pk, actor)
    Quote.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True).first()
    return Quote.objects.select_related("account", "opportunity", "owner", "price_book", "contact").get(pk=pk)


def edit_refusal(quote: Quote) -> str | None:
    """Why the quote cannot be edited in place, or None when it can."""
    if quote.status in EDITABLE_STATUSES:
        return None
    messages = {
        QuoteStatus.PENDING_APPROVAL: _("The quote is awaiting approval and cannot be changed; make a new version "
                                        "to change it."),
        QuoteStatus.SENT: _("The quote was sent to the customer and cannot be changed; make a new version."),
        QuoteStatus.EXPIRED: _("The quote has expired and cannot be changed; make a new version."),
        QuoteStatus.DECLINED: _("The customer declined the quote; make a new version to change it."),
        QuoteStatus.ACCEPTED: _("The quote was accepted and signed; it never changes."),
        QuoteStatus.SUPERSEDED: _("This is an old version of the quote; it never changes."),
    }
    return messages.get(quote.status, _("The quote cannot be changed in its current state."))


def can_edit(quote: Quote) -> bool:
    return edit_refusal(quote) is None


def can_new_version(quote: Quote) -> bool:
    return quote.status in VERSIONABLE_STATUSES


def _require_editable(quote: Quote) -> None:
    refusal = edit_refusal(quote)
    if refusal:
        raise InvalidTransition(refusal)


def set_status(quote: Quote, status: str, *, actor, now=None, reason: str = "", extra_fields=()) -> None:
    """Change the status (the transition services' common step): save, audit the from/to."""
    now = now or timezone.now()
    before = quote.status
    quote.status = status
    quote.status_changed_at = now
    quote.updated_at = now
    quote.save(update_fields=["status", "status_changed_at", "updated_at", *extra_fields])
    changes = {"status": [before, status]}
    shown = [name for name in extra_fields if name != "sent_pdf"]  # the PDF itself is kept by its hash
    for name, value in audit.snapshot(quote, fields=shown).items():
        changes[name] = [None, value]
    if reason:
        changes["reason"] = reason
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=quote, changes=changes)


def event_payload(quote: Quote, actor=None, **extra) -> dict:
    return {
        "quote_id": quote.pk, "number": quote.number, "version": quote.version, "status": quote.status,
        "opportunity_id": quote.opportunity_id, "account_id": quote.account_id, "owner_id": quote.owner_id,
        "currency": quote.currency, "net_total": str(quote.net_total), "gross_total": str(quote.gross_total),
        "actor_id": getattr(actor, "pk", None), **extra,
    }


# --- parsing ------------------------------------------------------------------------------------------

def _decimal(values: dict, name: str, errors: list[FieldError], *, places: int = 4, minimum: Decimal | None = None,
             above: Decimal | None = None, maximum: Decimal | None = None, label: str = "") -> Decimal | None:
    raw = values.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, float | bool):
        errors.append(FieldError(name, _("Send the number as a decimal string, not a float."), "invalid"))
        return None
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors.append(FieldError(name, _("%(value)r is not a number.") % {"value": raw}, "invalid"))
        return None
    if not value.is_finite():
        errors.append(FieldError(name, _("The number must be finite."), "invalid"))
        return None
    if above is not None and value <= above:
        errors.append(FieldError(name, _("Must be greater than %(n)s.") % {"n": above}, "min_value"))
        return None
    if minimum is not None and value < minimum:
        errors.append(FieldError(name, _("Must be at least %(n)s.") % {"n": minimum}, "min_value"))
        return None
    if maximum is not None and value > maximum:
        errors.append(FieldError(name, _("Must be at most %(n)s.") % {"n": maximum}, "max_value"))
        return None
    if value != value.to_integral_value() and -value.as_tuple().exponent > places:
        errors.append(FieldError(name, _("At most %(places)d decimal places.") % {"places": places},
                                 "max_decimal_places"))
        return None
    return value.quantize(Decimal(1).scaleb(-places))


def _date(values: dict, name: str, errors: list[FieldError]) -> dt.date | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        errors.append(FieldError(name, _("Enter a date as YYYY-MM-DD."), "invalid"))
        return None


def _int(values: dict, name: str, errors: list[FieldError], *, minimum: int, maximum: int) -> int | None:
    raw = values.get(name)
    if isinstance(raw, bool) or raw in (None, ""):
        errors.append(FieldError(name, _("Enter a whole number."), "required" if raw in (None, "") else "invalid"))
        return None
    try:
        value = int(str(raw).strip()) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if not isinstance(value, int):
        errors.append(FieldError(name, _("Enter a whole number."), "invalid"))
        return None
    if not minimum <= value <= maximum:
        errors.append(FieldError(name, _("Must be between %(a)d and %(b)d.") % {"a": minimum, "b": maximum},
                                 "out_of_range"))
        return None
    return value


def _bool(values: dict, name: str, errors: list[FieldError]) -> bool | None:
    raw = values.get(name)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "on", "yes", "false", "0", "off", "no", ""):
        return raw.strip().lower() in ("true", "1", "on", "yes")
    errors.append(FieldError(name, _("Give true or false."), "invalid"))
    return None


def _text(values: dict, name: str, errors: list[FieldError], *, limit: int | None = None) -> str:
    raw = values.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        errors.append(FieldError(name, _("Give text."), "invalid"))
        return ""
    text = raw.strip()
    if limit and len(text) > limit:
        errors.append(FieldError(name, _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": limit, "count": len(text)}, "max_length"))
    return text


def _reject_unknown(values: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(errors)


def _price_book(value, errors: list[FieldError]) -> PriceBook | None:
    if value in (None, ""):
        return None
    pk = getattr(value, "pk", value)
    book = PriceBook.objects.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
    if book is None:
        errors.append(FieldError("price_book", _("No price book with id %(id)s.") % {"id": pk}, "not_found"))
    return book


def _clean_header(values: dict, *, account, quote: Quote | None) -> dict:
    """Validate header values; returns the attributes to set. Checks combined values (dates in order,
    price book currency and validity) against the quote's current ones."""
    errors: list[FieldError] = []
    out: dict = {}
    for name, limit in (("title", Quote._meta.get_field("title").max_length), ("terms", MAX_TEXT),
                        ("notes", MAX_TEXT)):
        if name in values:
            out[name] = _text(values, name, errors, limit=limit)
    if "contact" in values:
        from l2c.customers.models import Contact

        value = values["contact"]
        if value in (None, ""):
            out["contact"] = None
        else:
            pk = getattr(value, "pk", value)
            contact = Contact.objects.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
            if contact is None:
                errors.append(FieldError("contact", _("No contact with id %(id)s.") % {"id": pk}, "not_found"))
            elif contact.account_id != account.pk:
                errors.append(FieldError("contact", _("%(contact)s does not work at %(account)s.")
                                         % {"contact": contact, "account": account}, "wrong_account"))
            else:
                out["contact"] = contact
    if "currency" in values:
        currency = values["currency"].strip().upper() if isinstance(values["currency"], str) else values["currency"]
        if not isinstance(currency, str) or not is_iso_currency(currency):
            errors.append(FieldError("currency", _("Enter a 3-letter ISO 4217 currency code, e.g. USD."), "invalid"))
        else:
            out["currency"] = currency
    if "tax_country" in values:
        country = values["tax_country"]
        country = country.strip().upper() if isinstance(country, str) else country
        if country in (None, ""):
            out["tax_country"] = ""
        elif not isinstance(country, str) or not is_country_code(country):
            errors.append(FieldError("tax_country", _("%(value)r is not an ISO 3166-1 alpha-2 country code (e.g. CN, "
                                                      "US, GB).") % {"value": country}, "invalid_country"))
        else:
            out["tax_country"] = country
    for name in ("quote_date", "valid_until"):
        if name in values:
            if values[name] in (None, ""):
                errors.append(FieldError(name, _("This field is required."), "required"))
            else:
                parsed = _date(values, name, errors)
                if parsed is not None:
                    out[name] = parsed
    if "contract_start" in values:
        out["contract_start"] = _date(values, "contract_start", errors)
    if "payment_terms" in values:
        if values["payment_terms"] not in PaymentTerms.values:
            errors.append(FieldError("payment_terms", _("Choose one of %(c)s.") % {"c": ", ".join(PaymentTerms.values)},
                                     "invalid_choice"))
        else:
            out["payment_terms"] = values["payment_terms"]
    if "header_discount_percent" in values:
        if values["header_discount_percent"] in (None, ""):
            out["header_discount_percent"] = Decimal("0.0000")
        else:
            value = _decimal(values, "header_discount_percent", errors, minimum=Decimal(0), maximum=Decimal(100))
            if value is not None:
                out["header_discount_percent"] = value
    if "contract_term_months" in values:
        value = _int(values, "contract_term_months", errors, minimum=1, maximum=600)
        if value is not None:
            out["contract_term_months"] = value
    if "notice_days" in values:
        value = _int(values, "notice_days", errors, minimum=0, maximum=3650)
        if value is not None:
            out["notice_days"] = value
    if "auto_renew" in values:
        value = _bool(values, "auto_renew", errors)
        if value is not None:
            out["auto_renew"] = value
    if "price_book" in values:
        out["price_book"] = _price_book(values["price_book"], errors)
    _raise(errors)

    # combined checks, against the values the quote will have
    def current(name):
        return out[name] if name in out else getattr(quote, name, None) if quote is not None else None

    quote_date, valid_until = current("quote_date"), current("valid_until")
    if quote_date and valid_until and valid_until < quote_date:
        errors.append(FieldError("valid_until", _("The quote cannot expire before its date (%(date)s).")
                                 % {"date": quote_date.isoformat()}, "before_quote_date"))
    book, currency = current("price_book"), current("currency")
    # a form that sends the unchanged book again is not asking for a new one
    book_changed = "price_book" in out and (quote is None or getattr(book, "pk", None) != quote.price_book_id)
    if book is not None and currency and book.currency != currency and (book_changed or "currency" in out):
        errors.append(FieldError("price_book", _("The price book %(book)s is in %(book_currency)s, the quote in "
                                                 "%(currency)s.") % {"book": book.name, "book_currency": book.currency,
                                                                      "currency": currency}, "wrong_currency"))
    if book is not None and book_changed and not book.active:
        errors.append(FieldError("price_book", _("The price book %(book)s is not active.") % {"book": book.name},
                                 "inactive"))
    elif book is not None and quote_date and book_changed and not _book_valid_on(book, quote_date):
        errors.append(FieldError("price_book", _("The price book %(book)s is not valid on the quote date %(date)s.")
                                 % {"book": book.name, "date": quote_date.isoformat()}, "not_valid_on_date"))
    _raise(errors)
    return out


def _book_valid_on(book: PriceBook, on: dt.date) -> bool:
    return (book.valid_from is None or book.valid_from <= on) and (book.valid_until is None or book.valid_until >= on)


# --- the opportunity follows its primary quote ---------------------------------------------------------

def _sync_opportunity(actor, quote: Quote) -> None:
    """opportunity.amount/currency = the primary quote's net total, through the pipeline's own service."""
    from l2c.pipeline.models import Opportunity
    from l2c.pipeline.services import opportunity_update

    opportunity = Opportunity.objects.get(pk=quote.opportunity_id)
    amount = Decimal(quote.net_total)
    if minor_units(quote.currency) > 2:
        # Opportunity.amount has 2 decimal places: a 3-decimal currency's total is shown to the cent there
        amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    else:
        amount = amount.quantize(Decimal("0.01"))
    if opportunity.amount == amount and opportunity.currency == quote.currency:
        return
    # the quote's editor may not see the opportunity (it was reassigned): the amount follows anyway
    by = actor
    if actor is not None and not Opportunity.objects.restrict(actor).filter(pk=opportunity.pk).exists():
        by = None
    if by is not None and not getattr(by, "is_sales", False):
        by = None
    opportunity_update(opportunity=opportunity, actor=by, amount=amount, currency=quote.currency)


def after_prices_changed(quote: Quote, *, actor) -> pricing.Totals:
    """Recompute the quote; an approved quote whose priced content changed goes back to DRAFT; the
    opportunity follows a primary quote."""
    totals = pricing.recompute(quote)
    if quote.status == QuoteStatus.APPROVED and pricing.fingerprint(quote) != quote.approval_fingerprint:
        quote.approved_at = None
        quote.approval_fingerprint = ""
        QuoteApproval.objects.filter(quote=quote, status=ApprovalStatus.PENDING).update(status=ApprovalStatus.CANCELLED)
        set_status(quote, QuoteStatus.DRAFT, actor=actor, reason="prices changed after approval",
                   extra_fields=("approved_at", "approval_fingerprint"))
    if quote.is_primary and (quote.lines.exists() or quote.net_total):
        _sync_opportunity(actor, quote)
    return totals


# --- quotes -------------------------------------------------------------------------------------------

@transaction.atomic
def quote_create(*, actor, opportunity, **values) -> Quote:
    """A DRAFT quote for an opportunity: its account, contact and currency; the price book for that
    currency and the account's segment (unless given); tax country = the account's country; valid for
    30 days; numbered QUO-<year>-NNNNNN. The first quote of an opportunity is its primary one."""
    from l2c.pipeline.models import Opportunity

    require_quote_writer(actor)
    _reject_unknown(values, HEADER_FIELDS)
    pk = getattr(opportunity, "pk", opportunity)
    qs = Opportunity.objects.all() if actor is None else Opportunity.objects.restrict(actor)
    opp = qs.select_related("account").filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
    if opp is None:
        raise NotFound(_("No opportunity with id %(id)s.") % {"id": pk})
    if opp.closed_at is not None:
        raise ValidationFailed.single("opportunity", _("The opportunity %(name)s is closed; open a new one for a new "
                                                       "quote.") % {"name": opp.name}, "closed")
    Opportunity.objects.select_for_update().filter(pk=opp.pk).values_list("pk", flat=True).first()
    account = opp.account
    today = timezone.localdate()
    values = dict(values)
    values.setdefault("currency", opp.currency)
    values.setdefault("contact", opp.contact_id)
    values.setdefault("tax_country", account.country or "")
    values.setdefault("quote_date", today)
    cleaned = _clean_header(values, account=account, quote=None)
    quote_date = cleaned["quote_date"]
    if "valid_until" not in cleaned:
        cleaned["valid_until"] = quote_date + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
    if "price_book" not in cleaned:
        cleaned["price_book"] = pricing.price_book_for(currency=cleaned["currency"], segment=account.segment,
                                                       on=quote_date)
    owner = opp.owner if opp.owner_id else actor
    first = not Quote.objects.filter(opportunity=opp).exists()
    quote = Quote(opportunity=opp, account=account, owner=owner, status=QuoteStatus.DRAFT, is_primary=first,
                  status_changed_at=timezone.now(), **cleaned)
    quote.number = next_number("QUO", today.year)
    quote.version = 1
    quote.save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=quote)
    events.publish("quote.created", event_payload(quote, actor))
    return quote


@transaction.atomic
def quote_update(*, actor, quote, **values) -> Quote:
    """Change header fields. The currency can change only while the quote has no lines; a new price book
    re-prices the lines that took their price from the old one (typed prices stay)."""
    require_quote_writer(actor)
    _reject_unknown(values, HEADER_FIELDS)
    quote = lock_quote(quote, actor)
    _require_editable(quote)
    values = dict(values)
    currency = values.get("currency")
    currency = currency.strip().upper() if isinstance(currency, str) else currency
    if isinstance(currency, str) and is_iso_currency(currency) and currency != quote.currency \
            and "price_book" not in values:
        # another currency takes that currency's price book (or none)
        on = _date(values, "quote_date", []) or quote.quote_date
        values["price_book"] = pricing.price_book_for(currency=currency, segment=quote.account.segment, on=on)
    cleaned = _clean_header(values, account=quote.account, quote=quote)
    lines = list(quote.lines.select_related("product").order_by("position", "id"))
    if "currency" in cleaned and cleaned["currency"] != quote.currency and lines:
        raise ValidationFailed.single("currency", _("The currency can change only while the quote has no lines."),
                                      "has_lines")
    repriced = []
    if "price_book" in cleaned and cleaned["price_book"] != quote.price_book and lines:
        errors = []
        for line in lines:
            if not _follows_book(quote.price_book, line):
                continue
            price = pricing.book_price(cleaned["price_book"], line.product, line.quantity)
            if price is None:
                errors.append(FieldError("price_book", _("Line %(n)d (%(product)s) is not in the price book %(book)s: "
                                                         "remove it or type its list price first.")
                                         % {"n": line.position, "product": line.product.name,
                                            "book": cleaned["price_book"] or "-"}, "product_not_in_book"))
            else:
                line.list_price = price
                repriced.append(line)
        _raise(errors)
    before = audit.snapshot(quote)
    for name, value in cleaned.items():
        setattr(quote, name, value)
    quote.save()
    if repriced:
        QuoteLine.objects.bulk_update(repriced, ["list_price"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=quote, before=before)
    after_prices_changed(quote, actor=actor)
    return quote


def _follows_book(price_book, line: QuoteLine) -> bool:
    """Whether the line's list price is the one the price book gives it (else it was typed)."""
    price = pricing.book_price(price_book, line.product, line.quantity)
    return price is not None and price == line.list_price


# --- lines --------------------------------------------------------------------------------------------

def _clean_line(values: dict, *, line: QuoteLine | None) -> tuple[dict, list[FieldError]]:
    errors: list[FieldError] = []
    out: dict = {}
    if "product" in values:
        value = values["product"]
        pk = getattr(value, "pk", value)
        product = Product.objects.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
        if product is None:
            errors.append(FieldError("product", _("No product with id %(id)s.") % {"id": pk}, "not_found"))
        elif not product.active and (line is None or line.product_id != product.pk):
            errors.append(FieldError("product", _("The product %(product)s is no longer sold (inactive).")
                                     % {"product": product}, "inactive"))
        else:
            out["product"] = product
    if "quantity" in values:
        if values["quantity"] in (None, ""):
            errors.append(FieldError("quantity", _("This field is required."), "required"))
        else:
            value = _decimal(values, "quantity", errors, above=Decimal(0), maximum=MAX_QUANTITY)
            if value is not None:
                out["quantity"] = value
    if "discount_percent" in values:
        if values["discount_percent"] in (None, ""):
            out["discount_percent"] = Decimal("0.0000")
        else:
            value = _decimal(values, "discount_percent", errors, minimum=Decimal(0), maximum=Decimal(100))
            if value is not None:
                out["discount_percent"] = value
    if "list_price" in values:
        if values["list_price"] in (None, ""):
            out["list_price"] = None  # from the price book
        else:
            value = _decimal(values, "list_price", errors, minimum=Decimal(0), maximum=MAX_PRICE)
            if value is not None:
                out["list_price"] = value
    if "description" in values:
        out["description"] = _text(values, "description", errors, limit=MAX_TEXT)
    if "section" in values:
        out["section"] = _text(values, "section", errors)
        errors += check_max_lengths(QuoteLine, {"section": out["section"]})
    if "optional" in values:
        value = _bool(values, "optional", errors)
        if value is not None:
            out["optional"] = value
    for name in ("service_start", "service_end"):
        if name in values:
            out[name] = _date(values, name, errors)
    # combined: the values the line will have
    product = out.get("product", line.product if line is not None else None)
    start = out["service_start"] if "service_start" in out else getattr(line, "service_start", None)
    end = out["service_end"] if "service_end" in out else getattr(line, "service_end", None)
    if not any(e.field in ("service_start", "service_end") for e in errors):
        if start and end and end < start:
            errors.append(FieldError("service_end", _("The service cannot end before it starts (%(date)s).")
                                     % {"date": start.isoformat()}, "before_start"))
        if product is not None and product.kind == ProductKind.SUBSCRIPTION:
            for name, value in (("service_start", start), ("service_end", end)):
                if value is None:
                    errors.append(FieldError(name, _("A subscription (%(product)s) needs service start and end "
                                                     "dates.") % {"product": product.name}, "required"))
    return out, errors


def _book_price_or_error(quote: Quote, product, quantity, errors: list[FieldError]) -> Decimal | None:
    price = pricing.book_price(quote.price_book, product, quantity)
    if price is None:
        if quote.price_book is None:
            message = _("The quote has no price book: type a list price for %(product)s.") % {"product": product.name}
        else:
            message = _("%(product)s is not in the price book %(book)s: type a list price.") % {
                "product": product.name, "book": quote.price_book.name}
        errors.append(FieldError("list_price", message, "not_in_price_book"))
    return price


@transaction.atomic
def line_add(*, actor, quote, product, quantity=1, discount_percent=0, list_price=None, description="", section="",
             optional=False, service_start=None, service_end=None) -> QuoteLine:
    """Add a line at the end. Its list price comes from the quote's price book (tier of the quantity)
    unless `list_price` is given."""
    require_quote_writer(actor)
    quote = lock_quote(quote, actor)
    _require_editable(quote)
    values = dict(product=product, quantity=quantity, discount_percent=discount_percent, list_price=list_price,
                  description=description, section=section, optional=optional, service_start=service_start,
                  service_end=service_end)
    cleaned, errors = _clean_line(values, line=None)
    if cleaned.get("list_price") is None and "product" in cleaned and "quantity" in cleaned \
            and not any(e.field == "list_price" for e in errors):
        cleaned["list_price"] = _book_price_or_error(quote, cleaned["product"], cleaned["quantity"], errors)
    _raise(errors)
    position = (quote.lines.aggregate(m=Max("position"))["m"] or 0) + 1
    line = QuoteLine(quote=quote, position=position, unit=cleaned["product"].unit, **cleaned)
    line.tax_category = cleaned["product"].tax_category
    line.save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=line)
    after_prices_changed(quote, actor=actor)
    line.refresh_from_db()
    return line


def _lock_line(line, actor) -> tuple[Quote, QuoteLine]:
    pk = getattr(line, "pk", line)
    found = QuoteLine.objects.filter(pk=as_id(pk)).values_list("quote_id", flat=True).first() \
        if as_id(pk) is not None else None
    if found is None:
        raise NotFound(_("No quote line with id %(id)s.") % {"id": pk})
    quote = lock_quote(found, actor)
    return quote, QuoteLine.objects.select_related("product").get(pk=as_id(pk))


@transaction.atomic
def line_update(*, actor, line, **values) -> QuoteLine:
    """Change a line. A new quantity or product re-prices a line whose list price came from the price
    book; a typed list price stays until `list_price=None` asks for the book's price again."""
    require_quote_writer(actor)
    _reject_unknown(values, LINE_FIELDS)
    quote, line = _lock_line(line, actor)
    _require_editable(quote)
    cleaned, errors = _clean_line(values, line=line)
    product = cleaned.get("product", line.product)
    quantity = cleaned.get("quantity", line.quantity)
    if "list_price" in cleaned and cleaned["list_price"] is None:
        cleaned["list_price"] = _book_price_or_error(quote, product, quantity, errors)
    elif "list_price" not in cleaned and not errors and (product != line.product or quantity != line.quantity):
        product_changed = product != line.product
        if product_changed or _follows_book(quote.price_book, line):
            price = pricing.book_price(quote.price_book, product, quantity)
            if price is not None:
                cleaned["list_price"] = price
            elif product_changed:
                _book_price_or_error(quote, product, quantity, errors)
    _raise(errors)
    before = audit.snapshot(line)
    for name, value in cleaned.items():
        setattr(line, name, value)
    if "product" in cleaned:
        line.unit = product.unit
    line.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=line, before=before)
    after_prices_changed(quote, actor=actor)
    line.refresh_from_db()
    return line


@transaction.atomic
def line_delete(*, actor, line) -> None:
    require_quote_writer(actor)
    quote, line = _lock_line(line, actor)
    _require_editable(quote)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=line, changes=audit.snapshot(line))
    line.delete()
    after_prices_changed(quote, actor=actor)


@transaction.atomic
def lines_reorder(*, actor, quote, line_ids: list[int]) -> None:
    """Put the lines in the given order (every line of the quote, each once)."""
    require_quote_writer(actor)
    quote = lock_quote(quote, actor)
    _require_editable(quote)
    current = list(quote.lines.order_by("position", "id").values_list("pk", flat=True))
    given = [as_id(i) for i in (line_ids or [])]
    if None in given or len(given) != len(set(given)) or set(given) != set(current):
        raise ValidationFailed.single("line_ids", _("Give every line id of the quote exactly once (%(ids)s).")
                                      % {"ids": ", ".join(str(i) for i in current) or "-"}, "invalid")
    if given == current:
        return
    lines = {line.pk: line for line in quote.lines.all()}
    for position, pk in enumerate(given, start=1):
        lines[pk].position = position
    QuoteLine.objects.bulk_update(list(lines.values()), ["position"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=quote, changes={"line_order": [current, given]})


# --- versions and the primary quote --------------------------------------------------------------------

@transaction.atomic
def quote_new_version(*, actor, quote) -> Quote:
    """A new DRAFT version (same number, version + 1) copying the header and lines; the old version
    becomes SUPERSEDED (read-only; its portal links stop working, its pending approvals are cancelled).
    The new version is dated today and valid as long as the old one was."""
    require_quote_writer(actor)
    old = lock_quote(quote, actor)
    if not can_new_version(old):
        if old.status == QuoteStatus.DRAFT:
            message = _("A draft is edited in place; it needs no new version.")
        else:
            message = edit_refusal(old) or _("No new version can be made of this quote.")
        raise InvalidTransition(message)
    today = timezone.localdate()
    validity = max((old.valid_until - old.quote_date).days, 1)
    lines = list(old.lines.order_by("position", "id"))
    QuoteApproval.objects.filter(quote=old, status=ApprovalStatus.PENDING).update(status=ApprovalStatus.CANCELLED)
    was_primary = old.is_primary
    old.is_primary = False
    set_status(old, QuoteStatus.SUPERSEDED, actor=actor, reason="new version", extra_fields=("is_primary",))
    new = Quote.objects.get(pk=old.pk)
    new.pk = new.id = None
    new._state.adding = True
    new.version = old.version + 1
    new.previous_version = old
    new.status = QuoteStatus.DRAFT
    new.status_changed_at = timezone.now()
    new.is_primary = was_primary
    new.quote_date = today
    new.valid_until = today + dt.timedelta(days=validity)
    new.owner = old.owner
    for name in ("approved_at", "sent_at", "viewed_at", "accepted_at", "declined_at", "sent_pdf"):
        setattr(new, name, None)
    new.approval_fingerprint = new.sent_pdf_sha256 = new.decline_reason = ""
    new.save(force_insert=True)
    for line in lines:
        line.pk = line.id = None
        line._state.adding = True
        line.quote = new
    QuoteLine.objects.bulk_create(lines)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=new)
    after_prices_changed(new, actor=actor)
    events.publish("quote.created", event_payload(new, actor, previous_version_id=old.pk))
    return new


@transaction.atomic
def quote_set_primary(*, actor, quote) -> Quote:
    """Make this the opportunity's primary quote: the opportunity's amount and currency follow it."""
    require_quote_writer(actor)
    quote = lock_quote(quote, actor)
    if quote.status in (QuoteStatus.SUPERSEDED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED):
        raise InvalidTransition(_("A %(status)s quote cannot be the primary one.")
                                % {"status": quote.get_status_display().lower()})
    others = list(Quote.objects.filter(opportunity_id=quote.opportunity_id, is_primary=True).exclude(pk=quote.pk))
    for other in others:
        other.is_primary = False
        other.save(update_fields=["is_primary", "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=other, changes={"is_primary": [True, False]})
    if not quote.is_primary:
        quote.is_primary = True
        quote.save(update_fields=["is_primary", "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=quote, changes={"is_primary": [False, True]})
    _sync_opportunity(actor, quote)
    return quote


# --- the customer's side ---------------------------------------------------------------------------------

@transaction.atomic
def quote_mark_sent(*, actor, quote, pdf: bytes) -> Quote:
    """APPROVED or SENT → SENT, keeping the PDF exactly as sent (the customer signs this) and its SHA-256."""
    from .approvals import blockers

    require_quote_writer(actor)
    quote = lock_quote(quote, actor)
    if quote.status not in (QuoteStatus.APPROVED, QuoteStatus.SENT):
        reasons = blockers(quote)
        raise InvalidTransition(" ".join(reasons) or _("Only an approved quote can be sent."))
    problems = blockers(quote)
    if problems:
        raise InvalidTransition(" ".join(problems))
    if not isinstance(pdf, bytes | bytearray) or not bytes(pdf).startswith(b"%PDF"):
        raise ValidationFailed.single("pdf", _("The document to send is not a PDF."), "invalid")
    now = timezone.now()
    quote.sent_pdf = bytes(pdf)
    quote.sent_pdf_sha256 = hashlib.sha256(bytes(pdf)).hexdigest()
    quote.sent_at = now
    set_status(quote, QuoteStatus.SENT, actor=actor, now=now,
               extra_fields=("sent_at", "sent_pdf", "sent_pdf_sha256"))
    events.publish("quote.sent", event_payload(quote, actor, sent_pdf_sha256=quote.sent_pdf_sha256))
    return quote


@transaction.atomic
def quote_mark_viewed(*, quote) -> Quote:
    """The customer opened the quote in the portal: viewed_at is set the first time only."""
    quote = lock_quote(quote, None)
    if quote.viewed_at is None:
        quote.viewed_at = timezone.now()
        quote.save(update_fields=["viewed_at", "updated_at"])
        audit.record(actor=None, actor_label="customer (portal)", action=audit.Action.UPDATE, instance=quote,
                     changes={"viewed_at": [None, audit.snapshot(quote, fields=["viewed_at"])["viewed_at"]]})
    return quote


def _require_open_for_customer(quote: Quote) -> None:
    if quote.status != QuoteStatus.SENT:
        raise InvalidTransition(_("Only a sent quote can be accepted or declined (it is %(status)s).")
                                % {"status": quote.get_status_display().lower()})
    if quote.valid_until < timezone.localdate():
        raise InvalidTransition(_("The quote expired on %(date)s.") % {"date": quote.valid_until.isoformat()},
                                code="expired")


@transaction.atomic
def quote_mark_accepted(*, quote) -> Quote:
    """SENT → ACCEPTED (called by the contracts app when the customer signs)."""
    quote = lock_quote(quote, None)
    _require_open_for_customer(quote)
    now = timezone.now()
    quote.accepted_at = now
    set_status(quote, QuoteStatus.ACCEPTED, actor=None, now=now, extra_fields=("accepted_at",))
    events.publish("quote.accepted", event_payload(quote))
    return quote


@transaction.atomic
def quote_mark_declined(*, quote, reason: str) -> Quote:
    """SENT → DECLINED with the customer's reason (required)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed.single("reason", _("Tell us why you decline the quote."), "required")
    if len(reason) > MAX_TEXT:
        raise ValidationFailed.single("reason", _("At most %(limit)d characters.") % {"limit": MAX_TEXT}, "max_length")
    quote = lock_quote(quote, None)
    _require_open_for_customer(quote)
    now = timezone.now()
    quote.declined_at = now
    quote.decline_reason = reason
    set_status(quote, QuoteStatus.DECLINED, actor=None, now=now, extra_fields=("declined_at", "decline_reason"))
    events.publish("quote.declined", event_payload(quote, reason=reason))
    return quote


def expire_due_quotes(today: dt.date | None = None) -> int:
    """SENT and APPROVED quotes past their validity date → EXPIRED (the nightly job); returns how many."""
    today = today or timezone.localdate()
    due = list(Quote.objects.filter(status__in=[QuoteStatus.SENT, QuoteStatus.APPROVED], valid_until__lt=today)
               .values_list("pk", flat=True))
    expired = 0
    for pk in due:
        with transaction.atomic():
            quote = Quote.objects.select_for_update().filter(pk=pk).first()
            if quote is None or quote.status not in (QuoteStatus.SENT, QuoteStatus.APPROVED) \
                    or quote.valid_until >= today:
                continue  # changed meanwhile
            set_status(quote, QuoteStatus.EXPIRED, actor=None, reason="validity ended")
            events.publish("quote.expired", event_payload(quote))
            expired += 1
    return expired
