"""The lead-to-cash funnel, and the report parameters the funnel, cycle-time and attribution reports share.

How a lead is traced down the flow (the real links, all from the lead):

    lead        leads.Lead created in [date_from, date_to] (merged-away leads excluded)
    qualified   the lead's status is qualified or converted, or it has `converted_at`, or its audit trail
                (core.AuditEvent, object_type "leads.lead") holds a change of `status` to "qualified" (a
                lead qualified once and moved back to working or disqualified still counts)
    opportunity pipeline.Opportunity.lead = the lead
    quote sent  quoting.Quote.opportunity = one of those opportunities, with `sent_at` set (a new version
                clears it on the copy; the superseded version keeps it)
    won         one of those opportunities stands in a won stage (Stage.is_won; it then has closed_at)
    invoiced    billing.Invoice.contract → contracts.Contract.opportunity = one of those opportunities, and
                the invoice is posted (not a draft, not void)
    paid        such an invoice is fully paid (status paid)

Each step counts the leads that reached it *or a later one*, so the funnel never widens: a deal won without
a quote through the system still counts as "quote sent", a converted lead as qualified. Conversion rates
are the share of the previous step and of the top (leads), in percent with one decimal.

Visibility: the leads are `Lead.objects.restrict(user)`, and every later record must be visible to the user
too (`restrict(user)` of Opportunity, Quote and Invoice). Finance sees no leads: the reports are for sales.
Every count is one grouped query in the database (EXISTS per step), never a loop over leads.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.validation import as_id, parse_date

DEFAULT_DAYS = 90
MAX_DAYS = 366 * 20
# report dimension → Lead field it groups by
DIMENSIONS = {
    "source": "source",
    "campaign": "campaign_id",
    "owner": "owner_id",
    "team": "owner__team_id",
    "country": "country",
}
DIMENSION_LABELS = {
    "source": gettext_lazy("Source"), "campaign": gettext_lazy("Campaign"), "owner": gettext_lazy("Owner"),
    "team": gettext_lazy("Team"), "country": gettext_lazy("Country"),
}
STEPS = ("leads", "qualified", "opportunity", "quote_sent", "won", "invoiced", "paid")
STEP_LABELS = {
    "leads": gettext_lazy("Leads"), "qualified": gettext_lazy("Qualified"),
    "opportunity": gettext_lazy("Opportunity"), "quote_sent": gettext_lazy("Quote sent"),
    "won": gettext_lazy("Won"), "invoiced": gettext_lazy("Invoiced"), "paid": gettext_lazy("Paid"),
}
HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")


def require_reports_user(user) -> None:
    """The lead-based reports are for sales roles (admin, manager, rep); finance sees no leads."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise PermissionDenied(_("Log in to see reports."))
    if not getattr(user, "is_sales", False):
        raise PermissionDenied(_("The funnel, cycle-time and attribution reports are for sales users."))


# --- parameters -------------------------------------------------------------------------------------

@dataclass
class ReportParams:
    """What a report is asked for: the lead creation range, dimension filters and a `by` dimension."""

    date_from: dt.date
    date_to: dt.date
    by: str | None = None
    filters: dict = field(default_factory=dict)  # dimension → value (ids as int)

    def as_query(self) -> dict:
        query = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        if self.by:
            query["by"] = self.by
        query.update({k: v for k, v in self.filters.items()})
        return query


