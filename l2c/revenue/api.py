"""API of revenue recognition, mounted at /api/v1/: reports under /reports/ (revenue by month, recognised vs
billed vs collected, deferred revenue waterfall, remaining performance obligations, MRR) and the contract
detail and month closes under /revenue/.

Finance and admin only: every other role gets 403 on every route. Amounts are decimal strings in the company
currency unless the field says otherwise. Reports work in whole months (`from` 2026-01-15 reports January).
"""
from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from l2c.core.errors import ValidationFailed
from l2c.core.money import round_money
from l2c.customers.api import StrictSchema

from . import close, selectors, services
from .models import PeriodClose

router = Router(tags=["revenue"])


def _user(request):
    services.require_revenue_user(request.auth)
    return request.auth


def default_range(end: dt.date) -> tuple[dt.date, dt.date]:
    """The twelve months up to and including `end`'s."""
    return selectors.add_months(end.replace(day=1), -11), end


def _day(value: str | None, field: str, *, end: bool) -> dt.date | None:
    """A report bound: a day (YYYY-MM-DD) or a whole month (YYYY-MM: its first day for `from`, last for `to`)."""
    if value in (None, ""):
        return None
    text = value.strip()
    try:
        if len(text) == 7:
            first = dt.date.fromisoformat(text + "-01")
            return first.replace(day=calendar.monthrange(first.year, first.month)[1]) if end else first
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.single(field, _("Give a month (YYYY-MM) or a day (YYYY-MM-DD), e.g. 2026-11 (got "
                                               "%(value)r).") % {"value": text}, "invalid") from None


class RangeFilters(Schema):
    date_from: str | None = Field(None, alias="from", max_length=10, description=(
        "First month (YYYY-MM) or day (YYYY-MM-DD; its whole month counts); default: 11 months before this month"))
    date_to: str | None = Field(None, alias="to", max_length=10, description=(
        "Last month (YYYY-MM) or day (YYYY-MM-DD; its whole month counts); default: today"))

    def dates(self) -> tuple[dt.date, dt.date]:
        end = _day(self.date_to, "to", end=True) or timezone.localdate()
        return _day(self.date_from, "from", end=False) or default_range(end)[0], end


class MrrFilters(RangeFilters):
    limit: int = Field(1000, ge=1, le=100000, description="Movements listed (the months are always complete)")


class RevenueFilters(RangeFilters):
    by: str | None = Field(None, description='"product", "customer" or empty (totals)', max_length=20)


class AsOfFilters(Schema):
    as_of: dt.date | None = Field(None, description="Default: today")
    limit: int = Field(100, ge=1, le=10000, description="Contracts and customers listed (largest first)")
    contracts: bool = Field(True, description="List contracts too (false: customers only, much faster on many "
                                              "contracts)")


# --- reports ----------------------------------------------------------------------------------------

class RevenueRowOut(Schema):
    month: dt.date
    key: str
    label: str
    amount: Decimal


class RevenueOut(Schema):
    currency: str
    date_from: dt.date
    date_to: dt.date
    by: str | None
    rows: list[RevenueRowOut]
    total: Decimal


class BilledRowOut(Schema):
    month: dt.date
    recognised: Decimal
    billed: Decimal
    collected: Decimal


class BilledOut(Schema):
    currency: str
    rows: list[BilledRowOut]


class WaterfallRowOut(Schema):
    month: dt.date
    opening: Decimal
    billings: Decimal
    recognition: Decimal
    other: Decimal
    closing: Decimal


class FutureRowOut(Schema):
    month: dt.date
    amount: Decimal


class FutureOut(Schema):
    as_of: dt.date
    start: dt.date
    months: list[FutureRowOut]
    later: Decimal
    total: Decimal


class DeferredOut(Schema):
    currency: str
    rows: list[WaterfallRowOut]
    future: FutureOut


class RpoContractOut(Schema):
    contract_id: int
    contract: str
    customer_id: int
    customer: str
    currency: str
    amount: Decimal = Field(..., description="Remaining, in the contract currency")
    within_12_months: Decimal
    later: Decimal
    total: Decimal


class RpoCustomerOut(Schema):
    customer_id: int
    customer: str
    contracts: int
    within_12_months: Decimal
    later: Decimal
    total: Decimal


class RpoOut(Schema):
    as_of: dt.date
    start: dt.date = Field(..., description="The first month still to be recognised")
    currency: str
    within_12_months: Decimal
    later: Decimal
    total: Decimal
    contracts_count: int = Field(..., description="0 when `contracts` is false")
    customers_count: int
    contracts: list[RpoContractOut]
    customers: list[RpoCustomerOut]


