"""The home dashboards, one section per role, shared by the home page and `GET /api/v1/reports/dashboard`.

- sales (every sales user: rep, manager, admin): my tasks (overdue and due today), the pipeline (a rep's own
  deals; a manager's team, an admin everyone's, as the home page always showed), hot leads (the open leads with
  the highest score: not converted, not disqualified, not merged; a rep's own, a manager's team and unassigned
  ones) and my numbers this quarter (won deals against my quota).
- team (managers and admins): the forecast of this and next close month (analytics.forecast) and the deals
  stuck longest past their stage's norm (analytics.bottlenecks' definition).
- finance (finance and admins): open receivables by age (billing's AR aging), cash received (payments, reversed
  ones left out) and the deferred revenue balance today (the ledger's account 2100).

Every figure goes through the existing selectors with `user`, so it counts only what the user may see. Each
function returns plain values (dicts, lists, Decimals, dates) for both the template and the API; each costs a
handful of grouped queries whatever the amount of data (no query per row).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from l2c.core.money import round_money

ZERO = Decimal(0)
TASKS_SHOWN = 50
HOT_LEADS_SHOWN = 10
STUCK_SHOWN = 10
FORECAST_MONTHS = 2  # this close month and the next
CASH_DAYS = 30


# --- who sees which section -------------------------------------------------------------------------------

def shows_sales(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_sales)


def shows_team(user) -> bool:
    return shows_sales(user) and bool(user.is_admin or user.is_manager)


def shows_finance(user) -> bool:
    from l2c.ledger.services import can_use_ledger

    return can_use_ledger(user)


def section_names(user) -> list[str]:
    """The sections of `user`'s dashboard, in page order."""
    return [name for name, shown in (("sales", shows_sales(user)), ("team", shows_team(user)),
                                     ("finance", shows_finance(user))) if shown]


def dashboard(*, user, today: dt.date | None = None, now: dt.datetime | None = None) -> dict:
    """{"sections": [names], "sales": dict | None, "team": dict | None, "finance": dict | None} for `user`."""
    from .bottlenecks import gather

    now = now or timezone.now()
    today = today or timezone.localdate(now)
    names = section_names(user)
    builders = {"sales": lambda: sales_section(user=user, today=today, now=now, hot=False),
                "team": lambda: team_section(user=user, today=today, now=now),
                "finance": lambda: finance_section(user=user, today=today, now=now)}
    calls = {name: builders[name] for name in names}
    if "sales" in names:  # the longest single part (a sort of every open lead by score) runs beside the rest
        calls["hot_leads"] = lambda: hot_leads(user=user)
    # on PostgreSQL the sections run side by side, each on its own connection (see bottlenecks.gather)
    found = gather(calls)
    result = {"sections": names, "sales": None, "team": None, "finance": None}
    for name in names:
        result[name] = found[name]
    if "sales" in names:
        result["sales"]["hot_leads"] = found["hot_leads"]
    return result


# --- helpers ----------------------------------------------------------------------------------------------

def _per_currency(amounts: dict) -> dict[str, Decimal]:
    """{currency: amount} rounded to each currency, sorted by currency (a stable order for page and API)."""
    return {currency: round_money(amount or ZERO, currency) for currency, amount in sorted(amounts.items())}


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    from .forecast import add_months, month_end

    start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return start, month_end(add_months(start, 2))


# --- sales: my tasks, pipeline, hot leads, my quarter -------------------------------------------------

def _task_target(activity) -> dict | None:
    for kind, name in (("opportunity", "pipeline:opportunity-detail"), ("contact", "customers:contact-detail"),
                       ("account", "customers:account-detail"), ("lead", "leads:lead-detail")):
        pk = getattr(activity, f"{kind}_id")
        if pk:
            return {"kind": kind, "id": pk, "label": str(getattr(activity, kind)), "url": reverse(name, args=[pk])}
    return None


