"""Worked examples with exact numbers: a discounted bundle (license at a point in time, 12 months of support
ratably from a mid-month start, implementation on milestones), billed upfront or after the work, closed month by
month, closed twice, reopened and closed again."""
import datetime as dt

import pytest

from l2c.billing import services as billing
from l2c.core.errors import Conflict, PermissionDenied
from l2c.ledger.models import JournalEntry
from l2c.orders import services as orders
from l2c.orders.models import LineKind
from l2c.revenue import close, services
from l2c.revenue.models import Method, PeriodClose, RevenuePosting

from .factories import D, balance, bundle_contract, plan_of

pytestmark = pytest.mark.django_db
START = dt.date(2026, 1, 15)
SUPPORT = (START, dt.date(2027, 1, 14))


def the_bundle():
    # list 10,000 + 2,400 + 5,000 = 17,400 of SSP, sold for 14,000 (a bundle discount)
    return bundle_contract(lines=[("good", 1, "8000.00", "10000.00", None),
                                  ("service", 1, "2000.00", "2400.00", SUPPORT),
                                  ("milestone", 1, "4000.00", "5000.00", None)], start=START)


def deliver(contract, admin, *, license_on=None, milestones=()):
    order = orders.order_create_from_contract(contract, actor=admin)
    lines = {line.kind: line for line in order.lines.all()}
    if license_on:
        orders.shipment_create(actor=admin, order=order, lines=[(lines[LineKind.GOOD], "1")], shipped_on=license_on)
    plan = orders.milestones_set(actor=admin, line=lines[LineKind.MILESTONE], milestones=[
        {"name": "Design", "share": "40", "due_date": ""}, {"name": "Go-live", "share": "60", "due_date": ""}])
    for milestone, day in zip(plan, milestones, strict=False):
        orders.milestone_complete(actor=admin, milestone=milestone, completed_on=day)
    return order


def test_bundle_discount_is_allocated_by_relative_ssp_and_support_is_spread_by_days(finance):
    contract = the_bundle()
    rc = services.register_contract(contract)
    license_, support, implementation = rc.obligations.order_by("position")
    assert [(o.method, o.ssp_amount, o.allocated_amount) for o in (license_, support, implementation)] == [
        (Method.POINT_IN_TIME, D("10000.00"), D("8045.98")), (Method.RATABLE, D("2400.00"), D("1931.03")),
        (Method.MILESTONE, D("5000.00"), D("4022.99"))]
    assert sum(o.allocated_amount for o in rc.obligations.all()) == contract.net_total == D("14000.00")
    assert not rc.ssp_flagged
    assert plan_of(support) == {
        "2026-01": D("89.94"), "2026-02": D("148.13"), "2026-03": D("164.01"), "2026-04": D("158.71"),
        "2026-05": D("164.01"), "2026-06": D("158.71"), "2026-07": D("164.01"), "2026-08": D("164.01"),
        "2026-09": D("158.71"), "2026-10": D("164.01"), "2026-11": D("158.71"), "2026-12": D("164.01"),
        "2027-01": D("74.06")}
    assert sum(plan_of(support).values()) == D("1931.03")
    assert services.register_contract(contract) == rc  # idempotent


def test_missing_ssp_uses_the_list_price_and_flags_the_contract():
    contract = bundle_contract(lines=[("good", 2, "100.00", None, None), ("good", 1, "50.00", "80.00", None)])
    rc = services.register_contract(contract)
    first, second = rc.obligations.order_by("position")
    assert (first.ssp_amount, first.ssp_from_list_price, second.ssp_from_list_price) == (D("200.00"), True, False)
    assert rc.ssp_flagged
    assert first.allocated_amount + second.allocated_amount == D("250.00")
    assert (first.allocated_amount, second.allocated_amount) == (D("178.57"), D("71.43"))


def test_billed_upfront_then_recognised_month_by_month(finance, admin_user):
    # given: invoiced in full on the start day, the license shipped on 20 January, the design milestone on 10 Feb
    contract = the_bundle()
    services.register_contract(contract)
    invoice = billing.invoice_create_from_contract(actor=finance, contract=contract, issue_date=START)
    billing.invoice_post(actor=finance, invoice=invoice)
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20), milestones=[dt.date(2026, 2, 10)])
    assert balance("2100") == D("-14000.00")
    # when January closes: the license and 17 days of support
    january = close.close_period(actor=finance, period="2026-01")
    # then
    assert (january.contracts, january.revenue_base) == (1, D("8135.92"))
    assert balance("4000") == D("-8135.92") and balance("2100") == D("-5864.08") and balance("1150") == 0
    # February: 28 days of support and 40 % of the implementation (1,609.196 → 1,609.20)
    february = close.close_period(actor=finance, period="2026-02")
    assert february.revenue_base == D("1757.33")
    assert balance("4000") == D("-9893.25") and balance("2100") == D("-4106.75")
    # closing again posts nothing; an earlier month cannot be closed after a later one
    entries = JournalEntry.objects.count()
    assert close.close_period(actor=finance, period="2026-02").already_closed
    assert close.close_period(actor=finance, period="2026-01").already_closed
    assert JournalEntry.objects.count() == entries
    from l2c.ledger.services import is_period_locked

    assert is_period_locked(dt.date(2026, 1, 31)) and is_period_locked(dt.date(2026, 2, 28))


