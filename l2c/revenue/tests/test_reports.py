"""Revenue reports with exact numbers on small generated data: the discounted bundle of the worked examples
(billed upfront, closed month by month, partly paid) and subscriptions that start, grow, stop and come back."""
import datetime as dt

import pytest

from l2c.billing import services as billing
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.quoting.models import Product
from l2c.revenue import close, selectors, services

from .factories import D, balance, bundle_contract
from .test_worked_examples import START, deliver, the_bundle

pytestmark = pytest.mark.django_db
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


@pytest.fixture
def closed_bundle(finance, admin_user):
    """The bundle billed 14,000 upfront, license shipped 20 Jan, design milestone 10 Feb, 10,000 paid on 20 Feb,
    January and February closed (revenue 8,135.92 and 1,757.33)."""
    return make_closed_bundle(finance, admin_user)


def make_closed_bundle(finance, admin_user):
    contract = the_bundle()
    services.register_contract(contract)
    invoice = billing.invoice_create_from_contract(actor=finance, contract=contract, issue_date=START)
    billing.invoice_post(actor=finance, invoice=invoice)
    deliver(contract, admin_user, license_on=dt.date(2026, 1, 20), milestones=[dt.date(2026, 2, 10)])
    billing.payment_record(actor=finance, account=contract.account, date=dt.date(2026, 2, 20), method="bank_transfer",
                           currency="USD", amount="10000.00", allocations=[(invoice, "10000.00")])
    close.close_period(actor=finance, period="2026-01")
    close.close_period(actor=finance, period="2026-02")
    return contract


def subscription(account, start, end, price, *, currency="USD"):
    """A registered contract of one subscription product served from `start` to `end` (inclusive)."""
    contract = bundle_contract(lines=[("service", 1, price, price, (start, end))], start=start, account=account,
                               currency=currency)
    services.register_contract(contract)
    Product.objects.filter(pk=contract.lines.get().product_id).update(kind="subscription", billing_period="month")
    return contract


def test_revenue_by_month_in_total_per_product_and_per_customer(closed_bundle, finance):
    rows = selectors.revenue_by_month(dt.date(2026, 1, 10), dt.date(2026, 3, 5), user=finance)
    assert [(r["month"], r["amount"]) for r in rows] == [(JAN, D("8135.92")), (FEB, D("1757.33")), (MAR, D("0.00"))]
    lines = {line.position: line.product.name for line in closed_bundle.lines.select_related("product")}
    by_product = selectors.revenue_by_month(JAN, dt.date(2026, 2, 28), "product", user=finance)
    assert {(r["month"], r["label"], r["amount"]) for r in by_product} == {
        (JAN, lines[1], D("8045.98")), (JAN, lines[2], D("89.94")),
        (FEB, lines[2], D("148.13")), (FEB, lines[3], D("1609.20"))}
    by_customer = selectors.revenue_by_month(JAN, dt.date(2026, 2, 28), "customer", user=finance)
    assert [(r["month"], r["key"], r["label"], r["amount"]) for r in by_customer] == [
        (JAN, str(closed_bundle.account_id), closed_bundle.account.name, D("8135.92")),
        (FEB, str(closed_bundle.account_id), closed_bundle.account.name, D("1757.33"))]


def test_a_reopened_month_does_not_count(closed_bundle, finance, admin_user):
    close.reopen_period(actor=admin_user, period="2026-02", reason="late invoice")
    rows = selectors.revenue_by_month(JAN, dt.date(2026, 2, 28), user=finance)
    assert [r["amount"] for r in rows] == [D("8135.92"), D("0.00")]
    assert selectors.recognised_billed_collected(FEB, FEB, user=finance)[0]["recognised"] == D("0.00")


def test_recognised_billed_collected(closed_bundle, finance):
    rows = selectors.recognised_billed_collected(JAN, MAR, user=finance)
    assert [(r["month"], r["recognised"], r["billed"], r["collected"]) for r in rows] == [
        (JAN, D("8135.92"), D("14000.00"), D("0.00")),
        (FEB, D("1757.33"), D("0.00"), D("10000.00")),
        (MAR, D("0.00"), D("0.00"), D("0.00"))]


