"""Revenue reports (read only): revenue by month, recognised vs billed vs collected, the deferred revenue
waterfall, future recognition, remaining performance obligations (ASC 606 disclosure), MRR/ARR with its
movements, and one contract's allocation, schedules and postings.

Conventions:
- Amounts are in the company currency unless a name says otherwise, rounded to its minor unit at the end
  (after the database summed them), never per row.
- Reports work in whole months: a range from 2026-01-15 to 2026-03-02 reports January to March in full.
- Postings of a reopened month (`reversed=True`) never count.
- Every query aggregates in the database (GROUP BY month, customer, product or contract), so a report reads a
  handful of rows per month however many contracts there are; Python only combines those sums.
- Every report takes the user it reads for and refuses sales roles (`services.require_revenue_user`).
"""
from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least, TruncMonth
from django.utils.translation import gettext as _

from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.money import round_money

from . import engine, services
from .models import (
    Method,
    MonthRevenue,
    ObligationLine,
    PeriodClose,
    Recognition,
    RemainingSnapshot,
    RevenueContract,
    RevenuePosting,
    ScheduleLine,
    ScheduleVersion,
    ServiceTerm,
)

ZERO = Decimal(0)
MAX_MONTHS = 240  # 20 years per report
BY_CHOICES = ("product", "customer")
# sums of products and quotients: wide enough for any amount, precise enough to round once at the end
WIDE = DecimalField(max_digits=38, decimal_places=10)
INVOICE_SOURCES = ("billing.invoice", "billing.credit_note")
CLOSE_SOURCE = "revenue.close"
DAYS_PER_MONTH = Decimal(365) / Decimal(12)


# --- arguments --------------------------------------------------------------------------------------

def months_between(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    """The first days of the months from `date_from`'s to `date_to`'s (inclusive); a field error when the
    range is reversed or longer than MAX_MONTHS."""
    errors = []
    if not isinstance(date_from, dt.date):
        errors.append(FieldError("from", _("Give the first day as YYYY-MM-DD."), "required"))
    if not isinstance(date_to, dt.date):
        errors.append(FieldError("to", _("Give the last day as YYYY-MM-DD."), "required"))
    if errors:
        raise ValidationFailed(errors)
    if date_to < date_from:
        raise ValidationFailed.single("to", _("The end of the range (%(to)s) is before its start (%(from)s).")
                                      % {"to": date_to.isoformat(), "from": date_from.isoformat()}, "before_start")
    months = []
    month = engine.month_of(date_from)
    while month <= date_to:
        months.append(month)
        if len(months) > MAX_MONTHS:
            raise ValidationFailed.single("to", _("A report covers at most %(n)s months; narrow the range.")
                                          % {"n": MAX_MONTHS}, "range_too_long")
        month = engine.next_month(month)
    return months


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _company() -> str:
    from l2c.ledger.services import company_currency

    return company_currency()


def _money(value, currency: str) -> Decimal:
    return round_money(value or ZERO, currency)


def _account_id(code: str) -> int | None:
    """The ledger account's id (filtering lines by it spares the reports a join to the chart of accounts)."""
    from l2c.ledger.models import LedgerAccount

    return LedgerAccount.objects.filter(code=code).values_list("pk", flat=True).first()


def _check(user) -> None:
    services.require_revenue_user(user)


# --- SQL helpers ------------------------------------------------------------------------------------

class DaysBetween(Func):
    """Whole days from the second date to the first (end − start), on SQLite and PostgreSQL."""

    output_field = IntegerField()
    arity = 2

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(julianday(%(expressions)s) AS INTEGER)",
                           arg_joiner=") - julianday(", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((%(expressions)s)::integer)", arg_joiner=" - ", **extra)

    def as_sql(self, compiler, connection, **extra):  # other databases: the SQL standard's date subtraction
        extra.setdefault("template", "(%(expressions)s)")
        extra.setdefault("arg_joiner", " - ")
        return super().as_sql(compiler, connection, **extra)


class Ratio(Func):
    """numerator / denominator as a decimal: SQLite stores 4650.0000 as the integer 4650 and would divide
    integers (4650 / 3100 = 1), so there the numerator is made real first."""

    arity = 2
    output_field = WIDE

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="((%(expressions)s))", arg_joiner=" * 1.0 / ", **extra)

    def as_sql(self, compiler, connection, **extra):
        extra.setdefault("template", "((%(expressions)s))")
        extra.setdefault("arg_joiner", " / ")
        return super().as_sql(compiler, connection, **extra)


