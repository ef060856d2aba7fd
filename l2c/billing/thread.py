"""The customer's whole thread on the account page: opportunity → quote → contract → orders → invoices →
payments, each step only as far as the viewer may see it (a rep sees the deals they own, finance the
contracts, invoices and payments, an admin everything). Loaded by HTMX from the account page
(/accounts/<id>/thread/); billing is the last stage that appears in it, so it may read every earlier one."""
from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from l2c.contracts.models import Contract
from l2c.core.errors import NotFound
from l2c.customers import selectors as customer_selectors
from l2c.orders.models import Order
from l2c.pipeline.models import Opportunity
from l2c.quoting.models import QuoteStatus
from l2c.quoting.selectors import visible_quotes

from .models import Invoice, Payment, PaymentAllocation


def account_thread(*, user, account) -> dict:
    opportunities = list(Opportunity.objects.restrict(user).filter(account=account).select_related("stage")
                         .order_by("-created_at"))
    quotes = list(visible_quotes(user).filter(account=account).exclude(status=QuoteStatus.SUPERSEDED)
                  .order_by("-created_at"))
    contracts = list(Contract.objects.restrict(user).filter(account=account).select_related("opportunity", "quote")
                     .order_by("-start_date", "-id"))
    orders = list(Order.objects.restrict(user).filter(account=account).order_by("id"))
    invoices = list(Invoice.objects.restrict(user).filter(account=account).order_by("issue_date", "id"))
    allocations = list(PaymentAllocation.objects.filter(invoice__in=invoices).select_related("payment")
                       .order_by("payment__date", "id"))
    payments_by_invoice = defaultdict(list)
    for allocation in allocations:
        payments_by_invoice[allocation.invoice_id].append(allocation)
    orders_by_contract, invoices_by_contract = defaultdict(list), defaultdict(list)
    for order in orders:
        orders_by_contract[order.contract_id].append(order)
    for invoice in invoices:
        invoice.thread_allocations = payments_by_invoice.get(invoice.pk, [])
        invoices_by_contract[invoice.contract_id].append(invoice)
    quotes_by_opportunity = defaultdict(list)
    for quote in quotes:
        quotes_by_opportunity[quote.opportunity_id].append(quote)
    contract_opportunities = {c.opportunity_id for c in contracts}
    threads = [{"contract": c, "opportunity": c.opportunity if any(o.pk == c.opportunity_id for o in opportunities)
                else None, "quote": c.quote, "orders": orders_by_contract.get(c.pk, []),
                "invoices": invoices_by_contract.get(c.pk, [])} for c in contracts]
    open_deals = [{"opportunity": o, "quotes": quotes_by_opportunity.get(o.pk, [])}
                  for o in opportunities if o.pk not in contract_opportunities]
    unapplied = list(Payment.objects.restrict(user).filter(account=account, unapplied_amount__gt=0).order_by("date"))
    return {"threads": threads, "open_deals": open_deals, "unapplied": unapplied,
            "empty": not (threads or open_deals or unapplied)}


@login_required
def account_thread_panel(request, account_id: int):
    try:
        account = customer_selectors.account_get(user=request.user, pk=account_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    return render(request, "billing/_account_thread.html", {"account": account,
                                                            **account_thread(user=request.user, account=account)})
