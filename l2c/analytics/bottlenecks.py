"""Where the flow is slow: time in each pipeline stage, deals stuck past their stage's norm, quote approval
and signature turnaround, and days sales outstanding. Every figure counts only what the user may see.

Durations are percentiles over stays (PostgreSQL's `percentile_cont`, the same linear interpolation computed
in Python on SQLite), in days with one decimal. Amounts are per currency, never converted.
"""
from __future__ import annotations

import datetime as dt
import math
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.visibility import VisibleQuerySet

DEFAULT_DAYS = 90  # the range when none is given: from 90 days before date_to (as the funnel report does)
MAX_RANGE_DAYS = 3660
STUCK_LISTED = 100
PERCENTILES = (("median", 0.5), ("p75", 0.75), ("p90", 0.9))
REPORT_WORK_MEM = "64MB"
SECONDS_PER_DAY = 86400
TENTH = Decimal("0.1")


# --- shared helpers (performance.py uses them too) -----------------------------------------------------

def report_range(date_from=None, date_to=None, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The report's dates from ISO text (or dates); default from 90 days before `date_to` (default today).
    A ValidationFailed naming the parameter for bad text, a reversed range or a range over ten years."""
    from l2c.core.validation import parse_date

    errors: list[FieldError] = []
    start, end = parse_date(date_from, "date_from", errors), parse_date(date_to, "date_to", errors)
    if errors:
        raise ValidationFailed(errors)
    end = end or (today or timezone.localdate())
    start = start or end - dt.timedelta(days=DEFAULT_DAYS)
    if end < start:
        raise ValidationFailed.single("date_to", _("The end of the range is before its start."), "before_start")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValidationFailed.single("date_from", _("The range may span at most ten years."), "range_too_long")
    return start, end


def day_bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in the current time zone covering both dates whole."""
    start = timezone.make_aware(dt.datetime.combine(date_from, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))
    return start, end


def visible_q(user, queryset_class: type[VisibleQuerySet], owner_field: str) -> Q:
    """`queryset_class`'s visibility rule for `user`, re-rooted at `owner_field` (e.g. the opportunity's owner
    seen from a stage history row: "opportunity__owner")."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Q(pk__in=[])
    rule = queryset_class()
    rule.owner_field = owner_field
    return rule.owner_q(user)


class Percentiles(Aggregate):
    """PostgreSQL's continuous percentiles (linear interpolation between the two nearest values) of PERCENTILES,
    as one array: one sort of the group serves them all."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, **extra):
        from django.contrib.postgres.fields import ArrayField

        fractions = ", ".join(repr(float(f)) for _name, f in PERCENTILES)
        super().__init__(expression, fractions=fractions, output_field=ArrayField(FloatField()), **extra)


class SecondsBetween(Func):
    """end − start in seconds (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


def percentile(values: list[float], fraction: float) -> float | None:
    """`percentile_cont` over sorted `values`: the same number PostgreSQL gives."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def to_days(seconds) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(repr(float(seconds))) / SECONDS_PER_DAY).quantize(TENTH, rounding=ROUND_HALF_UP)


def _summary(count: int, mean, values: dict) -> dict:
    return {"count": count, "mean_days": to_days(mean), **{f"{name}_days": to_days(values.get(name))
                                                             for name, _f in PERCENTILES}}


def distributions(queryset, *, end, start, group: str | None = None, extra: dict | None = None) -> dict:
    """{group value (None without `group`): {count, mean_days, median_days, p75_days, p90_days}} of end − start
    over the rows of `queryset`; `end` and `start` are expressions (F, Value, Subquery). `extra` aggregates
    ({name: aggregate}) are computed per group too, in the same query on PostgreSQL, and added by name."""
    extra = extra or {}
    if connection.vendor == "postgresql":
        seconds = SecondsBetween(end, start)
        # rows without a start or an end (a NULL duration) are not counted, as on SQLite below
        aggregates = {"n": Count(seconds), "mean": Avg(seconds), "percentiles": Percentiles(seconds), **extra}

        def summary(row):
            values = dict(zip((name for name, _f in PERCENTILES), row["percentiles"] or (), strict=False))
            return {**_summary(row["n"], row["mean"], values), **{name: row[name] for name in extra}}

        if group is None:
            row = queryset.aggregate(**aggregates)
            return {None: summary(row)} if row["n"] else {}
        return {row[group]: summary(row) for row in queryset.values(group).annotate(**aggregates).order_by()}
    # SQLite (and others): the pairs, subtracted and ranked in Python
    pairs = queryset.annotate(_end=end, _start=start)
    fields = [group, "_end", "_start"] if group else ["_end", "_start"]
    groups: dict = {}
    for row in pairs.values_list(*fields).order_by():
        key, stop, begin = (row if group else (None, *row))
        if stop is None or begin is None:
            continue
        groups.setdefault(key, []).append((stop - begin).total_seconds())
    extras: dict = {}
    if extra:
        rows = queryset.values(group).annotate(**extra).order_by() if group else [queryset.aggregate(**extra)]
        extras = {row[group] if group else None: row for row in rows}
    result = {}
    for key, values in groups.items():
        values.sort()
        result[key] = {**_summary(len(values), sum(values) / len(values),
                                  {name: percentile(values, fraction) for name, fraction in PERCENTILES}),
                       **{name: extras.get(key, {}).get(name) for name in extra}}
    return result


# --- the report ---------------------------------------------------------------------------------------

def _left_stats(user, start, end) -> dict:
    """Per stage: the stays that ended in [start, end)."""
    from l2c.pipeline.models import OpportunityQuerySet, StageHistory

    left = StageHistory.objects.filter(visible_q(user, OpportunityQuerySet, "opportunity__owner"),
                                       left_at__gte=start, left_at__lt=end)
    return distributions(left, end=F("left_at"), start=F("entered_at"), group="stage_id")


def _norm(stage, left: dict | None) -> tuple[Decimal | None, str]:
    if stage.expected_days:
        return Decimal(stage.expected_days), "setting"
    if left and left.get("p75_days") is not None:
        return left["p75_days"], "p75"
    return None, ""


def _stuck_q(norms: dict, now) -> Q:
    """Open in a stage for longer than its norm (in days)."""
    condition = Q(pk__in=[])
    for stage_id, days in norms.items():
        condition |= Q(stage_id=stage_id,
                       stage_entered_at__lt=now - dt.timedelta(seconds=float(days) * SECONDS_PER_DAY))
    return condition


def _open_stats(user, norms: dict, now) -> dict:
    """Per stage: the open opportunities' age in it now, and how many of them are past the stage's norm
    (`stuck`), in one scan."""
    from l2c.pipeline.models import Opportunity

    current = Opportunity.objects.restrict(user).filter(closed_at__isnull=True, stage_entered_at__isnull=False,
                                                        stage_entered_at__lte=now)
    return distributions(current, end=Value(now, output_field=DateTimeField()), start=F("stage_entered_at"),
                         group="stage_id", extra={"stuck": Count("stage_id", filter=_stuck_q(norms, now))})


def _stuck(user, norms: dict, now, limit: int, *, most_over: bool = False) -> list[dict]:
    """The `limit` opportunities longest in their stage among those past its norm (or, `most_over`, the most
    days past it: the home dashboard's order, which differs across stages with different norms)."""
    from l2c.pipeline.models import Opportunity

    if not norms or limit <= 0:
        return []
    stuck = Opportunity.objects.restrict(user).filter(_stuck_q(norms, now), closed_at__isnull=True)
    order = ("stage_entered_at", "id")
    if most_over:  # days over = (now − entered) − norm: the most first is the earliest entered + norm
        stuck = stuck.annotate(past_norm=Case(*[When(stage_id=stage_id, then=ExpressionWrapper(
            F("stage_entered_at") + dt.timedelta(seconds=float(days) * SECONDS_PER_DAY),
            output_field=DateTimeField())) for stage_id, days in norms.items()], output_field=DateTimeField()))
        order = ("past_norm", "id")
    # the ids first: a narrow top-N sort, then the few rows with their relations
    ids = list(stuck.order_by(*order).values_list("pk", flat=True)[:limit])
    found = Opportunity.objects.filter(pk__in=ids).select_related("owner", "stage", "account").only(
        "name", "amount", "currency", "stage_entered_at", "stage__name", "account__name", "owner__username",
        "owner__first_name", "owner__last_name").in_bulk()
    rows = []
    for pk in ids:
        opportunity = found[pk]
        days = Decimal(repr((now - opportunity.stage_entered_at).total_seconds() / SECONDS_PER_DAY))
        norm = norms[opportunity.stage_id]
        rows.append({"id": opportunity.pk, "name": opportunity.name, "account": opportunity.account.name,
                     "owner": str(opportunity.owner) if opportunity.owner else "",
                     "stage": opportunity.stage.label, "stage_id": opportunity.stage_id,
                     "days_in_stage": int(days), "norm_days": norm,
                     "days_over": (days - norm).quantize(TENTH, rounding=ROUND_HALF_UP),
                     "amount": opportunity.amount, "currency": opportunity.currency})
    return rows


def _approval_turnaround(user, start, end) -> dict:
    """Submitted → approved, of the quotes that needed an approval and were approved in the range: from the
    submission the approval answered (the latest round of approved approvals) to the quote's approval.

    Read as one row per quote: its latest approved approval (no later one, ties by id), joined to the quote, so
    the database joins sets instead of looking up each quote's approvals (68,000 quotes a year: 2.5× faster)."""
    from l2c.quoting.models import ApprovalStatus, Quote, QuoteApproval

    approved = QuoteApproval.objects.filter(status=ApprovalStatus.APPROVED)
    later = approved.filter(Q(requested_at__gt=OuterRef("requested_at"))
                            | Q(requested_at=OuterRef("requested_at"), pk__gt=OuterRef("pk")), quote=OuterRef("quote"))
    latest = approved.filter(quote__in=Quote.objects.restrict(user).filter(approved_at__gte=start,
                                                                           approved_at__lt=end).values("pk")) \
        .filter(~Exists(later))
    return distributions(latest, end=F("quote__approved_at"), start=F("requested_at")).get(None) \
        or _summary(0, None, {})


def _signature_turnaround(user, start, end) -> dict:
    """Sent → accepted and signed, of the quotes signed in the range."""
    from l2c.quoting.models import Quote

    quotes = Quote.objects.restrict(user).filter(accepted_at__gte=start, accepted_at__lt=end, sent_at__isnull=False)
    return distributions(quotes, end=F("accepted_at"), start=F("sent_at")).get(None) or _summary(0, None, {})


def days_sales_outstanding(user, date_from: dt.date, date_to: dt.date) -> list[dict]:
    """Per currency: receivables open at the end of `date_to` (invoices issued by then, less what was paid,
    credited or written off by then), net credit sales in the range (posted invoices issued in it less credit
    notes issued in it), and DSO = receivables / net credit sales × days in the range."""
    from l2c.billing.models import (
        BillingQuerySet,
        CreditNote,
        CreditNoteStatus,
        Invoice,
        InvoiceStatus,
        PaymentAllocation,
        WriteOff,
    )

    days = (date_to - date_from).days + 1
    invoices = Invoice.objects.restrict(user).exclude(status=InvoiceStatus.DRAFT)
    seen = visible_q(user, BillingQuerySet, "invoice__account__owner")
    posted = ~Q(invoice__status=InvoiceStatus.DRAFT) & Q(invoice__issue_date__lte=date_to)

    def by_currency(qs, amount: str, currency: str = "invoice__currency") -> dict:
        return {r[currency]: r["total"] or 0 for r in qs.values(currency).annotate(total=Sum(amount)).order_by()}

    credit_notes = CreditNote.objects.filter(seen, posted, status=CreditNoteStatus.POSTED)
    sales = by_currency(invoices.filter(issue_date__gte=date_from, issue_date__lte=date_to), "gross_total",
                        "currency")
    credited_in_range = by_currency(credit_notes.filter(issue_date__gte=date_from, issue_date__lte=date_to),
                                    "gross_total")
    if date_to >= timezone.localdate():
        # today's receivables are the open invoices' balances (kept by billing): no history to replay
        receivables = by_currency(invoices.filter(status__in=(InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID),
                                                  issue_date__lte=date_to), "balance", "currency")
    else:
        receivables = by_currency(invoices.filter(issue_date__lte=date_to), "gross_total", "currency")
        settled = [
            by_currency(PaymentAllocation.objects.filter(seen, posted, date__lte=date_to)
                        .exclude(payment__reversal_date__lte=date_to), "amount"),
            by_currency(WriteOff.objects.filter(seen, posted, date__lte=date_to), "amount"),
            by_currency(credit_notes.filter(issue_date__lte=date_to), "gross_total"),
        ]
        receivables = {currency: total - sum(part.get(currency, 0) for part in settled)
                       for currency, total in receivables.items()}
    rows = []
    for currency in sorted(set(receivables) | set(sales)):
        open_amount = Decimal(receivables.get(currency, 0))
        net_sales = Decimal(sales.get(currency, 0)) - Decimal(credited_in_range.get(currency, 0))
        if not open_amount and not net_sales:
            continue
        dso = (open_amount / net_sales * days).quantize(TENTH, rounding=ROUND_HALF_UP) if net_sales > 0 else None
        rows.append({"currency": currency, "receivables": open_amount.quantize(Decimal("0.01")),
                     "credit_sales": Decimal(net_sales).quantize(Decimal("0.01")), "days": days, "dso": dso})
    return rows


@contextmanager
def _roomy_sorts():
    """On PostgreSQL, enough sort memory for the report's percentile sorts (a stage's 100,000 open deals) to stay
    in memory instead of spilling to disk; for this transaction only."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        yield


def gather(calls: dict) -> dict:
    """Run the report's independent queries side by side on PostgreSQL, each on its own connection (closed when
    it is done), in the caller's language and time zone; one after another on SQLite or inside a transaction
    (where other connections would not see its rows). The same numbers either way."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from django.utils import translation

    if connection.vendor != "postgresql" or connection.in_atomic_block or len(calls) < 2:
        with _roomy_sorts():
            return {key: call() for key, call in calls.items()}
    language, zone = translation.get_language(), timezone.get_current_timezone()

    def run(call):
        try:
            with translation.override(language), timezone.override(zone), _roomy_sorts():
                return call()
        finally:
            connections.close_all()  # this thread's connections only

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {key: pool.submit(run, call) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def bottlenecks(*, user, date_from: dt.date, date_to: dt.date, now: dt.datetime | None = None,
                stuck_limit: int = STUCK_LISTED) -> dict:
    """The bottleneck report for [date_from, date_to] as `user` may see it (see the module's docstring)."""
    from l2c.pipeline.models import Stage

    now = now or timezone.now()
    start, end = day_bounds(date_from, date_to)
    stages = list(Stage.objects.order_by("order", "id"))
    open_stages = [stage for stage in stages if not stage.is_closed]
    calls = {
        "left": lambda: _left_stats(user, start, end),
        "approval": lambda: _approval_turnaround(user, start, end),
        "signature": lambda: _signature_turnaround(user, start, end),
        "dso": lambda: days_sales_outstanding(user, date_from, date_to),
    }

    def stuck_calls(norms):
        return {"open": lambda: _open_stats(user, norms, now), "stuck": lambda: _stuck(user, norms, now, stuck_limit)}

    # a stage without expected days takes the p75 of the range as its norm: its stuck deals wait for it
    settled = all(stage.expected_days for stage in open_stages)
    if settled:
        norms = {stage.pk: Decimal(stage.expected_days) for stage in open_stages}
        calls.update(stuck_calls(norms))
    found = gather(calls)
    left_stats = found["left"]
    if not settled:
        norms = {}
        for stage in open_stages:
            norm, _source = _norm(stage, left_stats.get(stage.pk))
            if norm is not None:
                norms[stage.pk] = norm
        found.update(gather(stuck_calls(norms)))
    open_stats = found["open"]
    empty = _summary(0, None, {})
    rows = []
    for stage in stages:
        left, current = left_stats.get(stage.pk), open_stats.get(stage.pk)
        if not stage.is_active and not left and not current:
            continue
        norm, source = _norm(stage, left)
        rows.append({"stage": stage, "stage_id": stage.pk, "name": stage.label, "is_closed": stage.is_closed,
                     "left": left or empty, "open": {k: v for k, v in (current or empty).items() if k != "stuck"},
                     "norm_days": norm, "norm_source": source, "stuck": (current or {}).get("stuck") or 0})
    return {
        "date_from": date_from, "date_to": date_to, "now": now,
        "stages": rows,
        "stuck": found["stuck"], "stuck_count": sum(row["stuck"] for row in rows if row["stage_id"] in norms),
        "approval": found["approval"],
        "signature": found["signature"],
        "dso": found["dso"],
    }
