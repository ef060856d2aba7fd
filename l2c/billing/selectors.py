"""Billing reads, scoped to what the user may see (finance and admin: all; sales: their customers' documents),
and the AR aging report."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id

from .models import (
    CreditNote,
    CreditNoteStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
    WriteOff,
)

INVOICE_ORDERING = {
    "number": ("number",), "issue_date": ("issue_date",), "due_date": ("due_date",),
    "account": ("account__name",), "gross_total": ("gross_total",), "balance": ("balance",), "status": ("status",),
}
INVOICE_SEARCH = ("number", "account__name", "contract__number")
OPEN = (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID)

# (key, label, lowest days past due, highest or None)
AGING_BUCKETS = (
    ("current", "Current", None, 0),
    ("days_1_30", "1–30", 1, 30),
    ("days_31_60", "31–60", 31, 60),
    ("days_61_90", "61–90", 61, 90),
    ("over_90", "Over 90", 91, None),
)


def _id(value, field: str) -> int:
    pk = as_id(value)
    if pk is None:
        raise ValidationFailed.single(field, _("Give a numeric id."), "invalid")
    return pk


def invoice_list(*, user, status: str | None = None, account=None, contract=None, overdue: bool = False,
                 q: str | None = None, ordering: str | None = None):
    qs = Invoice.objects.restrict(user).select_related("account", "contract")
    if status:
        if status not in InvoiceStatus.values:
            raise ValidationFailed.single("status", _("Choose one of %(s)s.") % {"s": ", ".join(InvoiceStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status=status)
    if account not in (None, ""):
        qs = qs.filter(account_id=_id(account, "account"))
    if contract not in (None, ""):
        qs = qs.filter(contract_id=_id(contract, "contract"))
    if overdue:
        qs = qs.filter(status__in=OPEN, due_date__lt=timezone.localdate())
    qs = listing.search(qs, q, INVOICE_SEARCH)
    return listing.order(qs, ordering, INVOICE_ORDERING, "-issue_date")


def invoice_get(*, user, pk) -> Invoice:
    invoice = (Invoice.objects.restrict(user).select_related("account", "contract", "journal_entry", "posted_by")
               .filter(pk=as_id(pk) or 0).first())
    if invoice is None:
        raise NotFound(_("No invoice with id %(id)s.") % {"id": pk})
    return invoice


def invoice_lines(invoice: Invoice):
    return invoice.lines.select_related("product", "contract_line").order_by("position", "id")


def invoice_allocations(invoice: Invoice):
    return invoice.allocations.select_related("payment", "journal_entry").order_by("date", "id")


def payment_list(*, user, account=None, unapplied: bool = False, q: str | None = None):
    qs = Payment.objects.restrict(user).select_related("account").prefetch_related("allocations__invoice")
    if account not in (None, ""):
        qs = qs.filter(account_id=_id(account, "account"))
    if unapplied:
        qs = qs.filter(unapplied_amount__gt=0)
    qs = listing.search(qs, q, ("number", "reference", "account__name"))
    return qs.order_by("-date", "-id")


def payment_get(*, user, pk) -> Payment:
    payment = (Payment.objects.restrict(user).select_related("account", "journal_entry")
               .filter(pk=as_id(pk) or 0).first())
    if payment is None:
        raise NotFound(_("No payment with id %(id)s.") % {"id": pk})
    return payment


def credit_note_list(*, user, invoice=None, status: str | None = None):
    qs = CreditNote.objects.restrict(user).select_related("account", "invoice")
    if invoice not in (None, ""):
        qs = qs.filter(invoice_id=_id(invoice, "invoice"))
    if status:
        if status not in CreditNoteStatus.values:
            raise ValidationFailed.single("status", _("Choose one of %(s)s.")
                                          % {"s": ", ".join(CreditNoteStatus.values)}, "invalid_choice")
        qs = qs.filter(status=status)
    return qs.order_by("-issue_date", "-id")


def credit_note_get(*, user, pk) -> CreditNote:
    note = (CreditNote.objects.restrict(user).select_related("account", "invoice", "journal_entry")
            .filter(pk=as_id(pk) or 0).first())
    if note is None:
        raise NotFound(_("No credit note with id %(id)s.") % {"id": pk})
    return note


# --- AR aging --------------------------------------------------------------------------------------------

def bucket_for(days_past_due: int) -> str:
    for key, _label, low, high in AGING_BUCKETS:
        if (low is None or days_past_due >= low) and (high is None or days_past_due <= high):
            return key
    return "over_90"


def _sums(qs, date_field: str, as_of: dt.date) -> dict[int, Decimal]:
    rows = qs.filter(**{f"{date_field}__lte": as_of}).values("invoice_id").annotate(total=Sum("amount"))
    return {r["invoice_id"]: r["total"] or Decimal(0) for r in rows}


def _maybe_open_on(as_of: dt.date) -> Q:
    """Invoices that may have been open on `as_of`: open now, or settled by something dated after it. An invoice
    settled now (balance 0) by payments, write-offs and credit notes all dated on or before `as_of` was settled
    then too, so the as-of replay can leave the paid history out (most invoices, in a book of years)."""
    later = (Exists(PaymentAllocation.objects.filter(invoice=OuterRef("pk"), date__gt=as_of))
             | Exists(WriteOff.objects.filter(invoice=OuterRef("pk"), date__gt=as_of))
             | Exists(CreditNote.objects.filter(invoice=OuterRef("pk"), status=CreditNoteStatus.POSTED,
                                                issue_date__gt=as_of)))
    return Q(balance__gt=0) | later


def _invoices_as_of(user, as_of: dt.date, account=None):
    invoices = (Invoice.objects.restrict(user).exclude(status=InvoiceStatus.DRAFT)
                .filter(issue_date__lte=as_of).filter(_maybe_open_on(as_of)))
    if account not in (None, ""):
        invoices = invoices.filter(account_id=_id(account, "account"))
    return invoices


def open_balances_as_of(*, user, as_of: dt.date, account=None) -> list[tuple[Invoice, Decimal]]:
    """[(invoice, balance on `as_of`)] of the invoices posted on or before `as_of` and still open then,
    counting only payments, credit notes and write-offs dated on or before it."""
    invoices = _invoices_as_of(user, as_of, account).select_related("account")
    ids = Q(invoice__in=invoices.values("pk"))
    # a payment reversed on or before `as_of` no longer pays anything then
    paid = _sums(PaymentAllocation.objects.filter(ids).exclude(payment__reversal_date__lte=as_of), "date", as_of)
    written = _sums(WriteOff.objects.filter(ids), "date", as_of)
    credited = {r["invoice_id"]: r["total"] or Decimal(0) for r in
                CreditNote.objects.filter(ids, status=CreditNoteStatus.POSTED, issue_date__lte=as_of)
                .values("invoice_id").annotate(total=Sum("gross_total"))}
    result = []
    for invoice in invoices.order_by("account__name", "due_date", "id"):
        balance = (invoice.gross_total - paid.get(invoice.pk, Decimal(0)) - written.get(invoice.pk, Decimal(0))
                   - credited.get(invoice.pk, Decimal(0)))
        if balance > 0:
            result.append((invoice, balance))
    return result


CHANGED_LIMIT = 10_000  # invoices touched after the as-of date, beyond which ar_totals replays every invoice


def _changed_after(as_of: dt.date) -> set[int] | None:
    """The invoices something touched after `as_of` (a payment applied or reversed, a write-off, a posted credit
    note dated after it), or None when there are more than CHANGED_LIMIT: four small queries."""
    changed: set[int] = set()
    for qs in (PaymentAllocation.objects.filter(date__gt=as_of),
               PaymentAllocation.objects.filter(payment__reversal_date__gt=as_of),
               WriteOff.objects.filter(date__gt=as_of),
               CreditNote.objects.filter(status=CreditNoteStatus.POSTED, issue_date__gt=as_of)):
        changed.update(qs.values_list("invoice_id", flat=True)[:CHANGED_LIMIT + 1])
        if len(changed) > CHANGED_LIMIT:
            return None
    return changed


def ar_totals(*, user, as_of: dt.date | None = None) -> dict:
    """The totals of `ar_aging` without its per-customer rows, grouped in the database (the home dashboard's
    receivables; five to six queries whatever the size of the book): {"as_of", "buckets", "currencies": [{"currency", "total": {bucket: amount,
    "total": amount}, "customers": number of customers with an open balance}]}."""
    as_of = as_of or timezone.localdate()
    amount = DecimalField(max_digits=20, decimal_places=2)

    def settled(qs, date_field: str, column: str = "amount"):
        rows = qs.filter(invoice=OuterRef("pk"), **{f"{date_field}__lte": as_of}).order_by().values("invoice") \
            .annotate(s=Sum(column)).values("s")
        return Coalesce(Subquery(rows, output_field=amount), Value(Decimal(0)), output_field=amount)

    balance = (F("gross_total")
               - settled(PaymentAllocation.objects.exclude(payment__reversal_date__lte=as_of), "date")
               - settled(WriteOff.objects.all(), "date")
               - settled(CreditNote.objects.filter(status=CreditNoteStatus.POSTED), "issue_date", "gross_total"))
    buckets = []
    for key, _label, low, high in AGING_BUCKETS:
        condition = {}
        if low is not None:
            condition["due_date__lte"] = as_of - dt.timedelta(days=low)
        if high is not None:
            condition["due_date__gte"] = as_of - dt.timedelta(days=high)
        buckets.append(When(**condition, then=Value(key)))
    bucket = Case(*buckets, default=Value("over_90"))
    posted = Invoice.objects.restrict(user).exclude(status=InvoiceStatus.DRAFT).filter(issue_date__lte=as_of)
    changed = _changed_after(as_of)
    if changed is None:  # a date long ago: nearly every invoice moved since; replay them all
        parts = [_invoices_as_of(user, as_of).annotate(open_balance=balance).filter(open_balance__gt=0)]
    else:
        # an invoice nothing touched after `as_of` stands today as it stood then: its stored balance; the few
        # touched since (today: usually none) are replayed
        parts = [posted.filter(balance__gt=0).exclude(pk__in=changed).annotate(open_balance=F("balance"))]
        if changed:
            parts.append(posted.filter(pk__in=changed).annotate(open_balance=balance).filter(open_balance__gt=0))
    keys = [b[0] for b in AGING_BUCKETS]
    per_currency: dict = defaultdict(lambda: {"total": {**{k: Decimal(0) for k in keys}, "total": Decimal(0)},
                                              "accounts": set()})
    for part in parts:
        for row in part.annotate(bucket=bucket).values("currency", "bucket").annotate(total=Sum("open_balance")) \
                .order_by():
            group = per_currency[row["currency"]]
            group["total"][row["bucket"]] += row["total"]
            group["total"]["total"] += row["total"]
    # customers with an open balance, per currency (a customer may be in both parts: ids, not counts)
    for part in parts:
        for currency, account in part.values_list("currency", "account_id").distinct().order_by():
            per_currency[currency]["accounts"].add(account)
    return {"as_of": as_of, "buckets": [(b[0], b[1]) for b in AGING_BUCKETS],
            "currencies": [{"currency": c, "total": per_currency[c]["total"],
                            "customers": len(per_currency[c]["accounts"])} for c in sorted(per_currency)]}


def ar_aging(*, user, as_of: dt.date | None = None, account=None) -> dict:
    """Open receivables by days past due (current, 1–30, 31–60, 61–90, over 90), per customer and in total,
    in each currency, as they stood on `as_of` (default today). Also the unapplied cash per customer."""
    as_of = as_of or timezone.localdate()
    keys = [b[0] for b in AGING_BUCKETS]

    def empty() -> dict:
        return {**{k: Decimal(0) for k in keys}, "total": Decimal(0)}

    per_currency: dict[str, dict] = defaultdict(lambda: {"customers": {}, "total": empty()})
    for invoice, balance in open_balances_as_of(user=user, as_of=as_of, account=account):
        bucket = bucket_for((as_of - invoice.due_date).days)
        group = per_currency[invoice.currency]
        row = group["customers"].setdefault(invoice.account_id, {"account": invoice.account, **empty(),
                                                                 "invoices": 0})
        row[bucket] += balance
        row["total"] += balance
        row["invoices"] += 1
        group["total"][bucket] += balance
        group["total"]["total"] += balance
    currencies = []
    for currency in sorted(per_currency):
        group = per_currency[currency]
        customers = sorted(group["customers"].values(), key=lambda r: (r["account"].name, r["account"].pk))
        currencies.append({"currency": currency, "customers": customers, "total": group["total"]})
    return {"as_of": as_of, "buckets": [(b[0], b[1]) for b in AGING_BUCKETS], "currencies": currencies}


# --- finance home ----------------------------------------------------------------------------------------

def finance_home(*, user, today: dt.date | None = None, limit: int = 20) -> dict:
    """What finance acts on: overdue invoices, unapplied cash, contracts with lines not yet invoiced."""
    from l2c.contracts.models import Contract, ContractLine, ContractStatus

    from .models import InvoiceLine

    today = today or timezone.localdate()
    overdue = invoice_list(user=user).filter(status__in=OPEN, due_date__lt=today).order_by("due_date", "id")
    unapplied = payment_list(user=user, unapplied=True)
    invoiced = (InvoiceLine.objects.exclude(invoice__status=InvoiceStatus.VOID)
                .values("contract_line_id").annotate(q=Sum("quantity")))
    done = {r["contract_line_id"]: r["q"] for r in invoiced if r["contract_line_id"]}
    contracts = (Contract.objects.restrict(user).filter(status=ContractStatus.ACTIVE)
                 .select_related("account").order_by("start_date", "id"))
    to_invoice = []
    lines = ContractLine.objects.filter(contract__in=contracts).values("contract_id", "id", "quantity")
    open_contracts = {r["contract_id"] for r in lines if r["quantity"] > done.get(r["id"], Decimal(0))}
    for contract in contracts.filter(pk__in=open_contracts)[:limit]:
        to_invoice.append(contract)
    return {
        "today": today,
        "overdue": list(overdue[:limit]), "overdue_count": overdue.count(),
        "unapplied": list(unapplied[:limit]), "unapplied_count": unapplied.count(),
        "to_invoice": to_invoice, "to_invoice_count": len(open_contracts),
        "drafts": list(invoice_list(user=user, status=InvoiceStatus.DRAFT)[:limit]),
    }
