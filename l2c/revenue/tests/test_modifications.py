"""Prospective changes with exact numbers: a subscription extended midway, an early termination (with and
without a refund), a credit note on a partly recognised bundle, a foreign-currency contract; and the bad input
each change refuses."""
import datetime as dt

import pytest

from l2c.billing import services as billing
from l2c.billing.tests.factories import set_rate
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.revenue import close, services
from l2c.revenue.models import ScheduleVersion

from .factories import D, balance, bundle_contract, plan_of
from .test_worked_examples import START, deliver, the_bundle

pytestmark = pytest.mark.django_db
YEAR = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def support_year(price="1200.00"):
    contract = bundle_contract(lines=[("subscription", 1, price, price, YEAR)], start=YEAR[0], end=YEAR[1])
    rc = services.register_contract(contract)
    return contract, rc, rc.obligations.get()


def test_extension_midway_keeps_what_was_earned_and_spreads_the_rest_over_the_new_term(finance):
    _contract, rc, support = support_year()
    assert list(plan_of(support).values())[:6] == [D("101.92"), D("92.05"), D("101.92"), D("98.63"), D("101.92"),
                                                  D("98.63")]  # 595.07 by the end of June
    version = services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-07-01",
                                       reason="Renewed for a second year", price_change="1200.00",
                                       new_end_date="2027-06-30")
    support.refresh_from_db()
    rc.refresh_from_db()
    assert (version.number, version.kind, rc.transaction_price) == (2, ScheduleVersion.Kind.EXTENSION, D("2400.00"))
    assert (support.allocated_amount, support.end_date) == (D("2400.00"), dt.date(2027, 6, 30))
    plan = plan_of(support)
    assert list(plan.values())[:6] == [D("101.92"), D("92.05"), D("101.92"), D("98.63"), D("101.92"), D("98.63")]
    # 2,400 − 595.07 = 1,804.93 over 365 days from July: July has 31 of them
    assert plan["2026-07"] == D("153.30") and plan["2027-06"] > 0 and "2027-07" not in plan
    assert sum(plan.values()) == D("2400.00")
    # the first version is kept as it was
    first = rc.versions.get(number=1)
    assert first.lines.count() == 12 and sum(line.amount for line in first.lines.all()) == D("1200.00")


def test_early_termination_without_refund_earns_the_rest_when_service_stops(finance):
    _contract, rc, support = support_year()
    services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-04-01",
                             reason="Customer left", terminate_on="2026-03-31")
    plan = plan_of(support)
    assert plan == {"2026-01": D("101.92"), "2026-02": D("92.05"), "2026-03": D("1006.03")}  # 101.92 + 904.11
    rc.refresh_from_db()
    assert rc.status == "terminated"


def test_early_termination_with_refund_stops_revenue_at_what_was_earned(finance):
    _contract, rc, support = support_year()
    services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-04-01",
                             reason="Terminated, unused months refunded", terminate_on="2026-03-31",
                             price_change="-904.11")
    assert plan_of(support) == {"2026-01": D("101.92"), "2026-02": D("92.05"), "2026-03": D("101.92")}
    support.refresh_from_db()
    assert support.allocated_amount == D("295.89")


def test_quantity_change_on_a_ratable_obligation_is_prospective(finance):
    _contract, rc, support = support_year()
    services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-07-01", reason="Two seats",
                             price_change="600.00", quantities={str(support.pk): "2"})
    support.refresh_from_db()
    assert (support.quantity, support.allocated_amount) == (D("2"), D("1800.00"))
    plan = plan_of(support)
    assert sum(list(plan.values())[:6]) == D("595.07") and sum(plan.values()) == D("1800.00")


def test_a_credit_note_on_a_partly_recognised_bundle_is_never_recognised(finance, admin_user,
                                                                        django_capture_on_commit_callbacks):
    # given: billed in full, license and design milestone delivered, January closed
    contract = the_bundle()
    services.register_contract(contract)
    invoice = billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=START))
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20), milestones=[dt.date(2026, 1, 25)])
    close.close_period(actor=finance, period="2026-01")
    assert balance("4000") == D("-9745.12")  # 8,045.98 + 89.94 + 40 % of 4,022.99 (1,609.196 → 1,609.20)
    # when: a 10 % credit (1,400.00) on 10 February, spread over the invoice's lines
    note = billing.credit_note_create(actor=finance, invoice=invoice, reason="Service credit", amount="1400.00",
                                      issue_date=dt.date(2026, 2, 10))
    with django_capture_on_commit_callbacks(execute=True):  # "credit_note.posted" reaches revenue
        billing.credit_note_post(actor=finance, credit_note=note)
    rc = contract.revenue
    rc.refresh_from_db()
    assert rc.transaction_price == D("12600.00") and rc.versions.latest("number").kind == "credit_note"
    license_, support, implementation = rc.obligations.order_by("position")
    assert license_.allocated_amount == D("7245.98")  # delivered: its 800.00 share comes off what it earned
    assert sum(o.allocated_amount for o in rc.obligations.all()) == D("12600.00")
    # then: February takes the license's 800.00 back; by the end everything earned is exactly 12,600
    deliver_rest = contract.orders.get().lines.get(kind="milestone").milestones.get(name="Go-live")
    from l2c.orders import services as orders

    orders.milestone_complete(actor=admin_user, milestone=deliver_rest, completed_on=dt.date(2026, 6, 30))
    for month in range(2, 13):
        close.close_period(actor=finance, period=f"2026-{month:02d}")
    close.close_period(actor=finance, period="2027-01")
    assert balance("4000") == D("-12600.00")
    assert balance("2100") == 0 and balance("1150") == 0


