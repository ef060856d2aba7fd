"""API of the home dashboard: GET /api/v1/reports/dashboard, the sections of the caller's role (see
`analytics.dashboards`): `sales` for every sales user, `team` for managers and admins, `finance` for finance and
admins; a section the caller does not get is null. Every figure counts only what the caller may see. Amounts are
decimal strings; per-currency sums are objects {currency: amount}.

Mounted in l2c/api.py with `api.add_router("/", analytics_dashboard_router)`.
"""
import datetime as dt
from decimal import Decimal

from ninja import Field, Router, Schema

from . import dashboards

router = Router(tags=["reports"])


# --- sales ----------------------------------------------------------------------------------------------

class TaskTargetOut(Schema):
    kind: str = Field(description="opportunity, contact, account or lead")
    id: int
    label: str
    url: str


class TaskOut(Schema):
    id: int
    kind: str
    kind_label: str
    subject: str
    due_at: dt.datetime | None
    overdue: bool
    target: TaskTargetOut | None


class TasksOut(Schema):
    items: list[TaskOut] = Field(description="My open tasks overdue or due today, the most urgent first")
    overdue_count: int
    more: bool = Field(description="More tasks are due than listed")


class StageRowOut(Schema):
    stage_id: int
    name: str
    count: int
    totals: dict[str, Decimal]


class PipelineOut(Schema):
    open_count: int
    open_totals: dict[str, Decimal]
    weighted_totals: dict[str, Decimal] = Field(description="Amount × probability")
    won_count: int = Field(description="Won this month")
    won_totals: dict[str, Decimal]
    closing_this_month: int
    stages: list[StageRowOut]


class HotLeadOut(Schema):
    id: int
    name: str
    company: str
    status: str
    status_label: str
    score: int
    grade: str
    url: str


class QuarterMoneyOut(Schema):
    currency: str
    won_amount: Decimal
    won_count: int
    quota: Decimal | None = Field(description="My quota for the quarter (pro rata by days)")
    attainment_percent: Decimal | None


class QuarterOut(Schema):
    date_from: dt.date
    date_to: dt.date
    won: int
    lost: int
    win_rate_percent: Decimal | None
    money: list[QuarterMoneyOut]


class SalesOut(Schema):
    scope: str = Field(description='"mine" (a rep) or "team" (a manager: the team; an admin: everyone)')
    tasks: TasksOut
    pipeline: PipelineOut
    hot_leads: list[HotLeadOut] = Field(description="Open leads with the highest score")
    quarter: QuarterOut = Field(description="My deals closed this quarter against my quota")


# --- team -----------------------------------------------------------------------------------------------

class ForecastMonthOut(Schema):
    month: dt.date
    closed: Decimal
    commit: Decimal
    best_case: Decimal
    pipeline: Decimal
    closed_computed: Decimal
    commit_computed: Decimal
    best_case_computed: Decimal
    pipeline_computed: Decimal
    weighted: Decimal
    count: int
    commit_forecast: Decimal
    best_case_forecast: Decimal
    overridden: bool


class OverrideOut(Schema):
    month: dt.date
    category: str
    category_label: str
    owner: str
    team: str
    computed: Decimal
    override: Decimal
    note: str


class UnconvertedOut(Schema):
    currency: str
    amount: Decimal


class TeamForecastOut(Schema):
    currency: str
    months: list[ForecastMonthOut]
    overrides: list[OverrideOut]
    unconverted: list[UnconvertedOut]
    url: str


class StuckDealOut(Schema):
    id: int
    name: str
    account: str
    owner: str
    stage: str
    days_in_stage: int
    norm_days: Decimal
    days_over: Decimal
    amount: Decimal | None
    currency: str
    url: str


class StuckOut(Schema):
    count: int = Field(description="Open deals past their stage's norm")
    deals: list[StuckDealOut] = Field(description="The longest past it")
    url: str


class TeamOut(Schema):
    forecast: TeamForecastOut
    stuck: StuckOut


# --- finance --------------------------------------------------------------------------------------------

class ReceivablesCurrencyOut(Schema):
    currency: str
    total: Decimal
    overdue: Decimal
    customers: int
    buckets: dict[str, Decimal]


class ReceivablesOut(Schema):
    as_of: dt.date
    buckets: list[str]
    currencies: list[ReceivablesCurrencyOut]
    url: str


class CashOut(Schema):
    currency: str
    this_month_start: dt.date
    last_month_start: dt.date
    since: dt.date
    this_month: Decimal
    this_month_count: int
    last_month: Decimal
    last_30_days: Decimal
    url: str


class DeferredOut(Schema):
    currency: str
    as_of: dt.date
    balance: Decimal
    url: str


class FinanceOut(Schema):
    receivables: ReceivablesOut
    cash: CashOut
    deferred_revenue: DeferredOut


class DashboardOut(Schema):
    sections: list[str]
    sales: SalesOut | None
    team: TeamOut | None
    finance: FinanceOut | None


@router.get("/reports/dashboard", response=DashboardOut)
def get_dashboard(request):
    """The home dashboard of the caller's role: sales (tasks, pipeline, hot leads, my quarter), team (forecast,
    stuck deals) and finance (receivables, cash, deferred revenue)."""
    return dashboards.dashboard(user=request.auth)
