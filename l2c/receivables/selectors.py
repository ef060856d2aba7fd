"""Receivables reads: a customer's statement, the dunning plan for a day, collection flags, portal links.

`statement` and `dunning_plan` take no user: they are called for one account the caller already checked
(a staff page after `account_get`, a customer portal link) or by the daily job, which sees every customer.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from l2c.billing.models import (
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
    WriteOff,
)

from .models import CustomerPortalLink, DunningEvent, DunningLevel, DunningRun, InvoiceCollection

OPEN = (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID)
STATEMENT_DAYS = 90  # payments shown on a statement: those of the last 90 days unless told otherwise


def _sums(qs, date_field: str, as_of: dt.date) -> dict[int, Decimal]:
    rows = qs.filter(**{f"{date_field}__lte": as_of}).values("invoice_id").annotate(total=Sum("amount"))
    return {r["invoice_id"]: r["total"] or Decimal(0) for r in rows}


def statement(*, account, as_of: dt.date | None = None, since: dt.date | None = None) -> dict:
    """The customer's position on `as_of`, per currency: the invoices open then (with their balance then),
    the payments received from `since` (default 90 days before) to `as_of`, the credit not yet applied, and
    the balance (open invoices − unapplied credit). Only documents dated on or before `as_of` count."""
    as_of = as_of or timezone.localdate()
    since = since or as_of - dt.timedelta(days=STATEMENT_DAYS)
    invoices = list(Invoice.objects.filter(account=account, issue_date__lte=as_of)
                    .exclude(status=InvoiceStatus.DRAFT).order_by("due_date", "id"))
    ids = Q(invoice__in=[i.pk for i in invoices])
    # a payment reversed on or before `as_of` neither pays invoices nor leaves credit then
    paid = _sums(PaymentAllocation.objects.filter(ids).exclude(payment__reversal_date__lte=as_of), "date", as_of)
    written = _sums(WriteOff.objects.filter(ids), "date", as_of)
    credited = {r["invoice_id"]: r["total"] or Decimal(0) for r in
                CreditNote.objects.filter(ids, status=CreditNoteStatus.POSTED, issue_date__lte=as_of)
                .values("invoice_id").annotate(total=Sum("gross_total"))}
    groups: dict[str, dict] = defaultdict(lambda: {"invoices": [], "payments": [], "open_total": Decimal(0),
                                                  "overdue": Decimal(0), "credit": Decimal(0)})
    for invoice in invoices:
        balance = (invoice.gross_total - paid.get(invoice.pk, Decimal(0)) - written.get(invoice.pk, Decimal(0))
                   - credited.get(invoice.pk, Decimal(0)))
        if balance <= 0:
            continue
        group = groups[invoice.currency]
        days = (as_of - invoice.due_date).days
        group["invoices"].append({"id": invoice.pk, "number": invoice.number, "issue_date": invoice.issue_date,
                                  "due_date": invoice.due_date, "days_overdue": max(days, 0),
                                  "gross_total": invoice.gross_total, "balance": balance})
        group["open_total"] += balance
        if days > 0:
            group["overdue"] += balance
    payments = (Payment.objects.filter(account=account, date__lte=as_of)
                .exclude(reversal_date__lte=as_of).order_by("date", "id"))
    applied = {r["payment_id"]: r["total"] or Decimal(0) for r in
               PaymentAllocation.objects.filter(payment__account=account, date__lte=as_of)
               .values("payment_id").annotate(total=Sum("amount"))}
    for payment in payments:
        unapplied = payment.amount - applied.get(payment.pk, Decimal(0))
        group = groups[payment.currency]
        group["credit"] += unapplied
        if payment.date >= since:
            group["payments"].append({"number": payment.number, "date": payment.date, "method": payment.method,
                                      "reference": payment.reference, "amount": payment.amount,
                                      "unapplied": unapplied})
    currencies = []
    for currency in sorted(groups):
        group = groups[currency]
        if not group["invoices"] and not group["payments"] and not group["credit"]:
            continue
        currencies.append({"currency": currency, **group, "balance": group["open_total"] - group["credit"]})
    return {"account": account, "as_of": as_of, "since": since, "currencies": currencies}


def open_invoices(*, account):
    """The account's posted invoices with something left to pay, oldest due first."""
    return (Invoice.objects.filter(account=account, status__in=OPEN, balance__gt=0)
            .order_by("due_date", "id"))


