"""Forecast pages: the forecast by close month (with overrides, snapshots and contracted revenue) and its
accuracy; their tables as CSV or XLSX. Thin: `analytics.forecast` reads and writes."""
from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from l2c.core import exports
from l2c.core.errors import DomainError, NotFound, ValidationFailed
from l2c.revenue.charts import Series, bar_chart

from . import forecast
from .models import OVERRIDABLE_CATEGORIES, ForecastCategory

FORECAST_PARAMS = ("date_from", "date_to", "as_of", "owner", "team")
ACCURACY_PARAMS = ("date_from", "date_to", "owner", "team")


def forecast_page(view):
    """Logged in, and a role that sees a forecast (sales roles, finance for contracted revenue); else 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not (forecast.can_see_pipeline(request.user) or forecast.can_see_contracted(request.user)):
            raise DjangoPermissionDenied(_("Your role does not allow the forecast."))
        return view(request, *args, **kwargs)

    return wrapper


def _params(request, names) -> dict:
    return {name: request.GET.get(name, "").strip() or None for name in names}


def _render(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": "reports", "report_tab": "forecast", **context}, status=status)


def _filter_choices(user) -> dict:
    from l2c.identity.models import Team
    from l2c.pipeline.selectors import assignable_owners

    if not forecast.can_see_pipeline(user):
        return {"owners": [], "teams": []}
    teams = Team.objects.order_by("name") if user.is_admin else Team.objects.filter(pk=user.team_id)
    return {"owners": list(assignable_owners(user=user)), "teams": list(teams) if forecast.sees_teams(user) else []}


@require_GET
@forecast_page
def forecast_view(request):
    params = _params(request, FORECAST_PARAMS)
    try:
        report = forecast.forecast_report(user=request.user, **params)
    except ValidationFailed as exc:
        return _render(request, "analytics/forecast/forecast.html", {
            "errors": exc.errors, "params": params, "report": None, **_filter_choices(request.user)}, status=400)
    labels = [m.strftime("%Y-%m") for m in report["months"]]
    series = []
    if report["pipeline"]:
        totals = report["totals"]
        series += [Series(_("Closed won"), [t["closed"] for t in totals]),
                   Series(_("Commit forecast"), [t["commit_forecast"] for t in totals]),
                   Series(_("Best-case forecast"), [t["best_case_forecast"] for t in totals]),
                   Series(_("Weighted pipeline"), [t["weighted"] for t in totals])]
    if report["contracted"] is not None:
        series.append(Series(_("Contracted revenue"), [m["amount"] or 0 for m in report["contracted"]["months"]]))
    chart = bar_chart(title=_("Forecast by close month"), categories=labels, series=series,
                      description=_("In %(currency)s.") % {"currency": report["currency"]}) if series else ""
    recent = list(forecast.snapshot_list(user=request.user, limit=8)) if report["pipeline"] else []
    query = urlencode({k: v for k, v in params.items() if v})
    return _render(request, "analytics/forecast/forecast.html", {
        "report": report, "params": params, "chart": chart, "query": query, "snapshots": recent,
        "can_override": forecast.can_override(request.user), "can_snapshot": forecast.can_take_snapshot(request.user),
        "categories": ForecastCategory.choices,
        "overridable": [(c.value, c.label) for c in OVERRIDABLE_CATEGORIES],
        "month_values": [m.strftime("%Y-%m") for m in report["months"]],
        **_filter_choices(request.user),
    })


def _back(request, default: str) -> str:
    target = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return default
    return target


@require_POST
@forecast_page
def override_save(request):
    """The override form: create or change the figure for (owner or team, month, category)."""
    back = _back(request, "/reports/forecast/")
    data = request.POST
    try:
        forecast.override_save(actor=request.user, owner=data.get("owner") or None, team=data.get("team") or None,
                               month=data.get("month") or None, category=data.get("category", ""),
                               amount=data.get("amount") or None, note=data.get("note", ""))
    except DomainError as exc:
        for error in exc.errors or []:
            messages.error(request, f"{error.field}: {error.message}")
        if not exc.errors:
            messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _("Override saved; the forecast total uses it."))
    return redirect(back)


@require_POST
@forecast_page
def override_delete(request, pk: int):
    back = _back(request, "/reports/forecast/")
    try:
        found = forecast.override_get(user=request.user, pk=pk)
        forecast.override_delete(actor=request.user, override=found)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _("Override removed; the computed figure counts again."))
    return redirect(back)


@require_POST
@forecast_page
def snapshot_take(request):
    back = _back(request, "/reports/forecast/")
    try:
        snapshot = forecast.snapshot_take(actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _("Forecast snapshot taken at %(at)s.") % {"at": timezone.localtime(snapshot.taken_at).strftime("%Y-%m-%d %H:%M")})
    return redirect(back)


@require_GET
@forecast_page
def accuracy_view(request):
    params = _params(request, ACCURACY_PARAMS)
    if not forecast.can_see_pipeline(request.user):
        raise DjangoPermissionDenied(_("Forecast accuracy is for sales roles."))
    try:
        report = forecast.forecast_accuracy(user=request.user, **params)
    except ValidationFailed as exc:
        return _render(request, "analytics/forecast/accuracy.html", {
            "errors": exc.errors, "params": params, "report": None, **_filter_choices(request.user)}, status=400)
    latest = {}
    for row in report["rows"]:
        latest[row["month"]] = row  # rows are in the order snapshots were taken: the last one wins
    labels = [m["month"].strftime("%Y-%m") for m in report["months"]]
    chart = bar_chart(
        title=_("Latest forecast before month end against closed won"), categories=labels,
        series=[Series(_("Commit forecast"), [latest[m["month"]]["commit_forecast"] if m["month"] in latest else 0
                                              for m in report["months"]]),
                Series(_("Best-case forecast"), [latest[m["month"]]["best_case_forecast"] if m["month"] in latest
                                                 else 0 for m in report["months"]]),
                Series(_("Closed won"), [m["actual"] for m in report["months"]])],
        description=_("In %(currency)s.") % {"currency": report["currency"]}) if labels else ""
    return _render(request, "analytics/forecast/accuracy.html", {
        "report": report, "params": params, "chart": chart,
        "query": urlencode({k: v for k, v in params.items() if v}), **_filter_choices(request.user)})


@require_GET
@forecast_page
def forecast_export(request, table: str):
    """One table of the forecast page (owners, teams, totals) or the accuracy table, as CSV or XLSX."""
    found = forecast.export_tables().get(table)
    if found is None:
        raise Http404(_("No such table."))
    if table == "accuracy" and not forecast.can_see_pipeline(request.user):
        raise DjangoPermissionDenied(_("Forecast accuracy is for sales roles."))
    label, columns, rows = found
    names = ACCURACY_PARAMS if table == "accuracy" else FORECAST_PARAMS

    def build():
        params = _params(request, names)
        return exports.Rows(rows(request.user, params)), {"table": table, **params}

    back = "/reports/forecast/accuracy/" if table == "accuracy" else "/reports/forecast/"
    return exports.ui_export(request, build, columns=columns, stem=f"forecast-{table}",
                             object_type="analytics.forecast", sheet_title=str(label), back_url=back)
