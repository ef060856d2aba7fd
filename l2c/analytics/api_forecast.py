"""API of the sales forecast, mounted at /api/v1/: the forecast by close month (`/reports/forecast`), its
snapshots (list, take one now), their accuracy against what closed, exports, and managers' overrides
(`/forecast-overrides`, CRUD).

Amounts are decimal strings in the company currency (`currency`). Dates are ISO (YYYY-MM-DD; a month as
YYYY-MM). Bad parameters are a 422 naming the parameter. What each role sees: see `analytics.forecast`.
"""
import datetime as dt
from decimal import Decimal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core import exports
from l2c.core.api_types import LimitOffsetPagination
from l2c.core.errors import PermissionDenied, ValidationFailed

from . import forecast

router = Router(tags=["reports: forecast"])


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


class ForecastFilters(Schema):
    date_from: str | None = Field(None, max_length=10, description="First close month (YYYY-MM or a day in it); "
                                                                    "default: this month")
    date_to: str | None = Field(None, max_length=10, description="Last close month (YYYY-MM or a day in it); "
                                                                  "default: five months after date_from's")
    as_of: str | None = Field(None, max_length=10, description="The day whose exchange rates convert amounts, and "
                                                                "from which contracted revenue is read; default: today")
    owner: str | None = Field(None, max_length=20, description="Only this owner's deals (user id)")
    team: str | None = Field(None, max_length=20, description="Only the deals of this team's members (team id)")


class AccuracyFilters(Schema):
    date_from: str | None = Field(None, max_length=10, description="Default: 90 days ago")
    date_to: str | None = Field(None, max_length=10, description="Default: today (only months that are over count)")
    owner: str | None = Field(None, max_length=20)
    team: str | None = Field(None, max_length=20)


class OwnerRowOut(Schema):
    owner_id: int | None
    owner: str
    team_id: int | None
    team: str
    month: dt.date
    category: str
    count: int
    computed: Decimal = Field(description="Sum of the amounts")
    weighted: Decimal = Field(description="Sum of amount × probability")
    override: Decimal | None
    override_id: int | None
    note: str
    final: Decimal = Field(description="The override where there is one, else computed")


class TeamRowOut(Schema):
    team_id: int | None
    team: str
    month: dt.date
    category: str
    count: int
    computed: Decimal
    weighted: Decimal
    members_final: Decimal = Field(description="Sum of the members' forecasts (their overrides included)")
    override: Decimal | None
    override_id: int | None
    note: str
    final: Decimal


class MonthTotalOut(Schema):
    month: dt.date
    closed: Decimal
    commit: Decimal
    best_case: Decimal
    pipeline: Decimal
    closed_computed: Decimal
    commit_computed: Decimal
    best_case_computed: Decimal
    pipeline_computed: Decimal
    commit_forecast: Decimal = Field(description="closed + commit (overrides applied)")
    best_case_forecast: Decimal = Field(description="closed + commit + best case (overrides applied)")
    commit_forecast_computed: Decimal
    best_case_forecast_computed: Decimal
    weighted: Decimal
    count: int


class MoneyOut(Schema):
    currency: str
    amount: Decimal


class ContractedMonthOut(Schema):
    month: dt.date
    amount: Decimal | None = Field(description="None for a month already closed for revenue")


class ContractedOut(Schema):
    start: dt.date = Field(description="The first month still open for revenue recognition")
    currency: str
    months: list[ContractedMonthOut]
    beyond_report: Decimal = Field(description="Planned after the report's last month")
    total: Decimal


class ForecastOut(Schema):
    currency: str
    as_of: dt.date
    date_from: dt.date
    date_to: dt.date
    months: list[dt.date]
    pipeline: bool = Field(description="False for finance: no pipeline, contracted revenue only")
    rows: list[OwnerRowOut]
    teams: list[TeamRowOut] = Field(description="Managers and admins only")
    totals: list[MonthTotalOut]
    unconverted: list[MoneyOut] = Field(description="Left out: no exchange rate on or before as_of")
    contracted: ContractedOut | None = Field(description="Finance and admin only: revenue planned by the "
                                                         "recognition schedules of signed contracts")


