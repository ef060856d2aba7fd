"""Billing writes: invoices from contracts, posting, payments and their allocation, credit notes, write-offs.

Every function runs in one transaction, checks the actor's role (finance or admin; anyone else gets 403),
validates before it writes (a refusal changes nothing), books its journal entry through `ledger.post_entry`
and records an audit event. Postings follow DESIGN.md ("Ledger postings"), in the company currency:

    invoice posted   Dr 1100 AR gross            / Cr 2100 Deferred revenue net (per line), Cr 2200 Tax
    payment          Dr 1000 Bank                / Cr 1100 AR (allocated), Cr 2300 Customer credits (excess)
    credit applied   Dr 2300 Customer credits    / Cr 1100 AR
    credit note      Dr 2100 Deferred revenue, Dr 2200 Tax / Cr 1100 AR
    write-off        Dr 6100 Bad-debt expense    / Cr 1100 AR
    realised FX      the difference between the payment's and the invoice's rate: Cr 7100 gain / Dr 7200 loss

A foreign-currency invoice is converted at its issue date's rate; settling part of it clears that part at the
same rate, and settling the rest clears exactly what is still open on AR for it (`ar_open_base`), so AR per
invoice returns to zero without rounding residue.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.models import CompanyProfile
from l2c.core.money import is_currency_code, round_money
from l2c.core.numbering import next_number
from l2c.core.validation import as_id, raise_if_errors
from l2c.core.visibility import Role

from .models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    WriteOff,
)

BILLING_ROLES = (Role.ADMIN, Role.FINANCE)
MAX_REASON = 2000
MAX_REFERENCE = 200
MAX_AMOUNT = Decimal("1e15")

# Account codes of the chart (ledger migration 0002).
BANK, AR, DEFERRED_REVENUE, TAX_PAYABLE, CUSTOMER_CREDITS = "1000", "1100", "2100", "2200", "2300"
BAD_DEBT, FX_GAIN, FX_LOSS = "6100", "7100", "7200"

# Days from the issue date to the due date, per payment terms (quoting.models.PaymentTerms). Upfront terms
# are due at once: the invoice is the request for the upfront part.
TERM_DAYS = {
    "due_on_receipt": 0, "net_15": 15, "net_30": 30, "net_45": 45, "net_60": 60, "net_90": 90,
    "upfront_50": 0, "upfront_100": 0,
}
OPEN_STATUSES = (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID)


# --- helpers ---------------------------------------------------------------------------------------

def can_bill(user) -> bool:
    """Finance and admin issue invoices, record payments, credit and write off."""
    return bool(user) and (getattr(user, "role", None) in BILLING_ROLES or getattr(user, "is_superuser", False))


def require_billing(actor) -> None:
    if not can_bill(actor):
        raise PermissionDenied(_("Only finance or an admin may do this."))


def _ledger():
    from l2c.ledger import services as ledger  # billing → ledger, along the flow

    return ledger


def company_currency() -> str:
    return CompanyProfile.get().currency


def due_date_for(issue_date: dt.date, payment_terms: str) -> dt.date:
    if payment_terms not in TERM_DAYS:
        raise ValidationFailed.single(
            "payment_terms", _("Unknown payment terms %(terms)r; use one of %(choices)s.")
            % {"terms": payment_terms, "choices": ", ".join(TERM_DAYS)}, "invalid_choice")
    return issue_date + dt.timedelta(days=TERM_DAYS[payment_terms])


def _amount(value, field: str, errors: list[FieldError], *, allow_zero: bool = False) -> Decimal | None:
    """A positive Decimal amount (never a float), or an error naming the field."""
    if isinstance(value, float) or isinstance(value, bool) or value is None:
        errors.append(FieldError(field, _("Give the amount as a decimal number (e.g. \"100.00\")."), "invalid"))
        return None
    try:
        amount = Decimal(str(value))
    except Exception:
        errors.append(FieldError(field, _("%(value)r is not a decimal amount.") % {"value": value}, "invalid"))
        return None
    if not amount.is_finite():
        errors.append(FieldError(field, _("The amount must be a finite number."), "invalid"))
        return None
    if amount < 0 or (amount == 0 and not allow_zero):
        errors.append(FieldError(field, _("The amount must be greater than zero."), "not_positive"))
        return None
    if amount >= MAX_AMOUNT:
        errors.append(FieldError(field, _("The amount is too large."), "too_large"))
        return None
    return amount


def _check_scale(amount: Decimal | None, currency: str, field: str, errors: list[FieldError]) -> None:
    if amount is not None and is_currency_code(currency) and round_money(amount, currency) != amount:
        errors.append(FieldError(field, _("%(currency)s amounts have at most %(places)s decimal places.")
                                 % {"currency": currency, "places": -round_money(0, currency).as_tuple().exponent},
                                 "too_many_decimals"))


def _reason(reason, errors: list[FieldError]) -> str:
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        errors.append(FieldError("reason", _("Give a reason."), "required"))
    elif len(text) > MAX_REASON:
        errors.append(FieldError("reason", _("At most %(n)s characters.") % {"n": MAX_REASON}, "max_length"))
    return text


def _base(amount: Decimal, rate: Decimal, company: str | None = None) -> Decimal:
    """A document-currency amount in the company currency, rounded."""
    return round_money(amount * rate, company or company_currency())


def _relief(invoice: Invoice, amount: Decimal) -> Decimal:
    """The AR (company currency) that settling `amount` of the invoice clears: at the invoice's rate, and
    all that is still open when `amount` settles the whole balance."""
    if amount == invoice.balance:
        return invoice.ar_open_base
    return min(_base(amount, invoice.rate), invoice.ar_open_base)


def _line(code: str, *, debit=Decimal(0), credit=Decimal(0), currency: str, amount: Decimal, rate: Decimal,
          customer=None, description: str = "", company: str | None = None):
    company = company or company_currency()  # stored bases have 4 places; the ledger takes the currency's own
    return _ledger().Line(account=code, debit=round_money(debit, company), credit=round_money(credit, company),
                          currency=currency, amount=amount, rate=rate, customer=customer,
                          description=(description or "")[:300])


def _fx_lines(fx: Decimal, *, customer, description: str) -> list:
    """A realised FX difference in the company currency: + is a gain (credit 7100), − a loss (debit 7200)."""
    if fx == 0:
        return []
    currency = company_currency()
    if fx > 0:
        return [_line(FX_GAIN, credit=fx, currency=currency, amount=fx, rate=Decimal(1), customer=customer,
                      description=description)]
    return [_line(FX_LOSS, debit=-fx, currency=currency, amount=-fx, rate=Decimal(1), customer=customer,
                  description=description)]


def _settled_status(invoice: Invoice) -> str:
    """The status an invoice's amounts call for (after posting)."""
    if invoice.gross_total > 0 and invoice.amount_credited >= invoice.gross_total:
        return InvoiceStatus.VOID
    if invoice.balance == 0:
        if invoice.amount_written_off > 0 and invoice.amount_paid == 0:
            return InvoiceStatus.WRITTEN_OFF
        return InvoiceStatus.PAID
    if invoice.amount_paid > 0:
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.POSTED