class MrrRowOut(Schema):
    month: dt.date
    opening: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churn: Decimal
    reactivation: Decimal
    closing: Decimal
    arr: Decimal
    customers: int


class MrrMovementOut(Schema):
    month: dt.date
    customer_id: int
    customer: str
    kind: str = Field(..., description="new, expansion, contraction, churn or reactivation")
    before: Decimal
    after: Decimal
    amount: Decimal


class MrrOut(Schema):
    currency: str
    months: list[MrrRowOut]
    movements_count: int = Field(..., description="Movements in the months; `movements` lists the first `limit`")
    movements: list[MrrMovementOut] = Field(..., description="Each customer whose MRR changed, per month (by "
                                                             "month, kind, then largest change)")


@router.get("/reports/revenue", response=RevenueOut)
def revenue_report(request, filters: Query[RevenueFilters]):
    user = _user(request)
    date_from, date_to = filters.dates()
    by = filters.by or None
    rows = selectors.revenue_by_month(date_from, date_to, by, user=user)
    return {"currency": selectors._company(), "date_from": date_from, "date_to": date_to, "by": by, "rows": rows,
            "total": sum((row["amount"] for row in rows), Decimal(0))}


@router.get("/reports/revenue-billed-collected", response=BilledOut)
def billed_collected_report(request, filters: Query[RangeFilters]):
    user = _user(request)
    return {"currency": selectors._company(),
            "rows": selectors.recognised_billed_collected(*filters.dates(), user=user)}


@router.get("/reports/deferred-revenue", response=DeferredOut)
def deferred_report(request, filters: Query[RangeFilters]):
    """The waterfall of deferred revenue per month, and what is planned to be recognised after the last closed
    month (`future`, as of `to`)."""
    user = _user(request)
    date_from, date_to = filters.dates()
    return {"currency": selectors._company(), "rows": selectors.deferred_waterfall(date_from, date_to, user=user),
            "future": selectors.future_recognition(date_to, user=user)}


@router.get("/reports/remaining-obligations", response=RpoOut)
def rpo_report(request, filters: Query[AsOfFilters]):
    user = _user(request)
    report = selectors.remaining_performance_obligations(filters.as_of or timezone.localdate(), user=user,
                                                         per_contract=filters.contracts)
    return {**report, "contracts_count": len(report["contracts"]), "customers_count": len(report["customers"]),
            "contracts": report["contracts"][:filters.limit], "customers": report["customers"][:filters.limit]}


@router.get("/reports/mrr", response=MrrOut)
def mrr_report(request, filters: Query[MrrFilters]):
    user = _user(request)
    report = selectors.mrr(*filters.dates(), user=user)
    return {**report, "movements_count": len(report["movements"]), "movements": report["movements"][:filters.limit]}


# --- one contract -----------------------------------------------------------------------------------

class QuoteLineRef(Schema):
    contract_line_id: int
    quote_line_id: int
    quote_id: int
    quote: str
    description: str
    quantity: Decimal
    net_amount: Decimal


class AllocationOut(Schema):
    obligation_id: int
    position: int
    name: str
    product: str
    method: str
    quantity: Decimal
    ssp: Decimal
    ssp_from_list_price: bool
    allocated: Decimal
    recognised: Decimal
    start_date: dt.date | None
    end_date: dt.date | None
    ended_on: dt.date | None
    quote_lines: list[QuoteLineRef]


class ScheduleLineOut(Schema):
    obligation_id: int
    period: dt.date
    amount: Decimal


class VersionOut(Schema):
    number: int
    kind: str
    reason: str
    effective_date: dt.date
    transaction_price: Decimal
    current: bool
    lines: list[ScheduleLineOut]

    @staticmethod
    def resolve_lines(obj) -> list:
        return obj["lines_flat"]


class PostingOut(Schema):
    period: dt.date
    revenue_amount: Decimal = Field(..., description="Contract currency")
    revenue_base: Decimal
    deferred_amount: Decimal = Field(..., description="Debit to deferred revenue, contract currency")
    asset_amount: Decimal = Field(..., description="Debit to the contract asset, contract currency")
    reversed: bool
    journal_entry_id: int
    journal_entry: str


class ContractDetailOut(Schema):
    contract_id: int
    contract: str
    customer_id: int
    customer: str
    quote_id: int
    currency: str = Field(..., description="The contract currency: the allocation and schedules are in it")
    inception_date: dt.date
    transaction_price: Decimal
    ssp_flagged: bool
    version: int
    status: str
    allocated: Decimal
    recognised: Decimal
    allocation: list[AllocationOut]
    versions: list[VersionOut]
    postings: list[PostingOut]