class MonthEnd(Func):
    """The last day of the date's month."""

    output_field = DateField()
    arity = 1

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection,
                              template="date(%(expressions)s, 'start of month', '+1 month', '-1 day')", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection,
                              template="(date_trunc('month', (%(expressions)s)::timestamp) + interval '1 month - 1 day')::date",
                              **extra)


class MonthEndAfter(Func):
    """The last day of the month of the day after the date: the first month end a service that ends on the
    date no longer covers."""

    output_field = DateField()
    arity = 1

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template=(
            "date(%(expressions)s, '+1 day', 'start of month', '+1 month', '-1 day')"), **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template=(
            "(date_trunc('month', (%(expressions)s + 1)::timestamp) + interval '1 month - 1 day')::date"), **extra)


class AtLeast(Func):
    """`expression >= value` as a condition (When(...) over an expression, not a field lookup)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, value: dt.date):
        super().__init__(expression, Value(value, output_field=DateField()))

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" >= ", **extra)


def _service_end():
    """The last day an obligation serves: its end date, or the day it ended early."""
    return Least(Coalesce("ended_on", "end_date"), "end_date", output_field=DateField())



# --- revenue by month -------------------------------------------------------------------------------

def revenue_by_month(date_from: dt.date, date_to: dt.date, by: str | None = None, *, user=None) -> list[dict]:
    """[{month, key, label, amount}] of recognised revenue per month, optionally per product or customer
    (company currency). Per product, each obligation's recognition (contract currency) is converted with
    its posting's own rate (revenue_base / revenue_amount), so the products add up to the month."""
    _check(user)
    if by not in (None, "", *BY_CHOICES):
        raise ValidationFailed.single("by", _("Group by product or customer, or leave empty (got %(value)r).")
                                      % {"value": by}, "invalid")
    months = months_between(date_from, date_to)
    first, last = months[0], months[-1]
    company = _company()
    if by in BY_CHOICES:
        # the closes' sums per product or customer (revenue.summaries), a few rows per month
        totals = (MonthRevenue.objects.filter(dimension=by, period__gte=first, period__lte=last,
                                              close__status=PeriodClose.Status.CLOSED)
                  .values("period", "key").annotate(total=Sum("amount")).order_by())
        totals = list(totals)
        names = _names(by, {row["key"] for row in totals})
        rows = sorted(({"period": row["period"], "key": row["key"], "label": names.get(row["key"], ""),
                        "total": row["total"]} for row in totals),
                      key=lambda row: (row["period"], row["label"], row["key"]))
    else:
        totals = dict(RevenuePosting.objects.filter(reversed=False, period__gte=first, period__lte=last)
                      .values("period").annotate(total=Sum("revenue_base")).values_list("period", "total"))
        return [{"month": month, "key": "", "label": "", "amount": _money(totals.get(month), company)}
                for month in months]
    return [{"month": row["period"], "key": str(row["key"]), "label": row["label"] or "",
             "amount": _money(row["total"], company)} for row in rows]


def _names(by: str, keys: set) -> dict:
    from l2c.customers.models import Account
    from l2c.quoting.models import Product

    model = Product if by == "product" else Account
    return dict(model.objects.filter(pk__in=keys).values_list("pk", "name")) if keys else {}


def top_contracts(date_from: dt.date, date_to: dt.date, *, user=None, limit: int = 20) -> list[dict]:
    """[{contract_id, contract, customer, amount}]: the contracts that recognised the most revenue in the months
    (company currency), largest first."""
    _check(user)
    months = months_between(date_from, date_to)
    company = _company()
    rows = (RevenuePosting.objects.filter(reversed=False, period__gte=months[0], period__lte=months[-1])
            .values("revenue_contract_id").annotate(total=Sum("revenue_base")).order_by("-total")[:limit])
    totals = {row["revenue_contract_id"]: row["total"] for row in rows}
    meta = {pk: rest for pk, *rest in RevenueContract.objects.filter(pk__in=list(totals)).values_list(
        "pk", "contract_id", "contract__number", "account__name")}
    return [{"contract_id": meta[pk][0], "contract": meta[pk][1], "customer": meta[pk][2],
             "amount": _money(total, company)} for pk, total in totals.items()]


# --- recognised vs billed vs collected --------------------------------------------------------------