def parse_params(data, *, by_choices=tuple(DIMENSIONS), today: dt.date | None = None) -> ReportParams:
    """Report parameters from a query dict (`date_from`, `date_to`, `by`, and one filter per dimension);
    every bad one is a field error naming it. Default range: the last 90 days up to today."""
    errors: list[FieldError] = []
    get = data.get
    today = today or timezone.localdate()
    date_to = parse_date(get("date_to"), "date_to", errors)
    date_from = parse_date(get("date_from"), "date_from", errors)
    if not errors:
        date_to = date_to or today
        date_from = date_from or (date_to - dt.timedelta(days=DEFAULT_DAYS))
        if date_from > date_to:
            errors.append(FieldError("date_from", _("The first day must not be after the last."), "invalid"))
        elif (date_to - date_from).days > MAX_DAYS:
            errors.append(FieldError("date_from", _("At most 20 years per report."), "invalid"))
    by = (get("by") or "").strip() or None
    if by is not None and by not in by_choices:
        errors.append(FieldError("by", _("Unknown dimension %(value)r; choose one of %(allowed)s.")
                                 % {"value": by, "allowed": ", ".join(by_choices)}, "invalid_choice"))
    filters: dict = {}
    for name in DIMENSIONS:
        value = get(name)
        if value in (None, ""):
            continue
        value = str(value).strip()
        if name in ("campaign", "owner", "team"):
            number = as_id(value)
            if number is None:
                errors.append(FieldError(name, _("Give a numeric id."), "invalid"))
                continue
            filters[name] = number
        elif name == "country":
            if len(value) != 2 or not value.isalpha():
                errors.append(FieldError(name, _("Give a two-letter country code."), "invalid"))
                continue
            filters[name] = value.upper()
        else:
            from l2c.leads.choices import LeadSource

            if value not in LeadSource.values:
                errors.append(FieldError(name, _("Unknown source %(value)r.") % {"value": value}, "invalid_choice"))
                continue
            filters[name] = value
    if errors:
        raise ValidationFailed(errors)
    return ReportParams(date_from=date_from, date_to=date_to, by=by, filters=filters)


def day_bounds(params: ReportParams) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the range as aware datetimes in the current time zone."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(params.date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(params.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def lead_cohort(*, user, params: ReportParams):
    """The leads the user may see, created in the range, narrowed by the dimension filters."""
    from l2c.leads.models import Lead

    start, end = day_bounds(params)
    qs = Lead.objects.restrict(user).filter(created_at__gte=start, created_at__lt=end, merged_into__isnull=True)
    for name, value in params.filters.items():
        qs = qs.filter(**{DIMENSIONS[name]: value})
    return qs


def dimension_labels(by: str, keys) -> dict:
    """{key: label} for the values of a dimension (names of campaigns, people, teams; source labels)."""
    keys = [k for k in keys if k not in (None, "")]
    if by == "campaign":
        from l2c.leads.models import Campaign

        return dict(Campaign.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "owner":
        from django.contrib.auth import get_user_model

        return {u.pk: str(u.get_full_name() or u.username) for u in get_user_model().objects.filter(pk__in=keys)}
    if by == "team":
        from l2c.identity.models import Team

        return dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "source":
        from l2c.leads.choices import LeadSource

        return {k: str(LeadSource(k).label) for k in keys if k in LeadSource.values}
    return {k: k for k in keys}


def no_value_label(by: str) -> str:
    return {"campaign": _("No campaign"), "owner": _("Unassigned"), "team": _("No team"),
            "country": _("No country")}.get(by, _("None"))


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


# --- the funnel -------------------------------------------------------------------------------------

def _visible(model, user):
    """`model`'s rows the user may see; every row for `user` None (the per-lead flow summary counts all)."""
    return model.objects.all() if user is None else model.objects.restrict(user)


def qualified_condition(lead_ref: str = "pk") -> Q:
    """A lead (the outer query's row) is qualified: status qualified or converted, converted at some time, or
    an audit event once set its status to qualified."""
    from l2c.core.models import AuditEvent
    from l2c.leads.choices import LeadStatus

    qualified_in_trail = AuditEvent.objects.filter(
        object_type="leads.lead", object_id=Cast(OuterRef(lead_ref), CharField()), changes__status__1="qualified")
    return Q(status__in=(LeadStatus.QUALIFIED, LeadStatus.CONVERTED)) | Q(converted_at__isnull=False) \
        | Exists(qualified_in_trail)


def _step_flags(user) -> dict:
    """{step: condition on a lead (OuterRef "pk")} for the steps from opportunity down, through what `user`
    may see (everything for None)."""
    from l2c.billing.models import Invoice, InvoiceStatus
    from l2c.pipeline.models import Opportunity
    from l2c.quoting.models import Quote

    opportunities = _visible(Opportunity, user).filter(lead=OuterRef("pk"))
    invoices = _visible(Invoice, user).filter(contract__opportunity__lead=OuterRef("pk")) \
        .exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID))
    if user is not None:
        # the chain must run through opportunities the user may see: their visibility rule applied along the
        # path (a probe per lead), not as the set of every visible opportunity (built again per subquery)
        from .bottlenecks import visible_q

        rule = type(Opportunity.objects.all())
        invoices = invoices.filter(visible_q(user, rule, "contract__opportunity__owner"))
        quotes = Quote.objects.restrict(user).filter(visible_q(user, rule, "opportunity__owner"))
    else:
        quotes = Quote.objects.all()
    return {
        "paid": Exists(invoices.filter(status=InvoiceStatus.PAID)),
        "invoiced": Exists(invoices),
        "won": Exists(opportunities.filter(stage__is_won=True)),
        "quote_sent": Exists(quotes.filter(opportunity__lead=OuterRef("pk"), sent_at__isnull=False)),
        "opportunity": Exists(opportunities),
    }


