"""The per-lead summary of the lead-to-cash flow (`LeadFlow`) behind the funnel, cycle-time and attribution
reports, and how it is kept correct.

Each row holds what tracing one lead through Opportunity.lead → Quote → Contract → Invoice → PaymentAllocation
(and the contract's revenue postings, and the lead's touches) gives: the furthest funnel step, the first cash,
the first- and last-touch campaigns, pipeline, won, invoiced, cash and revenue, computed by the same query
expressions the reports used to run per request (`funnel.reached_step`, `cycle_time.first_cash_date`,
`attribution.attributed_campaign`), for all records. A report then reads one narrow row per lead.

Kept correct:
- **stale marks in the same transaction**: saving or deleting a lead, a touch with a campaign, an
  opportunity, quote, contract, invoice, payment, allocation, account or stage (Django signals), and the bulk
  changes services announce through `core.changes` (reassignments, merges, import updates, revenue postings),
  insert the affected leads' ids into `LeadFlowDirty` in the changing transaction: a committed change is never
  lost, a rolled-back one marks nothing;
- **new leads**: a bulk insert (imports by COPY, the web-form/API batch) announces its block of ids, marked as
  one range; a lead created one at a time needs no mark: every lead with an id above the highest summarised
  one, less a window for transactions that commit out of order, is summarised when missing;
- `ensure_current()` does both (one indexed query each when nothing changed) before every report read, and
  the worker does it every minute; `rebuild_all()` (`l2c analytics-rebuild`, nightly on the worker) recomputes
  every row, the safety net for anything changed behind the application's back (raw SQL).
Tests compare the stored rows with a fresh computation after changes made through the services.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

log = logging.getLogger(__name__)

BATCH = 5_000  # leads per INSERT … SELECT
CATCH_UP_WINDOW = 5_000  # ids below the highest summarised lead still checked for a missing row
AMOUNT = DecimalField(max_digits=20, decimal_places=2)
ZERO = Decimal(0)
COLUMNS = ("lead_id", "created_at", "owner_id", "campaign_id", "source", "country", "qualified", "step", "uniform",
           "first_cash_on", "first_campaign_id", "last_campaign_id", "currency", "mixed_currency", "pipeline",
           "won", "invoiced", "cash", "revenue", "computed_at")

# model label → the path from that model to the lead id(s) it bears on
LEAD_PATHS = {
    "leads.lead": "pk",
    "leads.touch": "lead_id",
    "pipeline.opportunity": "lead_id",
    "pipeline.stage": "opportunities__lead_id",
    "quoting.quote": "opportunity__lead_id",
    "contracts.contract": "opportunity__lead_id",
    "billing.invoice": "contract__opportunity__lead_id",
    "billing.paymentallocation": "invoice__contract__opportunity__lead_id",
    "billing.payment": "allocations__invoice__contract__opportunity__lead_id",
    "customers.account": "opportunities__lead_id",
    "revenue.revenuecontract": "contract__opportunity__lead_id",
    "revenue.revenueposting": "revenue_contract__contract__opportunity__lead_id",
}


# --- the computation ---------------------------------------------------------------------------------

def _sum(qs, lead_path: str, expression):
    """Subquery: the sum of `expression` over the rows of `qs` whose `lead_path` is the outer lead (0 if none)."""
    rows = qs.filter(**{lead_path: OuterRef("pk")}).order_by().values(lead_path) \
        .annotate(s=Sum(expression, output_field=AMOUNT)).values("s")[:1]
    return Coalesce(Subquery(rows, output_field=AMOUNT), Value(ZERO), output_field=AMOUNT)


def _uniform():
    """Whoever may see the lead may see its whole chain: every opportunity, quote and invoice account of the
    lead belongs to the lead's owner (a lead without an owner: no opportunity at all)."""
    from l2c.billing.models import Invoice
    from l2c.pipeline.models import Opportunity
    from l2c.quoting.models import Quote

    opportunities = Opportunity.objects.filter(lead=OuterRef("pk"))
    other = Q(owner__isnull=True) | ~Q(owner_id=OuterRef("owner_id"))
    foreign = (Exists(opportunities.filter(other))
               | Exists(Quote.objects.filter(other, opportunity__lead=OuterRef("pk")))
               | Exists(Invoice.objects.filter(Q(account__owner__isnull=True)
                                               | ~Q(account__owner_id=OuterRef("owner_id")),
                                               contract__opportunity__lead=OuterRef("pk"))))
    return Case(When(Q(owner__isnull=True) & Exists(opportunities), then=Value(False)),
                When(foreign, then=Value(False)), default=Value(True), output_field=BooleanField())