def recognised_billed_collected(date_from: dt.date, date_to: dt.date, *, user=None) -> list[dict]:
    """[{month, recognised, billed, collected}]: revenue posted by the closes; billed net (invoices' credits to
    deferred revenue minus credit notes' debits); cash applied to invoices (the receivable it cleared)."""
    from l2c.billing.models import PaymentAllocation
    from l2c.ledger.models import DEFERRED_REVENUE, MonthTotal

    _check(user)
    months = months_between(date_from, date_to)
    first, last = months[0], engine.month_end(months[-1])
    company = _company()
    recognised = dict(RevenuePosting.objects.filter(reversed=False, period__gte=first, period__lte=last)
                      .values("period").annotate(total=Sum("revenue_base")).values_list("period", "total"))
    # the ledger's month totals (kept by every posting), not its lines: a few rows per month
    billed = dict(MonthTotal.objects.filter(account_id=_account_id(DEFERRED_REVENUE), source_type__in=INVOICE_SOURCES,
                                            month__gte=months[0], month__lte=months[-1])
                  .values("month").annotate(total=Sum("credit") - Sum("debit")).values_list("month", "total"))
    collected = dict(PaymentAllocation.objects.filter(date__gte=first, date__lte=last)
                     .annotate(month=TruncMonth("date")).values("month")
                     .annotate(total=Sum("ar_base")).values_list("month", "total"))
    return [{"month": month, "recognised": _money(recognised.get(month), company),
             "billed": _money(billed.get(month), company), "collected": _money(collected.get(month), company)}
            for month in months]


# --- deferred revenue waterfall ---------------------------------------------------------------------

def deferred_waterfall(date_from: dt.date, date_to: dt.date, *, user=None) -> list[dict]:
    """[{month, opening, billings, recognition, other, closing}] of deferred revenue (2100, credit balance
    positive): billings are the invoice and credit-note postings, recognition the releases by the closes
    (net of a reopened month's reversal), other everything else. opening + billings − recognition + other
    = closing, and each month's closing is the next month's opening."""
    from l2c.ledger.models import DEFERRED_REVENUE, REVENUE_JOURNAL, MonthTotal

    _check(user)
    months = months_between(date_from, date_to)
    first = months[0]
    company = _company()
    # the ledger's month totals (kept by every posting), not its lines: a few rows per month
    totals = MonthTotal.objects.filter(account_id=_account_id(DEFERRED_REVENUE))
    before = totals.filter(month__lt=first).aggregate(c=Sum("credit"), d=Sum("debit"))
    opening = (before["c"] or ZERO) - (before["d"] or ZERO)
    kind = Case(When(source_type__in=INVOICE_SOURCES, then=Value("billings")),
                When(Q(source_type=CLOSE_SOURCE) | Q(journal__code=REVENUE_JOURNAL),
                     then=Value("recognition")), default=Value("other"))
    moves: dict[tuple[dt.date, str], Decimal] = {}
    for row in (totals.filter(month__gte=first, month__lte=months[-1])
                .annotate(kind=kind).values("month", "kind")
                .annotate(c=Sum("credit"), d=Sum("debit"))):
        moves[(row["month"], row["kind"])] = (row["c"] or ZERO) - (row["d"] or ZERO)  # credit positive
    rows = []
    for month in months:
        billings = _money(moves.get((month, "billings")), company)
        recognition = _money(-moves.get((month, "recognition"), ZERO), company)
        other = _money(moves.get((month, "other")), company)
        closing = opening + billings - recognition + other
        rows.append({"month": month, "opening": _money(opening, company), "billings": billings,
                     "recognition": recognition, "other": other, "closing": _money(closing, company)})
        opening = closing
    return rows


# --- what is still to be recognised -----------------------------------------------------------------

@dataclass
class _Remaining:
    """The unrecognised rest per (group key, bucket, contract currency): the bucket is the planned month, or
    with `split` the first report month (within 12 months) or the horizon (later)."""

    start: dt.date  # the first month that can still recognise revenue
    horizon: dt.date  # start + 12 months
    rows: list[tuple[object, dt.date, str, Decimal]] = field(default_factory=list)  # (key, bucket, currency, amount)