def test_credit_note_lowers_billed_in_its_month(closed_bundle, finance):
    invoice = closed_bundle.invoices.get()
    note = billing.credit_note_create(actor=finance, invoice=invoice, issue_date=dt.date(2026, 3, 5),
                                      reason="goodwill", amount="500.00")
    billing.credit_note_post(actor=finance, credit_note=note)
    rows = selectors.recognised_billed_collected(MAR, MAR, user=finance)
    assert rows[0]["billed"] == D("-500.00")


def test_deferred_waterfall_rolls_forward_exactly(closed_bundle, finance):
    rows = selectors.deferred_waterfall(JAN, MAR, user=finance)
    assert [(r["opening"], r["billings"], r["recognition"], r["other"], r["closing"]) for r in rows] == [
        (D("0.00"), D("14000.00"), D("8135.92"), D("0.00"), D("5864.08")),
        (D("5864.08"), D("0.00"), D("1757.33"), D("0.00"), D("4106.75")),
        (D("4106.75"), D("0.00"), D("0.00"), D("0.00"), D("4106.75"))]
    for row, following in zip(rows, rows[1:], strict=False):
        assert row["opening"] + row["billings"] - row["recognition"] + row["other"] == row["closing"]
        assert following["opening"] == row["closing"]
    assert rows[-1]["closing"] == -balance("2100")
    # starting later: the opening is the balance brought forward
    assert selectors.deferred_waterfall(FEB, FEB, user=finance)[0]["opening"] == D("5864.08")


def test_reopen_shows_as_recognition_netted_in_the_waterfall(closed_bundle, finance, admin_user):
    close.reopen_period(actor=admin_user, period="2026-02", reason="late invoice")
    february = selectors.deferred_waterfall(FEB, FEB, user=finance)[0]
    assert (february["recognition"], february["closing"]) == (D("0.00"), D("5864.08"))
    assert february["closing"] == -balance("2100")


def test_future_recognition_and_rpo_of_the_bundle(closed_bundle, finance):
    # support: 1,931.03 − 89.94 − 148.13 = 1,692.96 still planned March 2026 to January 2027;
    # implementation: 4,022.99 − 1,609.20 = 2,413.79 planned in January, which is past: in March
    future = selectors.future_recognition(dt.date(2026, 2, 15), user=finance)
    assert future["start"] == MAR
    months = {row["month"]: row["amount"] for row in future["months"]}
    assert len(months) == 12 and min(months) == MAR and max(months) == dt.date(2027, 2, 1)
    assert months[MAR] == D("164.01") + D("2413.79")
    assert months[dt.date(2026, 4, 1)] == D("158.71")
    assert months[dt.date(2027, 1, 1)] == D("74.06") and months[dt.date(2027, 2, 1)] == D("0.00")
    assert future["later"] == D("0.00")
    assert future["total"] == D("4106.75") == -balance("2100")  # all billed upfront: RPO = deferred revenue
    rpo = selectors.remaining_performance_obligations(dt.date(2026, 2, 15), user=finance)
    assert (rpo["total"], rpo["within_12_months"], rpo["later"]) == (D("4106.75"), D("4106.75"), D("0.00"))
    assert [(c["contract"], c["total"]) for c in rpo["contracts"]] == [(closed_bundle.number, D("4106.75"))]
    assert [(c["customer"], c["contracts"], c["total"]) for c in rpo["customers"]] == [
        (closed_bundle.account.name, 1, D("4106.75"))]
    customers_only = selectors.remaining_performance_obligations(dt.date(2026, 2, 15), user=finance,
                                                                 per_contract=False)
    assert customers_only["customers"] == rpo["customers"] and customers_only["contracts"] == []
    assert selectors.top_contracts(JAN, FEB, user=finance) == [{
        "contract_id": closed_bundle.pk, "contract": closed_bundle.number, "customer": closed_bundle.account.name,
        "amount": D("9893.25")}]


