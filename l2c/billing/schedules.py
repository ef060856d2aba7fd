"""Billing schedules and the billing run.

A contract's billing schedule says which part of each contract line is invoiced when, from its payment terms
and the line's product (quoting.models.PaymentTerms, ProductKind, BillingPeriod):

    upfront_100                     everything at the contract start
    upfront_50                      50 % at the start, 50 % on fulfilment (milestone lines: on their milestones,
                                    subscriptions: on activation)
    net_* and due_on_receipt        goods and services on fulfilment (order.line_fulfilled events, part by part
                                    for partial shipments), milestone lines on milestone completion (their
                                    share), subscriptions recurring: one item per month/quarter/year of the
                                    service period, in advance (due on the period's first day); a first or last
                                    period that does not cover a whole calendar period is prorated by days
    deposit_percent (optional)      that percentage of every line at the start; the rest follows the rules above

Amounts are split with `core.money.round_money`; the last part of a line takes what is left, so the items of
a line add up exactly to its net and tax amounts (and quantities to its quantity). An item waiting for
fulfilment has no due date; the fulfilment event gives it one (or splits off the part fulfilled).

The billing run invoices, per contract, every planned item due on or before the run's day and posts the
invoice (number and ledger entry by the rules of `billing.services.invoice_post`). Contracts are handled in
batches of one transaction each. A batch is written in bulk: the contracts that break a rule are reported and
left out first, then one block of invoice numbers, one multi-row INSERT per table (invoices, lines, journal
entries through `ledger.post_entries`, journal lines, audit events) and one UPDATE per column set. Should the
database refuse the batch, it is rolled back (numbers returned, so they stay gapless) and redone one contract
at a time, each in its own savepoint, so only the failing contract is left out and reported. An item is
invoiced once: the run locks the items it invoices and marks them invoiced with their invoice.
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.bulk import allocate_ids, insert_objects, update_columns
from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.money import round_money
from l2c.core.numbering import format_number, next_values

from . import services
from .models import (
    BillingSchedule,
    BillingScheduleItem,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    ScheduleItemKind,
    ScheduleItemStatus,
)

log = logging.getLogger(__name__)

ZERO = Decimal(0)
QTY_PLACES = Decimal("0.0001")
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
BATCH_SIZE = 1000


# --- dates ------------------------------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (clamped to the month's last day)."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the calendar month, quarter or year that contains `day`."""
    if period == "year":
        return dt.date(day.year, 1, 1)
    if period == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return dt.date(day.year, day.month, 1)


def service_periods(start: dt.date, end: dt.date, period: str) -> list[tuple[dt.date, dt.date, Decimal]]:
    """[(first day, last day, weight)] of the billing periods from `start` to `end` (inclusive). A whole
    calendar period weighs 1; a part of one weighs its days over the period's days."""
    months = PERIOD_MONTHS[period]
    result = []
    day = start
    while day <= end:
        p_start = period_start(day, period)
        p_next = add_months(p_start, months)
        last = min(p_next - dt.timedelta(days=1), end)
        days = (last - day).days + 1
        whole = (p_next - p_start).days
        result.append((day, last, Decimal(1) if days == whole else Decimal(days) / Decimal(whole)))
        day = p_next
    return result


# --- splitting amounts ------------------------------------------------------------------------------

def split(total: Decimal, weights: list[Decimal], rounder) -> list[Decimal]:
    """`total` in parts proportional to `weights`, each rounded by `rounder`; the last part takes what is left."""
    whole = sum(weights, ZERO)
    parts = []
    for weight in weights[:-1]:
        parts.append(rounder(total * weight / whole) if whole else ZERO)
    parts.append(total - sum(parts, ZERO))
    return parts


def _qty(value: Decimal) -> Decimal:
    return value.quantize(QTY_PLACES)


@dataclass
class _Part:
    kind: str
    due_date: dt.date | None
    quantity: Decimal
    net: Decimal
    tax: Decimal
    period_start: dt.date | None = None
    period_end: dt.date | None = None


def _split_parts(quantity, net, tax, weights, currency) -> list[tuple[Decimal, Decimal, Decimal]]:
    money = lambda value: round_money(value, currency)  # noqa: E731
    return list(zip(split(quantity, weights, _qty), split(net, weights, money), split(tax, weights, money),
                    strict=True))


