"""Campaign attribution: from campaign cost to leads, pipeline, won, invoiced, cash and recognised revenue.

The cohort is the leads created in [date_from, date_to] that the user may see (funnel.lead_cohort, same
filters). Each lead is credited to one campaign:
    first-touch  the campaign of the lead's earliest Touch that carries one, else the lead's own campaign
    last-touch   the campaign of the lead's latest Touch that carries one, no later than its conversion
                 (`converted_at`; any time for a lead not converted), else the lead's own campaign
Leads with neither are the "no campaign" row, so the rows always add up to the totals.

What each lead brings, traced through the links (every record also visible to the user):
    pipeline    open opportunities (not closed) with Opportunity.lead = the lead: their amount
    won         its opportunities in a won stage: their amount
    invoiced    posted invoices (not draft, not void) of contracts of those opportunities
                (Invoice.contract → Contract.opportunity): gross as booked (`ar_base`)
    cash        payments applied to those invoices (PaymentAllocation, reversed payments left out): the
                cash in company currency (`ar_base + fx_base`, what the bank received for that invoice)
    revenue     revenue recognised on those contracts (revenue.RevenuePosting of the contract's
                RevenueContract, reopened months left out): `revenue_base`; shown to admin only, as the
                revenue reports are for finance and admin
    cost        Campaign.cost
ROI = (cash − cost) / cost, in percent.

Currency: invoiced, cash and revenue are in the company currency as booked. Opportunity amounts and campaign
costs carry their own currency: each currency's sum is converted at the ledger's latest rate on or before
`date_to` (ledger.services.rate_for); a currency without a rate is left out and named in `missing_rates`.
The attributed campaigns and each lead's measures are kept per lead in analytics.LeadFlow (`leadflow`): one
grouped query over those rows gives the leads and every measure; only the leads whose chain the user does not
wholly see (or whose opportunities are in several currencies) are traced again, by id, through what the user
may see.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import BigIntegerField, Count, DecimalField, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from l2c.core.errors import FieldError, ValidationFailed
from l2c.core.money import round_money

from .funnel import ReportParams, flow_cohort, percent, require_reports_user

MODELS = ("first", "last")
MEASURES = ("leads", "pipeline", "won", "invoiced", "cash", "revenue")
MONEY_MEASURES = ("pipeline", "won", "invoiced", "cash", "revenue")
ZERO = Decimal(0)
WIDE = DecimalField(max_digits=38, decimal_places=10)


def parse_model(value) -> str:
    model = (value or "first").strip()
    if model not in MODELS:
        raise ValidationFailed([FieldError("model", _("Choose first or last (got %(value)r).") % {"value": value},
                                           "invalid_choice")])
    return model


def attributed_campaign(model: str, lead_ref: str = "pk"):
    """Expression: the campaign a lead is credited to (`lead_ref` names the lead's id in the outer query)."""
    from l2c.leads.models import Touch

    touches = Touch.objects.filter(lead_id=OuterRef(lead_ref), campaign__isnull=False)
    if model == "first":
        touch = touches.order_by("occurred_at", "id")
    else:
        touch = touches.filter(Q(occurred_at__lte=F("lead__converted_at")) | Q(lead__converted_at__isnull=True)) \
            .order_by("-occurred_at", "-id")
    own = "campaign_id" if lead_ref == "pk" else f"{lead_ref.removesuffix('_id')}__campaign_id"
    return Coalesce(Subquery(touch.values("campaign_id")[:1]), F(own), output_field=BigIntegerField())


def _company() -> str:
    from l2c.ledger.services import company_currency

    return company_currency()


def _convert(sums: dict, on_date, missing: set) -> dict:
    """{campaign: {currency: amount}} → {campaign: company-currency amount} at the rate on `on_date`."""
    from l2c.ledger.services import rate_for

    rates: dict = {}
    out: dict = defaultdict(lambda: ZERO)
    for campaign, by_currency in sums.items():
        for currency, amount in by_currency.items():
            if currency not in rates:
                try:
                    rates[currency] = rate_for(currency, on_date)
                except ValidationFailed:
                    rates[currency] = None
            if rates[currency] is None:
                missing.add(currency)
                continue
            out[campaign] += amount * rates[currency]
    return out


def _chunks(ids: list, size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def attribution(*, user, params: ReportParams, model: str = "first") -> dict:
    """{"currency", "model", "rows": [{campaign_id, campaign, cost, leads, pipeline, won, invoiced, cash,
    revenue, roi}], "no_campaign": {...}, "total": {...}, "missing_rates": [...], "revenue_shown": bool}."""
    from l2c.billing.models import Invoice, InvoiceStatus, PaymentAllocation
    from l2c.core.visibility import can_see_all
    from l2c.leads.models import Campaign
    from l2c.pipeline.models import Opportunity
    from l2c.revenue.models import RevenuePosting
    from l2c.revenue.services import can_use_revenue

    require_reports_user(user)
    model = parse_model(model)
    company = _company()
    cohort = flow_cohort(user=user, params=params)
    camp = "first_campaign_id" if model == "first" else "last_campaign_id"
    values: dict = {m: defaultdict(lambda: ZERO) for m in MEASURES}
    missing: set = set()

    # leads whose stored sums hold for this user: all for an admin, else those whose whole chain the user sees;
    # the others (and leads with opportunities in several currencies) are traced again below
    live = Q(mixed_currency=True) if can_see_all(user) else Q(mixed_currency=True) | Q(uniform=False)
    revenue_shown = can_use_revenue(user)
    stored = {f"s_{m}": Sum(m, filter=~live) for m in MONEY_MEASURES if m != "revenue" or revenue_shown}
    pipeline_sums: dict = {"pipeline": defaultdict(dict), "won": defaultdict(dict)}

    def add_pipeline(measure, key, currency, amount):
        if amount:
            sums = pipeline_sums[measure][key]
            sums[currency] = sums.get(currency, ZERO) + amount

    # one grouped scan of the cohort: leads and the stored sums per campaign and currency
    for row in cohort.values(camp, "currency").annotate(n=Count("pk"), **stored).order_by():
        key = row[camp]
        values["leads"][key] += row["n"]
        for m in ("pipeline", "won"):
            add_pipeline(m, key, row["currency"], row[f"s_{m}"])
        for m in ("invoiced", "cash", "revenue"):
            if f"s_{m}" in stored:
                values[m][key] += row[f"s_{m}"] or ZERO

    # the leads traced again: their ids first (few: usually none for an admin), then their records by id
    campaign_of = dict(cohort.filter(live).values_list("lead_id", camp))
    opportunity_campaign = {}
    for ids in _chunks(list(campaign_of)):
        for pk, lead, currency, amount, closed_at, won, lost in Opportunity.objects.restrict(user).filter(
                lead_id__in=ids).values_list("pk", "lead_id", "currency", "amount", "closed_at", "stage__is_won",
                                             "stage__is_lost"):
            key = opportunity_campaign[pk] = campaign_of[lead]
            if won:
                add_pipeline("won", key, currency, amount)
            elif closed_at is None and not lost:
                add_pipeline("pipeline", key, currency, amount)
    for measure in ("pipeline", "won"):
        for key, amount in _convert(pipeline_sums[measure], params.date_to, missing).items():
            values[measure][key] += amount
    invoice_campaign = {}
    for ids in _chunks(list(opportunity_campaign)):
        for pk, opportunity, ar_base in Invoice.objects.restrict(user).filter(contract__opportunity_id__in=ids) \
                .exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID)) \
                .values_list("pk", "contract__opportunity_id", "ar_base"):
            key = invoice_campaign[pk] = opportunity_campaign[opportunity]
            values["invoiced"][key] += ar_base or ZERO
    for ids in _chunks(list(invoice_campaign)):
        for row in PaymentAllocation.objects.filter(invoice_id__in=ids, payment__reversed_at__isnull=True) \
                .values("invoice_id").annotate(s=Sum(F("ar_base") + F("fx_base"), output_field=WIDE)).order_by():
            values["cash"][invoice_campaign[row["invoice_id"]]] += row["s"] or ZERO
    if revenue_shown:
        for ids in _chunks(list(opportunity_campaign)):
            opportunity = "revenue_contract__contract__opportunity_id"
            for row in RevenuePosting.objects.filter(reversed=False, **{f"{opportunity}__in": ids}) \
                    .values(opportunity).annotate(s=Sum("revenue_base")).order_by():
                values["revenue"][opportunity_campaign[row[opportunity]]] += row["s"] or ZERO

    start, end = params.date_from, params.date_to
    campaign_ids = {k for m in MEASURES for k in values[m] if k is not None}
    if "campaign" in params.filters:
        campaign_ids.add(params.filters["campaign"])
    else:  # campaigns running in the range, even before they brought a lead
        campaign_ids |= set(Campaign.objects.restrict(user).filter(
            Q(end_date__gte=start) | Q(end_date__isnull=True), start_date__lte=end).values_list("pk", flat=True))
    campaigns = {c.pk: c for c in Campaign.objects.restrict(user).filter(pk__in=campaign_ids)}
    costs = _convert({c.pk: {c.currency: c.cost} for c in campaigns.values()}, params.date_to, missing)

    def row_for(key, label, cost):
        row = {"campaign_id": key, "campaign": label, "cost": round_money(cost, company) if cost is not None
               else None, "leads": values["leads"].get(key, 0)}
        for m in MONEY_MEASURES:
            row[m] = round_money(values[m].get(key, ZERO), company)
        if not revenue_shown:
            row["revenue"] = None
        row["roi"] = percent(row["cash"] - row["cost"], row["cost"]) if row["cost"] else None
        return row

    rows = [row_for(pk, c.name, costs.get(pk, ZERO)) for pk, c in campaigns.items()]
    rows.sort(key=lambda r: (-r["cash"], -r["leads"], r["campaign"]))
    no_campaign = row_for(None, _("No campaign"), None)
    total = {"campaign_id": None, "campaign": _("Total"), "leads": sum(r["leads"] for r in rows) + no_campaign["leads"]}
    total["cost"] = sum((r["cost"] for r in rows), ZERO)
    for m in MONEY_MEASURES:
        total[m] = None if not revenue_shown and m == "revenue" else \
            sum((r[m] for r in rows), ZERO) + no_campaign[m]
    total["roi"] = percent(total["cash"] - total["cost"], total["cost"]) if total["cost"] else None
    return {"params": params, "model": model, "currency": company, "rows": rows, "no_campaign": no_campaign,
            "total": total, "missing_rates": sorted(missing), "revenue_shown": revenue_shown}


def attribution_table(report: dict) -> list[dict]:
    return [*report["rows"], report["no_campaign"], report["total"]]
