"""Billing schedules per payment terms (exact dates and amounts), fulfilment events, and the billing run."""
import datetime as dt
from decimal import Decimal as D

import pytest
from ninja.testing import TestClient

from l2c.billing import schedules, services
from l2c.billing.models import (
    BillingScheduleItem,
    Invoice,
    InvoiceStatus,
    ScheduleItemKind,
    ScheduleItemStatus,
)
from l2c.core import events
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.ledger.models import JournalEntry

from .factories import account_balance, assert_books_balance, make_contract, set_rate

pytestmark = pytest.mark.django_db
START = dt.date(2026, 3, 15)


def contract_with(terms="net_30", *, kind="good", period="", lines=(("10", "90.00", "20"),), start=START,
                  end=None, currency="USD"):
    """A contract (billing factory) whose products are of `kind`; subscriptions get their service period."""
    contract = make_contract(payment_terms=terms, lines=lines, start=start, currency=currency)
    if end is not None:
        contract.end_date = end
        contract.save(update_fields=["end_date"])
    for line in contract.lines.select_related("product"):
        line.product.kind = kind
        line.product.billing_period = period
        line.product.save(update_fields=["kind", "billing_period"])
        if kind == "subscription":
            line.service_start, line.service_end = contract.start_date, contract.end_date
            line.save(update_fields=["service_start", "service_end"])
    return contract


def items_of(contract):
    return list(BillingScheduleItem.objects.filter(contract=contract).order_by("contract_line__position", "id"))


def rows(items):
    return [(i.kind, i.due_date, i.net_amount, i.tax_amount) for i in items]


def assert_sums(contract):
    for line in contract.lines.all():
        mine = [i for i in items_of(contract) if i.contract_line_id == line.pk]
        assert sum((i.net_amount for i in mine), D(0)) == line.net_amount
        assert sum((i.tax_amount for i in mine), D(0)) == line.tax_amount
        assert sum((i.quantity for i in mine), D(0)) == line.quantity
        assert all(isinstance(i.net_amount, D) for i in mine)


# --- schedules per payment terms ----------------------------------------------------------------------

def test_upfront_100_bills_everything_at_the_start():
    contract = contract_with("upfront_100", lines=(("10", "90.00", "20"), ("1", "250.00", "20")))
    schedules.schedule_for_contract(contract)
    assert rows(items_of(contract)) == [("upfront", START, D("900.00"), D("180.00")),
                                        ("upfront", START, D("250.00"), D("50.00"))]
    assert_sums(contract)


def test_upfront_50_splits_odd_cents_exactly_and_waits_for_fulfilment():
    contract = contract_with("upfront_50", lines=(("1", "100.01", "20"),))  # net 100.01, tax 20.00
    schedules.schedule_for_contract(contract)
    assert rows(items_of(contract)) == [("upfront", START, D("50.01"), D("10.00")),
                                        ("fulfilment", None, D("50.00"), D("10.00"))]
    assert_sums(contract)


def test_upfront_50_milestone_line_waits_for_its_milestones():
    contract = contract_with("upfront_50", kind="milestone", lines=(("1", "1000.00", "0"),))
    schedules.schedule_for_contract(contract)
    assert rows(items_of(contract)) == [("upfront", START, D("500.00"), D("0")),
                                        ("milestone", None, D("500.00"), D("0"))]


@pytest.mark.parametrize("terms", ["net_30", "due_on_receipt", "net_90"])
def test_net_terms_bill_goods_on_fulfilment(terms):
    contract = contract_with(terms)
    schedules.schedule_for_contract(contract)
    assert rows(items_of(contract)) == [("fulfilment", None, D("900.00"), D("180.00"))]