def _remaining(as_of: dt.date, group: str | None, *, split: bool) -> _Remaining:
    """What is not yet recognised (see `remaining_queries`), per `group` — a field of the revenue contract
    ("id", "account_id") or None — bucket and contract currency.

    When the last closed month left a snapshot (`revenue.snapshots`), its rows stand for every contract whose
    schedule has not changed since that close (no version made after it), and only the changed ones (new,
    modified, credited) are computed from their schedule lines: the same sums, without scanning every line."""
    last = (PeriodClose.objects.filter(status=PeriodClose.Status.CLOSED).order_by("-period")
            .annotate(snapshot=Exists(RemainingSnapshot.objects.filter(close_id=OuterRef("pk"))),
                      changed=Exists(ScheduleVersion.objects.filter(created_at__gte=OuterRef("closed_at"))))
            .values("pk", "period", "closed_at", "snapshot", "changed").first())
    open_from = engine.next_month(last["period"]) if last else None
    start = max(open_from, engine.month_of(as_of)) if open_from else engine.month_of(as_of)
    horizon = add_months(start, 12)
    result = _Remaining(start=start, horizon=horizon)

    def bucket(month_field: str):
        month = Greatest(month_field, Value(start), output_field=DateField())
        if not split:
            return month
        return Case(When(AtLeast(month, horizon), then=Value(horizon)), default=Value(start), output_field=DateField())

    keys = {"key": group} if group else {}
    changed = None
    queries = []
    if last and last["snapshot"]:
        changed = (ScheduleVersion.objects.filter(created_at__gte=last["closed_at"])
                   .values("revenue_contract_id"))
        snapshot = RemainingSnapshot.objects.filter(close_id=last["pk"])
        snapshot_keys = {"key": F({"id": "revenue_contract_id"}.get(group, group))} if group else {}

        def sums(rows, total):
            return rows.values("currency", bucket=bucket("month"), **snapshot_keys).annotate(total=total).order_by()

        if group in (None, "account_id"):
            # the customers' sums, minus the changed contracts' own rows (computed below from their lines)
            queries.append(sums(snapshot.filter(revenue_contract__isnull=True), Sum("amount")))
            if last["changed"]:
                queries.append(sums(snapshot.filter(revenue_contract_id__in=changed), -Sum("amount")))
        else:
            contracts = snapshot.filter(revenue_contract__isnull=False)
            if last["changed"]:
                contracts = contracts.exclude(revenue_contract_id__in=changed)
            queries.append(sums(contracts, Sum("amount")))
    if changed is None or last["changed"]:
        queries += remaining_queries(open_from, start, bucket, keys, contracts=changed)
    for rows in queries:
        for row in rows:
            result.rows.append((row.get("key"), row["bucket"], row["currency"], row["total"] or ZERO))
    return result


def remaining_queries(open_from: dt.date | None, start: dt.date, bucket, keys: dict[str, str], *,
                      contracts=None) -> list:
    """Three grouped queries (joins only, no per-row subquery) of what is not yet recognised, each row
    {bucket, currency, <keys>, total} (contract currency; rows of the second and third are negative):

    1. the current schedule versions' lines: of ratable obligations from `open_from` — the first month no close
       has posted (the closes recognised the months before) — on, of the others all (their one line is the
       allocated price in the month delivery is expected); a month before `start` counts in `start`;
    2. minus what the others recognised, in their line's month;
    3. minus what the others recognised while their price is now zero (so their current version has no line:
       a credit took it after they earned), in `start`.

    `bucket(month field)`: the expression of the row's bucket; `keys`: {name: field of the revenue contract}
    to group by as well; `contracts`: only these revenue contracts (ids, or a subquery of them)."""
    def key(prefix: str) -> dict:
        return {name: F(f"{prefix}revenue_contract_id" if field == "id" else f"{prefix}revenue_contract__{field}")
                for name, field in keys.items()}

    current = Q(version__number=F("version__revenue_contract__version"))
    ratable = Q(obligation__method=Method.RATABLE)
    if open_from is not None:
        ratable &= Q(period__gte=open_from)
    lines = ScheduleLine.objects.filter(current & (ratable | ~Q(obligation__method=Method.RATABLE)))
    recognised = (Recognition.objects.filter(posting__reversed=False)
                  .exclude(obligation__method=Method.RATABLE))
    if contracts is not None:
        lines = lines.filter(version__revenue_contract_id__in=contracts)
        recognised = recognised.filter(obligation__revenue_contract_id__in=contracts)
    return [
        lines.values(bucket=bucket("period"), currency=F("version__revenue_contract__currency"), **key("version__"))
        .annotate(total=Sum("amount")).order_by(),
        # one filter() call: the same join row of schedule_lines is the one in the current version
        recognised.filter(obligation__schedule_lines__version__number=F(
            "obligation__schedule_lines__version__revenue_contract__version"))
        .values(bucket=bucket("obligation__schedule_lines__period"),
                currency=F("obligation__revenue_contract__currency"), **key("obligation__"))
        .annotate(total=-Sum("amount")).order_by(),
        # a point-in-time or milestone obligation has one line in its current version unless its price is zero
        recognised.filter(obligation__allocated_amount=0)
        .values(bucket=Value(start, output_field=DateField()), currency=F("obligation__revenue_contract__currency"),
                **key("obligation__"))
        .annotate(total=-Sum("amount")).order_by(),
    ]