_SETTLE_FIELDS = ["amount_paid", "amount_credited", "amount_written_off", "balance", "ar_open_base", "status",
                  "updated_at"]


def _settle(invoice: Invoice, *, actor, paid=Decimal(0), credited=Decimal(0), written_off=Decimal(0),
            relief=Decimal(0), why: str) -> None:
    """Apply a settlement to a locked invoice, save it and audit the change."""
    before = audit.snapshot(invoice, _SETTLE_FIELDS[:-1])
    invoice.amount_paid += paid
    invoice.amount_credited += credited
    invoice.amount_written_off += written_off
    invoice.balance -= paid + credited + written_off
    invoice.ar_open_base -= relief
    old_status = invoice.status
    invoice.status = _settled_status(invoice)
    invoice.save(update_fields=_SETTLE_FIELDS)
    changes = audit.diff(before, audit.snapshot(invoice, _SETTLE_FIELDS[:-1]))
    changes["why"] = [None, why]
    audit.record(actor=actor, action=audit.Action.TRANSITION if old_status != invoice.status else audit.Action.UPDATE,
                 instance=invoice, changes=changes)
    if old_status != invoice.status:
        events.publish("invoice.status_changed", {"invoice_id": invoice.pk, "number": invoice.number,
                                                  "from_status": old_status, "to_status": invoice.status})


def _lock_invoice(invoice) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice.pk if isinstance(invoice, Invoice) else invoice)


def _check_open(invoice: Invoice, field: str, errors: list[FieldError]) -> bool:
    if invoice.status == InvoiceStatus.VOID:
        errors.append(FieldError(field, _("Invoice %(n)s is void.") % {"n": invoice}, "invoice_void"))
        return False
    if invoice.status == InvoiceStatus.DRAFT:
        errors.append(FieldError(field, _("Invoice %(n)s is not posted yet.") % {"n": invoice}, "invoice_not_posted"))
        return False
    if invoice.status not in OPEN_STATUSES:
        errors.append(FieldError(field, _("Invoice %(n)s has nothing left to settle (%(status)s).")
                                 % {"n": invoice, "status": invoice.get_status_display()}, "invoice_closed"))
        return False
    return True


# --- invoices --------------------------------------------------------------------------------------

def invoiced_quantities(contract) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    """{contract line id: (quantity, net, tax)} already on invoices that are not void."""
    rows = (InvoiceLine.objects.filter(contract_line__contract=contract)
            .exclude(invoice__status=InvoiceStatus.VOID)
            .values("contract_line_id")
            .annotate(q=Sum("quantity"), net=Sum("net_amount"), tax=Sum("tax_amount")))
    return {r["contract_line_id"]: (r["q"] or Decimal(0), r["net"] or Decimal(0), r["tax"] or Decimal(0))
            for r in rows}


def uninvoiced_lines(contract) -> list[tuple]:
    """[(contract line, quantity not yet invoiced)] for the lines with something left to invoice."""
    done = invoiced_quantities(contract)
    result = []
    for line in contract.lines.select_related("product").order_by("position", "id"):
        left = line.quantity - done.get(line.pk, (Decimal(0),))[0]
        if left > 0:
            result.append((line, left))
    return result