class SnapshotMonthOut(Schema):
    month: dt.date
    commit_forecast: Decimal
    best_case_forecast: Decimal
    pipeline: Decimal


class SnapshotOut(Schema):
    id: int
    taken_at: dt.datetime
    week: dt.date
    kind: str
    taken_by: str | None
    currency: str
    first_month: dt.date
    last_month: dt.date
    months: list[SnapshotMonthOut] = Field(description="The forecast it kept, of the deals you may see")


class AccuracyMonthOut(Schema):
    month: dt.date
    actual: Decimal
    snapshots: int


class AccuracyRowOut(Schema):
    month: dt.date
    snapshot_id: int
    week: dt.date
    taken_at: dt.datetime
    kind: str
    commit_forecast: Decimal
    best_case_forecast: Decimal
    actual: Decimal = Field(description="Closed won in the month")
    commit_error: Decimal = Field(description="commit forecast − actual")
    commit_accuracy: Decimal | None = Field(description="100 − |error| / actual × 100, not below 0; None when "
                                                        "nothing closed")
    best_case_error: Decimal
    best_case_accuracy: Decimal | None


class AccuracyOut(Schema):
    currency: str
    date_from: dt.date
    date_to: dt.date
    months: list[AccuracyMonthOut]
    rows: list[AccuracyRowOut]
    unconverted: list[MoneyOut]


class OverrideIn(StrictSchema):
    owner: int | None = Field(None, description="The owner (user id) whose figure this is; or give team")
    team: int | None = Field(None, description="The team whose figure this is; or give owner")
    month: str = Field(..., max_length=10, description="YYYY-MM")
    category: str = Field(..., max_length=20, description="commit, best_case or pipeline")
    amount: Decimal = Field(..., description="Company currency")
    note: str = Field("", max_length=forecast.MAX_NOTE)


class OverridePatch(StrictSchema):
    amount: Decimal | None = None
    note: str | None = Field(None, max_length=forecast.MAX_NOTE)


class OverrideOut(Schema):
    id: int
    owner_id: int | None
    team_id: int | None
    month: dt.date
    category: str
    amount: Decimal
    currency: str
    note: str
    set_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OverrideFilters(Schema):
    month_from: str | None = Field(None, max_length=10)
    month_to: str | None = Field(None, max_length=10)
    owner: str | None = Field(None, max_length=20)
    team: str | None = Field(None, max_length=20)


# --- the forecast -------------------------------------------------------------------------------------

@router.get("/reports/forecast", response=ForecastOut)
def get_forecast(request, filters: Query[ForecastFilters]):
    """The forecast by close month per category, owner and team, with overrides; contracted revenue for
    finance and admin."""
    return forecast.forecast_report(user=request.auth, **filters.dict())


def _table(key: str, tables: tuple[str, ...]):
    if key not in tables:
        raise ValidationFailed.single("table", _("Choose one of %(c)s.") % {"c": ", ".join(tables)},
                                      "invalid_choice")
    return forecast.export_tables()[key]


def _export(request, key: str, params: dict, format: str):
    label, columns, rows = forecast.export_tables()[key]
    return exports.export_response(queryset=exports.Rows(rows(request.auth, params)), columns=columns, fmt=format,
                                   actor=request.auth, stem=f"forecast-{key}", object_type="analytics.forecast",
                                   sheet_title=str(label), filters={"table": key, **params})


@router.get("/reports/forecast/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_forecast(request, filters: Query[ForecastFilters], table: str = "owners",
                    format: exports.ExportFormat = "csv"):
    """One table of the forecast (`owners`, `teams` or `totals`) as CSV (UTF-8 with BOM) or XLSX."""
    _table(table, ("owners", "teams", "totals"))
    forecast.require_forecast_user(request.auth)
    return _export(request, table, filters.dict(), format)