def _rates(currencies, as_of: dt.date) -> dict[str, Decimal]:
    """Company currency per unit, at the latest rate on or before `as_of` (a missing rate is a field error)."""
    from l2c.ledger.services import rate_for

    return {currency: Decimal(rate_for(currency, as_of)) for currency in set(currencies)}


def future_recognition(as_of: dt.date, *, user=None) -> dict:
    """{as_of, start, currency, months: [{month, amount}] × 12, later, total}: what is still to be recognised,
    in the month it is planned (company currency at the rate of `as_of`), from the first month no close has
    posted (or `as_of`'s month, if later) on. Ratable obligations: their current schedule version's months;
    the others: allocated − recognised in their planned month, or in the first month when that is past."""
    _check(user)
    if not isinstance(as_of, dt.date):
        raise ValidationFailed.single("as_of", _("Give the day as YYYY-MM-DD."), "required")
    remaining = _remaining(as_of, None, split=False)
    company = _company()
    rates = _rates((currency for _k, _m, currency, _a in remaining.rows), as_of)
    months = [add_months(remaining.start, i) for i in range(12)]
    by_month: dict[dt.date, Decimal] = defaultdict(lambda: ZERO)
    later = ZERO
    for _key, month, currency, amount in remaining.rows:
        value = amount * rates[currency]
        if month >= remaining.horizon:
            later += value
        else:
            by_month[month] += value
    rows = [{"month": month, "amount": _money(by_month[month], company)} for month in months]
    later = _money(later, company)
    return {"as_of": as_of, "start": remaining.start, "currency": company, "months": rows, "later": later,
            "total": sum((row["amount"] for row in rows), later)}


def remaining_performance_obligations(as_of: dt.date, *, user=None, per_contract: bool = True) -> dict:
    """{as_of, start, currency, within_12_months, later, total, contracts: [...], customers: [...]}: the
    transaction price allocated to obligations not yet satisfied (allocated − recognised), split by when it is
    planned to be recognised (within the 12 months from `start`, or later), per contract and per customer,
    largest first (company currency at the rate of `as_of`). `per_contract` False: customers only (a
    grouped query of one row per customer and currency instead of one per contract)."""
    from l2c.customers.models import Account

    _check(user)
    if not isinstance(as_of, dt.date):
        raise ValidationFailed.single("as_of", _("Give the day as YYYY-MM-DD."), "required")
    company = _company()
    remaining = _remaining(as_of, "id" if per_contract else "account_id", split=True)
    rates = _rates((currency for _k, _m, currency, _a in remaining.rows), as_of)
    sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])  # (key, currency): [within, later]
    for key, bucket, currency, amount in remaining.rows:
        sums[(key, currency)][1 if bucket >= remaining.horizon else 0] += amount
    contracts, customers = [], {}
    if per_contract:
        meta = {pk: rest for pk, *rest in RevenueContract.objects.values_list(
            "pk", "contract_id", "contract__number", "account_id", "account__name")}
        for (rc_id, currency), (within_ccy, later_ccy) in sums.items():
            within = _money(within_ccy * rates[currency], company)
            later = _money(later_ccy * rates[currency], company)
            if not within and not later:
                continue
            contract_id, number, account_id, name = meta[rc_id]
            contracts.append({"contract_id": contract_id, "contract": number, "customer_id": account_id,
                              "customer": name, "currency": currency,
                              "amount": round_money(within_ccy + later_ccy, currency),
                              "within_12_months": within, "later": later, "total": within + later})
        for row in contracts:
            _add_customer(customers, row["customer_id"], row["customer"], 1, row["within_12_months"], row["later"])
    else:
        names = dict(Account.objects.filter(pk__in={key for key, _c in sums}).values_list("pk", "name"))
        counts = dict(RevenueContract.objects.values("account_id").annotate(n=Count("id"))
                      .values_list("account_id", "n")) if sums else {}
        for (account_id, currency), (within_ccy, later_ccy) in sums.items():
            within = _money(within_ccy * rates[currency], company)
            later = _money(later_ccy * rates[currency], company)
            if within or later:
                _add_customer(customers, account_id, names.get(account_id, ""), None, within, later)
        for customer in customers.values():
            customer["contracts"] = counts.get(customer["customer_id"], 0)
    contracts.sort(key=lambda r: (-r["total"], r["contract"]))
    by_customer = sorted(customers.values(), key=lambda r: (-r["total"], r["customer"]))
    within = sum((r["within_12_months"] for r in by_customer), ZERO)
    later = sum((r["later"] for r in by_customer), ZERO)
    return {"as_of": as_of, "start": remaining.start, "currency": company, "within_12_months": within,
            "later": later, "total": within + later, "contracts": contracts, "customers": by_customer}


