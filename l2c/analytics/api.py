"""API of the funnel, L2C cycle-time and campaign attribution reports, mounted at /api/v1/.

GET /reports/funnel, /reports/cycle-time, /reports/attribution. Parameters: `date_from`, `date_to` (ISO dates
of lead creation; default the last 90 days), filters `source`, `campaign`, `owner`, `team`, `country`, and
`by` (one row per value of that dimension); attribution takes `model` (first or last touch). A bad parameter
is a 422 naming it. Sales roles only (finance sees no leads: 403); every figure counts only what the user may
see. Amounts are decimal strings in the company currency (`currency`).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ninja import Field, Query, Router, Schema

from . import attribution as attribution_report
from . import cycle_time as cycle_report
from . import funnel as funnel_report

router = Router(tags=["reports"])


class ReportFilters(Schema):
    date_from: str | None = Field(None, max_length=10, description="First day of lead creation (YYYY-MM-DD); "
                                                                      "default: 90 days before date_to")
    date_to: str | None = Field(None, max_length=10, description="Last day of lead creation; default: today")
    by: str | None = Field(None, max_length=20, description="source, campaign, owner, team or country")
    source: str | None = Field(None, max_length=20)
    campaign: str | None = Field(None, max_length=20, description="Campaign id")
    owner: str | None = Field(None, max_length=20, description="Owner (user) id")
    team: str | None = Field(None, max_length=20, description="Team id")
    country: str | None = Field(None, max_length=2, description="Two-letter country code")

    def params(self, by_choices=tuple(funnel_report.DIMENSIONS)) -> funnel_report.ReportParams:
        return funnel_report.parse_params(self.model_dump(), by_choices=by_choices)


class AttributionFilters(ReportFilters):
    model: str | None = Field(None, max_length=10, description="first (default) or last touch")


class StepOut(Schema):
    step: str
    label: str
    count: int
    from_previous: Decimal | None = Field(..., description="% of the previous step")
    from_top: Decimal | None = Field(..., description="% of the leads")


class FunnelRowOut(Schema):
    key: int | str | None
    label: str
    steps: list[StepOut]


class FunnelOut(Schema):
    date_from: dt.date
    date_to: dt.date
    by: str | None
    total: list[StepOut]
    rows: list[FunnelRowOut]


class BucketOut(Schema):
    label: str
    count: int


class CycleStatsOut(Schema):
    leads: int = Field(..., description="Leads created in the range")
    count: int = Field(..., description="Of those, leads with cash received")
    median: Decimal | None
    p75: Decimal | None
    p90: Decimal | None
    mean: Decimal | None
    min: int | None
    max: int | None
    histogram: list[BucketOut]


class CycleRowOut(CycleStatsOut):
    key: int | str | None
    label: str


class CycleOut(Schema):
    date_from: dt.date
    date_to: dt.date
    by: str | None
    total: CycleStatsOut
    rows: list[CycleRowOut]


class AttributionRowOut(Schema):
    campaign_id: int | None
    campaign: str
    cost: Decimal | None
    leads: int
    pipeline: Decimal
    won: Decimal
    invoiced: Decimal
    cash: Decimal
    revenue: Decimal | None = Field(..., description="Recognised revenue; null unless the user may see revenue")
    roi: Decimal | None = Field(..., description="(cash − cost) / cost, %")


class AttributionOut(Schema):
    date_from: dt.date
    date_to: dt.date
    model: str
    currency: str
    rows: list[AttributionRowOut]
    no_campaign: AttributionRowOut
    total: AttributionRowOut
    missing_rates: list[str] = Field(..., description="Currencies left out of pipeline, won and cost: no rate")


def _range(params) -> dict:
    return {"date_from": params.date_from, "date_to": params.date_to}


@router.get("/reports/funnel", response=FunnelOut)
def funnel(request, filters: Query[ReportFilters]):
    """Lead → qualified → opportunity → quote sent → won → invoiced → paid, for leads created in the range."""
    funnel_report.require_reports_user(request.auth)
    params = filters.params()
    report = funnel_report.funnel(user=request.auth, params=params)
    return {**_range(params), "by": params.by, "total": report["total"], "rows": report["rows"]}


@router.get("/reports/cycle-time", response=CycleOut)
def cycle_time(request, filters: Query[ReportFilters]):
    """Days from lead created to the first cash received: count, median, p75, p90 and a histogram."""
    funnel_report.require_reports_user(request.auth)
    params = filters.params(cycle_report.CYCLE_DIMENSIONS)
    report = cycle_report.cycle_time(user=request.auth, params=params)
    return {**_range(params), "by": params.by, "total": report["total"], "rows": report["rows"]}


@router.get("/reports/attribution", response=AttributionOut)
def attribution(request, filters: Query[AttributionFilters]):
    """Per campaign: cost, leads, pipeline, won, invoiced, cash collected, revenue recognised and ROI."""
    funnel_report.require_reports_user(request.auth)
    params = filters.params(())
    report = attribution_report.attribution(user=request.auth, params=params, model=filters.model)
    return {**_range(params), **{k: report[k] for k in ("model", "currency", "rows", "no_campaign", "total",
                                                        "missing_rates")}}