def test_a_foreign_currency_contract_releases_deferred_revenue_at_its_billing_rate(finance, admin_user):
    set_rate("EUR", START, "1.10")
    set_rate("EUR", dt.date(2026, 1, 31), "1.20")
    contract = bundle_contract(lines=[("good", 1, "8000.00", "10000.00", None),
                                      ("service", 1, "2000.00", "2400.00", (START, dt.date(2027, 1, 14))),
                                      ("milestone", 1, "4000.00", "5000.00", None)], start=START, currency="EUR")
    services.register_contract(contract)
    billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=START))
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20))
    assert balance("2100") == D("-15400.00")
    close.close_period(actor=finance, period="2026-01")
    assert balance("4000") == D("-8949.51")  # 8,135.92 EUR at 1.10, the rate it was billed at
    assert balance("2100") == D("-6450.49")


def test_a_foreign_currency_contract_asset_is_booked_at_the_month_end_rate(finance, admin_user):
    set_rate("EUR", dt.date(2026, 1, 31), "1.20")
    contract = bundle_contract(lines=[("good", 1, "8000.00", "10000.00", None),
                                      ("service", 1, "2000.00", "2400.00", (START, dt.date(2027, 1, 14))),
                                      ("milestone", 1, "4000.00", "5000.00", None)], start=START, currency="EUR")
    services.register_contract(contract)
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20))
    close.close_period(actor=finance, period="2026-01")
    assert balance("1150") == D("9763.10") and balance("4000") == D("-9763.10")


@pytest.mark.parametrize("kwargs, field", [
    ({"effective_date": "2026-13-01", "reason": "x", "price_change": "1"}, "effective_date"),
    ({"effective_date": "2026-07-01", "reason": "", "price_change": "1"}, "reason"),
    ({"effective_date": "2026-07-01", "reason": "x", "price_change": 1.5}, "price_change"),
    ({"effective_date": "2026-07-01", "reason": "x", "price_change": "abc"}, "price_change"),
    ({"effective_date": "2026-07-01", "reason": "x"}, "price_change"),
    ({"effective_date": "2026-07-01", "reason": "x", "price_change": "-5000"}, "price_change"),
    ({"effective_date": "2025-07-01", "reason": "x", "price_change": "1"}, "effective_date"),
    ({"effective_date": "2026-07-01", "reason": "x", "new_end_date": "2025-01-01"}, "new_end_date"),
])
def test_bad_modifications_are_refused_naming_the_field_and_change_nothing(finance, kwargs, field):
    _contract, rc, support = support_year()
    with pytest.raises(ValidationFailed) as exc:
        services.modify_contract(actor=finance, revenue_contract=rc, **kwargs)
    assert field in {e.field for e in exc.value.errors}
    assert rc.versions.count() == 1
    support.refresh_from_db()
    assert support.allocated_amount == D("1200.00")


def test_a_closed_month_cannot_be_modified_and_sales_cannot_modify(finance, rep):
    _contract, rc, _support = support_year()
    close.close_period(actor=finance, period="2026-01")
    with pytest.raises(ValidationFailed) as exc:
        services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-01-20", reason="x",
                                 price_change="10")
    assert exc.value.errors[0].code == "period_closed"
    with pytest.raises(PermissionDenied):
        services.modify_contract(actor=rep, revenue_contract=rc, effective_date="2026-07-01", reason="x",
                                 price_change="10")


def test_lines_that_are_not_distinct_are_grouped_into_one_obligation(finance):
    contract = the_bundle()
    rc = services.register_contract(contract)
    license_, support, implementation = rc.obligations.order_by("position")
    merged = services.group_obligations(actor=finance, revenue_contract=rc,
                                        obligation_ids=[license_.pk, implementation.pk], method="milestone")
    assert merged.pk == license_.pk and merged.method == "milestone"
    assert merged.ssp_amount == D("15000.00") and merged.line_links.count() == 2
    assert sum(o.allocated_amount for o in rc.obligations.all()) == D("14000.00")
    assert rc.obligations.count() == 2 and rc.versions.latest("number").kind == "regroup"
    with pytest.raises(ValidationFailed):
        services.group_obligations(actor=finance, revenue_contract=rc, obligation_ids=[support.pk])


def test_a_terminated_contract_stops_earning_after_its_last_day(finance, django_capture_on_commit_callbacks):
    from l2c.contracts import services as contracts
    from l2c.contracts.models import Contract

    contract, rc, support = support_year()
    Contract.objects.filter(pk=contract.pk).update(status="active")
    with django_capture_on_commit_callbacks(execute=True):
        contracts.contract_terminate(contract=Contract.objects.get(pk=contract.pk), actor=finance,
                                     date="2026-03-31", reason="Customer went bankrupt")
    rc.refresh_from_db()
    assert rc.status == "terminated"
    assert list(plan_of(support)) == ["2026-01", "2026-02", "2026-03"]
    assert sum(plan_of(support).values()) == D("1200.00")