@router.get("/revenue/contracts/{int:contract_id}", response=ContractDetailOut)
def contract_detail(request, contract_id: int):
    user = _user(request)
    rc = selectors.revenue_contract_get(user=user, contract_id=contract_id)
    return selectors.contract_detail(rc, user=user)


class ModifyIn(StrictSchema):
    effective_date: dt.date = Field(..., description="The first day the change applies")
    reason: str = Field(..., max_length=2000)
    price_change: str | None = Field(None, max_length=30, description='Transaction price up or down, e.g. "1200.00" '
                                                                       'or "-300.00" (contract currency)')
    new_end_date: dt.date | None = Field(None, description="Ratable obligations run to this day (extension)")
    terminate_on: dt.date | None = Field(None, description="Last day of service (early termination)")
    quantities: dict[str, str] | None = Field(None, description='{"<obligation id>": "<new quantity>"} for ratable '
                                                                 'obligations')


class GroupIn(StrictSchema):
    obligation_ids: list[int] = Field(..., min_length=2, max_length=100)
    method: str | None = Field(None, max_length=20, description="point_in_time, ratable or milestone (default: "
                                                                  "the first one's)")


@router.post("/revenue/contracts/{int:contract_id}/modify", response={201: ContractDetailOut})
def modify_contract(request, contract_id: int, data: ModifyIn):
    """A prospective contract modification: price change, extension, early termination or quantity change on a
    ratable obligation. Makes a new schedule version (the old one is kept) and answers the contract's detail."""
    user = _user(request)
    rc = selectors.revenue_contract_get(user=user, contract_id=contract_id)
    services.modify_contract(actor=user, revenue_contract=rc, **data.dict())
    rc.refresh_from_db()
    return Status(201, selectors.contract_detail(rc, user=user))


@router.post("/revenue/contracts/{int:contract_id}/group", response={201: ContractDetailOut})
def group_obligations(request, contract_id: int, data: GroupIn):
    """Merge obligations that are not distinct into one (only before anything was recognised on them)."""
    user = _user(request)
    rc = selectors.revenue_contract_get(user=user, contract_id=contract_id)
    services.group_obligations(actor=user, revenue_contract=rc, **data.dict())
    rc.refresh_from_db()
    return Status(201, selectors.contract_detail(rc, user=user))


# --- month closes -----------------------------------------------------------------------------------

class PeriodCloseOut(Schema):
    id: int
    period: str
    status: str
    closed_at: dt.datetime
    closed_by: str | None
    reopened_at: dt.datetime | None
    reopened_by: str | None
    reopen_reason: str
    contracts: int
    entries: int
    lines: int
    revenue: Decimal

    @staticmethod
    def resolve_period(obj: PeriodClose) -> str:
        return obj.period.strftime("%Y-%m")

    @staticmethod
    def resolve_closed_by(obj: PeriodClose) -> str | None:
        return str(obj.closed_by) if obj.closed_by_id else None

    @staticmethod
    def resolve_reopened_by(obj: PeriodClose) -> str | None:
        return str(obj.reopened_by) if obj.reopened_by_id else None

    @staticmethod
    def resolve_revenue(obj: PeriodClose) -> Decimal:
        rounded = getattr(obj, "revenue", None)  # period_closes rounds once for the list
        return rounded if rounded is not None else round_money(obj.revenue_base, selectors._company())


class CloseSummaryOut(Schema):
    period: str
    already_closed: bool
    registered: int = Field(..., description="Signed contracts registered for revenue before closing")
    contracts: int
    entries: int
    lines: int
    revenue: Decimal
    seconds: float
    entry_numbers: list[str]


class CloseIn(StrictSchema):
    pass


class ReopenIn(StrictSchema):
    reason: str = Field(..., max_length=2000)


@router.get("/revenue/periods", response=list[PeriodCloseOut])
def list_closes(request):
    return selectors.period_closes(user=_user(request))


@router.post("/revenue/periods/{period}/close", response={200: CloseSummaryOut, 201: CloseSummaryOut})
def close_month(request, period: str, data: CloseIn):
    """Post the month's recognition and lock it (finance, admin). A month already closed answers 200 with
    `already_closed` true and posts nothing."""
    user = _user(request)
    summary = close.close_period(actor=user, period=close.parse_period(period))
    return Status(200 if summary.already_closed else 201, summary.as_dict())


@router.post("/revenue/periods/{period}/reopen", response=PeriodCloseOut)
def reopen_month(request, period: str, data: ReopenIn):
    """Reverse the month's entries and unlock it (admin; the last closed month only)."""
    user = _user(request)
    return close.reopen_period(actor=user, period=close.parse_period(period), reason=data.reason)
