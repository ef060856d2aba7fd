"""Reversing a payment: money recorded in error, or a payment that bounced.

`payment_reverse` undoes everything `payment_record` did, in one transaction:

    invoices      each allocation's amount goes back on its invoice (amount_paid, balance, ar_open_base) and the
                  status follows (paid → partially_paid or posted)
    ledger        the payment's entry (Dr 1000 Bank / Cr 1100 AR, Cr 2300 customer credits, realised FX on
                  7100/7200) is reversed by its mirror through `ledger.reverse_entry`, linked both ways
    payment       marked reversed (date, who, why, the reversing entry); its unapplied credit drops to zero,
                  so it can no longer be applied to an invoice

Refused (nothing changes): a second reversal; no reason; a date before the payment or in a locked period
(the ledger's message); an allocated invoice that is void or written off since; customer credit from this
payment that was already applied to an invoice later (`payment_allocate`): reverse that application's
invoice first by other means, the error names the invoices.
"""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, InvalidTransition
from l2c.core.validation import raise_if_errors

from .models import Invoice, InvoiceStatus, Payment
from .services import _ledger, _reason, _settle, require_billing

REVERSED_FIELDS = ["reversed_at", "reversal_date", "reversed_by", "reversal_reason", "reversal_entry",
                   "unapplied_amount", "unapplied_base"]
CLOSED_FOR_PAYMENT = (InvoiceStatus.VOID, InvoiceStatus.WRITTEN_OFF)


def can_reverse(user, payment: Payment) -> bool:
    """For the UI: finance/admin, and the payment is not reversed yet."""
    from .services import can_bill

    return can_bill(user) and not payment.is_reversed


def _already_reversed(payment: Payment) -> InvalidTransition:
    return InvalidTransition(
        _("Payment %(n)s was already reversed on %(d)s by %(who)s.")
        % {"n": payment.number, "d": payment.reversal_date, "who": payment.reversed_by or _("the system")},
        code="already_reversed")


@transaction.atomic
def payment_reverse(*, actor, payment: Payment, reason: str, date: dt.date | None = None) -> Payment:
    """Reverse a payment and every allocation it made on receipt; see the module docstring."""
    require_billing(actor)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.is_reversed:
        raise _already_reversed(payment)
    errors: list[FieldError] = []
    reason = _reason(reason, errors)
    if date is None:
        date = max(timezone.localdate(), payment.date)
    if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
        errors.append(FieldError("date", _("Give a date (YYYY-MM-DD)."), "invalid"))
    elif date < payment.date:
        errors.append(FieldError("date", _("A reversal cannot be dated before its payment (%(d)s).")
                                 % {"d": payment.date}, "before_payment"))

    allocations = list(payment.allocations.order_by("id"))
    # invoices locked in id order, like payment_record locks them, so two writers cannot deadlock
    invoices = {inv.pk: inv for inv in Invoice.objects.select_for_update()
                .filter(pk__in={a.invoice_id for a in allocations}).order_by("pk")}
    on_receipt = [a for a in allocations if a.journal_entry_id == payment.journal_entry_id]
    from_credit = [a for a in allocations if a.journal_entry_id != payment.journal_entry_id]
    if from_credit:
        errors.append(FieldError("payment", _(
            "%(amount)s %(c)s of payment %(n)s's credit was already applied to %(invoices)s; that application "
            "cannot be undone by reversing the payment.")
            % {"amount": sum(a.amount for a in from_credit).normalize(), "c": payment.currency, "n": payment.number,
               "invoices": ", ".join(f"{invoices[a.invoice_id]} ({a.amount.normalize()} {payment.currency}, {a.date})"
                                     for a in from_credit)}, "credit_applied"))
    for allocation in on_receipt:
        invoice = invoices[allocation.invoice_id]
        if invoice.status in CLOSED_FOR_PAYMENT:
            errors.append(FieldError("payment", _(
                "Invoice %(i)s is %(status)s: the %(amount)s %(c)s payment %(n)s applied to it cannot be put back "
                "on it.") % {"i": invoice, "status": invoice.get_status_display().lower(),
                             "amount": allocation.amount.normalize(), "c": payment.currency, "n": payment.number},
                "invoice_closed"))
    raise_if_errors(errors)

    # The ledger first: a locked period refuses here with the ledger's own message, before anything changed.
    reversal = None
    if payment.journal_entry_id:
        reversal = _ledger().reverse_entry(
            actor=actor, entry=payment.journal_entry_id, date=date,
            memo=(_("Reversal of payment %(n)s: %(why)s") % {"n": payment.number, "why": reason})[:500])
    why = _("Payment %(n)s reversed") % {"n": payment.number}
    for allocation in on_receipt:
        _settle(invoices[allocation.invoice_id], actor=actor, paid=-allocation.amount, relief=-allocation.ar_base,
                why=why)

    before = audit.snapshot(payment, REVERSED_FIELDS)
    payment.reversed_at = timezone.now()
    payment.reversal_date = date
    payment.reversed_by = actor
    payment.reversal_reason = reason
    payment.reversal_entry = reversal
    payment.unapplied_amount = 0
    payment.unapplied_base = 0
    payment.save(update_fields=[*REVERSED_FIELDS, "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=payment,
                 changes=audit.diff(before, audit.snapshot(payment, REVERSED_FIELDS)))
    events.publish("payment.reversed", {
        "payment_id": payment.pk, "number": payment.number, "account_id": payment.account_id,
        "currency": payment.currency, "amount": str(payment.amount), "reversal_date": date.isoformat(),
        "reason": reason, "invoice_ids": sorted({a.invoice_id for a in on_receipt}),
        "reversal_entry_id": reversal.pk if reversal else None})
    return payment