def _tasks(user, now: dt.datetime) -> dict:
    """My open tasks overdue or due today, the most urgent first (pipeline.selectors.my_tasks): one query."""
    from l2c.pipeline.selectors import my_tasks

    found = list(my_tasks(user=user)[:TASKS_SHOWN + 1])
    items = []
    for activity in found[:TASKS_SHOWN]:
        items.append({"id": activity.pk, "kind": activity.kind, "kind_label": str(activity.get_kind_display()),
                      "subject": activity.subject, "due_at": activity.due_at,
                      "overdue": bool(activity.due_at and activity.due_at < now), "target": _task_target(activity)})
    return {"items": items, "overdue_count": sum(1 for item in items if item["overdue"]),
            "more": len(found) > TASKS_SHOWN}


def _pipeline(user, team: bool) -> dict:
    """Open deals by stage (pipeline.selectors.pipeline_summary): five grouped queries."""
    from l2c.pipeline.selectors import pipeline_summary

    summary = pipeline_summary(user=user, team=team)
    return {
        "open_count": summary["open_count"], "open_totals": _per_currency(summary["open_totals"]),
        "weighted_totals": _per_currency(summary["weighted_totals"]),
        "won_count": summary["won_count"], "won_totals": _per_currency(summary["won_totals"]),
        "closing_this_month": summary["closing_this_month"],
        "stages": [{"stage_id": row["stage"].pk, "name": str(row["stage"].label), "count": row["count"],
                    "totals": _per_currency(row["totals"])} for row in summary["stages"]],
    }