def test_rpo_splits_within_twelve_months_and_later(finance):
    # 7,310 over 731 days (1 March 2026 to 29 February 2028) is exactly 10 a day
    contract = subscription(None, MAR, dt.date(2028, 2, 29), "7310.00")
    rpo = selectors.remaining_performance_obligations(dt.date(2026, 3, 10), user=finance)
    assert (rpo["within_12_months"], rpo["later"], rpo["total"]) == (D("3650.00"), D("3660.00"), D("7310.00"))
    assert rpo["contracts"][0]["contract"] == contract.number
    future = selectors.future_recognition(dt.date(2026, 3, 10), user=finance)
    assert future["months"][0] == {"month": MAR, "amount": D("310.00")}
    assert future["months"][1] == {"month": dt.date(2026, 4, 1), "amount": D("300.00")}
    assert future["later"] == D("3660.00") and future["total"] == D("7310.00")
    # closing March recognises 310.00 and moves the start to April
    close.close_period(actor=finance, period="2026-03")
    rpo = selectors.remaining_performance_obligations(dt.date(2026, 3, 10), user=finance)
    assert (rpo["within_12_months"], rpo["later"]) == (D("3650.00"), D("3350.00"))
    assert rpo["start"] == dt.date(2026, 4, 1)


def test_mrr_movements_per_customer(finance):
    from l2c.customers.tests.factories import AccountFactory

    # given: 10 a day of service is 304.17 a month (10 × 365 / 12); 1,200 over 365 days is 100.00 a month
    c1, c2 = AccountFactory(name="One"), AccountFactory(name="Two")
    subscription(c1, MAR, dt.date(2026, 5, 31), "920.00")  # churns in June
    subscription(c1, dt.date(2026, 8, 1), dt.date(2026, 9, 30), "610.00")  # comes back in August
    subscription(c2, dt.date(2026, 4, 1), dt.date(2027, 3, 31), "1200.00")
    subscription(c2, dt.date(2026, 6, 1), dt.date(2026, 12, 31), "2140.00")  # expansion, then contraction
    # when
    report = selectors.mrr(MAR, dt.date(2027, 1, 31), user=finance)
    # then
    x = D("304.17")
    expected = {  # month: (new, expansion, contraction, churn, reactivation, closing)
        "2026-03": (x, 0, 0, 0, 0, x), "2026-04": (D(100), 0, 0, 0, 0, x + 100), "2026-05": (0, 0, 0, 0, 0, x + 100),
        "2026-06": (0, x, 0, -x, 0, x + 100), "2026-07": (0, 0, 0, 0, 0, x + 100),
        "2026-08": (0, 0, 0, 0, x, 2 * x + 100), "2026-09": (0, 0, 0, 0, 0, 2 * x + 100),
        "2026-10": (0, 0, 0, -x, 0, x + 100), "2026-11": (0, 0, 0, 0, 0, x + 100),
        "2026-12": (0, 0, 0, 0, 0, x + 100), "2027-01": (0, 0, -x, 0, 0, D(100))}
    got = {row["month"].strftime("%Y-%m"): (row["new"], row["expansion"], row["contraction"], row["churn"],
                                            row["reactivation"], row["closing"]) for row in report["months"]}
    assert got == {k: tuple(D(v) for v in values) for k, values in expected.items()}
    opening = D(0)
    for row in report["months"]:
        assert row["opening"] == opening
        assert row["opening"] + sum(row[m] for m in selectors.MOVEMENTS) == row["closing"]
        assert row["arr"] == row["closing"] * 12
        opening = row["closing"]
    assert report["months"][-1]["customers"] == 1
    assert [(m["month"].strftime("%Y-%m"), m["customer"], m["kind"], m["before"], m["after"])
            for m in report["movements"]] == [
        ("2026-03", "One", "new", D(0), x), ("2026-04", "Two", "new", D(0), D(100)),
        ("2026-06", "One", "churn", x, D(0)), ("2026-06", "Two", "expansion", D(100), x + 100),
        ("2026-08", "One", "reactivation", D(0), x), ("2026-10", "One", "churn", x, D(0)),
        ("2027-01", "Two", "contraction", x + 100, D(100))]
    # a range starting after the churn still knows customer One had MRR before: August is a reactivation
    later = selectors.mrr(dt.date(2026, 8, 1), dt.date(2026, 8, 31), user=finance)["months"][0]
    assert (later["opening"], later["reactivation"], later["new"]) == (x + 100, x, D(0))