def summary_rows(leads, *, chain: bool | None = None):
    """`leads` (a Lead queryset) as flow rows: a values_list queryset whose columns are COLUMNS, in order.

    `chain=False` is for leads known to have no opportunity (most of them): nothing down the chain can exist, so
    only the lead's own fields, its qualification and its touches are read (3 index lookups per lead, not 15).
    `chain=True` is for leads with an opportunity; None works for both."""
    from l2c.billing.models import Invoice, InvoiceStatus, PaymentAllocation
    from l2c.pipeline.models import Opportunity
    from l2c.revenue.models import RevenuePosting

    from .attribution import attributed_campaign
    from .cycle_time import first_cash_date
    from .funnel import STEPS, qualified_condition, reached_step

    opportunities = Opportunity.objects.all()
    posted = Invoice.objects.exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID))
    currencies = opportunities.filter(lead=OuterRef("pk")).order_by().values("lead")
    qualified = ExpressionWrapper(qualified_condition(), output_field=BooleanField())
    own = {
        "c_lead": F("pk"), "c_created": F("created_at"), "c_owner": F("owner_id"), "c_campaign": F("campaign_id"),
        "c_source": F("source"), "c_country": F("country"), "c_qualified": qualified,
    }
    if chain is False:
        traced = {
            "c_step": Case(When(qualified_condition(), then=Value(STEPS.index("qualified"))), default=Value(0)),
            "c_uniform": Value(True), "c_first_cash": Cast(Value(None), output_field=DateField()),
        }
    else:
        traced = {"c_step": reached_step(None), "c_uniform": _uniform(), "c_first_cash": first_cash_date(None)}
    touches = {"c_first": attributed_campaign("first"), "c_last": attributed_campaign("last")}
    if chain is False:
        amounts = {"c_currency": Value(""), "c_mixed": Value(False),
                   **{f"c_{m}": Value(ZERO, output_field=AMOUNT) for m in ("pipeline", "won", "invoiced", "cash",
                                                                          "revenue")}}
    else:
        amounts = {
            "c_currency": Coalesce(Subquery(currencies.annotate(c=Max("currency")).values("c")[:1]), Value(""),
                                   output_field=CharField()),
            "c_mixed": Exists(currencies.annotate(n=Count("currency", distinct=True)).filter(n__gt=1)),
            "c_pipeline": _sum(opportunities.filter(closed_at__isnull=True, stage__is_won=False,
                                                    stage__is_lost=False), "lead", F("amount")),
            "c_won": _sum(opportunities.filter(stage__is_won=True), "lead", F("amount")),
            "c_invoiced": _sum(posted, "contract__opportunity__lead", F("ar_base")),
            "c_cash": _sum(PaymentAllocation.objects.filter(invoice__in=posted.values("pk"),
                                                            payment__reversed_at__isnull=True),
                           "invoice__contract__opportunity__lead", F("ar_base") + F("fx_base")),
            "c_revenue": _sum(RevenuePosting.objects.filter(reversed=False),
                              "revenue_contract__contract__opportunity__lead", F("revenue_base")),
        }
    annotations = {**own, **traced, **touches, **amounts,
                   "c_now": Value(timezone.now(), output_field=DateTimeField())}
    return leads.filter(merged_into__isnull=True).order_by("pk").annotate(**annotations) \
        .values_list(*annotations)


def _upsert(leads) -> int:
    """Write the flow rows of `leads` (insert or replace); rows of merged-away leads among them are removed."""
    from l2c.leads.models import Lead
    from l2c.pipeline.models import Opportunity

    from .models import LeadFlow

    table = connection.ops.quote_name(LeadFlow._meta.db_table)
    columns = ", ".join(COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    has_opportunity = Exists(Opportunity.objects.filter(lead=OuterRef("pk")))
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for part, chain in ((leads.filter(~has_opportunity), False), (leads.filter(has_opportunity), True)):
            sql, params = summary_rows(part, chain=chain).query.sql_with_params()
            # WHERE 1=1: SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM ({sql}) src WHERE 1=1 "
                           f"ON CONFLICT (lead_id) DO UPDATE SET {updates}", params)
            written += max(cursor.rowcount, 0)
        LeadFlow.objects.filter(lead__in=Lead.objects.filter(pk__in=leads.values("pk"),
                                                             merged_into__isnull=False)).delete()
    return written


def compute(lead_ids) -> int:
    """Recompute the rows of these leads now."""
    from l2c.leads.models import Lead

    ids = sorted({int(i) for i in lead_ids if i is not None})
    written = 0
    for start in range(0, len(ids), BATCH):
        written += _upsert(Lead.objects.filter(pk__in=ids[start:start + BATCH]))
    return written


# --- stale marks -------------------------------------------------------------------------------------

def mark_leads(lead_ids) -> None:
    """Mark leads stale (in the caller's transaction)."""
    from .models import LeadFlowDirty

    ids = {int(i) for i in lead_ids if i is not None}
    if ids:
        LeadFlowDirty.objects.bulk_create([LeadFlowDirty(lead_id=i) for i in sorted(ids)])


