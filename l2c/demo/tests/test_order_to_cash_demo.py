"""The demo's order-to-cash history: made through the services on an empty database, every finance page has
something, the books balance, and a second call adds nothing.

transaction=True: the contract's order, billing schedule and revenue record, and fulfilment making schedule items
due, are domain-event subscribers that run after each commit, exactly as under `l2c demo`. The root conftest
puts back the rows the migrations seed (tax rates, approval rules, stages) after the flush."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from l2c.contracts.tests.factories import _signing_var_dir, signing_var  # noqa: F401
from l2c.demo.order_to_cash import ensure_demo_order_to_cash, month_start, timeline

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_users():
    from l2c.demo.catalogue import ensure_catalogue
    from l2c.demo.generator import ensure_stages, ensure_teams_and_users

    users = ensure_teams_and_users()
    ensure_stages()
    ensure_catalogue()
    return users


def test_the_demo_order_to_cash_history_fills_every_finance_page_and_balances(demo_users):
    from l2c.banking.models import BankStatement
    from l2c.billing.models import BillingScheduleItem, Invoice, Payment
    from l2c.contracts.models import Contract
    from l2c.ledger import selectors as ledger_selectors
    from l2c.ledger.models import ExchangeRate, Period
    from l2c.orders.models import Milestone, Order, Shipment
    from l2c.revenue.models import PeriodClose, RevenuePosting

    today = timezone.localdate()

    # when
    created = ensure_demo_order_to_cash(demo_users)

    # then: three signed contracts, one in CNY with its rates, one approved by the manager
    assert created == 3
    contracts = list(Contract.objects.order_by("start_date"))
    assert [c.status for c in contracts] == ["active"] * 3
    assert [c.start_date for c in contracts] == [month_start(today, 4), month_start(today, 3), month_start(today, 2)]
    assert {c.currency for c in contracts} == {"USD", "CNY"}
    assert ExchangeRate.objects.filter(currency="CNY", date__lte=month_start(today, 4)).exists()
    assert contracts[2].quote.approvals.get().status == "approved"

    # orders partly fulfilled: shipments with tracking numbers, milestones completed, nothing in the future
    assert Order.objects.count() == 3
    assert {o.status for o in Order.objects.all()} >= {"fulfilled", "partially_fulfilled"}
    shipments = list(Shipment.objects.all())
    assert len(shipments) == 2 and all(s.tracking_number and s.shipped_on <= today for s in shipments)
    assert Milestone.objects.filter(completed_on__isnull=False).count() == 2
    assert not Milestone.objects.filter(completed_on__gt=today).exists()

    # invoices from the past billing runs, posted; payments (one partial); the statement matched one invoice
    invoices = Invoice.objects.exclude(status="draft")
    assert invoices.count() >= 7
    assert all(i.number and i.issue_date <= today for i in invoices)
    assert set(invoices.values_list("status", flat=True)) >= {"paid", "partially_paid", "posted"}
    assert Payment.objects.count() == 3
    statement = BankStatement.objects.get()
    assert statement.lines.filter(status="matched").count() == 1
    overdue = invoices.filter(status__in=("posted", "partially_paid"), due_date__lt=today)
    assert overdue.count() >= 2
    assert not BillingScheduleItem.objects.filter(status="planned", due_date__lt=month_start(today, 0)).exists()

    # revenue: the past months closed and locked, the current one open; deferred revenue and a contract asset
    closed = sorted(PeriodClose.objects.filter(status="closed").values_list("period", flat=True))
    assert closed == [month_start(today, n) for n in (4, 3, 2, 1)]
    assert Period.objects.filter(year=month_start(today, 1).year, month=month_start(today, 1).month,
                                 is_locked=True).exists()
    assert not Period.objects.filter(year=today.year, month=today.month, is_locked=True).exists()
    last = RevenuePosting.objects.filter(period=month_start(today, 1), reversed=False)
    assert sum((p.revenue_base for p in RevenuePosting.objects.all()), Decimal(0)) > 0
    balances = {}
    for posting in RevenuePosting.objects.filter(reversed=False):
        b = balances.setdefault(posting.revenue_contract_id, [Decimal(0), Decimal(0)])
        b[0] += posting.deferred_amount
        b[1] += posting.asset_amount
    assert any(deferred > 0 for deferred, _asset in balances.values())
    assert any(asset > 0 for _deferred, asset in balances.values())
    assert last.count() == 3

    # the books: the trial balance is zero and the customers' AR adds up to the control account
    trial = ledger_selectors.trial_balance(today)
    assert trial.is_balanced and trial.debit > 0
    subledger = ledger_selectors.ar_subledger(today)
    assert subledger.matches and subledger.control > 0
    assert ledger_selectors.ar_subledger_matches_control(today)

    # and a second call (the next `make run`) adds nothing
    counts = (Contract.objects.count(), Invoice.objects.count(), Payment.objects.count())
    assert ensure_demo_order_to_cash(demo_users) == 0
    assert (Contract.objects.count(), Invoice.objects.count(), Payment.objects.count()) == counts


def test_it_refuses_to_run_inside_a_transaction(demo_users):
    from l2c.contracts.models import Contract

    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        ensure_demo_order_to_cash(demo_users)
    assert not Contract.objects.exists()


@pytest.mark.django_db(transaction=False)
def test_on_any_day_of_the_year_nothing_is_dated_after_today_and_each_step_falls_in_its_month():
    day = dt.date(2027, 1, 1)
    while day <= dt.date(2028, 12, 31):  # two years, one of them a leap year
        when = timeline(day)
        m = [month_start(day, n) for n in range(5)]
        assert when.billing_runs == (m[4], m[3], m[2], m[1], m[0])
        assert when.closed_months == tuple(d.strftime("%Y-%m") for d in (m[4], m[3], m[2], m[1]))
        # fulfilled in the month before the run that invoices it; paid in a closed month, after the invoice
        assert m[3] < when.milestone_designed < m[2]
        assert m[2] < when.first_shipment < when.training_delivered < m[1]
        assert m[1] < when.second_shipment < when.statement_booked < when.milestone_live < m[0] <= day
        assert m[4] < when.subscription_paid < m[3]
        assert m[2] < when.services_paid < m[1]
        day += dt.timedelta(days=1)


def test_missing_demo_users_are_named():
    with pytest.raises(ValueError, match="rep2, manager, finance"):
        from l2c.demo.order_to_cash import _require_users

        _require_users({"rep": object()}, ("rep", "rep2", "manager", "finance"))
    assert month_start(dt.date(2026, 1, 31), 2) == dt.date(2025, 11, 1)