def plan_line(contract, line, *, deposit_percent: Decimal = ZERO) -> list[_Part]:
    """The schedule of one contract line (see the module docstring)."""
    currency = contract.currency
    product = line.product
    terms = contract.payment_terms
    start = contract.start_date
    quantity, net, tax = line.quantity, line.net_amount, line.tax_amount
    parts: list[_Part] = []
    if deposit_percent:
        d_qty = _qty(quantity * deposit_percent / 100)
        d_net = round_money(net * deposit_percent / 100, currency)
        d_tax = round_money(tax * deposit_percent / 100, currency)
        if deposit_percent >= 100:
            d_qty, d_net, d_tax = quantity, net, tax
        parts.append(_Part(ScheduleItemKind.DEPOSIT, start, d_qty, d_net, d_tax))
        quantity, net, tax = quantity - d_qty, net - d_net, tax - d_tax
    if not net and not tax:
        return parts
    waiting_kind = ScheduleItemKind.MILESTONE if product.kind == "milestone" else ScheduleItemKind.FULFILMENT
    if terms == "upfront_100":
        parts.append(_Part(ScheduleItemKind.UPFRONT, start, quantity, net, tax))
    elif terms == "upfront_50":
        (q1, n1, t1), (q2, n2, t2) = _split_parts(quantity, net, tax, [Decimal(1), Decimal(1)], currency)
        parts.append(_Part(ScheduleItemKind.UPFRONT, start, q1, n1, t1))
        parts.append(_Part(waiting_kind, None, q2, n2, t2))
    elif product.kind == "subscription" and product.billing_period in PERIOD_MONTHS:
        first = line.service_start or start
        last = line.service_end or contract.end_date
        periods = service_periods(first, last, product.billing_period) or [(first, first, Decimal(1))]
        amounts = _split_parts(quantity, net, tax, [w for _s, _e, w in periods], currency)
        for (p_start, p_end, _w), (q, n, t) in zip(periods, amounts, strict=True):
            parts.append(_Part(ScheduleItemKind.RECURRING, p_start, q, n, t, p_start, p_end))
    else:
        parts.append(_Part(waiting_kind, None, quantity, net, tax))
    return [p for p in parts if p.net or p.tax]


def _check_deposit(value) -> Decimal:
    if value in (None, ""):
        return ZERO
    if isinstance(value, float | bool):
        raise ValidationFailed.single("deposit_percent", _("Give the deposit as a decimal number."), "invalid")
    try:
        percent = Decimal(str(value))
    except Exception:
        raise ValidationFailed.single("deposit_percent", _("Give the deposit as a decimal number."),
                                      "invalid") from None
    if not percent.is_finite() or percent < 0 or percent > 100:
        raise ValidationFailed.single("deposit_percent", _("The deposit is a percentage from 0 to 100."),
                                      "out_of_range")
    return percent


@transaction.atomic
def schedule_for_contract(contract, *, deposit_percent=None, actor=None) -> BillingSchedule:
    """The contract's billing schedule, made on first call from its payment terms and lines; later calls
    return the existing one unchanged (the "contract.created" event may be delivered twice)."""
    from l2c.contracts.models import Contract

    deposit = _check_deposit(deposit_percent)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    existing = BillingSchedule.objects.filter(contract=contract).first()
    if existing is not None:
        return existing
    schedule = BillingSchedule.objects.create(contract=contract, deposit_percent=deposit)
    items = []
    for line in contract.lines.select_related("product").order_by("position", "id"):
        for part in plan_line(contract, line, deposit_percent=deposit):
            items.append(BillingScheduleItem(
                schedule=schedule, contract=contract, contract_line=line, kind=part.kind, due_date=part.due_date,
                period_start=part.period_start, period_end=part.period_end, quantity=part.quantity,
                net_amount=part.net, tax_amount=part.tax))
    BillingScheduleItem.objects.bulk_create(items)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=schedule,
                 changes={"contract": [None, contract.number], "items": [None, len(items)],
                          "deposit_percent": [None, deposit]})
    return schedule


def on_contract_created(name: str, payload: dict) -> None:
    """Subscriber of "contract.created": the signed contract gets its billing schedule."""
    from l2c.contracts.models import Contract

    contract = Contract.objects.filter(pk=payload.get("contract_id")).first()
    if contract is not None:
        schedule_for_contract(contract)