def _add_customer(customers: dict, customer_id: int, name: str, contracts: int | None, within: Decimal,
                  later: Decimal) -> None:
    row = customers.setdefault(customer_id, {"customer_id": customer_id, "customer": name, "contracts": 0,
                                             "within_12_months": ZERO, "later": ZERO, "total": ZERO})
    row["contracts"] += contracts or 0
    row["within_12_months"] += within
    row["later"] += later
    row["total"] += within + later


# --- MRR / ARR --------------------------------------------------------------------------------------

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def _subscriptions():
    """The service terms (`revenue.terms`) of subscription products."""
    return ServiceTerm.objects.filter(product__kind="subscription")


def _posting_rate(company: str) -> Case:
    """Of a ServiceTerm: its contract's latest (not reversed) posting rate; 1 in the company currency; NULL for a
    contract in another currency that has no posting yet (the market rate of each month end applies to it)."""
    latest = Subquery(RevenuePosting.objects.filter(revenue_contract_id=OuterRef("revenue_contract_id"),
                                                    reversed=False).exclude(revenue_amount=0)
                      .order_by("-period", "-id")
                      .values(rate=Ratio(F("revenue_base"), F("revenue_amount")))[:1],
                      output_field=WIDE)
    return Case(When(currency=company, then=Value(Decimal(1))), default=latest, output_field=WIDE)


def _market_rate(currency: str, as_of: dt.date) -> Decimal | None:
    from l2c.ledger.models import ExchangeRate

    return (ExchangeRate.objects.filter(currency=currency, date__lte=as_of).order_by("-date")
            .values_list("rate", flat=True).first())