def test_monthly_subscription_prorates_first_and_last_month_by_days():
    # given 1,200.00 a year from 15 March: 17/31 of March, 11 whole months, 14/31 of March next year
    contract = contract_with("net_30", kind="subscription", period="month", lines=(("1", "1200.00", "20"),),
                             end=dt.date(2027, 3, 14))
    # when
    schedules.schedule_for_contract(contract)
    # then
    items = items_of(contract)
    assert len(items) == 13
    assert rows(items[:3]) == [("recurring", dt.date(2026, 3, 15), D("54.84"), D("10.97")),
                               ("recurring", dt.date(2026, 4, 1), D("100.00"), D("20.00")),
                               ("recurring", dt.date(2026, 5, 1), D("100.00"), D("20.00"))]
    assert rows(items[-1:]) == [("recurring", dt.date(2027, 3, 1), D("45.16"), D("9.03"))]
    assert (items[0].period_start, items[0].period_end) == (dt.date(2026, 3, 15), dt.date(2026, 3, 31))
    assert (items[-1].period_start, items[-1].period_end) == (dt.date(2027, 3, 1), dt.date(2027, 3, 14))
    assert [i.quantity for i in (items[0], items[1], items[-1])] == [D("0.0457"), D("0.0833"), D("0.0380")]
    assert_sums(contract)


def test_quarterly_subscription():
    contract = contract_with("net_30", kind="subscription", period="quarter", lines=(("1", "1200.00", "0"),),
                             start=dt.date(2026, 2, 1), end=dt.date(2027, 1, 31))
    schedules.schedule_for_contract(contract)
    assert [(i.due_date, i.net_amount) for i in items_of(contract)] == [
        (dt.date(2026, 2, 1), D("196.67")), (dt.date(2026, 4, 1), D("300.00")), (dt.date(2026, 7, 1), D("300.00")),
        (dt.date(2026, 10, 1), D("300.00")), (dt.date(2027, 1, 1), D("103.33"))]
    assert_sums(contract)


def test_yearly_subscription_starting_mid_year():
    contract = contract_with("net_30", kind="subscription", period="year", lines=(("1", "1000.00", "0"),),
                             start=dt.date(2026, 7, 1), end=dt.date(2027, 6, 30))
    schedules.schedule_for_contract(contract)
    assert [(i.due_date, i.net_amount, i.period_end) for i in items_of(contract)] == [
        (dt.date(2026, 7, 1), D("504.11"), dt.date(2026, 12, 31)),
        (dt.date(2027, 1, 1), D("495.89"), dt.date(2027, 6, 30))]