def test_recognised_ahead_of_billing_is_a_contract_asset_netted_when_billed(finance, admin_user):
    contract = the_bundle()
    services.register_contract(contract)
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20))
    close.close_period(actor=finance, period="2026-01")
    assert balance("1150") == D("8135.92") and balance("2100") == 0 and balance("4000") == D("-8135.92")
    # billed in full in February: the asset is cleared first, the rest is deferred revenue
    invoice = billing.invoice_create_from_contract(actor=finance, contract=contract, issue_date=dt.date(2026, 2, 3))
    billing.invoice_post(actor=finance, invoice=invoice)
    close.close_period(actor=finance, period="2026-02")
    assert balance("1150") == 0
    assert balance("4000") == D("-8284.05")  # + 148.13 of support
    assert balance("2100") == D("-5715.95")  # 14,000 − 8,284.05, one position per contract
    posting = RevenuePosting.objects.get(period=dt.date(2026, 2, 1))
    assert (posting.revenue_amount, posting.asset_amount, posting.deferred_amount) == (
        D("148.13"), D("-8135.92"), D("8284.05"))


def test_reopen_reverses_and_closing_again_reposts_the_same(finance, admin_user):
    contract = the_bundle()
    services.register_contract(contract)
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20))
    close.close_period(actor=finance, period="2026-01")
    close.close_period(actor=finance, period="2026-02")
    with pytest.raises(PermissionDenied):
        close.reopen_period(actor=finance, period="2026-02", reason="late invoice")
    with pytest.raises(Conflict):
        close.reopen_period(actor=admin_user, period="2026-01", reason="late invoice")  # February is closed
    before = balance("4000")
    reopened = close.reopen_period(actor=admin_user, period="2026-02", reason="late invoice")
    assert reopened.status == PeriodClose.Status.REOPENED
    assert balance("4000") == D("-8135.92")  # February's entry reversed
    again = close.close_period(actor=finance, period="2026-02")
    assert not again.already_closed and balance("4000") == before
    assert JournalEntry.objects.filter(reversal_of__isnull=False).count() == 1


def test_sales_roles_cannot_close(rep, manager):
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            close.close_period(actor=user, period="2026-01")


def test_a_few_cents_over_a_year_are_never_planned_ahead_of_the_price():
    from l2c.revenue import engine

    # 0.08 over 2026: rounding each month alone gives 0.01 a month, which would plan 0.11 by November and
    # take −0.03 back in December; the months stop at the price instead
    plan = engine.spread_daily(D("0.08"), dt.date(2026, 1, 1), dt.date(2026, 12, 31), "USD")
    assert list(plan.values()) == [D("0.01")] * 8 + [D("0.00")] * 4
    refund = engine.spread_daily(D("-0.25"), dt.date(2026, 1, 1), dt.date(2026, 12, 31), "USD")
    assert list(refund.values()) == [D("-0.02")] * 11 + [D("-0.03")]  # a negative amount the same way round
    # the ordinary case keeps each month's own days, rounded
    assert engine.spread_daily(D("1200.00"), dt.date(2026, 1, 15), dt.date(2026, 4, 14), "USD") == {
        dt.date(2026, 1, 1): D("226.67"), dt.date(2026, 2, 1): D("373.33"), dt.date(2026, 3, 1): D("413.33"),
        dt.date(2026, 4, 1): D("186.67")}


def test_a_tiny_subscription_in_a_bundle_recognises_no_more_than_its_price(finance, admin_user):
    """Found by the property test: a 1.69 subscription bundled with goods was allocated 0.08 and recognised
    0.01 a month, 0.11 by November."""
    from l2c.revenue.models import Recognition
    from l2c.revenue.tests.test_property_revenue import deliver_everything

    contract = bundle_contract(lines=[("subscription", 1, "1.69", None, None), ("good", 1, "1.00", "290.01", None),
                                      ("good", 1, "11.78", None, None)],
                               start=dt.date(2026, 1, 1), currency="USD", end=dt.date(2026, 12, 31))
    rc = services.register_contract(contract)
    subscription = rc.obligations.get(position=1)
    assert subscription.allocated_amount == D("0.08")
    deliver_everything(orders.order_create_from_contract(contract, actor=admin_user), admin_user, dt.date(2026, 1, 28))
    recognised = D(0)
    for month in range(1, 13):
        close.close_period(actor=finance, period=(2026, month))
        this_month = sum(Recognition.objects.filter(obligation=subscription, period=dt.date(2026, month, 1))
                         .values_list("amount", flat=True), D(0))
        assert this_month >= 0
        recognised += this_month
        assert recognised <= D("0.08")
    assert recognised == D("0.08")