def hot_leads(*, user, limit: int = HOT_LEADS_SHOWN) -> list[dict]:
    """The open leads `user` may see with the highest score (ties: the newest first): one query. Open: not
    converted, not disqualified, not merged into another lead; a lead never scored is not hot."""
    from l2c.leads.choices import LeadStatus
    from l2c.leads.models import Lead
    from l2c.nurture.scoring.engine import grade_for

    leads = (Lead.objects.restrict(user)
             .filter(merged_into__isnull=True, score__isnull=False)
             .exclude(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
             .only("first_name", "last_name", "company", "status", "score", "owner_id")
             .order_by("-score", "-id")[:limit])
    return [{"id": lead.pk, "name": lead.full_name, "company": lead.company, "status": lead.status,
             "status_label": str(lead.get_status_display()), "score": lead.score, "grade": grade_for(lead.score),
             "url": reverse("leads:lead-detail", args=[lead.pk])} for lead in leads]


def my_quarter(*, user, today: dt.date) -> dict:
    """What I (the user, as owner) won this quarter against my quota, per currency, with the deals closed won and
    lost: two queries. Quota and attainment as the sales performance report computes them."""
    from l2c.identity.quotas import quota_targets
    from l2c.pipeline.models import Opportunity

    from .bottlenecks import day_bounds
    from .performance import _row

    date_from, date_to = quarter_of(today)
    start, end = day_bounds(date_from, date_to)
    closed = Opportunity.objects.restrict(user).filter(owner_id=user.pk, closed_at__gte=start, closed_at__lt=end)
    figures = {"won": 0, "lost": 0, "amounts": {}, "cycle": None}
    won = Q(stage__is_won=True)
    for row in closed.values("currency").annotate(won=Count("pk", filter=won), lost=Count("pk", filter=Q(
            stage__is_lost=True)), total=Sum("amount", filter=won)).order_by():
        figures["won"] += row["won"]
        figures["lost"] += row["lost"]
        if row["won"]:
            figures["amounts"][row["currency"]] = (row["total"] or ZERO, row["won"])
    targets = quota_targets(user_ids=[user.pk], team_ids=[], date_from=date_from, date_to=date_to)
    row = _row("rep", user.pk, str(user), "", figures, targets.get(("user", user.pk), {}))
    return {"date_from": date_from, "date_to": date_to, "won": row["won"], "lost": row["lost"],
            "win_rate_percent": row["win_rate_percent"],
            "money": [{key: entry[key] for key in ("currency", "won_amount", "won_count", "quota",
                                                    "attainment_percent")} for entry in row["money"]]}


def sales_section(*, user, today: dt.date | None = None, now: dt.datetime | None = None, hot: bool = True) -> dict:
    """My tasks, the pipeline (mine; a manager's team, an admin's all), hot leads (unless `hot` is False: the
    dashboard reads them beside the rest) and my quarter."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    team = bool(user.is_admin or user.is_manager)
    return {"scope": "team" if team else "mine", "tasks": _tasks(user, now), "pipeline": _pipeline(user, team),
            "hot_leads": hot_leads(user=user) if hot else None, "quarter": my_quarter(user=user, today=today)}


# --- team: forecast and stuck deals -------------------------------------------------------------------

FORECAST_FIGURES = ("closed", "commit", "best_case", "pipeline")


def team_forecast(*, user, today: dt.date) -> dict:
    """This and next close month of analytics.forecast.forecast_report: per month closed won, commit, best case
    and pipeline (final: with the overrides), the computed figures beside them, weighted, and the overrides that
    apply."""
    from .forecast import add_months, forecast_report, month_end, month_of
    from .models import ForecastCategory

    first = month_of(today)
    report = forecast_report(user=user, date_from=first, date_to=month_end(add_months(first, FORECAST_MONTHS - 1)),
                             as_of=today, contracted=False)  # the dashboard shows the pipeline only
    months = []
    for total in report["totals"]:
        months.append({
            "month": total["month"], **{name: total[name] for name in FORECAST_FIGURES},
            **{f"{name}_computed": total[f"{name}_computed"] for name in FORECAST_FIGURES},
            "weighted": round_money(total["weighted"], report["currency"]), "count": total["count"],
            "commit_forecast": total["commit_forecast"], "best_case_forecast": total["best_case_forecast"],
            "overridden": any(total[name] != total[f"{name}_computed"] for name in FORECAST_FIGURES),
        })
    overrides = [{"month": row["month"], "category": row["category"],
                  "category_label": str(ForecastCategory(row["category"]).label), "owner": row.get("owner", ""),
                  "team": row["team"] if "owner" not in row else "", "computed": row["computed"],
                  "override": row["override"], "note": row["note"]}
                 for row in (*report["teams"], *report["rows"]) if row["override"] is not None]
    overrides.sort(key=lambda o: (o["month"], o["team"] == "", o["team"], o["owner"], o["category"]))
    return {"currency": report["currency"], "months": months, "overrides": overrides,
            "unconverted": report["unconverted"], "url": reverse("reports-forecast")}


def _norms(user, stages, today: dt.date) -> dict:
    """{stage id: days} as the bottleneck report sets them: the stage's expected days, else the p75 of the stays
    that ended in the report's default range (one more query, only when a stage has no setting)."""
    from .bottlenecks import _left_stats, _norm, day_bounds, report_range

    open_stages = [stage for stage in stages if not stage.is_closed]
    left = {}
    if not all(stage.expected_days for stage in open_stages):
        left = _left_stats(user, *day_bounds(*report_range(today=today)))
    norms = {}
    for stage in open_stages:
        norm, _source = _norm(stage, left.get(stage.pk))
        if norm is not None:
            norms[stage.pk] = norm
    return norms


def stuck_deals(*, user, now: dt.datetime, today: dt.date, limit: int = STUCK_SHOWN) -> dict:
    """The open deals `user` may see that are past their stage's norm (bottlenecks' definition): how many, and
    the `limit` longest past it (days over the norm, most first). Four queries: stages, [norms,] count, top ids,
    their rows."""
    from l2c.pipeline.models import Opportunity, Stage

    from .bottlenecks import _stuck, _stuck_q

    norms = _norms(user, list(Stage.objects.order_by("order", "id")), today)
    if not norms:
        return {"count": 0, "deals": [], "url": reverse("reports-bottlenecks")}
    count = Opportunity.objects.restrict(user).filter(_stuck_q(norms, now), closed_at__isnull=True).count()
    deals = [{**row, "stage": str(row["stage"]), "url": reverse("pipeline:opportunity-detail", args=[row["id"]])}
             for row in _stuck(user, norms, now, limit, most_over=True)]
    return {"count": count, "deals": deals, "url": reverse("reports-bottlenecks")}


def team_section(*, user, today: dt.date | None = None, now: dt.datetime | None = None) -> dict:
    """The team's forecast for this and next month and its stuck deals (the team's pipeline and tasks are in the
    sales section)."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    return {"forecast": team_forecast(user=user, today=today), "stuck": stuck_deals(user=user, now=now, today=today)}


# --- finance: AR, cash, deferred revenue ----------------------------------------------------------------

def receivables(*, user, today: dt.date) -> dict:
    """Open receivables today per currency, by days past due (billing.selectors.ar_totals: the AR aging
    report's totals, grouped in the database): one query."""
    from l2c.billing.selectors import ar_totals

    report = ar_totals(user=user, as_of=today)
    keys = [key for key, _label in report["buckets"]]
    currencies = []
    for group in report["currencies"]:
        total, currency = group["total"], group["currency"]
        currencies.append({"currency": currency, "total": round_money(total["total"], currency),
                           "overdue": round_money(total["total"] - total["current"], currency),
                           "customers": group["customers"],
                           "buckets": {key: round_money(total[key], currency) for key in keys}})
    return {"as_of": today, "buckets": keys, "currencies": currencies, "url": reverse("billing:ar-aging")}


def cash_received(*, user, today: dt.date, currency: str | None = None) -> dict:
    """Payments received (their amount in the company currency; reversed payments left out) this month, last
    month and in the last 30 days: one query."""
    from l2c.billing.models import Payment

    from .forecast import add_months, company_currency, month_of

    currency = currency or company_currency()
    this_month = month_of(today)
    last_month = add_months(this_month, -1)
    since = today - dt.timedelta(days=CASH_DAYS - 1)
    received = Payment.objects.restrict(user).filter(reversed_at__isnull=True, date__lte=today,
                                                     date__gte=min(last_month, since))
    sums = received.aggregate(
        this_month=Sum("amount_base", filter=Q(date__gte=this_month)),
        this_month_count=Count("pk", filter=Q(date__gte=this_month)),
        last_month=Sum("amount_base", filter=Q(date__gte=last_month, date__lt=this_month)),
        last_30_days=Sum("amount_base", filter=Q(date__gte=since)))
    return {"currency": currency, "this_month_start": this_month, "last_month_start": last_month,
            "since": since, "this_month_count": sums["this_month_count"],
            **{key: round_money(sums[key] or ZERO, currency) for key in ("this_month", "last_month", "last_30_days")},
            "url": reverse("billing:payment-list")}


def deferred_revenue(*, user, today: dt.date, currency: str | None = None) -> dict:
    """The deferred revenue balance (ledger account 2100, credit side) at the end of today, with today's movement
    (ledger.selectors.general_ledger)."""
    from l2c.ledger.models import DEFERRED_REVENUE
    from l2c.ledger.selectors import general_ledger

    from .forecast import company_currency

    ledger = general_ledger(DEFERRED_REVENUE, date_from=today, date_to=today, user=user)
    return {"currency": currency or company_currency(), "as_of": today, "balance": ledger.closing,
            "url": reverse("revenue:overview")}


def finance_section(*, user, today: dt.date | None = None, now: dt.datetime | None = None) -> dict:
    """Receivables by age, cash received and the deferred revenue balance."""
    from .forecast import company_currency

    today = today or timezone.localdate(now or timezone.now())
    currency = company_currency()
    return {"receivables": receivables(user=user, today=today),
            "cash": cash_received(user=user, today=today, currency=currency),
            "deferred_revenue": deferred_revenue(user=user, today=today, currency=currency)}
