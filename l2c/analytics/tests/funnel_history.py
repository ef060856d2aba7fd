"""Builders of a small lead-to-cash history for the funnel, cycle-time and attribution tests: leads created on
given days, opportunities traced to them, contracts, posted invoices and payments through billing's services."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from l2c.billing import services as billing
from l2c.billing.tests.factories import make_contract
from l2c.leads.models import Lead, Touch
from l2c.leads.tests.factories import LeadFactory
from l2c.pipeline.models import Opportunity
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named

D = Decimal
GROSS = D("1380")  # make_contract's default lines: 10 × 90 + 250, 20 % tax


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def lead_on(day: dt.date, **fields) -> Lead:
    """A lead created on `day` (created_at is auto_now_add, so it is set afterwards)."""
    lead = LeadFactory(**fields)
    Lead.objects.filter(pk=lead.pk).update(created_at=at(day))
    lead.refresh_from_db()
    return lead


def touch(lead: Lead, day: dt.date, campaign=None, kind: str = "form_submission") -> Touch:
    return Touch.objects.create(lead=lead, kind=kind, occurred_at=at(day), campaign=campaign)


def open_opportunity(lead: Lead, *, amount: str = "10000.00") -> Opportunity:
    return OpportunityFactory(owner=lead.owner, lead=lead, amount=D(amount), campaign=lead.campaign)


def win(opportunity: Opportunity) -> Opportunity:
    Opportunity.objects.filter(pk=opportunity.pk).update(stage=stage_named("Closed Won"), closed_at=timezone.now(),
                                                         probability=100)
    opportunity.refresh_from_db()
    return opportunity


def won_contract(lead: Lead, *, start: dt.date, quote_sent: bool = False):
    """A won opportunity of the lead with a signed contract (make_contract), its quote sent or not."""
    contract = make_contract(owner=lead.owner, start=start)
    opportunity = contract.opportunity
    Opportunity.objects.filter(pk=opportunity.pk).update(lead=lead, campaign=lead.campaign)
    win(opportunity)
    if quote_sent:
        contract.quote.sent_at = at(start)
        contract.quote.save(update_fields=["sent_at"])
    return contract


def invoice(finance, contract, day: dt.date):
    return billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=day))


def pay(finance, inv, day: dt.date, amount: Decimal = GROSS):
    return billing.payment_record(actor=finance, account=inv.account, date=day, method="bank_transfer",
                                  currency=inv.currency, amount=amount, allocations=[(inv, amount)])


def paid_lead(finance, *, created: dt.date, paid_on: dt.date, amount: Decimal = GROSS, **lead_fields) -> Lead:
    """A lead that went all the way: created on `created`, invoiced that day, cash received on `paid_on`."""
    lead = lead_on(created, **lead_fields)
    contract = won_contract(lead, start=created, quote_sent=True)
    pay(finance, invoice(finance, contract, created), paid_on, amount)
    return lead