def _requested_lines(contract, lines, errors: list[FieldError]) -> list[tuple]:
    """Normalise `lines` ([(contract line or id, quantity)] or {id: quantity}) to [(line, quantity)]."""
    by_id = {line.pk: line for line in contract.lines.select_related("product")}
    items = list(lines.items()) if isinstance(lines, dict) else list(lines)
    if not items:
        errors.append(FieldError("lines", _("Choose at least one line to invoice."), "required"))
        return []
    left = dict((line.pk, q) for line, q in uninvoiced_lines(contract))
    wanted: dict[int, Decimal] = defaultdict(Decimal)
    result = []
    for index, item in enumerate(items):
        try:
            ref, quantity = item
        except (TypeError, ValueError):
            errors.append(FieldError(f"lines.{index}", _("Give a contract line and a quantity."), "invalid"))
            continue
        line_id = ref.pk if hasattr(ref, "pk") else as_id(ref)
        line = by_id.get(line_id)
        if line is None:
            errors.append(FieldError(f"lines.{index}.contract_line",
                                     _("Contract %(c)s has no line %(id)s.") % {"c": contract, "id": ref}, "not_found"))
            continue
        qty = _amount(quantity, f"lines.{index}.quantity", errors)
        if qty is None:
            continue
        wanted[line.pk] += qty
        if wanted[line.pk] > left.get(line.pk, Decimal(0)):
            errors.append(FieldError(
                f"lines.{index}.quantity",
                _("Only %(left)s of line %(pos)s (%(product)s) is left to invoice.")
                % {"left": left.get(line.pk, Decimal(0)).normalize(), "pos": line.position, "product": line.product.name},
                "exceeds_uninvoiced"))
            continue
        result.append((line, qty))
    return result


@transaction.atomic
def invoice_create_from_contract(*, actor, contract, lines=None, issue_date: dt.date | None = None,
                                 notes: str = "") -> Invoice:
    """A draft invoice for what is not yet invoiced on `contract` (all of it, or the given line quantities)."""
    require_billing(actor)
    from l2c.contracts.models import Contract

    contract = Contract.objects.select_for_update().get(pk=contract.pk)  # one invoicing of a contract at a time
    issue_date = issue_date or timezone.localdate()
    errors: list[FieldError] = []
    if not isinstance(issue_date, dt.date):
        errors.append(FieldError("issue_date", _("Give a date."), "invalid"))
    if lines is None:
        chosen = uninvoiced_lines(contract)
        if not chosen:
            errors.append(FieldError("lines", _("Everything on contract %(c)s is invoiced already.")
                                     % {"c": contract}, "nothing_to_invoice"))
    else:
        chosen = _requested_lines(contract, lines, errors)
    due_date = None
    if not errors:
        try:
            due_date = due_date_for(issue_date, contract.payment_terms)
        except ValidationFailed as exc:
            errors += exc.errors
    raise_if_errors(errors)

    done = invoiced_quantities(contract)
    currency = contract.currency
    invoice = Invoice.objects.create(
        account=contract.account, contract=contract, currency=currency, issue_date=issue_date, due_date=due_date,
        payment_terms=contract.payment_terms, notes=notes or "",
    )
    net_total = tax_total = Decimal(0)
    for position, (cline, qty) in enumerate(chosen, start=1):
        q_done, net_done, tax_done = done.get(cline.pk, (Decimal(0), Decimal(0), Decimal(0)))
        if q_done + qty == cline.quantity:  # the last part takes what is left, so the parts add up exactly
            net, tax = cline.net_amount - net_done, cline.tax_amount - tax_done
        else:
            net = round_money(cline.net_amount * qty / cline.quantity, currency)
            tax = round_money(cline.tax_amount * qty / cline.quantity, currency)
        InvoiceLine.objects.create(
            invoice=invoice, contract_line=cline, product=cline.product, position=position,
            description=cline.description or cline.product.name, quantity=qty, unit_price=cline.unit_price,
            net_amount=net, tax_rate=cline.tax_rate, tax_amount=tax, gross_amount=net + tax,
            service_start=cline.service_start, service_end=cline.service_end,
        )
        net_total += net
        tax_total += tax
    invoice.net_total, invoice.tax_total, invoice.gross_total = net_total, tax_total, net_total + tax_total
    invoice.balance = invoice.gross_total
    invoice.save(update_fields=["net_total", "tax_total", "gross_total", "balance", "updated_at"])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=invoice)
    return invoice