# --- fulfilment makes items due -------------------------------------------------------------------------

DONE_LINE_STATUSES = ("fulfilled", "active", "ended")


def _fulfilment_key(payload: dict) -> str:
    ref = payload.get("shipment_id") or payload.get("milestone_id") or ""
    return f"ol{payload.get('line_id')}:{payload.get('source')}:{ref}"[:80]


def _contract_line_done(contract_line_id: int) -> bool:
    from l2c.orders.models import OrderLine

    lines = OrderLine.objects.filter(contract_line_id=contract_line_id).exclude(status="cancelled")
    return lines.exists() and not lines.exclude(status__in=DONE_LINE_STATUSES).exists()


@transaction.atomic
def line_fulfilled(payload: dict) -> list[BillingScheduleItem]:
    """Make the part of a contract line's waiting items that an order.line_fulfilled event reports due on its
    fulfilment date: all that is left once the contract line is completely fulfilled, else the reported
    share (the event's net delta over the line's net). Each event is applied once."""
    from l2c.contracts.models import ContractLine

    key = _fulfilment_key(payload)
    if BillingScheduleItem.objects.filter(source_key=key).exists():
        return []
    cline = ContractLine.objects.filter(pk=payload.get("contract_line_id")).first()
    if cline is None:
        return []
    waiting = list(BillingScheduleItem.objects.select_for_update().filter(
        contract_line=cline, status=ScheduleItemStatus.PLANNED, due_date__isnull=True).order_by("id"))
    if not waiting:
        return []
    day = dt.date.fromisoformat(payload["fulfilled_on"])
    currency = payload.get("currency") or cline.contract.currency
    made = []
    if _contract_line_done(cline.pk):
        for index, item in enumerate(waiting):
            item.due_date = day
            item.source_key = key if index == 0 else f"{key}#{index}"[:80]
            item.save(update_fields=["due_date", "source_key"])
            made.append(item)
        return made
    delta = Decimal(str(payload.get("net_amount") or "0"))
    if not cline.net_amount or delta <= 0:
        return []
    ratio = min(delta / cline.net_amount, Decimal(1))
    share_totals = defaultdict(lambda: [ZERO, ZERO, ZERO])  # kind -> whole quantity, net, tax of that kind
    for item in BillingScheduleItem.objects.filter(contract_line=cline, kind__in=[i.kind for i in waiting]):
        totals = share_totals[item.kind]
        totals[0] += item.quantity
        totals[1] += item.net_amount
        totals[2] += item.tax_amount
    for index, item in enumerate(waiting):
        whole_q, whole_net, whole_tax = share_totals[item.kind]
        net = min(round_money(whole_net * ratio, currency), item.net_amount)
        tax = min(round_money(whole_tax * ratio, currency), item.tax_amount)
        qty = min(max(_qty(whole_q * ratio), QTY_PLACES), item.quantity)
        if (not net and not tax) or qty >= item.quantity:
            continue
        item.net_amount -= net
        item.tax_amount -= tax
        item.quantity -= qty
        item.save(update_fields=["net_amount", "tax_amount", "quantity"])
        made.append(BillingScheduleItem.objects.create(
            schedule_id=item.schedule_id, contract_id=item.contract_id, contract_line=cline, kind=item.kind,
            due_date=day, quantity=qty, net_amount=net, tax_amount=tax,
            source_key=key if index == 0 else f"{key}#{index}"[:80]))
    return made


def on_line_fulfilled(name: str, payload: dict) -> None:
    """Subscriber of "order.line_fulfilled"."""
    line_fulfilled(payload)


# --- the billing run ------------------------------------------------------------------------------------

@dataclass
class RunError:
    contract_id: int
    contract: str
    message: str


@dataclass
class RunSummary:
    today: dt.date
    contracts: int = 0  # contracts with something due
    invoices: int = 0
    items: int = 0
    invoice_ids: list[int] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)  # gross per currency
    errors: list[RunError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"today": self.today, "contracts": self.contracts, "invoices": self.invoices, "items": self.items,
                "invoice_ids": self.invoice_ids, "totals": {k: str(round_money(v, k)) for k, v in sorted(self.totals.items())},
                "errors": [e.__dict__ for e in self.errors]}


