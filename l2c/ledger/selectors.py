"""Reads of the ledger: lists and the reports (trial balance, general ledger, AR subledger).

Only finance and admin read the ledger: every selector that takes `user` refuses anyone else with
PermissionDenied (403). The report functions also run without a user for other apps' checks and tests.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, ValidationFailed

from .models import AR, ExchangeRate, Journal, JournalEntry, JournalLine, LedgerAccount, NormalBalance, Period
from .services import require_ledger_user

ZERO = Decimal("0.00")


def _q(value) -> Decimal:
    """A sum as the database gives it (SQLite drops trailing zeros) with the ledger's two places."""
    return Decimal(value or 0).quantize(ZERO)


def _check(user) -> None:
    if user is not None:  # None: another app's check or a test, not a person's request
        require_ledger_user(user)


# --- lists ------------------------------------------------------------------------------------------

def account_list(*, user, active: bool | None = None) -> QuerySet[LedgerAccount]:
    _check(user)
    qs = LedgerAccount.objects.annotate(lines_count=Count("lines")).order_by("code")
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs


def account_get(*, user, pk=None, code: str | None = None) -> LedgerAccount:
    _check(user)
    qs = LedgerAccount.objects.all()
    account = qs.filter(code=code).first() if code is not None else qs.filter(pk=pk).first()
    if account is None:
        raise NotFound(_("No ledger account %(id)s.") % {"id": code if code is not None else pk})
    return account


def journal_list(*, user) -> QuerySet[Journal]:
    _check(user)
    return Journal.objects.order_by("code")


def entry_list(*, user, date_from: dt.date | None = None, date_to: dt.date | None = None,
               journal: str | None = None, account: str | None = None, source_type: str | None = None,
               source_id: int | None = None, customer: int | None = None, q: str = "") -> QuerySet[JournalEntry]:
    """Entries newest first, filtered by date range, journal code, account code (any line), source
    document and customer (any line); `q` searches number, memo and source label."""
    _check(user)
    qs = JournalEntry.objects.select_related("journal", "posted_by", "reversal_of").order_by("-date", "-id")
    if date_from:
        qs = qs.filter(date__gte=date_from)
    if date_to:
        qs = qs.filter(date__lte=date_to)
    if journal:
        qs = qs.filter(journal__code=journal.upper())
    if account:
        qs = qs.filter(pk__in=JournalLine.objects.filter(account__code=account).values("entry_id"))
    if customer:
        qs = qs.filter(pk__in=JournalLine.objects.filter(customer_id=customer).values("entry_id"))
    if source_type:
        qs = qs.filter(source_type=source_type)
    if source_id is not None:
        qs = qs.filter(source_id=source_id)
    if q:
        qs = qs.filter(Q(number__icontains=q) | Q(memo__icontains=q) | Q(source_label__icontains=q))
    return qs.annotate(total=Coalesce(Sum("lines__debit"), ZERO))


def entry_get(*, user, pk) -> JournalEntry:
    _check(user)
    entry = (JournalEntry.objects.select_related("journal", "posted_by", "reversal_of")
             .prefetch_related("lines__account", "lines__customer").filter(pk=pk).first())
    if entry is None:
        raise NotFound(_("No journal entry with id %(id)s.") % {"id": pk})
    return entry


def entries_for_source(source_type: str, source_id: int) -> QuerySet[JournalEntry]:
    """The entries posted for a document (for billing's pages); no user check: the caller's page did it."""
    return JournalEntry.objects.filter(source_type=source_type, source_id=source_id).order_by("date", "id")