def _mrr_at(month_ends: list[dt.date], company: str) -> list[dict[int, Decimal]]:
    """Per month end (ascending), {customer id: MRR on that day} — each active subscription's allocated price
    per average month of its service (allocated / (service days / (365/12))), in the company currency at the
    contract's latest posting rate (before its first posting: the month end's market rate).

    From the service terms (`revenue.terms`: one narrow row per ratable obligation, the month ends it counts
    on worked out when it was written): the database sums them per customer, first month end and first month
    end no longer served — a few rows per customer — and the month ends are added up from those sums."""
    rows = (_subscriptions().filter(first_end__lte=max(month_ends), gone_at__gt=min(month_ends))
            .annotate(rate=_posting_rate(company))
            .values("first_end", "gone_at", "currency", customer=F("account_id"))
            .annotate(base=Sum(ExpressionWrapper(F("monthly") * F("rate"), output_field=WIDE), output_field=WIDE),
                      unrated=Sum("monthly", filter=Q(rate__isnull=True), output_field=WIDE))
            .order_by())
    market: dict[tuple[str, dt.date], Decimal | None] = {}
    found: list[dict[int, Decimal]] = [{} for _end in month_ends]
    # rated sums: added on their first month end and taken off on the first one they no longer count on; each
    # customer's running total then gives every month end (two steps per row instead of one per month end)
    steps: dict[int, tuple[list[Decimal], list[int]]] = {}
    size = len(month_ends)
    for row in rows:
        # the month ends it counts on: first_end <= end < gone_at
        low = bisect_left(month_ends, _as_date(row["first_end"]))
        high = bisect_left(month_ends, _as_date(row["gone_at"]))
        if low >= high:
            continue
        customer = row["customer"]
        if row["base"] is not None:
            amounts, counts = steps.setdefault(customer, ([ZERO] * (size + 1), [0] * (size + 1)))
            amounts[low] += row["base"]
            amounts[high] -= row["base"]
            counts[low] += 1
            counts[high] -= 1
        if row["unrated"] is not None:  # a foreign contract not yet posted: each month end's market rate
            for index in range(low, high):
                key = (row["currency"], month_ends[index])
                if key not in market:
                    market[key] = _market_rate(*key)
                if market[key] is not None:
                    per_customer = found[index]
                    per_customer[customer] = per_customer.get(customer, ZERO) + row["unrated"] * market[key]
    for customer, (amounts, counts) in steps.items():
        running, active = ZERO, 0
        for index in range(size):
            running += amounts[index]
            active += counts[index]
            if active:  # some subscription of the customer counts on this month end
                per_customer = found[index]
                per_customer[customer] = per_customer.get(customer, ZERO) + running
    return found


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def mrr(date_from: dt.date, date_to: dt.date, *, user=None) -> dict:
    """{currency, months: [{month, opening, new, expansion, contraction, churn, reactivation, closing, arr,
    customers}], movements: [{month, customer_id, customer, kind, before, after, amount}]}: monthly recurring
    revenue on each month's last day from subscription obligations; the movements compare each customer with the month before (reactivation: had MRR before that month, none
    in it, some now). opening + movements = closing; ARR = 12 × MRR. Churn and contraction are negative."""
    from l2c.customers.models import Account

    _check(user)
    months = months_between(date_from, date_to)
    company = _company()
    previous_month = add_months(months[0], -1)
    before, *per_month = _mrr_at([engine.month_end(month) for month in [previous_month, *months]], company)
    # customers with MRR on some month end before the previous month (for reactivations)
    ever = set(_subscriptions().filter(first_end__lte=previous_month - dt.timedelta(days=1),
                                       first_end__lt=F("gone_at"))
               .values_list("account_id", flat=True).distinct())
    # each customer's MRR to the cent, once per month end (what the movements and totals compare and add)
    before = {customer: _money(value, company) for customer, value in before.items()}
    ever |= {customer for customer, value in before.items() if value > 0}
    rows = []
    changes: list[dict] = []
    for month, now in zip(months, per_month, strict=True):
        now = {customer: _money(value, company) for customer, value in now.items()}
        moves = dict.fromkeys(MOVEMENTS, ZERO)
        for customer in before.keys() | now.keys():
            old, new = before.get(customer, ZERO), now.get(customer, ZERO)
            if old == new:
                continue
            if old == 0:
                kind = "reactivation" if customer in ever else "new"
            elif new == 0:
                kind = "churn"
            else:
                kind = "expansion" if new > old else "contraction"
            moves[kind] += new - old
            changes.append({"month": month, "customer_id": customer, "kind": kind, "before": old, "after": new,
                            "amount": new - old})
        opening = _money(sum(before.values(), ZERO), company)
        closing = _money(sum(now.values(), ZERO), company)
        moves = {name: _money(value, company) for name, value in moves.items()}
        rows.append({"month": month, "opening": opening, **moves, "closing": closing, "arr": closing * 12,
                     "customers": sum(1 for v in now.values() if v > 0)})
        ever |= {customer for customer, value in now.items() if value > 0}
        before = now
    names = dict(Account.objects.filter(pk__in={c["customer_id"] for c in changes}).values_list("pk", "name")) \
        if changes else {}
    for change in changes:
        change["customer"] = names.get(change["customer_id"], "")
    changes.sort(key=lambda c: (c["month"], c["kind"], -abs(c["amount"]), c["customer"]))
    return {"currency": company, "months": rows, "movements": changes}


# --- one contract -----------------------------------------------------------------------------------

def revenue_contract_get(*, user, contract_id: int) -> RevenueContract:
    """The revenue record of a contract (by the contract's id); NotFound when it has none."""
    from l2c.core.errors import NotFound

    _check(user)
    rc = (RevenueContract.objects.select_related("contract", "contract__quote", "account")
          .filter(contract_id=contract_id).first())
    if rc is None:
        raise NotFound(_("Contract %(id)s has no revenue record (it is not signed, or not registered yet).")
                       % {"id": contract_id})
    return rc