def due_items(today: dt.date):
    """Planned items due on or before `today` (a terminated contract's items only up to its end)."""
    return (BillingScheduleItem.objects.filter(status=ScheduleItemStatus.PLANNED, due_date__lte=today)
            .exclude(Q(contract__status="terminated") & Q(due_date__gt=F("contract__terminated_on"))))


def _describe(item: BillingScheduleItem, line) -> str:
    text = line.description or line.product.name
    if item.kind == ScheduleItemKind.RECURRING and item.period_start:
        return f"{text} ({item.period_start.isoformat()} – {item.period_end.isoformat()})"
    if item.kind == ScheduleItemKind.DEPOSIT:
        return _("%(text)s (deposit)") % {"text": text}
    return text


def _quantity_errors(contract, items: list[BillingScheduleItem], lines_by_id: dict, invoiced: dict) -> list:
    """A line invoiced by hand meanwhile must not be invoiced again by the schedule."""
    errors = []
    wanted = defaultdict(Decimal)
    for item in items:
        wanted[item.contract_line_id] += item.quantity
    for line_id, qty in wanted.items():
        line = lines_by_id[line_id]
        done = invoiced.get(line_id, (ZERO,))[0]
        if done + qty > line.quantity:
            errors.append(FieldError("contract_line", _(
                "Line %(pos)s (%(product)s) of %(c)s was already invoiced outside the schedule "
                "(%(done)s of %(q)s).") % {"pos": line.position, "product": line.product.name, "c": contract,
                                           "done": done.normalize(), "q": line.quantity.normalize()},
                "already_invoiced"))
    return errors


def _draft(contract, items: list[BillingScheduleItem], lines_by_id: dict, *, today: dt.date):
    """The unsaved invoice and lines for `items`, totals set."""
    invoice = Invoice(
        account_id=contract.account_id, contract=contract, currency=contract.currency, issue_date=today,
        due_date=services.due_date_for(today, contract.payment_terms), payment_terms=contract.payment_terms,
    )
    invoice_lines = []
    for position, item in enumerate(items, start=1):
        line = lines_by_id[item.contract_line_id]
        invoice_lines.append(InvoiceLine(
            invoice=invoice, contract_line=line, product_id=line.product_id, position=position,
            description=_describe(item, line), quantity=item.quantity,
            unit_price=line.unit_price, net_amount=item.net_amount, tax_rate=line.tax_rate,
            tax_amount=item.tax_amount, gross_amount=item.net_amount + item.tax_amount,
            service_start=item.period_start or line.service_start, service_end=item.period_end or line.service_end))
    invoice.net_total = sum((item.net_amount for item in items), ZERO)
    invoice.tax_total = sum((item.tax_amount for item in items), ZERO)
    invoice.gross_total = invoice.balance = invoice.net_total + invoice.tax_total
    return invoice, invoice_lines


def _invoice_items(contract, items: list[BillingScheduleItem], *, today: dt.date, actor,
                   invoiced: dict) -> Invoice:
    """One invoice for `items` (locked, planned, of `contract`), posted through `invoice_post`: the run's
    one-contract-at-a-time path. Raises ValidationFailed on a rule."""
    lines_by_id = {line.pk: line for line in contract.lines.select_related("product")}
    errors = _quantity_errors(contract, items, lines_by_id, invoiced)
    if errors:
        raise ValidationFailed(errors)
    invoice, invoice_lines = _draft(contract, items, lines_by_id, today=today)
    invoice.save()
    for invoice_line in invoice_lines:
        invoice_line.invoice = invoice
    InvoiceLine.objects.bulk_create(invoice_lines)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=invoice)
    services.invoice_post(actor=actor, invoice=invoice, why="billing run")
    _mark_invoiced([(items, invoice, invoice_lines)])
    return invoice


def _mark_invoiced(done: list[tuple[list[BillingScheduleItem], Invoice, list[InvoiceLine]]]) -> None:
    rows = []
    for items, invoice, invoice_lines in done:
        for item, invoice_line in zip(items, invoice_lines, strict=True):
            item.status, item.invoice, item.invoice_line = ScheduleItemStatus.INVOICED, invoice, invoice_line
            rows.append((item.pk, ScheduleItemStatus.INVOICED, invoice.pk, invoice_line.pk))
    update_columns(BillingScheduleItem, ["status", "invoice", "invoice_line"], rows)


