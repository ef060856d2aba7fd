"""Report pages under /reports/: the index (cards linking to every report), the funnel, L2C cycle time and
campaign attribution, each with a CSV/XLSX download of its table. Thin: parse, call the report, render."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from l2c.core import exports
from l2c.core.errors import ValidationFailed
from l2c.core.exports import Rows, item

from . import attribution as attribution_report
from . import cycle_time as cycle_report
from . import funnel as funnel_report

FUNNEL_COLUMNS = [
    item(gettext_lazy("Segment"), "segment"), item(gettext_lazy("Step"), "label"),
    item(gettext_lazy("Leads"), "count"),
    # xgettext:no-python-format
    item(gettext_lazy("% of previous step"), "from_previous"),
    # xgettext:no-python-format
    item(gettext_lazy("% of leads"), "from_top"),
]
CYCLE_COLUMNS = [
    item(gettext_lazy("Segment"), "segment"), item(gettext_lazy("Leads"), "leads"),
    item(gettext_lazy("Reached cash"), "count"), item(gettext_lazy("Median days"), "median"),
    item(gettext_lazy("p75 days"), "p75"), item(gettext_lazy("p90 days"), "p90"),
    item(gettext_lazy("Mean days"), "mean"), item(gettext_lazy("Fewest days"), "min"),
    item(gettext_lazy("Most days"), "max"),
]
ATTRIBUTION_COLUMNS = [
    item(gettext_lazy("Campaign"), "campaign"), item(gettext_lazy("Cost"), "cost"),
    item(gettext_lazy("Leads"), "leads"), item(gettext_lazy("Pipeline"), "pipeline"),
    item(gettext_lazy("Won"), "won"), item(gettext_lazy("Invoiced"), "invoiced"),
    item(gettext_lazy("Cash collected"), "cash"), item(gettext_lazy("Revenue recognised"), "revenue"),
    item(gettext_lazy("ROI %"), "roi"),
]


def _query(request) -> str:
    query = request.GET.copy()
    query.pop("format", None)
    return query.urlencode()


def _filter_choices(user) -> dict:
    """The filter form's options: lead sources, and the campaigns, people and teams the user may pick (their
    own records' values: a rep sees their own name and campaigns, a manager the team's)."""
    from l2c.core.validation import assignable_owners
    from l2c.identity.models import Team
    from l2c.leads.choices import LeadSource
    from l2c.leads.models import Campaign

    people = assignable_owners(user).order_by("first_name", "last_name", "username")
    teams = Team.objects.order_by("name")
    if not user.is_admin:
        teams = teams.filter(pk=user.team_id) if user.team_id else teams.none()
    campaigns = Campaign.objects.restrict(user).order_by("-start_date", "name").values_list("pk", "name")
    return {
        "sources": [(value, str(label)) for value, label in LeadSource.choices],
        "campaigns": list(campaigns[:500]),
        "owners": [(u.pk, u.get_full_name() or u.username) for u in people.only("first_name", "last_name", "username")],
        "teams": list(teams.values_list("pk", "name")),
    }


def _page(request, template: str, build, **extra):
    """Render a report page; bad parameters are shown beside the form instead of the report."""
    funnel_report.require_reports_user(request.user)
    context = {"nav": "reports", "query": _query(request), "values": request.GET, "errors": [],
               "dimensions": funnel_report.DIMENSION_LABELS, "choices": _filter_choices(request.user), **extra}
    try:
        context.update(build())
    except ValidationFailed as exc:
        context["errors"] = exc.errors
    return render(request, template, context)


def _export(request, build, *, columns, stem: str, label: str, back_url: str):
    funnel_report.require_reports_user(request.user)
    return exports.ui_export(request, build, columns=columns, stem=stem, object_type="analytics.report",
                             sheet_title=label, back_url=back_url)


@require_GET
@login_required
def reports_index(request):
    """Cards linking to every report the user may open (the lead-based ones are for sales roles)."""
    if not (request.user.is_sales or request.user.is_finance):
        raise PermissionDenied(_("Reports are for sales and finance users."))
    return render(request, "analytics/reports/index.html", {"nav": "reports"})


# --- funnel -----------------------------------------------------------------------------------------

def _funnel(request) -> dict:
    params = funnel_report.parse_params(request.GET)
    report = funnel_report.funnel(user=request.user, params=params)
    return {"params": params, "report": report, "table": funnel_report.funnel_table(report)}


@require_GET
@login_required
def funnel_page(request):
    def build():
        data = _funnel(request)
        data["by_label"] = funnel_report.DIMENSION_LABELS.get(data["params"].by, "")
        from l2c.revenue.charts import Series, bar_chart

        steps = data["report"]["total"]
        data["chart"] = bar_chart(title=_("Funnel"), categories=[s["label"] for s in steps],
                                  series=[Series(_("Leads"), [s["count"] for s in steps])],
                                  description=_("Leads reaching each step."))
        return data

    return _page(request, "analytics/reports/funnel.html", build)


@require_GET
@login_required
def funnel_export(request):
    def build():
        data = _funnel(request)
        return Rows(data["table"]), data["params"].as_query()

    return _export(request, build, columns=FUNNEL_COLUMNS, stem="funnel", label=_("Funnel"),
                   back_url="/reports/funnel/")


# --- cycle time -------------------------------------------------------------------------------------

def _cycle(request) -> dict:
    params = funnel_report.parse_params(request.GET, by_choices=cycle_report.CYCLE_DIMENSIONS)
    report = cycle_report.cycle_time(user=request.user, params=params)
    return {"params": params, "report": report, "table": cycle_report.cycle_table(report)}


@require_GET
@login_required
def cycle_page(request):
    def build():
        data = _cycle(request)
        data["chart"] = cycle_report.histogram_chart(data["report"]["total"])
        return data

    return _page(request, "analytics/reports/cycle_time.html", build,
                 cycle_dimensions={k: funnel_report.DIMENSION_LABELS[k] for k in cycle_report.CYCLE_DIMENSIONS})


@require_GET
@login_required
def cycle_export(request):
    def build():
        data = _cycle(request)
        return Rows(data["table"]), data["params"].as_query()

    return _export(request, build, columns=CYCLE_COLUMNS, stem="cycle-time", label=_("L2C cycle time"),
                   back_url="/reports/cycle-time/")


# --- attribution ------------------------------------------------------------------------------------

def _attribution(request) -> dict:
    params = funnel_report.parse_params(request.GET, by_choices=())
    model = attribution_report.parse_model(request.GET.get("model"))
    report = attribution_report.attribution(user=request.user, params=params, model=model)
    return {"params": params, "report": report, "table": attribution_report.attribution_table(report)}


@require_GET
@login_required
def attribution_page(request):
    def build():
        data = _attribution(request)
        from l2c.revenue.charts import Series, bar_chart

        rows = data["report"]["rows"][:12]
        data["chart"] = bar_chart(
            title=_("Cost and cash collected per campaign"), categories=[r["campaign"] for r in rows],
            series=[Series(_("Cost"), [r["cost"] or 0 for r in rows]), Series(_("Cash collected"),
                                                                             [r["cash"] for r in rows])],
            description=_("Campaign cost against the cash its leads brought."))
        return data

    return _page(request, "analytics/reports/attribution.html", build)


@require_GET
@login_required
def attribution_export(request):
    def build():
        data = _attribution(request)
        return Rows(data["table"]), {**data["params"].as_query(), "model": data["report"]["model"]}

    return _export(request, build, columns=ATTRIBUTION_COLUMNS, stem="attribution", label=_("Attribution"),
                   back_url="/reports/attribution/")