def reached_step(user, qualified=None) -> Case:
    """The index in STEPS of the furthest step a lead reached (0: only a lead), through what `user` may see
    (everything for None). `qualified` is the lead's qualification (default: `qualified_condition()` on a Lead
    queryset; the flow summary's stored flag on a LeadFlow one).

    Most leads never get an opportunity: for them only the opportunity and qualification tests run; the
    deeper EXISTS (quotes, invoices) run only for leads with an opportunity."""
    flags = _step_flags(user)
    qualified = qualified_condition() if qualified is None else qualified
    below_opportunity = Case(When(qualified, then=Value(STEPS.index("qualified"))), default=Value(0),
                             output_field=IntegerField())
    deeper = [When(flags[step], then=Value(STEPS.index(step))) for step in ("paid", "invoiced", "won", "quote_sent")]
    return Case(When(~flags["opportunity"], then=below_opportunity), *deeper,
                default=Value(STEPS.index("opportunity")), output_field=IntegerField())


def traced_steps(user, qualified: dict) -> dict:
    """{lead id: index in STEPS of the furthest step} for the leads of `qualified` ({lead id: qualified?}), through
    the records `user` may see: what `reached_step(user)` gives, computed from a few queries by id (for the
    handful of leads a flow summary cannot answer for a restricted user) instead of subqueries per lead."""
    from l2c.billing.models import Invoice, InvoiceStatus
    from l2c.pipeline.models import Opportunity
    from l2c.quoting.models import Quote

    steps = {lead: STEPS.index("qualified") if is_qualified else 0 for lead, is_qualified in qualified.items()}
    opportunity_lead: dict = {}
    ids = list(qualified)
    for start in range(0, len(ids), 5000):
        for pk, lead, won in Opportunity.objects.restrict(user).filter(lead_id__in=ids[start:start + 5000]) \
                .values_list("pk", "lead_id", "stage__is_won"):
            opportunity_lead[pk] = lead
            reached = STEPS.index("won") if won else STEPS.index("opportunity")
            steps[lead] = max(steps[lead], reached)
    opportunities = list(opportunity_lead)
    for start in range(0, len(opportunities), 5000):
        chunk = opportunities[start:start + 5000]
        for opportunity in Quote.objects.restrict(user).filter(opportunity_id__in=chunk, sent_at__isnull=False) \
                .values_list("opportunity_id", flat=True):
            lead = opportunity_lead[opportunity]
            steps[lead] = max(steps[lead], STEPS.index("quote_sent"))
        for opportunity, status in Invoice.objects.restrict(user).filter(contract__opportunity_id__in=chunk) \
                .exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID)) \
                .values_list("contract__opportunity_id", "status"):
            lead = opportunity_lead[opportunity]
            steps[lead] = max(steps[lead], STEPS.index("paid" if status == InvoiceStatus.PAID else "invoiced"))
    return steps


