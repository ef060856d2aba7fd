"""The remaining-obligations snapshot a close writes: the reports read it instead of every schedule line and
give exactly what the schedule lines give, also after contracts change, are added, credited or a month is
reopened."""
import datetime as dt

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from l2c.revenue import close, selectors, services
from l2c.revenue.models import RemainingSnapshot, RevenueContract, ScheduleLine

from . import test_reports
from .factories import D, bundle_contract
from .test_reports import JAN, MAR, subscription

pytestmark = pytest.mark.django_db
closed_bundle = test_reports.closed_bundle  # the fixture: the bundle with January and February closed
AS_OF = (dt.date(2026, 1, 10), dt.date(2026, 2, 15), dt.date(2026, 3, 1), dt.date(2026, 9, 30),
         dt.date(2027, 4, 2), dt.date(2029, 1, 1))


def reports(user, as_of) -> tuple:
    return (selectors.future_recognition(as_of, user=user),
            selectors.remaining_performance_obligations(as_of, user=user),
            selectors.remaining_performance_obligations(as_of, user=user, per_contract=False))


def from_lines(user, as_of) -> tuple:
    """The same reports computed from the schedule lines (the snapshot set aside, then put back)."""
    rows = list(RemainingSnapshot.objects.all())
    RemainingSnapshot.objects.all().delete()
    try:
        return reports(user, as_of)
    finally:
        RemainingSnapshot.objects.bulk_create(rows)


def assert_snapshot_matches_lines(user) -> None:
    assert RemainingSnapshot.objects.exists()
    for as_of in AS_OF:
        assert reports(user, as_of) == from_lines(user, as_of), as_of


def by_month(rows) -> dict:
    return dict(rows.values("month").annotate(total=Sum("amount")).values_list("month", "total"))


def schedule_line_queries(user, as_of) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        reports(user, as_of)
    table = ScheduleLine._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"]]


def test_the_close_writes_what_remains_per_contract_and_month(closed_bundle, finance):
    # given the bundle with January and February closed
    rc = RevenueContract.objects.get(contract=closed_bundle)
    # then February's close left what is still to be recognised from March on, nothing for January's close
    contract_rows = RemainingSnapshot.objects.filter(revenue_contract__isnull=False)
    rows = list(contract_rows.order_by("month").values_list("close__period", "revenue_contract_id", "account_id",
                                                            "currency", "month"))
    assert {row[0] for row in rows} == {dt.date(2026, 2, 1)}
    assert {row[1:4] for row in rows} == {(rc.pk, rc.account_id, "USD")}
    assert rows[0][4] == MAR  # the implementation planned in January, past: counts in March
    assert sum(contract_rows.values_list("amount", flat=True), D(0)) == D("4106.75")
    # and the customer's sums, month by month
    customer_rows = RemainingSnapshot.objects.filter(revenue_contract__isnull=True)
    assert set(customer_rows.values_list("account_id", flat=True)) == {rc.account_id}
    assert by_month(customer_rows) == by_month(contract_rows)
    assert selectors.future_recognition(dt.date(2026, 2, 15), user=finance)["total"] == D("4106.75")


def test_reports_from_the_snapshot_equal_the_schedule_lines_and_skip_them(closed_bundle, finance):
    subscription(None, JAN, dt.date(2028, 2, 29), "7310.00")
    close.close_period(actor=finance, period="2026-03")
    assert_snapshot_matches_lines(finance)
    # nothing changed since the close: no schedule line is read
    assert schedule_line_queries(finance, dt.date(2026, 4, 15)) == []
    assert selectors.remaining_performance_obligations(dt.date(2026, 4, 15), user=finance)["later"] > 0


def test_contracts_changed_after_the_close_are_computed_from_their_lines(closed_bundle, finance):
    # given a subscription, and March closed
    sub = subscription(None, JAN, dt.date(2027, 12, 31), "7300.00")
    close.close_period(actor=finance, period="2026-03")
    before = selectors.remaining_performance_obligations(dt.date(2026, 4, 1), user=finance)["total"]
    # when, after the close, a new contract comes in and the subscription is cut short
    subscription(None, dt.date(2026, 4, 1), dt.date(2026, 9, 30), "1830.00")
    rc = RevenueContract.objects.get(contract=sub)
    services.modify_contract(actor=finance, revenue_contract=rc, effective_date="2026-07-01", reason="Shorter",
                             new_end_date="2026-12-31")
    # then the reports follow the changes, as the schedule lines give them
    assert_snapshot_matches_lines(finance)
    after = selectors.remaining_performance_obligations(dt.date(2026, 4, 1), user=finance)
    assert after["total"] != before
    assert len(after["contracts"]) == 3
    # and only the changed contracts' lines are read
    assert schedule_line_queries(finance, dt.date(2026, 4, 1))


def test_a_credit_note_after_the_close(closed_bundle, finance, django_capture_on_commit_callbacks):
    # given February closed, then 3,000.00 credited on 5 March (a new schedule version)
    from l2c.billing import services as billing

    invoice = closed_bundle.invoices.get()
    note = billing.credit_note_create(actor=finance, invoice=invoice, issue_date=dt.date(2026, 3, 5),
                                      reason="Service credit", amount="3000.00")
    with django_capture_on_commit_callbacks(execute=True):  # "credit_note.posted" reaches revenue
        billing.credit_note_post(actor=finance, credit_note=note)
    assert RevenueContract.objects.get(contract=closed_bundle).version > 1
    # then the reports equal the schedule lines, and March's close writes them again
    assert_snapshot_matches_lines(finance)
    close.close_period(actor=finance, period="2026-03")
    assert_snapshot_matches_lines(finance)


def test_reopening_drops_the_snapshot_and_the_next_close_writes_it_again(closed_bundle, finance, admin_user):
    close.reopen_period(actor=admin_user, period="2026-02", reason="late invoice")
    assert not RemainingSnapshot.objects.exists()
    reopened = reports(finance, dt.date(2026, 2, 15))
    assert reopened[0]["start"] == dt.date(2026, 2, 1)
    close.close_period(actor=finance, period="2026-02")
    assert set(RemainingSnapshot.objects.values_list("close__period", flat=True)) == {dt.date(2026, 2, 1)}
    assert_snapshot_matches_lines(finance)


def test_a_foreign_contract_keeps_its_currency_in_the_snapshot(finance):
    from l2c.ledger.models import ExchangeRate

    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 1, 1), rate=D("1.5"))
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 3, 1), rate=D("2"))
    subscription(None, JAN, dt.date(2026, 12, 31), "3650.00", currency="EUR")
    extra = bundle_contract(lines=[("good", 1, "100.00", "100.00", None)], start=JAN)
    services.register_contract(extra)
    close.close_period(actor=finance, period="2026-01")
    assert set(RemainingSnapshot.objects.values_list("currency", flat=True)) == {"EUR", "USD"}
    assert_snapshot_matches_lines(finance)