def mark_related(model, pks) -> None:
    """Mark stale the leads that rows `pks` of `model` bear on (one INSERT … SELECT)."""
    from .models import LeadFlowDirty

    path = LEAD_PATHS.get(model._meta.label_lower)
    pks = [pk for pk in pks if pk is not None]
    if path is None or not pks:
        return
    if path == "pk":
        mark_leads(pks)
        return
    if path == "lead_id":
        mark_leads(model._base_manager.filter(pk__in=pks).values_list("lead_id", flat=True))
        return
    rows = model._base_manager.filter(pk__in=pks).exclude(**{f"{path}__isnull": True}).order_by() \
        .values_list(path).distinct()
    sql, params = rows.query.sql_with_params()
    table = connection.ops.quote_name(LeadFlowDirty._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (lead_id) {sql}", params)


def _on_save(sender, instance, created=False, raw=False, **kwargs) -> None:
    if raw:  # fixtures
        return
    label = sender._meta.label_lower
    if label == "leads.lead" and created:
        return  # a new lead is found by catch_up
    if label == "leads.touch" and instance.campaign_id is None:
        return  # only touches with a campaign change the attribution
    if LEAD_PATHS[label] == "lead_id":
        mark_leads([instance.lead_id])
    else:
        mark_related(sender, [instance.pk])


def _on_delete(sender, instance, **kwargs) -> None:
    if sender._meta.label_lower == "leads.lead":
        return  # its row goes with it (CASCADE)
    _on_save(sender, instance)


def _on_rows_changed(sender, pks, pk_range=None, **kwargs) -> None:
    from .models import LeadFlowDirty

    if pk_range is not None:
        if sender._meta.label_lower == "leads.lead":
            LeadFlowDirty.objects.create(lead_id=pk_range[0], last_lead_id=pk_range[1])
        else:
            mark_related(sender, range(pk_range[0], pk_range[1] + 1))
        return
    mark_related(sender, pks)


def connect_signals() -> None:
    from django.apps import apps
    from django.db.models.signals import post_save, pre_delete

    from l2c.core.changes import rows_changed

    for label in LEAD_PATHS:
        model = apps.get_model(label)
        post_save.connect(_on_save, sender=model, dispatch_uid=f"leadflow-save-{label}")
        pre_delete.connect(_on_delete, sender=model, dispatch_uid=f"leadflow-delete-{label}")
    rows_changed.connect(_on_rows_changed, dispatch_uid="leadflow-rows-changed")


# --- bringing the rows up to date --------------------------------------------------------------------

def drain() -> int:
    """Recompute the leads marked stale, then take their marks off (only the marks read: one added meanwhile
    stays for the next round)."""
    from l2c.leads.models import Lead

    from .models import LeadFlowDirty

    done = 0
    while True:
        marks = list(LeadFlowDirty.objects.order_by("pk").values_list("pk", "lead_id", "last_lead_id")[:BATCH])
        if not marks:
            return done
        compute(lead for _pk, lead, last in marks if last is None)
        for _pk, first, last in marks:
            if last is not None:  # a range: in blocks of BATCH ids
                for start in range(first, last + 1, BATCH):
                    _upsert(Lead.objects.filter(pk__gte=start, pk__lte=min(start + BATCH - 1, last)))
        LeadFlowDirty.objects.filter(pk__lte=marks[-1][0], pk__gte=marks[0][0]).filter(
            pk__in=[pk for pk, _lead, _last in marks]).delete()
        done += len(marks)


def catch_up() -> int:
    """Summarise the leads created since the last summarised one (and any in the window below it still
    missing a row: transactions commit out of id order)."""
    from l2c.leads.models import Lead

    from .models import LeadFlow

    last = LeadFlow.objects.aggregate(m=Max("lead_id"))["m"] or 0
    missing = Lead.objects.filter(pk__gt=max(last - CATCH_UP_WINDOW, 0), merged_into__isnull=True) \
        .filter(~Exists(LeadFlow.objects.filter(lead_id=OuterRef("pk")))).order_by("pk").values_list("pk", flat=True)
    return compute(missing.iterator(chunk_size=BATCH)) if missing.exists() else 0


def ensure_current() -> int:
    """Stale marks first, then new leads; cheap when nothing changed (three indexed queries)."""
    return drain() + catch_up()


def rebuild_all(progress=None) -> int:
    """Recompute every row (and drop rows of merged-away leads), in id ranges of BATCH leads."""
    from l2c.leads.models import Lead

    from .models import LeadFlow

    bounds = Lead.objects.aggregate(top=Max("pk"))
    top = bounds["top"] or 0
    written = 0
    for start in range(0, top, BATCH):
        written += _upsert(Lead.objects.filter(pk__gt=start, pk__lte=start + BATCH))
        if progress:
            progress(min(start + BATCH, top), top)
    LeadFlow.objects.filter(lead__merged_into__isnull=False).delete()
    return written
