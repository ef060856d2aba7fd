"""API of the bottleneck and sales performance reports (/api/v1/reports/bottlenecks, /reports/performance) and
of sales quotas (/api/v1/quotas).

Reports: any logged-in user; every figure counts only what the user may see. `date_from`/`date_to` are ISO
dates (default: from 90 days before today); a bad one is a 422 naming it. Amounts are decimal strings per
currency (never converted); durations are days with one decimal.

Quotas: admins set any quota, managers those of the reps of their team; everyone reads the quotas they may see
(a rep their own and their team's). Bad input is a 422 naming the field.
"""

import datetime as dt
from decimal import Decimal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.customers.api import StrictSchema
from l2c.identity import quotas

from .bottlenecks import STUCK_LISTED, bottlenecks, report_range
from .performance import sales_performance

router = Router(tags=["reports"])


class RangeQuery(Schema):
    date_from: str | None = Field(None, max_length=30, description="First day, YYYY-MM-DD (default: 90 days "
                                                                   "before date_to)")
    date_to: str | None = Field(None, max_length=30, description="Last day, YYYY-MM-DD (default: today)")


class BottleneckQuery(RangeQuery):
    stuck_limit: int = Field(STUCK_LISTED, ge=0, le=1000, description="Stuck opportunities listed (oldest first)")


class DurationOut(Schema):
    count: int
    mean_days: Decimal | None
    median_days: Decimal | None
    p75_days: Decimal | None
    p90_days: Decimal | None


class StageTimeOut(Schema):
    stage_id: int
    name: str
    is_closed: bool
    left: DurationOut = Field(description="Stays that ended in the range")
    open: DurationOut = Field(description="Open opportunities now in the stage: their age in it")
    norm_days: Decimal | None = Field(description="Days after which a deal counts as stuck")
    norm_source: str = Field(description='"setting" (the stage\'s expected days), "p75" (of the range), or ""')


class StuckOut(Schema):
    id: int
    name: str
    account: str
    owner: str
    stage_id: int
    stage: str
    days_in_stage: int
    norm_days: Decimal
    days_over: Decimal
    amount: Decimal | None
    currency: str


class DsoOut(Schema):
    currency: str
    receivables: Decimal = Field(description="Open on date_to")
    credit_sales: Decimal = Field(description="Invoiced in the range less credit notes in the range")
    days: int
    dso: Decimal | None


class BottlenecksOut(Schema):
    date_from: dt.date
    date_to: dt.date
    stages: list[StageTimeOut]
    stuck: list[StuckOut]
    stuck_count: int
    approval: DurationOut = Field(description="Quote submitted → approved (quotes that needed an approval)")
    signature: DurationOut = Field(description="Quote sent → accepted and signed")
    dso: list[DsoOut]


class MoneyOut(Schema):
    currency: str
    won_amount: Decimal
    won_count: int
    average_deal: Decimal | None
    quota: Decimal | None = Field(description="The quota for the range (pro rata by days)")
    attainment_percent: Decimal | None


class PerformanceRowOut(Schema):
    kind: str = Field(description='"rep" or "team"')
    id: int
    name: str
    team: str
    closed: int
    won: int
    lost: int
    win_rate_percent: Decimal | None
    cycle_median_days: Decimal | None
    money: list[MoneyOut]


class PerformanceOut(Schema):
    date_from: dt.date
    date_to: dt.date
    reps: list[PerformanceRowOut]
    teams: list[PerformanceRowOut]


@router.get("/reports/bottlenecks", response=BottlenecksOut)
def bottleneck_report(request, filters: Query[BottleneckQuery]):
    date_from, date_to = report_range(filters.date_from, filters.date_to)
    return bottlenecks(user=request.auth, date_from=date_from, date_to=date_to, stuck_limit=filters.stuck_limit)


@router.get("/reports/performance", response=PerformanceOut)
def performance_report(request, filters: Query[RangeQuery]):
    date_from, date_to = report_range(filters.date_from, filters.date_to)
    return sales_performance(user=request.auth, date_from=date_from, date_to=date_to)


# --- quotas -------------------------------------------------------------------------------------------

class QuotaIn(StrictSchema):
    user: RecordId | None = Field(None, description="The rep (exactly one of user and team)")
    team: RecordId | None = Field(None, description="The team (exactly one of user and team)")
    period_start: dt.date
    period_end: dt.date = Field(description="Inclusive")
    amount: Decimal = Field(description="More than zero, at most two decimals")
    currency: str = Field(max_length=3)


class QuotaPatch(StrictSchema):
    user: RecordId | None = None
    team: RecordId | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    amount: Decimal | None = None
    currency: str | None = Field(None, max_length=3)


class QuotaOut(Schema):
    id: int
    user: int | None = Field(None, alias="user_id")
    user_name: str | None = None
    team: int | None = Field(None, alias="team_id")
    team_name: str | None = None
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_user_name(obj):
        return str(obj.user) if obj.user_id else None

    @staticmethod
    def resolve_team_name(obj):
        return obj.team.name if obj.team_id else None


class QuotaQuery(Schema):
    user: str | None = Field(None, max_length=20, description="Only this rep's quotas")
    team: str | None = Field(None, max_length=20, description="Only this team's quotas")
    date_from: str | None = Field(None, max_length=30, description="Quotas whose period ends on or after this day")
    date_to: str | None = Field(None, max_length=30, description="Quotas whose period starts on or before this day")


@router.get("/quotas", response=list[QuotaOut])
@paginate(LimitOffsetPagination)
def list_quotas(request, filters: Query[QuotaQuery]):
    return quotas.quota_list(user=request.auth, rep=filters.user, team=filters.team, date_from=filters.date_from,
                             date_to=filters.date_to)


@router.post("/quotas", response={201: QuotaOut})
def create_quota(request, data: QuotaIn):
    values = data.model_dump()
    values["amount"] = str(values["amount"])
    return Status(201, quotas.quota_create(actor=request.auth, **values))


@router.get("/quotas/{int:quota_id}", response=QuotaOut)
def get_quota(request, quota_id: int):
    return quotas.quota_get(user=request.auth, pk=quota_id)


@router.patch("/quotas/{int:quota_id}", response=QuotaOut)
def update_quota(request, quota_id: int, data: QuotaPatch):
    quota = quotas.quota_get(user=request.auth, pk=quota_id)
    values = data.model_dump(exclude_unset=True)
    if values.get("amount") is not None:
        values["amount"] = str(values["amount"])
    return quotas.quota_update(actor=request.auth, quota=quota, **values)


@router.delete("/quotas/{int:quota_id}", response={204: None})
def delete_quota(request, quota_id: int):
    quota = quotas.quota_get(user=request.auth, pk=quota_id)
    quotas.quota_delete(actor=request.auth, quota=quota)
    return Status(204, None)