def period_list(*, user, today: dt.date | None = None) -> list[Period]:
    """Every month with a period row, plus the current month and the eleven before it (unsaved rows
    for months never used), newest first."""
    _check(user)
    today = today or dt.date.today()
    periods = {(p.year, p.month): p for p in Period.objects.select_related("locked_by")}
    year, month = today.year, today.month
    for _step in range(12):
        periods.setdefault((year, month), Period(year=year, month=month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    counts = {(row["date__year"], row["date__month"]): row["n"] for row in
              JournalEntry.objects.values("date__year", "date__month").annotate(n=Count("id"))}
    result = sorted(periods.values(), key=lambda p: (p.year, p.month), reverse=True)
    for period in result:
        period.entries_count = counts.get((period.year, period.month), 0)
    return result


def rate_list(*, user, currency: str | None = None) -> QuerySet[ExchangeRate]:
    _check(user)
    qs = ExchangeRate.objects.order_by("currency", "-date")
    if currency:
        qs = qs.filter(currency=currency.upper())
    return qs


# --- reports ----------------------------------------------------------------------------------------

@dataclass
class TrialBalanceRow:
    account: LedgerAccount
    debit: Decimal  # total debits up to the date
    credit: Decimal  # total credits up to the date
    balance: Decimal  # debit − credit (positive: a debit balance)

    @property
    def debit_balance(self) -> Decimal:
        return self.balance if self.balance > 0 else ZERO

    @property
    def credit_balance(self) -> Decimal:
        return -self.balance if self.balance < 0 else ZERO


@dataclass
class TrialBalance:
    as_of: dt.date
    currency: str
    rows: list[TrialBalanceRow] = field(default_factory=list)
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        """Debits − credits over all accounts: zero in a sound ledger."""
        return self.debit - self.credit

    @property
    def is_balanced(self) -> bool:
        return self.balance == 0


def trial_balance(as_of: dt.date, *, user=None, include_zero: bool = False) -> TrialBalance:
    """Per account: total debits, credits and the balance of every line dated on or before `as_of`."""
    from .services import company_currency

    _check(user)
    sums = {row["account_id"]: row for row in
            JournalLine.objects.filter(entry__date__lte=as_of).values("account_id")
            .annotate(debit=Coalesce(Sum("debit"), ZERO), credit=Coalesce(Sum("credit"), ZERO))}
    report = TrialBalance(as_of=as_of, currency=company_currency())
    for account in LedgerAccount.objects.order_by("code"):
        row = sums.get(account.pk)
        if row is None and not include_zero:
            continue
        debit = _q(row["debit"]) if row else ZERO
        credit = _q(row["credit"]) if row else ZERO
        report.rows.append(TrialBalanceRow(account=account, debit=debit, credit=credit, balance=debit - credit))
        report.debit += debit
        report.credit += credit
    return report


@dataclass
class LedgerRow:
    line: JournalLine
    balance: Decimal  # running balance after this line, on the account's normal side


@dataclass
class GeneralLedger:
    account: LedgerAccount
    date_from: dt.date | None
    date_to: dt.date | None
    opening: Decimal = ZERO
    rows: list[LedgerRow] = field(default_factory=list)
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    closing: Decimal = ZERO


def _signed(account: LedgerAccount, debit: Decimal, credit: Decimal) -> Decimal:
    """A movement as seen from the account's normal side (a debit raises an asset, lowers revenue)."""
    return debit - credit if account.normal_balance == NormalBalance.DEBIT else credit - debit


def general_ledger(account: str | LedgerAccount, date_from: dt.date | None = None, date_to: dt.date | None = None,
                   *, user=None) -> GeneralLedger:
    """The lines of one account between two dates (inclusive) with the opening balance and a running
    balance, both on the account's normal side (debit for assets and expenses, credit for the rest)."""
    _check(user)
    if not isinstance(account, LedgerAccount):
        found = LedgerAccount.objects.filter(code=account).first()
        if found is None:
            raise ValidationFailed.single("account", _("No account with code %(code)s.") % {"code": account},
                                          "not_found")
        account = found
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed.single("from", _("The start date is after the end date."), "invalid_range")
    report = GeneralLedger(account=account, date_from=date_from, date_to=date_to)
    lines = JournalLine.objects.filter(account=account)
    if date_from:
        before = lines.filter(entry__date__lt=date_from).aggregate(
            debit=Coalesce(Sum("debit"), ZERO), credit=Coalesce(Sum("credit"), ZERO))
        report.opening = _signed(account, _q(before["debit"]), _q(before["credit"]))
        lines = lines.filter(entry__date__gte=date_from)
    if date_to:
        lines = lines.filter(entry__date__lte=date_to)
    balance = report.opening
    for line in (lines.select_related("entry", "entry__journal", "customer")
                 .order_by("entry__date", "entry_id", "line_no")):
        balance += _signed(account, line.debit, line.credit)
        report.rows.append(LedgerRow(line=line, balance=balance))
        report.debit += line.debit
        report.credit += line.credit
    report.closing = balance
    return report


@dataclass
class SubledgerRow:
    customer_id: int
    customer_name: str
    debit: Decimal
    credit: Decimal
    balance: Decimal  # what the customer owes (debit − credit)


@dataclass
class ArSubledger:
    as_of: dt.date
    rows: list[SubledgerRow] = field(default_factory=list)
    total: Decimal = ZERO  # sum of the customers' balances
    control: Decimal = ZERO  # balance of the AR control account

    @property
    def matches(self) -> bool:
        return self.total == self.control


def ar_subledger(as_of: dt.date, *, user=None, include_settled: bool = False) -> ArSubledger:
    """What each customer owes on account 1100 as of a date, beside the control account's balance."""
    _check(user)
    lines = JournalLine.objects.filter(account__code=AR, entry__date__lte=as_of)
    report = ArSubledger(as_of=as_of)
    rows = (lines.filter(customer__isnull=False).values("customer_id", "customer__name")
            .annotate(debit=Coalesce(Sum("debit"), ZERO), credit=Coalesce(Sum("credit"), ZERO))
            .order_by("customer__name", "customer_id"))
    for row in rows:
        debit, credit = _q(row["debit"]), _q(row["credit"])
        report.total += debit - credit
        if debit != credit or include_settled:
            report.rows.append(SubledgerRow(customer_id=row["customer_id"], customer_name=row["customer__name"],
                                            debit=debit, credit=credit, balance=debit - credit))
    control = lines.aggregate(debit=Coalesce(Sum("debit"), ZERO), credit=Coalesce(Sum("credit"), ZERO))
    report.control = _q(control["debit"]) - _q(control["credit"])
    return report


def ar_subledger_matches_control(as_of: dt.date) -> bool:
    """True when the customers' AR balances add up to the AR control account (1100) as of the date."""
    return ar_subledger(as_of).matches


def customer_balance(customer_id: int, as_of: dt.date) -> Decimal:
    """What one customer owes on the AR control account as of a date (for billing's statements)."""
    row = (JournalLine.objects.filter(account__code=AR, customer_id=customer_id, entry__date__lte=as_of)
           .aggregate(debit=Coalesce(Sum("debit"), ZERO), credit=Coalesce(Sum("credit"), ZERO)))
    return _q(row["debit"]) - _q(row["credit"])