# what the run reads of contracts and their lines (loading whole rows costs more than the run's writes)
CONTRACT_FIELDS = ("id", "number", "account_id", "currency", "payment_terms", "status", "terminated_on")
LINE_FIELDS = ("id", "contract_id", "position", "product_id", "product__name", "description", "quantity",
               "unit_price", "tax_rate", "service_start", "service_end")


def _invoice_batch(contracts: dict, by_contract: dict, invoiced: dict, *, today: dt.date, actor,
                   summary: RunSummary) -> list[Invoice]:
    """Invoice and post a batch of contracts at once: the run's fast path, the same rules as
    `_invoice_items` + `invoice_post` (and the same ledger checks, through `ledger.post_entries`), but the
    invoice numbers as one block, every table written with one multi-row statement, the audit events in
    one insert. A contract that breaks a rule is reported and left out before anything is written; a
    database error rolls the whole batch back to the caller, who then goes contract by contract."""
    from l2c.contracts.models import ContractLine

    ledger = services._ledger()
    company = services.company_currency()
    lines_by_contract: dict[int, dict] = defaultdict(dict)
    for line in (ContractLine.objects.filter(contract_id__in=list(by_contract)).select_related("product")
                 .only(*LINE_FIELDS)):
        lines_by_contract[line.contract_id][line.pk] = line
    rates: dict[str, Decimal | ValidationFailed] = {}
    drafts = []  # (items, invoice, invoice lines)
    for contract_id, items in by_contract.items():
        contract = contracts[contract_id]
        try:
            lines_by_id = lines_by_contract[contract_id]
            errors = _quantity_errors(contract, items, lines_by_id, invoiced.get(contract_id, {}))
            if errors:
                raise ValidationFailed(errors)
            if contract.currency not in rates:
                try:
                    rates[contract.currency] = Decimal(ledger.rate_for(contract.currency, today))
                except ValidationFailed as exc:
                    rates[contract.currency] = exc
            if isinstance(rates[contract.currency], ValidationFailed):
                raise rates[contract.currency]
            invoice, invoice_lines = _draft(contract, items, lines_by_id, today=today)
            if invoice.gross_total <= 0:
                raise ValidationFailed.single("lines", _("An invoice must have a total above zero."),
                                              "empty_invoice")
        except ValidationFailed as exc:
            summary.errors.append(RunError(contract_id, contract.number, _error_message(exc)))
            continue
        drafts.append((items, invoice, invoice_lines))
    if not drafts:
        return []
    now = timezone.now()
    for (_items, invoice, invoice_lines), value in zip(drafts, next_values("INV", today.year, len(drafts)),
                                                       strict=True):
        rate = rates[invoice.currency]
        invoice.number = format_number("INV", today.year, value)
        invoice.status, invoice.rate, invoice.posted_at, invoice.posted_by = InvoiceStatus.POSTED, rate, now, actor
        invoice.ar_base, invoice._entry_lines = services.invoice_lines_for_posting(
            invoice, rate, lines=invoice_lines, company=company)
        invoice.ar_open_base = invoice.ar_base
    invoices = [invoice for _items, invoice, _lines in drafts]
    for invoice, pk in zip(invoices, allocate_ids(Invoice, len(invoices)), strict=True):
        invoice.pk = pk
    entries = ledger.post_entries(actor=actor, entries=[
        ledger.Entry(date=today, journal="sales", memo=_("Invoice %(n)s") % {"n": invoice.number},
                     lines=invoice._entry_lines, source_type="billing.invoice", source_id=invoice.pk,
                     source_label=invoice.number)
        for invoice in invoices])
    for invoice, entry in zip(invoices, entries, strict=True):
        invoice.journal_entry = entry
    insert_objects(invoices)
    invoice_lines = [line for _i, _inv, lines in drafts for line in lines]
    for invoice_line, pk in zip(invoice_lines, allocate_ids(InvoiceLine, len(invoice_lines)), strict=True):
        invoice_line.pk = pk
        invoice_line.invoice_id = invoice_line.invoice.pk
    insert_objects(invoice_lines)
    _mark_invoiced(drafts)
    invoice_type = audit.object_type_of(Invoice)
    audit.record_bulk((
        audit.PendingEvent(action=audit.Action.CREATE, object_type=invoice_type, object_id=str(invoice.pk),
                           object_repr=invoice.number, changes={
            **{k: [None, v] for k, v in audit.snapshot(invoice).items() if v not in (None, "", [], {})},
            "why": [None, "billing run"]})
        for invoice in invoices), actor=actor, normalised=True)
    for invoice in invoices:
        services.publish_posted(invoice)
    return invoices


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed):
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(getattr(exc, "message", "") or exc) or exc.__class__.__name__


