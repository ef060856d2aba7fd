"""L2C cycle time: days from a lead's creation to the first cash received for it.

First cash: the earliest date of a billing.PaymentAllocation (a payment, or customer credit, applied to an
invoice) on an invoice traced to the lead — Invoice.contract → Contract.opportunity → Opportunity.lead —
leaving out allocations of reversed payments (a reversal undoes every allocation of the payment). Days are
whole calendar days from the lead's creation date (current time zone) to that date.

The cohort is the leads created in [date_from, date_to] (funnel.flow_cohort, so the same filters and
visibility; the first cash is kept per lead in analytics.LeadFlow); leads without cash yet are counted in
`leads` but not in the statistics. The database returns one row per (segment, number of days) with its count; median, p75 and p90 (linear interpolation between
the closest ranks, as PostgreSQL's percentile_cont) and the histogram are computed from those rows.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from .funnel import (
    DIMENSIONS,
    ReportParams,
    dimension_labels,
    flow_cohort,
    no_value_label,
    require_reports_user,
)

CYCLE_DIMENSIONS = ("source", "campaign", "country", "owner", "team")
# histogram buckets: (label, lowest day, highest day or None)
BUCKETS = (("0–30", 0, 30), ("31–60", 31, 60), ("61–90", 61, 90), ("91–180", 91, 180),
           ("181–365", 181, 365), ("> 365", 366, None))
ONE_PLACE = Decimal("0.1")


def first_cash_date(user):
    """Subquery: the date of the first cash applied to an invoice traced to the lead (OuterRef pk), among the
    invoices `user` may see (all for None)."""
    from l2c.billing.models import Invoice, PaymentAllocation

    allocations = PaymentAllocation.objects.filter(invoice__contract__opportunity__lead=OuterRef("pk"),
                                                   payment__reversed_at__isnull=True)
    if user is not None:
        allocations = allocations.filter(invoice__in=Invoice.objects.restrict(user).values("pk"))
    return Subquery(allocations.order_by().values("invoice__contract__opportunity__lead")
                    .annotate(first=Min("date")).values("first")[:1])


def traced_first_cash(user, lead_ids: list) -> dict:
    """{lead id: date of its first cash} through the invoices `user` may see, for a few leads, by id (what
    `first_cash_date(user)` gives per lead)."""
    from l2c.billing.models import Invoice, PaymentAllocation

    found = {}
    lead = "invoice__contract__opportunity__lead_id"
    for start in range(0, len(lead_ids), 5000):
        chunk = lead_ids[start:start + 5000]
        for row in PaymentAllocation.objects.filter(**{f"{lead}__in": chunk}, payment__reversed_at__isnull=True,
                                                    invoice__in=Invoice.objects.restrict(user).values("pk")) \
                .values(lead).annotate(first=Min("date")).order_by():
            found[row[lead]] = row["first"]
    return found


def percentile(histogram: list[tuple[int, int]], fraction: Decimal) -> Decimal | None:
    """The `fraction` percentile of the values counted in `histogram` [(value, count)] sorted by value,
    interpolated linearly between the two closest ranks (0-based rank fraction × (n − 1))."""
    n = sum(c for _v, c in histogram)
    if not n:
        return None
    position = Decimal(fraction) * (n - 1)
    low_rank = int(position)
    weight = position - low_rank

    def value_at(rank: int) -> int:
        seen = 0
        for value, count in histogram:
            seen += count
            if rank < seen:
                return value
        return histogram[-1][0]

    low = value_at(low_rank)
    high = value_at(min(low_rank + 1, n - 1))
    return (Decimal(low) + (Decimal(high) - Decimal(low)) * weight).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _stats(histogram: dict[int, int], leads: int) -> dict:
    ordered = sorted(histogram.items())
    count = sum(histogram.values())
    buckets = []
    for label, low, high in BUCKETS:
        buckets.append({"label": label, "count": sum(c for d, c in ordered
                                                     if d >= low and (high is None or d <= high))})
    # a negative duration (cash dated before the lead, e.g. a lead re-entered later) counts in the first bucket
    buckets[0]["count"] += sum(c for d, c in ordered if d < 0)
    mean = (Decimal(sum(d * c for d, c in ordered)) / count).quantize(ONE_PLACE, rounding=ROUND_HALF_UP) \
        if count else None
    return {"leads": leads, "count": count, "median": percentile(ordered, Decimal("0.5")),
            "p75": percentile(ordered, Decimal("0.75")), "p90": percentile(ordered, Decimal("0.9")),
            "mean": mean, "min": ordered[0][0] if ordered else None, "max": ordered[-1][0] if ordered else None,
            "histogram": buckets}


def _days(value) -> int:
    if isinstance(value, dt.timedelta):
        return value.days
    return int(value)


def cycle_time(*, user, params: ReportParams) -> dict:
    """{"total": stats, "rows": [{"key", "label", **stats}]}; stats: leads, count (reached cash), median,
    p75, p90, mean, min, max (days) and histogram [{"label", "count"}]."""
    from l2c.core.visibility import can_see_all

    require_reports_user(user)
    cohort = flow_cohort(user=user, params=params)
    group = DIMENSIONS[params.by] if params.by else None
    lead_counts = {(r[group] if group else None): r["n"]
                   for r in (cohort.values(*([group] if group else [])).annotate(n=Count("pk")).order_by()
                             if group else [{"n": cohort.count()}])}
    # the stored first cash (all of it for an admin; where the lead's chain is uniform for the others) ...
    stored = cohort if can_see_all(user) else cohort.filter(uniform=True)
    cash = stored.filter(first_cash_on__isnull=False).annotate(
        days=ExpressionWrapper(F("first_cash_on") - TruncDate("created_at"), output_field=DurationField()))
    fields = ["days", *([group] if group else [])]
    histograms: dict = defaultdict(lambda: defaultdict(int))
    for row in cash.values(*fields).annotate(n=Count("pk")).order_by():
        histograms[row[group] if group else None][_days(row["days"])] += row["n"]
    # ... and the few other leads traced again by id, through the invoices the user may see
    if not can_see_all(user):
        rows = {lead: (key, created) for lead, key, created in cohort.filter(uniform=False).values_list(
            "lead_id", group or "uniform", "created_at").order_by()}
        for lead, first in traced_first_cash(user, list(rows)).items():
            key, created = rows[lead]
            histograms[key if group else None][(first - timezone.localtime(created).date()).days] += 1
    total_histogram: dict[int, int] = defaultdict(int)
    for histogram in histograms.values():
        for days, n in histogram.items():
            total_histogram[days] += n
    total = _stats(total_histogram, sum(lead_counts.values()))
    rows = []
    if group:
        labels = dimension_labels(params.by, list(lead_counts))
        for key, leads in lead_counts.items():
            rows.append({"key": key, "label": labels.get(key) or no_value_label(params.by),
                         **_stats(histograms.get(key, {}), leads)})
        rows.sort(key=lambda r: (-r["count"], -r["leads"], str(r["label"])))
    return {"params": params, "total": total, "rows": rows}


def histogram_chart(stats: dict, title: str | None = None):
    from l2c.revenue.charts import Series, bar_chart

    buckets = stats["histogram"]
    return bar_chart(title=title or _("Days from lead to first cash"), categories=[b["label"] for b in buckets],
                     series=[Series(_("Leads"), [Decimal(b["count"]) for b in buckets])],
                     description=_("Number of leads by days from creation to the first cash received."))


def cycle_table(report: dict) -> list[dict]:
    """Rows for the page and the exports: the segments (or one row for all leads)."""
    if report["rows"]:
        return [{"segment": r["label"], **r} for r in report["rows"]]
    return [{"segment": _("All leads"), **report["total"]}]