def test_mrr_converts_a_foreign_contract_at_its_posting_rate(finance):
    from l2c.core.models import CompanyProfile
    from l2c.ledger.models import ExchangeRate

    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 1, 1), rate=D("1.5"))
    subscription(None, MAR, dt.date(2027, 2, 28), "1200.00", currency="EUR")  # 100.00 EUR a month
    assert CompanyProfile.get().currency == "USD"
    report = selectors.mrr(MAR, MAR, user=finance)
    assert report["months"][0]["closing"] == D("150.00")  # the market rate before any posting
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 4, 20), rate=D("1.75"))
    months = selectors.mrr(MAR, dt.date(2026, 4, 30), user=finance)["months"]
    assert [m["closing"] for m in months] == [D("150.00"), D("175.00")]  # each month end at its own rate
    assert (months[1]["expansion"], months[1]["new"]) == (D("25.00"), D(0))
    close.close_period(actor=finance, period="2026-03")  # posts at 1.5
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 3, 15), rate=D("2"))
    assert selectors.mrr(MAR, MAR, user=finance)["months"][0]["closing"] == D("150.00")


def test_contract_detail(closed_bundle, finance):
    rc = selectors.revenue_contract_get(user=finance, contract_id=closed_bundle.pk)
    detail = selectors.contract_detail(rc, user=finance)
    assert [(row["name"], row["method"], row["ssp"], row["ssp_from_list_price"], row["allocated"], row["recognised"])
            for row in detail["allocation"]] == [
        (detail["allocation"][0]["name"], "point_in_time", D("10000.00"), False, D("8045.98"), D("8045.98")),
        (detail["allocation"][1]["name"], "ratable", D("2400.00"), False, D("1931.03"), D("238.07")),
        (detail["allocation"][2]["name"], "milestone", D("5000.00"), False, D("4022.99"), D("1609.20"))]
    assert (detail["allocated"], detail["recognised"]) == (D("14000.00"), D("9893.25"))
    quote = closed_bundle.quote
    assert [q["quote_id"] for row in detail["allocation"] for q in row["quote_lines"]] == [quote.pk] * 3
    assert [q["quote_line_id"] for row in detail["allocation"] for q in row["quote_lines"]] == [
        line.quote_line_id for line in closed_bundle.lines.order_by("position")]
    assert [(p["period"], p["revenue_base"], p["reversed"]) for p in detail["postings"]] == [
        (JAN, D("8135.92"), False), (FEB, D("1757.33"), False)]
    assert all(p["journal_entry"].startswith("JE") or p["journal_entry"] for p in detail["postings"])
    (version,) = detail["versions"]
    assert version["current"] and version["number"] == 1
    support = next(line for line in version["lines"] if line["obligation_id"] == detail["allocation"][1]["obligation_id"])
    assert support["total"] == D("1931.03") and len(version["months"]) == 13


def test_bad_ranges_name_the_field(finance):
    with pytest.raises(ValidationFailed) as exc:
        selectors.revenue_by_month(MAR, JAN, user=finance)
    assert exc.value.errors[0].field == "to"
    with pytest.raises(ValidationFailed) as exc:
        selectors.revenue_by_month(JAN, MAR, "region", user=finance)
    assert exc.value.errors[0].field == "by"
    with pytest.raises(ValidationFailed) as exc:
        selectors.mrr(dt.date(2000, 1, 1), dt.date(2030, 1, 1), user=finance)
    assert exc.value.errors[0].code == "range_too_long"