def test_subscription_on_a_period_start_is_not_prorated():
    contract = contract_with("net_30", kind="subscription", period="month", lines=(("2", "600.00", "0"),),
                             start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    schedules.schedule_for_contract(contract)
    assert {i.net_amount for i in items_of(contract)} == {D("100.00")}
    assert len(items_of(contract)) == 12


def test_deposit_percentage_comes_first_and_the_rest_follows_the_terms():
    contract = contract_with("net_30")
    schedules.schedule_for_contract(contract, deposit_percent="20")
    assert rows(items_of(contract)) == [("deposit", START, D("180.00"), D("36.00")),
                                        ("fulfilment", None, D("720.00"), D("144.00"))]
    assert_sums(contract)


@pytest.mark.parametrize("bad", ["101", "-1", 12.5, "abc"])
def test_bad_deposit_is_refused_and_nothing_is_made(bad):
    contract = contract_with("net_30")
    with pytest.raises(ValidationFailed) as exc:
        schedules.schedule_for_contract(contract, deposit_percent=bad)
    assert exc.value.errors[0].field == "deposit_percent"
    assert not BillingScheduleItem.objects.filter(contract=contract).exists()


def test_schedule_is_idempotent_and_made_on_contract_created(django_capture_on_commit_callbacks):
    contract = contract_with("upfront_100")
    with django_capture_on_commit_callbacks(execute=True):
        events.publish("contract.created", {"contract_id": contract.pk})
    with django_capture_on_commit_callbacks(execute=True):
        events.publish("contract.created", {"contract_id": contract.pk})
    first = schedules.schedule_for_contract(contract, deposit_percent="50")  # existing plan stays as it is
    assert first.deposit_percent == 0
    assert len(items_of(contract)) == 1


# --- fulfilment events ---------------------------------------------------------------------------------

@pytest.fixture
def fulfilment_hook():
    events.subscribe("order.line_fulfilled", schedules.on_line_fulfilled)


def test_partial_shipments_make_their_share_due(rep, fulfilment_hook, django_capture_on_commit_callbacks):
    from l2c.orders import services as orders
    from l2c.orders.tests.factories import line_of, make_order

    today = dt.date.today()
    order = make_order(owner=rep, start=today)
    contract = order.contract
    contract.payment_terms = "net_30"
    contract.save(update_fields=["payment_terms"])
    schedules.schedule_for_contract(contract)
    goods = line_of(order, "good")
    with django_capture_on_commit_callbacks(execute=True):
        orders.shipment_create(actor=rep, order=order, lines=[(goods, 4)], shipped_on=today)
    due = BillingScheduleItem.objects.filter(contract_line=goods.contract_line, due_date__isnull=False)
    assert [(i.due_date, i.quantity, i.net_amount) for i in due] == [(today, D("4"), D("400.00"))]
    with django_capture_on_commit_callbacks(execute=True):
        orders.shipment_create(actor=rep, order=order, lines=[(goods, 6)], shipped_on=today)
    items = BillingScheduleItem.objects.filter(contract_line=goods.contract_line)
    assert sorted(i.net_amount for i in items) == [D("400.00"), D("600.00")]
    assert all(i.due_date == today for i in items)
    # a redelivered event changes nothing
    payload = {"line_id": goods.pk, "source": "shipment", "shipment_id": order.shipments.first().pk,
               "contract_line_id": goods.contract_line_id, "fulfilled_on": today.isoformat(), "net_amount": "400"}
    assert schedules.line_fulfilled(payload) == []
    assert BillingScheduleItem.objects.filter(contract_line=goods.contract_line).count() == 2


def test_milestone_completion_makes_its_share_due(rep, fulfilment_hook, django_capture_on_commit_callbacks):
    from l2c.orders import services as orders
    from l2c.orders.tests.factories import line_of, make_order

    today = dt.date.today()
    order = make_order(owner=rep, start=today)
    schedules.schedule_for_contract(order.contract)
    line = line_of(order, "milestone")
    orders.milestones_set(actor=rep, line=line, milestones=[{"name": "Design", "share": "30"},
                                                            {"name": "Build", "share": "70"}])
    first, second = line.milestones.order_by("position")
    with django_capture_on_commit_callbacks(execute=True):
        orders.milestone_complete(actor=rep, milestone=first, completed_on=today)
    due = BillingScheduleItem.objects.filter(contract_line=line.contract_line, due_date=today)
    net = line.contract_line.net_amount
    assert [i.net_amount for i in due] == [(net * D("0.3")).quantize(D("0.01"))]
    with django_capture_on_commit_callbacks(execute=True):
        orders.milestone_complete(actor=rep, milestone=second, completed_on=today)
    items = BillingScheduleItem.objects.filter(contract_line=line.contract_line)
    assert all(i.due_date == today for i in items)
    assert sum(i.net_amount for i in items) == net


# --- the billing run -----------------------------------------------------------------------------------

def test_billing_run_invoices_posts_and_is_idempotent(finance):
    contract = contract_with("upfront_100", lines=(("10", "90.00", "20"), ("1", "250.00", "20")))
    schedules.schedule_for_contract(contract)
    summary = schedules.billing_run(today=START, actor=finance)
    assert (summary.invoices, summary.items, summary.errors) == (1, 2, [])
    invoice = Invoice.objects.get(pk=summary.invoice_ids[0])
    assert invoice.status == InvoiceStatus.POSTED and invoice.number == "INV-2026-000001"
    assert invoice.gross_total == contract.gross_total == D("1380.00")
    assert invoice.due_date == START
    assert account_balance("1100", customer=contract.account) == D("1380.00")
    assert account_balance("2100") == D("-1150.00")
    assert set(BillingScheduleItem.objects.values_list("status", flat=True)) == {ScheduleItemStatus.INVOICED}
    again = schedules.billing_run(today=START, actor=finance)
    assert (again.invoices, again.contracts) == (0, 0)
    assert Invoice.objects.count() == 1 and JournalEntry.objects.count() == 1


def test_billing_run_takes_only_what_is_due_and_one_invoice_per_contract(finance):
    contract = contract_with("net_30", kind="subscription", period="month", lines=(("1", "1200.00", "20"),),
                             end=dt.date(2027, 3, 14))
    schedules.schedule_for_contract(contract)
    summary = schedules.billing_run(today=dt.date(2026, 5, 1))
    invoice = Invoice.objects.get(pk=summary.invoice_ids[0])
    assert [(line.service_start, line.net_amount) for line in invoice.lines.all()] == [
        (dt.date(2026, 3, 15), D("54.84")), (dt.date(2026, 4, 1), D("100.00")), (dt.date(2026, 5, 1), D("100.00"))]
    assert invoice.due_date == dt.date(2026, 5, 31)  # net 30 from the run's day
    assert invoice.posted_by is None  # the scheduled run
    assert BillingScheduleItem.objects.filter(status=ScheduleItemStatus.PLANNED).count() == 10


def test_one_failing_contract_does_not_stop_the_run_and_numbers_stay_gapless(finance):
    # given a EUR contract without an exchange rate between two USD contracts
    first = contract_with("upfront_100")
    foreign = contract_with("upfront_100", currency="EUR")
    last = contract_with("upfront_100")
    for contract in (first, foreign, last):
        schedules.schedule_for_contract(contract)
    # when
    summary = schedules.billing_run(today=START, actor=finance)
    # then
    assert summary.invoices == 2
    assert [(e.contract_id, e.contract) for e in summary.errors] == [(foreign.pk, foreign.number)]
    assert "EUR" in summary.errors[0].message
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-2026-000001", "INV-2026-000002"]
    assert not Invoice.objects.filter(contract=foreign).exists()
    assert BillingScheduleItem.objects.get(contract=foreign).status == ScheduleItemStatus.PLANNED
    # and after the rate is entered the next run invoices it with the next number
    set_rate("EUR", START, "1.10")
    retry = schedules.billing_run(today=START, actor=finance)
    assert (retry.invoices, retry.errors) == (1, [])
    assert Invoice.objects.get(contract=foreign).number == "INV-2026-000003"


def _posting_of(invoice):
    """What an invoice's posting looks like, without ids and numbers (to compare two paths)."""
    entry = invoice.journal_entry
    return ((invoice.status, invoice.gross_total, invoice.net_total, invoice.tax_total, invoice.balance,
             invoice.rate, invoice.ar_base, invoice.ar_open_base, invoice.due_date, invoice.posted_by_id),
            [(line.position, line.quantity, line.net_amount, line.tax_amount, line.service_start)
             for line in invoice.lines.order_by("position")],
            (entry.date, entry.journal.code, entry.source_type, entry.source_id == invoice.pk,
             entry.source_label == invoice.number, entry.memo == f"Invoice {invoice.number}"),
            [(line.account.code, line.debit, line.credit, line.currency, line.amount, line.rate,
              line.customer_id == invoice.account_id)
             for line in entry.lines.order_by("line_no")])


def _three_contracts(account=None):
    from l2c.customers.tests.factories import AccountFactory

    account = account or AccountFactory(country="GB")
    made = [make_contract(payment_terms="upfront_100", account=account, start=START,
                          lines=(("3", "33.33", "13"), ("1", "250.00", "20"))),
            make_contract(payment_terms="upfront_100", account=account, start=START, currency="EUR",
                          lines=(("7", "10.01", "19"),)),
            make_contract(payment_terms="upfront_100", account=account, start=START)]
    for contract in made:
        schedules.schedule_for_contract(contract)
    return made


def test_the_bulk_run_books_exactly_what_the_one_by_one_path_books(finance, monkeypatch, django_capture_on_commit_callbacks):
    # given the same three contracts twice (one in EUR), billed once in bulk and once contract by contract
    set_rate("EUR", START, "1.0873")
    bulk_set, single_set = _three_contracts(), _three_contracts()
    BillingScheduleItem.objects.filter(contract__in=single_set).update(due_date=START + dt.timedelta(days=1))
    posted = []
    events.subscribe("invoice.posted", lambda name, payload: posted.append(payload["number"]))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        bulk = schedules.billing_run(today=START)
    monkeypatch.setattr(schedules, "_invoice_batch", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("off")))
    BillingScheduleItem.objects.filter(contract__in=single_set).update(due_date=START)
    with django_capture_on_commit_callbacks(execute=True):
        single = schedules.billing_run(today=START)
    # then
    assert (bulk.invoices, bulk.items, bulk.errors) == (3, 5, [])
    assert (single.invoices, single.items, single.errors) == (3, 5, [])
    assert {Invoice.objects.get(pk=pk).contract_id for pk in bulk.invoice_ids} == {c.pk for c in bulk_set}
    for b, s in zip(bulk.invoice_ids, single.invoice_ids, strict=True):
        assert _posting_of(Invoice.objects.get(pk=b)) == _posting_of(Invoice.objects.get(pk=s))
    assert list(Invoice.objects.order_by("id").values_list("number", flat=True)) == [
        f"INV-2026-{n:06d}" for n in range(1, 7)]
    assert posted == [f"INV-2026-{n:06d}" for n in range(1, 7)]
    assert bulk.totals == single.totals
    assert set(BillingScheduleItem.objects.values_list("status", flat=True)) == {ScheduleItemStatus.INVOICED}
    for item in BillingScheduleItem.objects.select_related("invoice_line"):
        assert item.invoice_line.invoice_id == item.invoice_id and item.invoice_line.net_amount == item.net_amount
    from l2c.core import audit
    from l2c.core.models import AuditEvent

    created = AuditEvent.objects.filter(object_type="billing.invoice", object_id__in=[str(i) for i in bulk.invoice_ids])
    assert {e.changes["number"][1] for e in created} == {f"INV-2026-{n:06d}" for n in range(1, 4)}
    assert all(e.changes["status"] == [None, "posted"] and e.changes["why"] == [None, "billing run"] for e in created)
    assert audit.verify_chain()[1] is None
    assert_books_balance()