def invoice_lines_for_posting(invoice: Invoice, rate: Decimal, *, lines=None,
                              company: str | None = None) -> tuple[Decimal, list]:
    """(AR in company currency, ledger lines) of an invoice's posting; the conversion's rounding difference
    goes to the largest line so the entry balances. A bulk caller passes the invoice lines it holds and
    the company currency."""
    company = company or company_currency()
    gross_base = _base(invoice.gross_total, rate, company)
    lines = list(invoice.lines.order_by("position", "id")) if lines is None else lines
    credits = []  # [account, base, amount, description]
    for line in lines:
        if line.net_amount:
            credits.append([DEFERRED_REVENUE, _base(line.net_amount, rate, company), line.net_amount,
                            line.description])
    if invoice.tax_total:
        credits.append([TAX_PAYABLE, _base(invoice.tax_total, rate, company), invoice.tax_total, _("Tax")])
    difference = gross_base - sum((c[1] for c in credits), Decimal(0))
    if difference and credits:
        largest = max(credits, key=lambda c: c[2])
        largest[1] += difference
    label = invoice.number or ""
    entry_lines = [_line(AR, debit=gross_base, currency=invoice.currency, amount=invoice.gross_total, rate=rate,
                         customer=invoice.account_id, description=label, company=company)]
    for code, base, amount, description in credits:
        if base:
            entry_lines.append(_line(code, credit=base, currency=invoice.currency, amount=amount, rate=rate,
                                     customer=invoice.account_id, description=description, company=company))
    return gross_base, entry_lines


