"""Pages of the bottleneck and sales performance reports, their CSV/XLSX downloads, and the quota page.

Thin: parse the range, call the report, draw the charts (server-side SVG), render. Any logged-in user may open
the reports (each figure counts only what they may see); quotas are changed through `identity.quotas`.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core import exports
from l2c.core.errors import DomainError, NotFound, ValidationFailed
from l2c.core.exports import Column, Rows, item
from l2c.core.forms import show_domain_error
from l2c.core.visibility import Role
from l2c.identity import quotas
from l2c.identity.models import Team, User
from l2c.revenue.charts import Series, bar_chart

from .bottlenecks import bottlenecks, report_range
from .performance import export_rows, sales_performance

NAV = "reports"


def _range(request):
    return report_range(request.GET.get("date_from"), request.GET.get("date_to"))


def _errors_page(request, template: str, exc: ValidationFailed):
    return render(request, template, {"nav": NAV, "report": None, "errors": exc.errors,
                                      "from_value": request.GET.get("date_from", ""),
                                      "to_value": request.GET.get("date_to", "")}, status=400)


# --- bottlenecks --------------------------------------------------------------------------------------

def _duration_cols(prefix: str, label) -> list[Column]:
    return [
        Column(f"{label}: " + str(gettext_lazy("count")), lambda row: row[prefix]["count"]),
        Column(f"{label}: " + str(gettext_lazy("median days")), lambda row: row[prefix]["median_days"]),
        Column(f"{label}: " + str(gettext_lazy("p75 days")), lambda row: row[prefix]["p75_days"]),
        Column(f"{label}: " + str(gettext_lazy("p90 days")), lambda row: row[prefix]["p90_days"]),
    ]


def _bottleneck_exports() -> dict:
    """{table: (sheet title, columns, rows(report))}"""
    def turnaround(report):
        return [{"measure": _("Quote approval (submitted → approved)"), **report["approval"]},
                {"measure": _("Signature (sent → signed)"), **report["signature"]}]

    return {
        "stages": (gettext_lazy("Time in stage"), [
            item(gettext_lazy("Stage"), "name"),
            *_duration_cols("left", _("Left in range")),
            *_duration_cols("open", _("Open now")),
            item(gettext_lazy("Stuck after (days)"), "norm_days")], lambda report: report["stages"]),
        "stuck": (gettext_lazy("Stuck opportunities"), [
            item(gettext_lazy("Opportunity"), "name"), item(gettext_lazy("Account"), "account"),
            item(gettext_lazy("Owner"), "owner"), item(gettext_lazy("Stage"), "stage"),
            item(gettext_lazy("Days in stage"), "days_in_stage"), item(gettext_lazy("Norm (days)"), "norm_days"),
            item(gettext_lazy("Amount"), "amount"), item(gettext_lazy("Currency"), "currency")],
            lambda report: report["stuck"]),
        "turnaround": (gettext_lazy("Turnaround"), [
            item(gettext_lazy("Measure"), "measure"), item(gettext_lazy("Count"), "count"),
            item(gettext_lazy("Mean days"), "mean_days"), item(gettext_lazy("Median days"), "median_days"),
            item(gettext_lazy("p75 days"), "p75_days"), item(gettext_lazy("p90 days"), "p90_days")], turnaround),
        "dso": (gettext_lazy("Days sales outstanding"), [
            item(gettext_lazy("Currency"), "currency"), item(gettext_lazy("Receivables"), "receivables"),
            item(gettext_lazy("Net credit sales"), "credit_sales"), item(gettext_lazy("Days"), "days"),
            item(gettext_lazy("DSO"), "dso")], lambda report: report["dso"]),
    }


@require_GET
@login_required
def bottlenecks_page(request):
    template = "analytics/performance/bottlenecks.html"
    try:
        date_from, date_to = _range(request)
    except ValidationFailed as exc:
        return _errors_page(request, template, exc)
    report = bottlenecks(user=request.user, date_from=date_from, date_to=date_to)
    measured = [row for row in report["stages"] if row["left"]["count"]]
    chart = bar_chart(
        title=_("Days in stage (stays that ended in the range)"), categories=[row["name"] for row in measured],
        series=[Series(_("Median"), [row["left"]["median_days"] for row in measured]),
                Series(_("p75"), [row["left"]["p75_days"] for row in measured]),
                Series(_("p90"), [row["left"]["p90_days"] for row in measured])],
        description=_("Days.")) if measured else ""
    return render(request, template, {
        "nav": NAV, "report": report, "chart": chart, "date_from": date_from, "date_to": date_to,
        "from_value": date_from.isoformat(), "to_value": date_to.isoformat(),
        "query": urlencode({"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}),
    })


@require_GET
@login_required
def bottlenecks_export(request, table: str):
    found = _bottleneck_exports().get(table)
    if found is None:
        raise Http404(_("No such report."))
    title, columns, rows = found

    def build():
        date_from, date_to = _range(request)
        report = bottlenecks(user=request.user, date_from=date_from, date_to=date_to, stuck_limit=10_000)
        return Rows(rows(report)), {"report": f"bottlenecks-{table}", "date_from": date_from.isoformat(),
                                    "date_to": date_to.isoformat()}

    return exports.ui_export(request, build, columns=columns, stem=f"bottlenecks-{table}",
                             object_type="analytics.report", sheet_title=str(title), back_url="/reports/bottlenecks/")


# --- performance --------------------------------------------------------------------------------------

PERFORMANCE_COLUMNS = [
    item(gettext_lazy("Rep or team"), "kind"), item(gettext_lazy("Name"), "name"), item(gettext_lazy("Team"), "team"),
    item(gettext_lazy("Closed"), "closed"), item(gettext_lazy("Won"), "won"), item(gettext_lazy("Lost"), "lost"),
    item(gettext_lazy("Win rate %"), "win_rate_percent"),
    item(gettext_lazy("Sales cycle (median days)"), "cycle_median_days"),
    item(gettext_lazy("Currency"), "currency"), item(gettext_lazy("Won amount"), "won_amount"),
    item(gettext_lazy("Average deal"), "average_deal"), item(gettext_lazy("Quota"), "quota"),
    item(gettext_lazy("Attainment %"), "attainment_percent"),
]


@require_GET
@login_required
def performance_page(request):
    template = "analytics/performance/performance.html"
    try:
        date_from, date_to = _range(request)
    except ValidationFailed as exc:
        return _errors_page(request, template, exc)
    report = sales_performance(user=request.user, date_from=date_from, date_to=date_to)
    rows = report["reps"]
    win_chart = bar_chart(
        title=_("Win rate per rep"), categories=[row["name"] for row in rows],
        series=[Series(_("Win rate %"), [row["win_rate_percent"] or 0 for row in rows])],
        description=_("Won of closed, in per cent.")) if rows else ""
    attained = [(row, money) for row in rows for money in row["money"] if money["attainment_percent"] is not None]
    quota_chart = bar_chart(
        title=_("Quota attainment per rep"), categories=[f"{row['name']} ({m['currency']})" for row, m in attained],
        series=[Series(_("Attainment %"), [m["attainment_percent"] for _row, m in attained])],
        description=_("Won amount of the quota, in per cent.")) if attained else ""
    return render(request, template, {
        "nav": NAV, "report": report, "win_chart": win_chart, "quota_chart": quota_chart,
        "date_from": date_from, "date_to": date_to, "from_value": date_from.isoformat(),
        "to_value": date_to.isoformat(), "can_manage_quotas": quotas.can_manage_quotas(request.user),
        "query": urlencode({"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}),
    })


@require_GET
@login_required
def performance_export(request):
    def build():
        date_from, date_to = _range(request)
        report = sales_performance(user=request.user, date_from=date_from, date_to=date_to)
        return Rows(export_rows(report)), {"report": "performance", "date_from": date_from.isoformat(),
                                           "date_to": date_to.isoformat()}

    return exports.ui_export(request, build, columns=PERFORMANCE_COLUMNS, stem="sales-performance",
                             object_type="analytics.report", sheet_title=str(_("Sales performance")),
                             back_url="/reports/performance/")


# --- quotas -------------------------------------------------------------------------------------------

class QuotaForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("Rep"), queryset=User.objects.none(), required=False)
    team = forms.ModelChoiceField(label=gettext_lazy("Team"), queryset=Team.objects.none(), required=False,
                                  help_text=gettext_lazy("Either a rep or a team."))
    period_start = forms.DateField(label=gettext_lazy("Period start"), widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label=gettext_lazy("Period end (inclusive)"),
                                 widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=20, decimal_places=2)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial="USD")

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        users = User.objects.filter(is_active=True, role=Role.REP).order_by("username")
        if actor.is_admin:
            self.fields["user"].queryset = User.objects.filter(
                is_active=True, role__in=[Role.REP, Role.MANAGER, Role.ADMIN]).order_by("username")
            self.fields["team"].queryset = Team.objects.order_by("name")
        else:
            self.fields["user"].queryset = users.filter(team_id=actor.team_id).exclude(pk=actor.pk)
            del self.fields["team"]


def _quota_values(form) -> dict:
    data = dict(form.cleaned_data)
    data.setdefault("team", None)
    data["amount"] = str(data["amount"]) if data.get("amount") is not None else None
    return data


@require_http_methods(["GET", "POST"])
@login_required
def quota_list_page(request):
    actor = request.user
    can_manage = quotas.can_manage_quotas(actor)
    form = QuotaForm(request.POST or None, actor=actor) if can_manage else None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise DjangoPermissionDenied(_("Only admins and sales managers can set quotas."))
        if form.is_valid():
            try:
                quotas.quota_create(actor=actor, **_quota_values(form))
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, _("Quota saved."))
                return redirect("/reports/quotas/")
        status = 400
    rows = [(quota, quotas.may_manage(actor, quota)) for quota in quotas.quota_list(user=actor)[:500]]
    return render(request, "analytics/performance/quotas.html",
                  {"nav": NAV, "rows": rows, "form": form, "can_manage": can_manage}, status=status)


def _quota_or_404(user, pk):
    try:
        return quotas.quota_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@require_http_methods(["GET", "POST"])
@login_required
def quota_edit_page(request, quota_id: int):
    quota = _quota_or_404(request.user, quota_id)
    if not quotas.may_manage(request.user, quota):
        raise DjangoPermissionDenied(_("You can change quotas only of the reps of your team."))
    initial = {"user": quota.user_id, "team": quota.team_id, "period_start": quota.period_start,
               "period_end": quota.period_end, "amount": quota.amount, "currency": quota.currency}
    form = QuotaForm(request.POST or None, actor=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                quotas.quota_update(actor=request.user, quota=quota, **_quota_values(form))
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, _("Quota saved."))
                return redirect("/reports/quotas/")
        status = 400
    return render(request, "analytics/performance/quota_form.html", {"nav": NAV, "form": form, "quota": quota},
                  status=status)


@require_POST
@login_required
def quota_delete_page(request, quota_id: int):
    quota = _quota_or_404(request.user, quota_id)
    try:
        quotas.quota_delete(actor=request.user, quota=quota)
    except DomainError as exc:
        raise DjangoPermissionDenied(exc.message) from exc
    messages.success(request, _("Quota deleted."))
    return redirect("/reports/quotas/")