def test_a_batch_the_database_refuses_is_redone_contract_by_contract(finance, monkeypatch):
    # given three contracts, and a batch write that fails after it wrote everything
    made = _three_contracts()
    set_rate("EUR", START, "1.0873")
    real = schedules._invoice_batch

    def broken(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(schedules, "_invoice_batch", broken)
    # when
    summary = schedules.billing_run(today=START, actor=finance)
    # then the batch was rolled back (numbers too) and each contract invoiced on its own
    assert (summary.invoices, summary.errors) == (3, [])
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"INV-2026-{n:06d}" for n in range(1, 4)]
    assert Invoice.objects.count() == JournalEntry.objects.count() == 3
    assert {i.contract_id for i in Invoice.objects.all()} == {c.pk for c in made}
    assert_books_balance()


def test_lines_invoiced_by_hand_are_not_billed_twice(finance):
    contract = contract_with("upfront_100")
    schedules.schedule_for_contract(contract)
    services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=START)
    summary = schedules.billing_run(today=START, actor=finance)
    assert summary.invoices == 0
    assert "already invoiced" in summary.errors[0].message
    assert Invoice.objects.count() == 1


def test_only_finance_or_admin_may_run(rep, manager):
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            schedules.billing_run(today=START, actor=user)


def test_task_runs_the_billing_run():
    from l2c.billing.tasks import billing_run

    contract = contract_with("upfront_100")
    schedules.schedule_for_contract(contract)
    result = billing_run(START.isoformat())
    assert result["invoices"] == 1 and result["today"] == "2026-03-15"
    assert billing_run(START.isoformat())["invoices"] == 0


def test_api_billing_run(finance, rep):
    from l2c.billing.api_runs import router

    contract = contract_with("upfront_100")
    schedules.schedule_for_contract(contract)
    client = TestClient(router)
    response = client.post("/billing-runs", json={"today": "2026-03-15"}, auth=finance)
    assert response.status_code == 201
    body = response.json()
    assert body["invoices"] == 1 and body["totals"] == {"USD": "1080.00"} and body["errors"] == []
    with pytest.raises(PermissionDenied):
        client.post("/billing-runs", json={}, auth=rep)


def test_item_kinds_are_documented_choices():
    assert set(ScheduleItemKind.values) == {"deposit", "upfront", "fulfilment", "milestone", "recurring"}