def test_sales_roles_cannot_read_reports(rep, manager):
    reports = [(selectors.revenue_by_month, (JAN, MAR)), (selectors.recognised_billed_collected, (JAN, MAR)),
               (selectors.deferred_waterfall, (JAN, MAR)), (selectors.future_recognition, (JAN,)),
               (selectors.remaining_performance_obligations, (JAN,)), (selectors.mrr, (JAN, MAR))]
    for user in (rep, manager):
        for report, args in reports:
            with pytest.raises(PermissionDenied):
                report(*args, user=user)


def test_reports_read_a_fixed_number_of_queries(closed_bundle, finance, django_assert_max_num_queries):
    for _ in range(3):
        extra = bundle_contract(lines=[("good", 1, "100.00", "100.00", None)], start=START)
        services.register_contract(extra)
    with django_assert_max_num_queries(6):
        selectors.deferred_waterfall(JAN, dt.date(2026, 12, 31), user=finance)
    with django_assert_max_num_queries(8):
        selectors.remaining_performance_obligations(dt.date(2026, 2, 15), user=finance)
    with django_assert_max_num_queries(4 + 12):
        selectors.mrr(JAN, dt.date(2026, 12, 31), user=finance)


def test_foreign_contract_converts_at_its_posting_rate_per_product_and_at_the_closing_rate_for_rpo(finance):
    from l2c.ledger.models import ExchangeRate

    # given: 3,100 EUR of service over January and February 2026 (59 days), unbilled; EUR at 1.5, then 2 from March
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2025, 12, 1), rate=D("1.5"))
    contract = bundle_contract(lines=[("service", 1, "5900.00", "5900.00", (JAN, dt.date(2026, 2, 28)))],
                               start=JAN, currency="EUR")
    services.register_contract(contract)
    close.close_period(actor=finance, period="2026-01")  # 31 days: 3,100.00 EUR, at 1.5
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 3, 1), rate=D("2"))
    # then
    by_product = selectors.revenue_by_month(JAN, JAN, "product", user=finance)
    assert [(r["label"], r["amount"]) for r in by_product] == [(contract.lines.get().product.name, D("4650.00"))]
    assert selectors.revenue_by_month(JAN, JAN, user=finance)[0]["amount"] == D("4650.00")
    rpo = selectors.remaining_performance_obligations(dt.date(2026, 3, 1), user=finance)
    assert rpo["contracts"][0]["amount"] == D("2800.00")  # EUR still to recognise
    assert rpo["total"] == D("5600.00")  # at the rate of the day asked
    assert selectors.remaining_performance_obligations(dt.date(2026, 2, 1), user=finance)["total"] == D("4200.00")


def test_revenue_per_product_and_customer_follow_a_reopen_and_a_new_close(closed_bundle, finance, admin_user):
    from l2c.revenue.models import MonthRevenue

    def grouped(by):
        return [(r["month"], r["key"], r["amount"]) for r in selectors.revenue_by_month(JAN, FEB, by, user=finance)]

    before = {by: grouped(by) for by in ("product", "customer")}
    assert [a for m, _k, a in before["customer"] if m == FEB] == [D("1757.33")]
    # reopening February takes its sums away with its postings
    close.reopen_period(actor=admin_user, period="2026-02", reason="late delivery note")
    assert not MonthRevenue.objects.filter(period=FEB).exists()
    assert [m for m, _k, _a in grouped("product")] == [JAN, JAN]
    assert [m for m, _k, _a in grouped("customer")] == [JAN]
    # closing it again writes them anew: the same figures
    close.close_period(actor=finance, period="2026-02")
    assert {by: grouped(by) for by in ("product", "customer")} == before