def flow_cohort(*, user, params: ReportParams):
    """The cohort as flow summaries (`LeadFlow`, one per lead; brought up to date first): visible like the
    leads, created in the range, narrowed by the dimension filters."""
    from .leadflow import ensure_current
    from .models import LeadFlow

    ensure_current()
    start, end = day_bounds(params)
    qs = LeadFlow.objects.restrict(user).filter(created_at__gte=start, created_at__lt=end)
    for name, value in params.filters.items():
        qs = qs.filter(**{DIMENSIONS[name]: value})
    return qs


def _counts(qs, group: str | None) -> list[dict]:
    aggregates = {step: Count("pk", filter=Q(reached__gte=i)) for i, step in enumerate(STEPS)}
    if group is None:
        return [qs.aggregate(**aggregates)]
    return list(qs.values(group).annotate(**aggregates).order_by())


def _with_rates(counts: dict) -> list[dict]:
    steps = []
    top = counts["leads"]
    previous = None
    for step in STEPS:
        n = counts[step] or 0
        steps.append({
            "step": step, "label": str(STEP_LABELS[step]), "count": n,
            "from_previous": None if previous is None else percent(n, previous),
            "from_top": percent(n, top),
        })
        previous = n
    return steps


def funnel(*, user, params: ReportParams) -> dict:
    """{"total": [steps], "rows": [{"key", "label", "steps"}...] (by `params.by`)}; each step
    {"step", "label", "count", "from_previous", "from_top"}.

    Counted from the flow summaries: their stored furthest step where the user sees everything or the lead's
    chain is uniform (one grouped scan), and traced again through what the user may see for the other leads
    (a second grouped query over those few)."""
    from l2c.core.visibility import can_see_all

    require_reports_user(user)
    cohort = flow_cohort(user=user, params=params)
    group = DIMENSIONS[params.by] if params.by else None
    merged: dict = {}
    stored = cohort if can_see_all(user) else cohort.filter(uniform=True)
    for row in _counts(stored.annotate(reached=F("step")), group):
        key = row.pop(group) if group else None
        counts = merged.setdefault(key, dict.fromkeys(STEPS, 0))
        for step in STEPS:
            counts[step] += row[step] or 0
    if not can_see_all(user):
        # the few leads whose chain the user may not wholly see: traced again, by id
        rows = list(cohort.filter(uniform=False).values_list("lead_id", group or "uniform", "qualified")
                    .order_by())
        steps = traced_steps(user, {lead: qualified for lead, _key, qualified in rows})
        for lead, key, _qualified in rows:
            counts = merged.setdefault(key if group else None, dict.fromkeys(STEPS, 0))
            for step in STEPS[:steps[lead] + 1]:
                counts[step] += 1
    total = {step: sum(counts[step] for counts in merged.values()) for step in STEPS}
    rows = []
    if group:
        labels = dimension_labels(params.by, list(merged))
        for key, counts in merged.items():
            rows.append({"key": key, "label": labels.get(key) or no_value_label(params.by),
                         "steps": _with_rates(counts)})
        rows.sort(key=lambda r: (-r["steps"][0]["count"], str(r["label"])))
    return {"params": params, "total": _with_rates(total), "rows": rows}


def funnel_table(report: dict) -> list[dict]:
    """One flat row per (segment, step), for the page's table and the exports."""
    out = []
    segments = report["rows"] or [{"key": None, "label": _("All leads"), "steps": report["total"]}]
    for segment in segments:
        for step in segment["steps"]:
            out.append({"segment": segment["label"], **step})
    return out