@transaction.atomic
def invoice_post(*, actor, invoice: Invoice, why: str = "") -> Invoice:
    """Number the draft (gapless INV series of its issue year, inside this transaction) and book it.
    `actor` None is the system (the scheduled billing run, which checks its own caller); `why` goes into
    the audit event."""
    if actor is not None:
        require_billing(actor)
    invoice = _lock_invoice(invoice)
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvalidTransition(_("Invoice %(n)s is posted already.") % {"n": invoice})
    if invoice.gross_total <= 0:
        raise ValidationFailed.single("lines", _("An invoice must have a total above zero."), "empty_invoice")
    ledger = _ledger()
    rate = Decimal(ledger.rate_for(invoice.currency, invoice.issue_date))
    invoice.number = next_number("INV", invoice.issue_date.year)
    gross_base, lines = invoice_lines_for_posting(invoice, rate)
    entry = ledger.post_entry(
        actor=actor, date=invoice.issue_date, journal="sales", memo=_("Invoice %(n)s") % {"n": invoice.number},
        lines=lines, source_type="billing.invoice", source_id=invoice.pk, source_label=invoice.number,
    )
    invoice.status = InvoiceStatus.POSTED
    invoice.rate = rate
    invoice.ar_base = invoice.ar_open_base = gross_base
    invoice.balance = invoice.gross_total
    invoice.journal_entry = entry
    invoice.posted_at = timezone.now()
    invoice.posted_by = actor
    invoice.save(update_fields=["number", "status", "rate", "ar_base", "ar_open_base", "balance", "journal_entry",
                                "posted_at", "posted_by", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=invoice, changes={
        "status": [InvoiceStatus.DRAFT, InvoiceStatus.POSTED], "number": [None, invoice.number],
        "journal_entry": [None, entry.pk], **({"why": [None, why]} if why else {})})
    publish_posted(invoice)
    return invoice


def publish_posted(invoice: Invoice) -> None:
    events.publish("invoice.posted", {"invoice_id": invoice.pk, "number": invoice.number,
                                      "account_id": invoice.account_id, "currency": invoice.currency,
                                      "gross_total": str(invoice.gross_total), "due_date": invoice.due_date.isoformat()})


@transaction.atomic
def invoice_delete_draft(*, actor, invoice: Invoice) -> None:
    """Drop a draft (its contract quantities become invoiceable again). Posted invoices are credited instead."""
    require_billing(actor)
    invoice = _lock_invoice(invoice)
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvalidTransition(_("Only a draft can be deleted; credit a posted invoice instead."))
    audit.record(actor=actor, action=audit.Action.DELETE, instance=invoice, changes={})
    invoice.delete()


# --- payments --------------------------------------------------------------------------------------

def _allocation_errors(*, account, currency: str, allocations, errors: list[FieldError]) -> list[tuple]:
    """Validate [(invoice, amount)] against the (locked) invoices; returns [(invoice, amount)]."""
    result = []
    per_invoice: dict[int, Decimal] = defaultdict(Decimal)
    for index, item in enumerate(allocations):
        field = f"allocations.{index}"
        try:
            invoice, amount = item
        except (TypeError, ValueError):
            errors.append(FieldError(field, _("Give an invoice and an amount."), "invalid"))
            continue
        amount = _amount(amount, f"{field}.amount", errors)
        _check_scale(amount, currency, f"{field}.amount", errors)
        if amount is None:
            continue
        if not _check_open(invoice, f"{field}.invoice", errors):
            continue
        if account is not None and invoice.account_id != account.pk:
            errors.append(FieldError(f"{field}.invoice", _("Invoice %(n)s belongs to another customer.")
                                     % {"n": invoice}, "other_customer"))
            continue
        if invoice.currency != currency:
            errors.append(FieldError(f"{field}.invoice", _("Invoice %(n)s is in %(inv)s, the payment in %(pay)s.")
                                     % {"n": invoice, "inv": invoice.currency, "pay": currency}, "currency_mismatch"))
            continue
        per_invoice[invoice.pk] += amount
        if per_invoice[invoice.pk] > invoice.balance:
            errors.append(FieldError(f"{field}.amount", _("Invoice %(n)s has a balance of %(b)s %(c)s only.")
                                     % {"n": invoice, "b": invoice.balance.normalize(), "c": invoice.currency},
                                     "exceeds_balance"))
            continue
        result.append((invoice, amount))
    return result


def _lock_invoices(allocations) -> dict[int, Invoice]:
    ids = sorted({(inv.pk if isinstance(inv, Invoice) else as_id(inv)) for inv, _amt in _pairs(allocations)} - {None})
    return {inv.pk: inv for inv in Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def _pairs(allocations):
    for item in allocations:
        try:
            invoice, amount = item
        except (TypeError, ValueError):
            continue
        yield invoice, amount


@transaction.atomic
def payment_record(*, actor, account, date: dt.date, method: str, currency: str, amount, reference: str = "",
                   allocations=()) -> Payment:
    """Record money received and apply it to invoices; what is not applied stays as the customer's credit."""
    require_billing(actor)
    errors: list[FieldError] = []
    if account is None:
        errors.append(FieldError("account", _("Choose the paying customer."), "required"))
    if not isinstance(date, dt.date):
        errors.append(FieldError("date", _("Give a date."), "invalid"))
    if method not in PaymentMethod.values:
        errors.append(FieldError("method", _("Choose one of %(s)s.") % {"s": ", ".join(PaymentMethod.values)},
                                 "invalid_choice"))
    if not is_currency_code(currency):
        errors.append(FieldError("currency", _("Give an ISO 4217 currency code such as EUR."), "invalid_currency"))
    amount = _amount(amount, "amount", errors)
    _check_scale(amount, currency, "amount", errors)
    reference = (reference or "").strip()
    if len(reference) > MAX_REFERENCE:
        errors.append(FieldError("reference", _("At most %(n)s characters.") % {"n": MAX_REFERENCE}, "max_length"))
    allocations = list(allocations or ())
    locked = _lock_invoices(allocations)
    pairs = []
    for index, item in enumerate(allocations):
        try:
            invoice, value = item
        except (TypeError, ValueError):
            pairs.append(item)
            continue
        found = locked.get(invoice.pk if isinstance(invoice, Invoice) else as_id(invoice))
        if found is None:
            errors.append(FieldError(f"allocations.{index}.invoice", _("No such invoice."), "not_found"))
            continue
        pairs.append((found, value))
    applied = _allocation_errors(account=account, currency=currency, allocations=pairs, errors=errors)
    total = sum((a for _inv, a in applied), Decimal(0))
    if amount is not None and total > amount:
        errors.append(FieldError("allocations", _("The allocations (%(t)s) exceed the payment (%(a)s).")
                                 % {"t": total.normalize(), "a": amount.normalize()}, "exceeds_payment"))
    raise_if_errors(errors)

    ledger = _ledger()
    rate = Decimal(ledger.rate_for(currency, date))
    amount_base = _base(amount, rate)
    payment = Payment.objects.create(
        number=next_number("PAY", date.year), account=account, date=date, method=method, currency=currency,
        amount=amount, reference=reference, unapplied_amount=amount - total, rate=rate, amount_base=amount_base,
        unapplied_base=Decimal(0), created_by=actor,
    )
    lines = [_line(BANK, debit=amount_base, currency=currency, amount=amount, rate=rate, customer=account,
                   description=payment.number)]
    plan = []  # (invoice, amount, relief, fx)
    used_base = Decimal(0)
    for index, (invoice, value) in enumerate(applied):
        last_and_exact = index == len(applied) - 1 and total == amount
        at_payment_rate = amount_base - used_base if last_and_exact else _base(value, rate)
        used_base += at_payment_rate
        relief = _relief(invoice, value)
        fx = at_payment_rate - relief
        plan.append((invoice, value, relief, fx))
        if relief:
            lines.append(_line(AR, credit=relief, currency=currency, amount=value, rate=invoice.rate,
                               customer=account, description=invoice.number))
        lines += _fx_lines(fx, customer=account, description=invoice.number)
    unapplied_base = amount_base - used_base
    if unapplied_base:
        lines.append(_line(CUSTOMER_CREDITS, credit=unapplied_base, currency=currency, amount=amount - total,
                           rate=rate, customer=account, description=_("Unapplied %(n)s") % {"n": payment.number}))
    entry = ledger.post_entry(
        actor=actor, date=date, journal="cash", memo=_("Payment %(n)s") % {"n": payment.number}, lines=lines,
        source_type="billing.payment", source_id=payment.pk, source_label=payment.number,
    )
    payment.journal_entry = entry
    payment.unapplied_base = unapplied_base
    payment.save(update_fields=["journal_entry", "unapplied_base", "updated_at"])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=payment)
    for invoice, value, relief, fx in plan:
        PaymentAllocation.objects.create(payment=payment, invoice=invoice, date=date, amount=value, ar_base=relief,
                                         fx_base=fx, journal_entry=entry, created_by=actor)
        _settle(invoice, actor=actor, paid=value, relief=relief, why=_("Payment %(n)s") % {"n": payment.number})
    events.publish("payment.recorded", {"payment_id": payment.pk, "number": payment.number,
                                        "account_id": account.pk, "currency": currency, "amount": str(amount),
                                        "unapplied_amount": str(payment.unapplied_amount)})
    return payment


@transaction.atomic
def payment_allocate(*, actor, payment: Payment, invoice: Invoice, amount, date: dt.date | None = None
                     ) -> PaymentAllocation:
    """Apply a payment's unapplied amount (the customer's credit) to an invoice of the same customer."""
    require_billing(actor)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    invoice = _lock_invoice(invoice)
    date = date or max(timezone.localdate(), payment.date)
    errors: list[FieldError] = []
    if not isinstance(date, dt.date):
        errors.append(FieldError("date", _("Give a date."), "invalid"))
    elif date < payment.date:
        errors.append(FieldError("date", _("The credit is applied on or after the payment's date (%(d)s).")
                                 % {"d": payment.date}, "before_payment"))
    value = _amount(amount, "amount", errors)
    if value is not None and value > payment.unapplied_amount:
        errors.append(FieldError("amount", _("Payment %(n)s has only %(u)s %(c)s unapplied.")
                                 % {"n": payment, "u": payment.unapplied_amount.normalize(), "c": payment.currency},
                                 "exceeds_unapplied"))
        value = None
    if value is not None:
        applied = _allocation_errors(account=payment.account, currency=payment.currency, allocations=[(invoice, value)],
                                     errors=errors)
        errors = [FieldError(e.field.replace("allocations.0.", ""), e.message, e.code) for e in errors]
        if not applied:
            value = None
    raise_if_errors(errors)

    used_base = payment.unapplied_base if value == payment.unapplied_amount else _base(value, payment.rate)
    relief = _relief(invoice, value)
    fx = used_base - relief
    customer = payment.account
    lines = []
    if used_base:
        lines.append(_line(CUSTOMER_CREDITS, debit=used_base, currency=payment.currency, amount=value, rate=payment.rate,
                           customer=customer, description=payment.number))
    if relief:
        lines.append(_line(AR, credit=relief, currency=payment.currency, amount=value, rate=invoice.rate,
                           customer=customer, description=invoice.number))
    lines += _fx_lines(fx, customer=customer, description=invoice.number)
    entry = None
    if lines:
        entry = _ledger().post_entry(
            actor=actor, date=date, journal="general",
            memo=_("Credit of %(p)s applied to %(i)s") % {"p": payment.number, "i": invoice.number}, lines=lines,
            source_type="billing.payment", source_id=payment.pk, source_label=payment.number,
        )
    before = audit.snapshot(payment, ["unapplied_amount", "unapplied_base"])
    payment.unapplied_amount -= value
    payment.unapplied_base -= used_base
    payment.save(update_fields=["unapplied_amount", "unapplied_base", "updated_at"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=payment, before=before)
    allocation = PaymentAllocation.objects.create(payment=payment, invoice=invoice, date=date, amount=value,
                                                  ar_base=relief, fx_base=fx, journal_entry=entry, created_by=actor)
    _settle(invoice, actor=actor, paid=value, relief=relief,
            why=_("Credit of %(n)s applied") % {"n": payment.number})
    return allocation


# --- credit notes ----------------------------------------------------------------------------------

def credited_per_line(invoice: Invoice) -> dict[int, tuple[Decimal, Decimal, Decimal, Decimal]]:
    """{invoice line id: (quantity, net, tax, gross)} taken back by posted credit notes."""
    rows = (CreditNoteLine.objects.filter(invoice_line__invoice=invoice, credit_note__status=CreditNoteStatus.POSTED)
            .values("invoice_line_id")
            .annotate(q=Sum("quantity"), net=Sum("net_amount"), tax=Sum("tax_amount"), gross=Sum("gross_amount")))
    zero = Decimal(0)
    return {r["invoice_line_id"]: (r["q"] or zero, r["net"] or zero, r["tax"] or zero, r["gross"] or zero)
            for r in rows}


def _credit_lines_by_quantity(invoice: Invoice, lines, errors: list[FieldError]) -> list[dict]:
    by_id = {line.pk: line for line in invoice.lines.all()}
    done = credited_per_line(invoice)
    items = list(lines.items()) if isinstance(lines, dict) else list(lines)
    if not items:
        errors.append(FieldError("lines", _("Choose at least one line to credit."), "required"))
    result = []
    for index, item in enumerate(items):
        try:
            ref, quantity = item
        except (TypeError, ValueError):
            errors.append(FieldError(f"lines.{index}", _("Give an invoice line and a quantity."), "invalid"))
            continue
        line = by_id.get(ref.pk if hasattr(ref, "pk") else as_id(ref))
        if line is None:
            errors.append(FieldError(f"lines.{index}.invoice_line", _("Invoice %(n)s has no line %(id)s.")
                                     % {"n": invoice, "id": ref}, "not_found"))
            continue
        qty = _amount(quantity, f"lines.{index}.quantity", errors)
        if qty is None:
            continue
        q_done, net_done, tax_done, gross_done = done.get(line.pk, (Decimal(0),) * 4)
        left_gross = line.gross_amount - gross_done
        if gross_done and q_done == 0:  # credited by amount before: only an amount credit may take the rest
            left_q = Decimal(0)
        else:
            left_q = line.quantity - q_done
        if qty > left_q:
            errors.append(FieldError(f"lines.{index}.quantity", _("Only %(q)s of this line can still be credited.")
                                     % {"q": left_q.normalize()}, "exceeds_invoiced"))
            continue
        if qty == left_q:
            net, tax = line.net_amount - net_done, line.tax_amount - tax_done
        else:
            net = round_money(line.net_amount * qty / line.quantity, invoice.currency)
            tax = round_money(line.tax_amount * qty / line.quantity, invoice.currency)
        if net + tax > left_gross:
            net, tax = line.net_amount - net_done, line.tax_amount - tax_done
        result.append({"invoice_line": line, "quantity": qty, "net_amount": net, "tax_amount": tax,
                       "gross_amount": net + tax, "description": line.description})
    return result


def _credit_lines_by_amount(invoice: Invoice, gross: Decimal) -> list[dict]:
    """Spread a gross amount over the invoice's lines by what is left of each; tax in each line's proportion."""
    done = credited_per_line(invoice)
    remaining = []
    for line in invoice.lines.order_by("position", "id"):
        _q, net_done, tax_done, gross_done = done.get(line.pk, (Decimal(0),) * 4)
        left = line.gross_amount - gross_done
        if left > 0:
            remaining.append((line, left, line.tax_amount - tax_done))
    total_left = sum((left for _line_, left, _t in remaining), Decimal(0))
    if total_left <= 0:
        return []
    parts = []
    for line, left, tax_left in remaining:
        part = round_money(gross * left / total_left, invoice.currency)
        parts.append([line, min(part, left), left, tax_left])
    difference = gross - sum((p[1] for p in parts), Decimal(0))
    if difference:
        largest = max(parts, key=lambda p: p[2] - p[1])
        largest[1] += difference
    result = []
    for line, part, left, tax_left in parts:
        if part <= 0:
            continue
        tax = tax_left if part == left else round_money(part * tax_left / left, invoice.currency)
        result.append({"invoice_line": line, "quantity": None, "net_amount": part - tax, "tax_amount": tax,
                       "gross_amount": part, "description": line.description})
    return result


@transaction.atomic
def credit_note_create(*, actor, invoice: Invoice, reason: str, lines=None, amount=None,
                       issue_date: dt.date | None = None) -> CreditNote:
    """A draft credit note for a posted invoice: given line quantities, or a gross amount spread over the lines."""
    require_billing(actor)
    invoice = _lock_invoice(invoice)
    issue_date = issue_date or max(timezone.localdate(), invoice.issue_date)
    errors: list[FieldError] = []
    reason = _reason(reason, errors)
    _check_open(invoice, "invoice", errors)
    if not isinstance(issue_date, dt.date):
        errors.append(FieldError("issue_date", _("Give a date."), "invalid"))
    elif issue_date < invoice.issue_date:
        errors.append(FieldError("issue_date", _("A credit note cannot be dated before its invoice (%(d)s).")
                                 % {"d": invoice.issue_date}, "before_invoice"))
    if (lines is None) == (amount is None):
        errors.append(FieldError("lines", _("Give either lines with quantities or an amount."), "lines_or_amount"))
    raise_if_errors(errors)
    if lines is not None:
        parts = _credit_lines_by_quantity(invoice, lines, errors)
    else:
        value = _amount(amount, "amount", errors)
        _check_scale(value, invoice.currency, "amount", errors)
        parts = []
        if value is not None:
            if value > invoice.balance:
                errors.append(FieldError("amount", _("Invoice %(n)s has a balance of %(b)s %(c)s only.")
                                         % {"n": invoice, "b": invoice.balance.normalize(), "c": invoice.currency},
                                         "exceeds_balance"))
            else:
                parts = _credit_lines_by_amount(invoice, value)
    gross = sum((p["gross_amount"] for p in parts), Decimal(0))
    if not errors and gross > invoice.balance:
        errors.append(FieldError("lines", _("The credit (%(g)s) exceeds the invoice's balance (%(b)s); "
                                            "refunds of paid amounts are not supported.")
                                 % {"g": gross.normalize(), "b": invoice.balance.normalize()}, "exceeds_balance"))
    if not errors and gross <= 0:
        errors.append(FieldError("lines", _("The credit must be above zero."), "empty_credit"))
    raise_if_errors(errors)
    note = CreditNote.objects.create(
        invoice=invoice, account=invoice.account, currency=invoice.currency, issue_date=issue_date, reason=reason,
        net_total=sum((p["net_amount"] for p in parts), Decimal(0)),
        tax_total=sum((p["tax_amount"] for p in parts), Decimal(0)), gross_total=gross, created_by=actor,
    )
    CreditNoteLine.objects.bulk_create([CreditNoteLine(credit_note=note, **p) for p in parts])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=note)
    return note


@transaction.atomic
def credit_note_post(*, actor, credit_note: CreditNote) -> CreditNote:
    """Number (CN series) and book a draft credit note; an invoice credited in full becomes void."""
    require_billing(actor)
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if note.status != CreditNoteStatus.DRAFT:
        raise InvalidTransition(_("Credit note %(n)s is posted already.") % {"n": note})
    invoice = _lock_invoice(note.invoice_id)
    errors: list[FieldError] = []
    _check_open(invoice, "invoice", errors)
    if not errors and note.gross_total > invoice.balance:
        errors.append(FieldError("gross_total", _("The credit (%(g)s) exceeds the invoice's balance (%(b)s).")
                                 % {"g": note.gross_total.normalize(), "b": invoice.balance.normalize()},
                                 "exceeds_balance"))
    done = credited_per_line(invoice)
    for cline in note.lines.select_related("invoice_line"):
        line = cline.invoice_line
        if line.gross_amount - done.get(line.pk, (Decimal(0),) * 4)[3] < cline.gross_amount:
            errors.append(FieldError("lines", _("Line %(pos)s was credited by another credit note meanwhile.")
                                     % {"pos": line.position}, "exceeds_invoiced"))
            break
    raise_if_errors(errors)
    rate = invoice.rate  # the credit reverses the invoice's booking, at the invoice's rate
    relief = _relief(invoice, note.gross_total)
    tax_base = min(_base(note.tax_total, rate), relief)
    net_base = relief - tax_base
    note.number = next_number("CN", note.issue_date.year)
    lines = []
    if net_base:
        lines.append(_line(DEFERRED_REVENUE, debit=net_base, currency=note.currency, amount=note.net_total, rate=rate,
                           customer=note.account, description=note.number))
    if tax_base:
        lines.append(_line(TAX_PAYABLE, debit=tax_base, currency=note.currency, amount=note.tax_total, rate=rate,
                           customer=note.account, description=note.number))
    if relief:
        lines.append(_line(AR, credit=relief, currency=note.currency, amount=note.gross_total, rate=rate,
                           customer=note.account, description=invoice.number))
    entry = None
    if lines:
        entry = _ledger().post_entry(
            actor=actor, date=note.issue_date, journal="sales",
            memo=_("Credit note %(n)s for %(i)s") % {"n": note.number, "i": invoice.number}, lines=lines,
            source_type="billing.credit_note", source_id=note.pk, source_label=note.number,
        )
    note.status = CreditNoteStatus.POSTED
    note.rate = rate
    note.journal_entry = entry
    note.posted_at = timezone.now()
    note.save(update_fields=["number", "status", "rate", "journal_entry", "posted_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=note, changes={
        "status": [CreditNoteStatus.DRAFT, CreditNoteStatus.POSTED], "number": [None, note.number]})
    _settle(invoice, actor=actor, credited=note.gross_total, relief=relief,
            why=_("Credit note %(n)s") % {"n": note.number})
    events.publish("credit_note.posted", {"credit_note_id": note.pk, "number": note.number, "invoice_id": invoice.pk,
                                          "gross_total": str(note.gross_total), "currency": note.currency})
    return note


# --- write-offs ------------------------------------------------------------------------------------

@transaction.atomic
def write_off(*, actor, invoice: Invoice, amount, reason: str, date: dt.date | None = None) -> WriteOff:
    """Write off (part of) an invoice's balance as bad debt."""
    require_billing(actor)
    invoice = _lock_invoice(invoice)
    date = date or max(timezone.localdate(), invoice.issue_date)
    errors: list[FieldError] = []
    reason = _reason(reason, errors)
    value = _amount(amount, "amount", errors)
    _check_scale(value, invoice.currency, "amount", errors)
    if _check_open(invoice, "invoice", errors) and value is not None and value > invoice.balance:
        errors.append(FieldError("amount", _("Invoice %(n)s has a balance of %(b)s %(c)s only.")
                                 % {"n": invoice, "b": invoice.balance.normalize(), "c": invoice.currency},
                                 "exceeds_balance"))
    if isinstance(date, dt.date) and date < invoice.issue_date:
        errors.append(FieldError("date", _("A write-off cannot be dated before its invoice (%(d)s).")
                                 % {"d": invoice.issue_date}, "before_invoice"))
    raise_if_errors(errors)
    relief = _relief(invoice, value)
    record = WriteOff.objects.create(invoice=invoice, date=date, amount=value, ar_base=relief, reason=reason,
                                     created_by=actor)
    if relief:
        lines = [
            _line(BAD_DEBT, debit=relief, currency=invoice.currency, amount=value, rate=invoice.rate,
                  customer=invoice.account, description=invoice.number),
            _line(AR, credit=relief, currency=invoice.currency, amount=value, rate=invoice.rate,
                  customer=invoice.account, description=invoice.number),
        ]
        record.journal_entry = _ledger().post_entry(
            actor=actor, date=date, journal="general", memo=_("Write-off of %(n)s") % {"n": invoice.number},
            lines=lines, source_type="billing.write_off", source_id=record.pk, source_label=invoice.number,
        )
        record.save(update_fields=["journal_entry"])
    audit.record(actor=actor, action=audit.Action.CREATE, instance=record)
    _settle(invoice, actor=actor, written_off=value, relief=relief, why=_("Write-off"))
    return record