def collection_for(invoice: Invoice) -> InvoiceCollection | None:
    return InvoiceCollection.objects.filter(invoice=invoice).first()


def is_paused(collection: InvoiceCollection | None, today: dt.date) -> bool:
    """Dunning waits while an invoice is disputed or a promised payment date is today or later."""
    if collection is None:
        return False
    return collection.disputed or (collection.promise_to_pay_date is not None
                                   and collection.promise_to_pay_date >= today)


def recipient_for(account) -> str:
    """Where reminders go: the address an invoice of this customer was last sent to, else the e-mail of the
    contact on its latest contract, else of its first contact with an e-mail; "" when none is known."""
    last = (InvoiceCollection.objects.filter(invoice__account=account).exclude(sent_to="")
            .order_by("-sent_at", "-id").values_list("sent_to", flat=True).first())
    if last:
        return last
    from l2c.contracts.models import Contract
    from l2c.customers.models import Contact

    contract = (Contract.objects.filter(account=account, contact__isnull=False).exclude(contact__email="")
                .select_related("contact").order_by("-start_date", "-id").first())
    if contract is not None:
        return contract.contact.email
    return Contact.objects.filter(account=account).exclude(email="").order_by("id") \
        .values_list("email", flat=True).first() or ""


def dunning_plan(today: dt.date | None = None, *, account=None) -> list[dict]:
    """What the dunning run sends on `today`: one entry per customer with every overdue, open invoice that
    reached a level it has not had yet (and is not disputed or under a promise to pay), each with the highest
    level it reached; the e-mail uses the highest level among them.

    [{"account", "email", "level", "items": [{"invoice", "level", "days_overdue", "balance"}]}]
    """
    today = today or timezone.localdate()
    levels = list(DunningLevel.objects.filter(active=True).order_by("days_overdue"))
    if not levels:
        return []
    overdue = (Invoice.objects.filter(status__in=OPEN, balance__gt=0, due_date__lt=today)
               .select_related("account").order_by("account__name", "account_id", "due_date", "id"))
    if account is not None:
        overdue = overdue.filter(account=account)
    overdue = list(overdue)
    ids = [i.pk for i in overdue]
    flags = {c.invoice_id: c for c in InvoiceCollection.objects.filter(invoice_id__in=ids)}
    had: dict[int, int] = {}  # invoice id -> the highest days_overdue of the levels it already had
    for event in DunningEvent.objects.filter(invoice_id__in=ids).select_related("level"):
        had[event.invoice_id] = max(had.get(event.invoice_id, 0), event.level.days_overdue)
    plans: dict[int, dict] = {}
    for invoice in overdue:
        if is_paused(flags.get(invoice.pk), today):
            continue
        days = (today - invoice.due_date).days
        reached = [level for level in levels if level.days_overdue <= days]
        if not reached or reached[-1].days_overdue <= had.get(invoice.pk, 0):
            continue
        level = reached[-1]
        plan = plans.setdefault(invoice.account_id, {"account": invoice.account, "items": [], "level": level})
        plan["items"].append({"invoice": invoice, "level": level, "days_overdue": days, "balance": invoice.balance})
        if level.days_overdue > plan["level"].days_overdue:
            plan["level"] = level
    result = []
    for plan in plans.values():
        plan["email"] = recipient_for(plan["account"])
        result.append(plan)
    return result


def dunning_levels():
    return DunningLevel.objects.order_by("days_overdue")


def last_runs(limit: int = 10):
    return DunningRun.objects.order_by("-run_date")[:limit]


def dunning_events(*, invoice=None, account=None, limit: int = 50):
    qs = DunningEvent.objects.select_related("invoice", "level", "invoice__account")
    if invoice is not None:
        qs = qs.filter(invoice=invoice)
    if account is not None:
        qs = qs.filter(invoice__account=account)
    return qs.order_by("-sent_at", "-id")[:limit]


def portal_links_for(account):
    return CustomerPortalLink.objects.filter(account=account).order_by("-created_at")