# --- snapshots ----------------------------------------------------------------------------------------

def _snapshots_out(user, snapshots) -> list[dict]:
    totals = forecast.snapshot_totals(user=user, snapshot_ids=[s.pk for s in snapshots])
    out = []
    for s in snapshots:
        months, month = [], s.first_month
        while month <= s.last_month:
            figures = totals.get((s.pk, month)) or {"commit_forecast": 0, "best_case_forecast": 0, "pipeline": 0}
            months.append({"month": month, "commit_forecast": figures["commit_forecast"],
                           "best_case_forecast": figures["best_case_forecast"], "pipeline": figures["pipeline"]})
            month = forecast.add_months(month, 1)
        out.append({"id": s.pk, "taken_at": s.taken_at, "week": s.week, "kind": s.kind,
                    "taken_by": s.taken_by.username if s.taken_by_id else None, "currency": s.currency,
                    "first_month": s.first_month, "last_month": s.last_month, "months": months})
    return out


class SnapshotFilters(Schema):
    limit: int = Field(26, ge=1, le=520, description="How many (newest first)")


@router.get("/reports/forecast/snapshots", response=list[SnapshotOut])
def list_snapshots(request, filters: Query[SnapshotFilters]):
    """The latest snapshots, newest first, each with the forecast it kept (of the deals you may see)."""
    return _snapshots_out(request.auth, list(forecast.snapshot_list(user=request.auth, limit=filters.limit)))


@router.post("/reports/forecast/snapshots", response={201: SnapshotOut})
def take_snapshot(request):
    """Take a snapshot of the whole forecast now (managers and admins)."""
    snapshot = forecast.snapshot_take(actor=request.auth)
    return Status(201, _snapshots_out(request.auth, [snapshot])[0])


# --- accuracy -----------------------------------------------------------------------------------------

@router.get("/reports/forecast/accuracy", response=AccuracyOut)
def get_accuracy(request, filters: Query[AccuracyFilters]):
    """Each snapshot's commit and best-case forecast of a past month against what closed won in it."""
    return forecast.forecast_accuracy(user=request.auth, **filters.dict())


@router.get("/reports/forecast/accuracy/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_accuracy(request, filters: Query[AccuracyFilters], format: exports.ExportFormat = "csv"):
    if not forecast.can_see_pipeline(request.auth):
        raise PermissionDenied(_("Forecast accuracy is for sales roles."))
    return _export(request, "accuracy", filters.dict(), format)


# --- overrides ----------------------------------------------------------------------------------------

@router.get("/forecast-overrides", response=list[OverrideOut])
@paginate(LimitOffsetPagination)
def list_overrides(request, filters: Query[OverrideFilters]):
    return forecast.override_list(user=request.auth, **filters.dict())


@router.post("/forecast-overrides", response={201: OverrideOut})
def create_override(request, data: OverrideIn):
    return Status(201, forecast.override_create(actor=request.auth, **data.model_dump()))


@router.get("/forecast-overrides/{int:override_id}", response=OverrideOut)
def get_override(request, override_id: int):
    return forecast.override_get(user=request.auth, pk=override_id)


@router.patch("/forecast-overrides/{int:override_id}", response=OverrideOut)
def update_override(request, override_id: int, data: OverridePatch):
    override = forecast.override_get(user=request.auth, pk=override_id)
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k == "note"}
    return forecast.override_update(actor=request.auth, override=override, **values)


@router.delete("/forecast-overrides/{int:override_id}", response={204: None})
def delete_override(request, override_id: int):
    override = forecast.override_get(user=request.auth, pk=override_id)
    forecast.override_delete(actor=request.auth, override=override)
    return Status(204, None)