def billing_run(*, today: dt.date | None = None, actor=None, batch_size: int = BATCH_SIZE) -> RunSummary:
    """Invoice and post everything due on or before `today`: one invoice per contract. `actor` None is the
    scheduled run; a person must be finance or admin. Safe to run twice (the second finds nothing due)."""
    from l2c.contracts.models import Contract

    if actor is not None:
        services.require_billing(actor)
    today = today or timezone.localdate()
    if not isinstance(today, dt.date):
        raise ValidationFailed.single("today", _("Give a date."), "invalid")
    summary = RunSummary(today=today)
    contract_ids = sorted(set(due_items(today).values_list("contract_id", flat=True)))
    summary.contracts = len(contract_ids)
    for start in range(0, len(contract_ids), batch_size):
        batch = contract_ids[start:start + batch_size]
        with transaction.atomic():
            contracts = Contract.objects.only(*CONTRACT_FIELDS).in_bulk(batch)
            by_contract = defaultdict(list)
            locked = (due_items(today).filter(contract_id__in=batch).select_for_update(of=("self",))
                      .order_by("contract_id", "due_date", "contract_line__position", "id"))
            for item in locked:
                by_contract[item.contract_id].append(item)
            invoiced = _invoiced_quantities(batch)
            errors_before = len(summary.errors)
            try:
                with transaction.atomic(), audit.sealed_at_write():
                    invoices = _invoice_batch(contracts, by_contract, invoiced, today=today, actor=actor,
                                              summary=summary)
            except Exception as exc:  # a database error: the batch is rolled back, go one contract at a time
                log.warning("billing run: batch of %d contracts failed (%s); retrying one by one", len(batch), exc)
                del summary.errors[errors_before:]
                invoices = _invoice_one_by_one(contracts, by_contract, invoiced, today=today, actor=actor,
                                               summary=summary)
            for invoice in invoices:
                summary.invoices += 1
                summary.items += len(by_contract[invoice.contract_id])
                summary.invoice_ids.append(invoice.pk)
                summary.totals[invoice.currency] = summary.totals.get(invoice.currency, ZERO) + invoice.gross_total
    log.info("billing run %s: %d invoices, %d errors", today, summary.invoices, len(summary.errors))
    return summary


def _invoice_one_by_one(contracts: dict, by_contract: dict, invoiced: dict, *, today: dt.date, actor,
                        summary: RunSummary) -> list[Invoice]:
    """Each contract in its own savepoint: one that fails is rolled back alone (its number returned)."""
    invoices = []
    for contract_id, items in by_contract.items():
        contract = contracts[contract_id]
        try:
            with transaction.atomic():
                invoices.append(_invoice_items(contract, items, today=today, actor=actor,
                                               invoiced=invoiced.get(contract_id, {})))
        except Exception as exc:  # one contract's failure must not stop the run
            log.warning("billing run: contract %s failed: %s", contract.number, exc)
            summary.errors.append(RunError(contract_id, contract.number, _error_message(exc)))
    return invoices


def _invoiced_quantities(contract_ids: list[int]) -> dict[int, dict[int, tuple]]:
    """{contract id: {contract line id: (quantity,)}} already on invoices that are not void."""
    from django.db.models import Sum

    rows = (InvoiceLine.objects.filter(contract_line__contract_id__in=contract_ids)
            .exclude(invoice__status=InvoiceStatus.VOID)
            .values("contract_line__contract_id", "contract_line_id").annotate(q=Sum("quantity")))
    result: dict[int, dict[int, tuple]] = defaultdict(dict)
    for row in rows:
        result[row["contract_line__contract_id"]][row["contract_line_id"]] = (row["q"] or ZERO,)
    return result