def contract_detail(revenue_contract: RevenueContract, *, user=None) -> dict:
    """The allocation (per obligation: method, SSP, from list price, allocated, recognised to date), the
    schedule versions with their planned months, the postings with their journal entries, and the quote
    lines each obligation came from."""
    _check(user)
    rc = revenue_contract
    company = _company()

    def cur(value) -> Decimal:
        return round_money(value or ZERO, rc.currency)

    obligations = list(rc.obligations.select_related("product").order_by("position", "id"))
    recognised = dict(Recognition.objects.filter(obligation__revenue_contract=rc, posting__reversed=False)
                      .values("obligation_id").annotate(total=Sum("amount")).values_list("obligation_id", "total"))
    quote_lines: dict[int, list[dict]] = defaultdict(list)
    for link in (ObligationLine.objects.filter(obligation__revenue_contract=rc)
                 .select_related("contract_line__quote_line__quote").order_by("contract_line__position")):
        line = link.contract_line
        quote_line = line.quote_line
        quote_lines[link.obligation_id].append({
            "contract_line_id": line.pk, "quote_line_id": quote_line.pk, "quote_id": quote_line.quote_id,
            "quote": f"{quote_line.quote.number} v{quote_line.quote.version}",
            "description": line.description, "quantity": line.quantity, "net_amount": line.net_amount})
    allocation = [{
        "obligation_id": o.pk, "position": o.position, "name": o.name, "product": o.product.name,
        "method": o.method, "method_label": o.get_method_display(), "quantity": o.quantity,
        "ssp": cur(o.ssp_amount), "ssp_from_list_price": o.ssp_from_list_price, "allocated": cur(o.allocated_amount),
        "recognised": round_money(recognised.get(o.pk) or ZERO, rc.currency),
        "start_date": o.start_date, "end_date": o.end_date, "ended_on": o.ended_on,
        "quote_lines": quote_lines.get(o.pk, [])} for o in obligations]
    names = {o.pk: o.name for o in obligations}
    order = {o.pk: index for index, o in enumerate(obligations)}
    versions = []
    for version in rc.versions.prefetch_related("lines").order_by("-number"):
        months = sorted({line.period for line in version.lines.all()})
        plan: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
        for line in version.lines.all():
            plan[line.obligation_id][line.period] = cur(line.amount)
        versions.append({
            "number": version.number, "kind": version.kind, "kind_label": version.get_kind_display(),
            "reason": version.reason, "effective_date": version.effective_date,
            "transaction_price": cur(version.transaction_price), "current": version.number == rc.version,
            "months": months,
            "lines": [{"obligation_id": pk, "name": names.get(pk, str(pk)),
                       "amounts": [plan[pk].get(month, ZERO) for month in months],
                       "total": sum(plan[pk].values(), ZERO)} for pk in sorted(plan, key=lambda k: (order.get(k, k), k))],
            "lines_flat": [{"obligation_id": line.obligation_id, "period": line.period, "amount": cur(line.amount)}
                           for line in sorted(version.lines.all(), key=lambda x: (x.obligation_id, x.period))]})
    postings = [{
        "period": p.period, "revenue_amount": cur(p.revenue_amount), "revenue_base": round_money(p.revenue_base, company),
        "deferred_amount": cur(p.deferred_amount), "asset_amount": cur(p.asset_amount), "reversed": p.reversed,
        "journal_entry_id": p.journal_entry_id, "journal_entry": p.journal_entry.number}
        for p in rc.postings.select_related("journal_entry").order_by("period", "id")]
    contract = rc.contract
    return {"revenue_contract": rc, "contract_id": contract.pk, "contract": contract.number,
            "customer_id": rc.account_id, "customer": rc.account.name, "currency": rc.currency,
            "inception_date": rc.inception_date, "transaction_price": cur(rc.transaction_price),
            "ssp_flagged": rc.ssp_flagged, "version": rc.version, "status": rc.status,
            "quote_id": contract.quote_id, "allocation": allocation, "versions": versions, "postings": postings,
            "allocated": sum((row["allocated"] for row in allocation), ZERO),
            "recognised": sum((row["recognised"] for row in allocation), ZERO)}


def period_closes(*, user) -> list[PeriodClose]:
    """Every close, the newest month first (reopened ones too, with who reopened them and why)."""
    _check(user)
    company = _company()
    closes = list(PeriodClose.objects.select_related("closed_by", "reopened_by").order_by("-period", "-id"))
    for item in closes:
        item.revenue = round_money(item.revenue_base, company)
    return closes
