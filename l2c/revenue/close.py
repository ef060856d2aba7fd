"""The month-end close: recognise what every contract earned, post it, lock the month.

For each contract, in its currency:

    B  billed to date      net of its posted invoices minus its credit notes, as their postings put it on
                           deferred revenue (2100), through the month's last day
    R  earned to date      Σ over its obligations of `recognition.earned_through(month end)`
    R₀ recognised before   Σ of its earlier (not reversed) postings

and its position after the close must be netted, as IFRS 15 / ASC 606 present it: deferred revenue
D* = max(B − R, 0) or a contract asset A* = max(R − B, 0), never both. The close posts, per contract, revenue
R − R₀ (a credit; negative when a credit note took back earned revenue) against the movements that bring
deferred revenue and the contract asset from where the earlier postings left them (D, A) to D*, A*:

    Dr Deferred revenue (2100)  D − D*        (released at the deferred balance's own average rate)
    Dr Contract asset  (1150)   A* − A        (new asset at the month-end rate; cleared at its own rate)
    Cr Revenue         (4000)   their sum

In a foreign currency, an amount moved between deferred revenue and the contract asset (new billing that
clears an asset) leaves the difference of their two rates: it goes to realised FX gain (7100) or loss (7200),
not to revenue.

One journal entry per currency per 500 contracts (journal REVENUE, dated the month's last day, a line per
contract and account naming the contract), posted in one batch through `ledger.post_entries`, with a
`RevenuePosting` per contract and a `Recognition` per obligation linking back. Then the ledger month is locked.

Closing a month twice posts nothing the second time. Months close in order: a month before the last closed
one cannot be closed (reopen the later one first). An admin may reopen the last closed month: its entries are
reversed (linked both ways), its postings marked reversed, the month unlocked; closing it again reposts.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, changes, events
from l2c.core.bulk import allocate_ids, insert_objects, insert_rows
from l2c.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from l2c.core.money import round_money

from . import engine, recognition, services, snapshots, summaries
from .models import (
    PerformanceObligation,
    PeriodClose,
    Recognition,
    RevenueContract,
    RevenuePosting,
    ScheduleLine,
)

log = logging.getLogger(__name__)
ZERO = Decimal(0)
CONTRACTS_PER_ENTRY = 500
RATE_PLACES = Decimal("1e-10")


@dataclass
class CloseSummary:
    period: str
    already_closed: bool = False
    registered: int = 0
    contracts: int = 0
    entries: int = 0
    lines: int = 0
    revenue_base: Decimal = ZERO
    seconds: float = 0.0
    entry_numbers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"period": self.period, "already_closed": self.already_closed, "registered": self.registered,
                "contracts": self.contracts, "entries": self.entries, "lines": self.lines,
                "revenue": str(self.revenue_base), "seconds": round(self.seconds, 2),
                "entry_numbers": self.entry_numbers}


@dataclass(slots=True)
class _Obligation:
    pk: int
    revenue_contract_id: int
    method: str
    allocated_amount: Decimal
    start_date: dt.date | None
    end_date: dt.date | None
    ended_on: dt.date | None
    currency: str


def parse_period(value) -> tuple[int, int]:
    """"2026-11" → (2026, 11); a clear error otherwise."""
    text = str(value or "").strip()
    try:
        year, month = (int(part) for part in text.split("-"))
        dt.date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationFailed.single("period", _("Give the month as YYYY-MM, e.g. 2026-11 (got %(value)r).")
                                      % {"value": text}, "invalid") from None
    if not 1900 <= year <= 9999:
        raise ValidationFailed.single("period", _("Give a year from 1900 to 9999."), "invalid")
    return year, month


def _today() -> dt.date:
    return timezone.localdate()


def last_closed() -> dt.date | None:
    return PeriodClose.last_closed_month()


# --- the numbers ------------------------------------------------------------------------------------

def _billed(through: dt.date) -> dict[int, tuple[Decimal, Decimal]]:
    """{contract id: (billed net in the contract currency, the same in the company currency)} as the invoice
    and credit-note postings put it on deferred revenue, through `through` (one query, joined in the database:
    the close reads every contract's billing at once)."""
    from django.db import connection

    from l2c.billing.models import CreditNote, Invoice
    from l2c.ledger.models import DEFERRED_REVENUE, JournalEntry, JournalLine, LedgerAccount

    q = connection.ops.quote_name
    line, entry = q(JournalLine._meta.db_table), q(JournalEntry._meta.db_table)
    invoice, note = q(Invoice._meta.db_table), q(CreditNote._meta.db_table)
    account_id = LedgerAccount.objects.filter(code=DEFERRED_REVENUE).values_list("pk", flat=True).first()
    sql = (f"SELECT COALESCE(i.contract_id, ni.contract_id) AS contract_id, "
           f"SUM(CASE WHEN l.credit > 0 THEN l.amount ELSE -l.amount END), SUM(l.credit - l.debit) "
           f"FROM {line} l JOIN {entry} e ON e.id = l.entry_id "
           f"LEFT JOIN {invoice} i ON e.source_type = 'billing.invoice' AND i.id = e.source_id "
           f"LEFT JOIN {note} n ON e.source_type = 'billing.credit_note' AND n.id = e.source_id "
           f"LEFT JOIN {invoice} ni ON ni.id = n.invoice_id "
           f"WHERE l.account_id = %s AND e.date <= %s AND e.source_type IN ('billing.invoice', 'billing.credit_note') "
           f"GROUP BY COALESCE(i.contract_id, ni.contract_id)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_id, through])
        rows = cursor.fetchall()
    return {contract_id: (_dec(amount), _dec(base)) for contract_id, amount, base in rows if contract_id is not None}


def _dec(value) -> Decimal:
    """A sum read back from the database as a Decimal (SQLite returns floats: rounded to 4 places, as stored)."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(Decimal("0.0001"))


def _earlier_postings() -> dict[int, dict[str, Decimal]]:
    rows = (RevenuePosting.objects.filter(reversed=False).values("revenue_contract_id")
            .annotate(revenue=Sum("revenue_amount"), deferred=Sum("deferred_amount"), deferred_base=Sum("deferred_base"),
                      asset=Sum("asset_amount"), asset_base=Sum("asset_base")))
    return {row.pop("revenue_contract_id"): {k: _dec(v) for k, v in row.items()} for row in rows}


def _recognised_before() -> dict[int, Decimal]:
    return {pk: _dec(total) for pk, total in Recognition.objects.filter(posting__reversed=False)
            .values("obligation_id").annotate(total=Sum("amount")).values_list("obligation_id", "total")}


def _ratable_through(month: dt.date) -> dict[int, Decimal]:
    """{obligation id: Σ of its current version's planned months up to and including `month`}."""
    return {pk: _dec(total) for pk, total in ScheduleLine.objects.filter(
        version__number=F("version__revenue_contract__version"), period__lte=month, obligation__method="ratable")
        .values("obligation_id").annotate(total=Sum("amount")).values_list("obligation_id", "total")}


def _rate(amount_ccy: Decimal, amount_base: Decimal) -> Decimal:
    return (amount_base / amount_ccy).quantize(RATE_PLACES) if amount_ccy else Decimal(1)


# --- closing ----------------------------------------------------------------------------------------

def close_period(*, actor, period) -> CloseSummary:
    """Close the month `period` ("2026-11" or (2026, 11)). Finance or admin; `actor` None is the scheduled job."""
    from l2c.ledger import services as ledger
    from l2c.ledger.models import Period

    services.require_revenue_user(actor)
    year, month = period if isinstance(period, tuple) else parse_period(period)
    first = dt.date(year, month, 1)
    last = engine.month_end(first)
    summary = CloseSummary(period=f"{year:04d}-{month:02d}")
    started = time.perf_counter()
    summary.registered = services.register_missing(actor=None)
    with transaction.atomic():
        # one close at a time: the month's ledger row, locked for the whole close
        Period.objects.select_for_update().filter(pk=ledger._period_row(year, month).pk).get()
        if PeriodClose.objects.filter(period=first, status=PeriodClose.Status.CLOSED).exists():
            summary.already_closed = True
            return summary
        if last >= _today():
            raise ValidationFailed.single("period", _(
                "%(month)s has not ended yet (its last day is %(day)s): a month is closed once it is over.")
                % {"month": summary.period, "day": last.isoformat()}, "month_not_over")
        later = PeriodClose.objects.filter(period__gt=first, status=PeriodClose.Status.CLOSED).order_by(
            "period").first()
        if later is not None:
            raise Conflict(_("%(later)s is closed already: months close in order. Reopen %(later)s first to close "
                             "%(month)s.") % {"later": later, "month": summary.period}, code="later_month_closed")
        if ledger.is_period_locked(first):
            locked = Period.objects.get(year=year, month=month)
            raise ValidationFailed.single("period", ledger.locked_message(locked) + " " + _(
                "Closing posts the month's revenue into it: ask an admin to unlock it, then close."), "period_locked")
        close = PeriodClose.objects.create(period=first, closed_at=timezone.now(), closed_by=actor)
        postings, recognitions, entries_spec = _compute(first, last)
        entries = ledger.post_entries(actor=actor, entries=[
            ledger.Entry(date=last, journal="REVENUE", memo=memo, lines=lines, source_type="revenue.close",
                         source_id=close.pk, source_label=f"REV {summary.period}")
            for memo, lines in entries_spec], actor_label="revenue close")
        for posting in postings:
            posting.close_id = close.pk
            posting.period = first
            posting.journal_entry_id = entries[posting._entry_index].pk
        for posting, pk in zip(postings, allocate_ids(RevenuePosting, len(postings)), strict=True):
            posting.pk = pk
        insert_objects(postings)
        changes.announce(RevenuePosting, [posting.pk for posting in postings])
        insert_rows(Recognition, ["obligation_id", "posting_id", "period", "amount"],
                    ((obligation_id, postings[index].pk, first, amount) for obligation_id, index, amount in recognitions))
        summary.contracts = len(postings)
        summary.entries = len(entries)
        summary.lines = sum(len(lines) for _memo, lines in entries_spec)
        summary.revenue_base = sum((p.revenue_base for p in postings), ZERO)
        summary.entry_numbers = [entry.number for entry in entries]
        snapshots.write_snapshot(close)
        summaries.write(close)
        ledger.period_lock(actor=actor, year=year, month=month)
        summary.seconds = time.perf_counter() - started
        close.contracts, close.entries, close.lines = summary.contracts, summary.entries, summary.lines
        close.revenue_base, close.seconds = summary.revenue_base, summary.seconds
        close.save(update_fields=["contracts", "entries", "lines", "revenue_base", "seconds"])
        audit.record(actor=actor, action=audit.Action.CREATE, instance=close, actor_label="revenue close", changes={
            "period": [None, summary.period], "contracts": [None, summary.contracts],
            "entries": [None, summary.entry_numbers], "revenue_base": [None, str(summary.revenue_base)]})
        events.publish("revenue.period_closed", {"period": summary.period, "contracts": summary.contracts,
                                                 "entries": summary.entries, "revenue": str(summary.revenue_base)})
    summary.seconds = time.perf_counter() - started
    log.info("revenue close %s: %d contracts, %d entries, %d lines, %.1f s", summary.period, summary.contracts,
             summary.entries, summary.lines, summary.seconds)
    return summary


def _compute(first: dt.date, last: dt.date):
    """(postings without close/entry, [(obligation id, posting index, amount)], [(memo, ledger lines)])."""
    from l2c.contracts.models import Contract
    from l2c.ledger import services as ledger
    from l2c.ledger.models import CONTRACT_ASSET, DEFERRED_REVENUE, FX_GAIN, FX_LOSS, REVENUE

    company = ledger.company_currency()
    contracts = {pk: (contract_id, account_id, currency) for pk, contract_id, account_id, currency in
                 RevenueContract.objects.values_list("pk", "contract_id", "account_id", "currency")}
    numbers = dict(Contract.objects.filter(revenue__isnull=False).values_list("pk", "number"))
    obligations = [_Obligation(pk, rc, method, allocated, start, end, ended, contracts[rc][2])
                   for pk, rc, method, allocated, start, end, ended in PerformanceObligation.objects.values_list(
                       "pk", "revenue_contract_id", "method", "allocated_amount", "start_date", "end_date", "ended_on")]
    earned = recognition.earned_through(obligations, last, versions=None, ratable_totals=_ratable_through(first))
    before = _recognised_before()
    billed = _billed(last)
    earlier = _earlier_postings()
    rates: dict[str, Decimal] = {}

    by_contract: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for o in obligations:
        delta = earned[o.pk] - before.get(o.pk, ZERO)
        if delta:
            by_contract[o.revenue_contract_id].append((o.pk, delta))
    postings: list[RevenuePosting] = []
    recognitions: list[tuple[int, int, Decimal]] = []
    lines_by_currency: dict[str, list[list]] = defaultdict(list)
    touched = set(by_contract) | {rc for rc, (contract_id, _a, _c) in contracts.items() if contract_id in billed}
    for rc in sorted(touched):
        contract_id, account_id, currency = contracts[rc]
        deltas = by_contract.get(rc, [])
        r_delta = sum((d for _o, d in deltas), ZERO)
        b_amount, b_base = billed.get(contract_id, (ZERO, ZERO))
        prior = earlier.get(rc, {})
        r_prev = prior.get("revenue") or ZERO
        d_cur = b_amount - (prior.get("deferred") or ZERO)
        d_cur_base = b_base - (prior.get("deferred_base") or ZERO)
        a_cur = prior.get("asset") or ZERO
        a_cur_base = prior.get("asset_base") or ZERO
        r_total = r_prev + r_delta
        d_target = max(b_amount - r_total, ZERO)
        a_target = max(r_total - b_amount, ZERO)
        # amounts read back from 4-place columns: rounded to the currencies' own places for the ledger
        r_delta = round_money(r_delta, currency)
        d_move = round_money(d_cur - d_target, currency)  # + debit deferred revenue (a release)
        a_move = round_money(a_target - a_cur, currency)  # + debit contract asset
        if not d_move and not a_move and not r_delta and not (d_target == 0 and d_cur_base) \
                and not (a_target == 0 and a_cur_base):
            continue
        if currency not in rates:
            rates[currency] = Decimal(1) if currency == company else Decimal(ledger.rate_for(currency, last))
        month_rate = rates[currency]
        d_base = round_money(_convert(d_move, d_cur, d_cur_base, month_rate, company, releasing=d_move > 0), company)
        a_base = round_money(_convert(a_move, a_cur, a_cur_base, month_rate, company, releasing=a_move < 0), company)
        revenue_base = _revenue_base(r_delta, d_move, d_base, a_move, a_base, company)
        # a balance emptied in the contract currency is emptied in the company currency too: the cents its
        # rates leave behind are an exchange difference
        d_residue = round_money(d_cur_base - d_base, company) if not d_target else ZERO  # + still credited
        a_residue = round_money(a_cur_base + a_base, company) if not a_target else ZERO  # + still debited
        if not d_move and not a_move and not r_delta and not d_residue and not a_residue:
            continue
        fx_base = d_base + a_base + d_residue - a_residue - revenue_base
        posting = RevenuePosting(revenue_contract_id=rc, revenue_amount=r_delta, revenue_base=revenue_base,
                                 deferred_amount=d_move, deferred_base=d_base + d_residue, asset_amount=a_move,
                                 asset_base=a_base - a_residue, fx_base=fx_base)
        index = len(postings)
        postings.append(posting)
        recognitions.extend((obligation_id, index, delta) for obligation_id, delta in deltas)
        lines_by_currency[currency].append([index, numbers.get(contract_id, ""), account_id, currency,
                                            (DEFERRED_REVENUE, d_move, d_base, currency),
                                            (CONTRACT_ASSET, a_move, a_base, currency),
                                            (REVENUE, -r_delta, -revenue_base, currency),
                                            (DEFERRED_REVENUE, d_residue, d_residue, company),
                                            (CONTRACT_ASSET, -a_residue, -a_residue, company),
                                            (FX_GAIN if fx_base > 0 else FX_LOSS, -fx_base, -fx_base, company)])
    entries_spec = []
    for currency in sorted(lines_by_currency):
        rows = lines_by_currency[currency]
        chunks = [rows[i:i + CONTRACTS_PER_ENTRY] for i in range(0, len(rows), CONTRACTS_PER_ENTRY)]
        for number, chunk in enumerate(chunks, start=1):
            entry_lines = []
            for index, label, account_id, _currency, *movements in chunk:
                postings[index]._entry_index = len(entries_spec)
                for code, amount, base, line_currency in movements:  # + debit, − credit
                    if not amount and not base:
                        continue
                    side = {"debit": abs(base)} if base > 0 or (base == 0 and amount > 0) else {"credit": abs(base)}
                    entry_lines.append(ledger.Line(
                        account=code, currency=line_currency, amount=abs(amount), rate=_rate(abs(amount), abs(base)),
                        customer=account_id, description=label, **side))
            memo = _("Revenue recognition %(month)s, %(currency)s (%(n)s of %(total)s)") % {
                "month": first.strftime("%Y-%m"), "currency": currency, "n": number, "total": len(chunks)}
            entries_spec.append((memo, entry_lines))
    return postings, recognitions, entries_spec


def _revenue_base(r_delta: Decimal, d_move: Decimal, d_base: Decimal, a_move: Decimal, a_base: Decimal,
                  company: str) -> Decimal:
    """Revenue in the company currency: the deferred revenue released at its own rate plus the contract asset
    booked at the month-end rate. When the close also moves an amount between the two (new billing clears an
    asset, or a credit turns one into the other), that part is not revenue: it is taken at the rate of the side
    that carries the revenue, and what the two rates make of it is an exchange difference."""
    if not r_delta:
        return ZERO
    d_same = not d_move or (d_move > 0) == (r_delta > 0)
    a_same = not a_move or (a_move > 0) == (r_delta > 0)
    if d_same and a_same:
        return d_base + a_base
    move, base = (d_move, d_base) if d_same else (a_move, a_base)
    return round_money(r_delta * base / move, company) if move else ZERO


def _convert(move: Decimal, balance: Decimal, balance_base: Decimal, month_rate: Decimal, company: str, *,
             releasing: bool) -> Decimal:
    """A movement of deferred revenue or the contract asset in the company currency: taken out at the
    balance's own average rate (all of it when it clears the balance), put in at the month-end rate."""
    if not move:
        return ZERO
    if releasing and balance:
        if abs(move) >= abs(balance):
            return balance_base if move > 0 else -balance_base
        return round_money(move * balance_base / balance, company)
    return round_money(move * month_rate, company)


# --- reopening --------------------------------------------------------------------------------------

@transaction.atomic
def reopen_period(*, actor, period, reason: str) -> PeriodClose:
    """Reopen the last closed month (admin): reverse its entries, mark its postings reversed, unlock it."""
    from l2c.ledger import services as ledger
    from l2c.ledger.models import JournalEntry

    if actor is None or not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can reopen a closed month."))
    year, month = period if isinstance(period, tuple) else parse_period(period)
    first = dt.date(year, month, 1)
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed([FieldError("reason", _("Give the reason for reopening."), "required")])
    close = PeriodClose.objects.select_for_update().filter(period=first, status=PeriodClose.Status.CLOSED).first()
    if close is None:
        raise Conflict(_("%(month)s is not closed.") % {"month": first.strftime("%Y-%m")}, code="not_closed")
    later = PeriodClose.objects.filter(period__gt=first, status=PeriodClose.Status.CLOSED).order_by("period").first()
    if later is not None:
        raise Conflict(_("%(later)s is closed after it: reopen %(later)s first.") % {"later": later},
                       code="later_month_closed")
    if ledger.is_period_locked(first):
        ledger.period_unlock(actor=actor, year=year, month=month)
    entry_ids = sorted(set(close.postings.values_list("journal_entry_id", flat=True)))
    reversals = [ledger.reverse_entry(actor=actor, entry=entry, memo=_("Reopening %(month)s: %(reason)s") % {
        "month": first.strftime("%Y-%m"), "reason": text[:200]}).number
        for entry in JournalEntry.objects.filter(pk__in=entry_ids).order_by("pk")]
    changes.announce(RevenuePosting, list(close.postings.values_list("pk", flat=True)))
    close.postings.update(reversed=True)
    snapshots.delete_snapshot(close)
    summaries.delete(close)
    close.status, close.reopened_at, close.reopened_by, close.reopen_reason = (
        PeriodClose.Status.REOPENED, timezone.now(), actor, text)
    close.save(update_fields=["status", "reopened_at", "reopened_by", "reopen_reason"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=close, changes={
        "status": [PeriodClose.Status.CLOSED, PeriodClose.Status.REOPENED], "reason": [None, text],
        "reversals": [None, reversals]})
    events.publish("revenue.period_reopened", {"period": first.strftime("%Y-%m")})
    return close
