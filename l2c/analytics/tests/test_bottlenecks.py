"""Bottleneck report: stage time percentiles, stuck deals, quote turnaround and DSO on a small generated history,
as each role may see it; the API, bad parameters, the page and its downloads."""
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from l2c.analytics.bottlenecks import bottlenecks, percentile, report_range
from l2c.billing.models import Invoice, InvoiceStatus, Payment, PaymentAllocation
from l2c.core.errors import ValidationFailed
from l2c.pipeline.models import StageHistory
from l2c.pipeline.tests.factories import AccountFactory, OpportunityFactory, stage_named
from l2c.quoting.models import ApprovalStatus, Quote, QuoteApproval, QuoteStatus

pytestmark = pytest.mark.django_db

FROM, TO = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
NOW = dt.datetime(2026, 4, 10, 12, 0, tzinfo=dt.UTC)


def at(day: dt.date, days: float = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC) + dt.timedelta(days=days)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def _closed_with_prospecting_stay(owner, entered: dt.datetime, days: int):
    """A lost deal that spent `days` in Prospecting, leaving it at entered + days."""
    lost = stage_named("Closed Lost")
    opportunity = OpportunityFactory(owner=owner, stage=lost, stage_entered_at=entered + dt.timedelta(days=days),
                                     closed_at=entered + dt.timedelta(days=days))
    StageHistory.objects.create(opportunity=opportunity, stage=stage_named("Prospecting"), entered_at=entered,
                                left_at=entered + dt.timedelta(days=days))
    return opportunity


def _quote(opportunity, owner, number: str, **fields) -> Quote:
    return Quote.objects.create(number=number, opportunity=opportunity, account=opportunity.account, owner=owner,
                                currency="USD", quote_date=FROM, valid_until=TO, **fields)


@pytest.fixture
def history(rep, rep2, outsider):
    """Prospecting uses the p75 of the range as its norm (no setting); Proposal expects 10 days."""
    prospecting, proposal = stage_named("Prospecting"), stage_named("Proposal")
    prospecting.expected_days = None
    prospecting.save()
    proposal.expected_days = 10
    proposal.save()
    # stays in Prospecting that ended in the range: rep 2, 4, 6, 10 days; rep2 50 days; one before the range
    deals = [_closed_with_prospecting_stay(rep, at(dt.date(2026, 1, 5)), days) for days in (2, 4, 6, 10)]
    _closed_with_prospecting_stay(rep2, at(dt.date(2026, 1, 10)), 50)
    _closed_with_prospecting_stay(rep, at(dt.date(2025, 9, 1)), 100)  # left 2025-12-10
    _closed_with_prospecting_stay(outsider, at(dt.date(2026, 2, 1)), 7)
    # open deals, days in their stage on NOW: Prospecting 8 and 3, Proposal 12 and 9
    open_deals = {
        "p8": OpportunityFactory(owner=rep, name="Slow prospect", stage_entered_at=NOW - dt.timedelta(days=8)),
        "p3": OpportunityFactory(owner=rep, name="Fresh prospect", stage_entered_at=NOW - dt.timedelta(days=3)),
        "q12": OpportunityFactory(owner=rep, name="Stalled proposal", stage=proposal,
                                  stage_entered_at=NOW - dt.timedelta(days=12)),
        "q9": OpportunityFactory(owner=rep, name="Proposal on time", stage=proposal,
                                 stage_entered_at=NOW - dt.timedelta(days=9)),
    }
    # quotes: approval 2 and 4 days after the (latest) submission; signature 5 and 1 days after sending
    q1 = _quote(deals[0], rep, "QUO-1", status=QuoteStatus.ACCEPTED, approved_at=at(dt.date(2026, 2, 3)),
                sent_at=at(dt.date(2026, 2, 4)), accepted_at=at(dt.date(2026, 2, 9)))
    QuoteApproval.objects.create(quote=q1, rule_name="r", reason="x", status=ApprovalStatus.APPROVED,
                                 requested_at=at(dt.date(2026, 1, 20)))  # an earlier round
    QuoteApproval.objects.create(quote=q1, rule_name="r", reason="x", status=ApprovalStatus.APPROVED,
                                 requested_at=at(dt.date(2026, 2, 1)))
    q2 = _quote(deals[1], rep, "QUO-2", status=QuoteStatus.ACCEPTED, approved_at=at(dt.date(2026, 3, 5)),
                sent_at=at(dt.date(2026, 3, 6)), accepted_at=at(dt.date(2026, 3, 7)))
    for level in (1, 2):  # one round asking two levels at the same moment: still one quote
        QuoteApproval.objects.create(quote=q2, rule_name="r", reason="x", status=ApprovalStatus.APPROVED,
                                     level=level, requested_at=at(dt.date(2026, 3, 1)))
    # approved with no rule hit: no approval rows, not a turnaround
    _quote(deals[2], rep, "QUO-3", status=QuoteStatus.APPROVED, approved_at=at(dt.date(2026, 2, 10)))
    # a colleague's quote, signed after 7 days
    other = OpportunityFactory(owner=rep2)
    _quote(other, rep2, "QUO-4", status=QuoteStatus.ACCEPTED, sent_at=at(dt.date(2026, 2, 1)),
           accepted_at=at(dt.date(2026, 2, 8)))
    return {"deals": deals, "open": open_deals}


def _stage(report, name):
    return next(row for row in report["stages"] if row["stage"].name == name)


def test_percentile_is_postgresql_percentile_cont():
    assert percentile([2.0, 4.0, 6.0, 10.0], 0.5) == 5.0
    assert percentile([2.0, 4.0, 6.0, 10.0], 0.75) == 7.0
    assert percentile([2.0, 4.0, 6.0, 10.0], 0.9) == pytest.approx(8.8)
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None


def test_rep_sees_stage_times_of_own_deals_and_p75_norm(rep, history):
    report = bottlenecks(user=rep, date_from=FROM, date_to=TO, now=NOW)
    prospecting = _stage(report, "Prospecting")
    assert prospecting["left"] == {"count": 4, "mean_days": Decimal("5.5"), "median_days": Decimal("5.0"),
                                   "p75_days": Decimal("7.0"), "p90_days": Decimal("8.8")}
    assert prospecting["open"]["count"] == 2
    assert prospecting["open"]["median_days"] == Decimal("5.5")
    assert prospecting["open"]["p75_days"] == Decimal("6.8")  # 6.75 rounded half up
    assert prospecting["open"]["p90_days"] == Decimal("7.5")
    assert (prospecting["norm_days"], prospecting["norm_source"]) == (Decimal("7.0"), "p75")
    proposal = _stage(report, "Proposal")
    assert proposal["left"]["count"] == 0 and proposal["open"]["median_days"] == Decimal("10.5")
    assert (proposal["norm_days"], proposal["norm_source"]) == (Decimal(10), "setting")
    # stuck: Proposal 12 > 10 and Prospecting 8 > 7, longest waiting first
    assert [(r["name"], r["days_in_stage"], r["norm_days"]) for r in report["stuck"]] == [
        ("Stalled proposal", 12, Decimal(10)), ("Slow prospect", 8, Decimal("7.0"))]
    assert report["stuck_count"] == 2


def test_manager_sees_the_team_and_a_team_norm(manager, history):
    report = bottlenecks(user=manager, date_from=FROM, date_to=TO, now=NOW)
    prospecting = _stage(report, "Prospecting")
    # 2, 4, 6, 10, 50 days (the other team's 7 days are not the manager's)
    assert prospecting["left"]["count"] == 5
    assert (prospecting["left"]["median_days"], prospecting["left"]["p75_days"],
            prospecting["left"]["p90_days"]) == (Decimal("6.0"), Decimal("10.0"), Decimal("34.0"))
    # with a norm of 10 days the 8-day prospect is no longer stuck
    assert [r["name"] for r in report["stuck"]] == ["Stalled proposal"]


def test_quote_approval_and_signature_turnaround(rep, manager, history):
    report = bottlenecks(user=rep, date_from=FROM, date_to=TO, now=NOW)
    assert report["approval"] == {"count": 2, "mean_days": Decimal("3.0"), "median_days": Decimal("3.0"),
                                  "p75_days": Decimal("3.5"), "p90_days": Decimal("3.8")}
    assert report["signature"] == {"count": 2, "mean_days": Decimal("3.0"), "median_days": Decimal("3.0"),
                                   "p75_days": Decimal("4.0"), "p90_days": Decimal("4.6")}
    team = bottlenecks(user=manager, date_from=FROM, date_to=TO, now=NOW)
    assert team["signature"]["count"] == 3 and team["signature"]["median_days"] == Decimal("5.0")
    # a range that ends before any approval
    early = bottlenecks(user=rep, date_from=FROM, date_to=dt.date(2026, 1, 31), now=NOW)
    assert early["approval"]["count"] == 0 and early["approval"]["median_days"] is None


def test_outsider_and_finance_see_no_pipeline(outsider, finance, history):
    mine = bottlenecks(user=outsider, date_from=FROM, date_to=TO, now=NOW)
    assert _stage(mine, "Prospecting")["left"]["count"] == 1 and mine["stuck"] == []
    assert mine["signature"]["count"] == 0
    report = bottlenecks(user=finance, date_from=FROM, date_to=TO, now=NOW)
    assert all(row["left"]["count"] == 0 and row["open"]["count"] == 0 for row in report["stages"])
    assert report["stuck"] == [] and report["approval"]["count"] == 0


def _invoice(account, number, issued: dt.date, gross: str, balance: str, status=InvoiceStatus.POSTED):
    return Invoice.objects.create(number=number, account=account, currency="USD", issue_date=issued,
                                  due_date=issued + dt.timedelta(days=30), payment_terms="net_30", status=status,
                                  gross_total=Decimal(gross), net_total=Decimal(gross), balance=Decimal(balance))


def _pay(invoice, day: dt.date, amount: str, number: str):
    payment = Payment.objects.create(number=number, account=invoice.account, date=day, method="bank_transfer",
                                     currency="USD", amount=Decimal(amount), unapplied_amount=0, rate=1,
                                     amount_base=Decimal(amount), unapplied_base=0)
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, date=day, amount=Decimal(amount),
                                     ar_base=Decimal(amount))


@pytest.fixture
def receivables(rep, rep2):
    mine, theirs = AccountFactory(owner=rep), AccountFactory(owner=rep2)
    _invoice(mine, "INV-1", dt.date(2026, 2, 1), "1000.00", "1000.00")
    paid = _invoice(mine, "INV-2", dt.date(2026, 3, 1), "500.00", "0.00", InvoiceStatus.PAID)
    _pay(paid, dt.date(2026, 3, 10), "500.00", "PAY-1")
    older = _invoice(mine, "INV-3", dt.date(2025, 12, 1), "300.00", "200.00", InvoiceStatus.PARTIALLY_PAID)
    _pay(older, dt.date(2025, 12, 20), "100.00", "PAY-2")
    _invoice(mine, None, dt.date(2026, 2, 1), "9999.00", "9999.00", InvoiceStatus.DRAFT)  # not booked
    late = _invoice(theirs, "INV-4", dt.date(2026, 3, 15), "800.00", "800.00")
    _pay(late, dt.date(2026, 4, 15), "800.00", "PAY-3")  # paid after the range: still open on March 31


def test_dso_as_of_a_past_day(rep, finance, receivables):
    # given receivables of 1000 + 0 + 200 open on March 31 and 1500 invoiced in the 90 days
    [row] = bottlenecks(user=rep, date_from=FROM, date_to=TO, now=NOW)["dso"]
    assert row == {"currency": "USD", "receivables": Decimal("1200.00"), "credit_sales": Decimal("1500.00"),
                   "days": 90, "dso": Decimal("72.0")}
    # finance sees every customer: + 800 open and invoiced
    [row] = bottlenecks(user=finance, date_from=FROM, date_to=TO, now=NOW)["dso"]
    assert (row["receivables"], row["credit_sales"], row["dso"]) == (Decimal("2000.00"), Decimal("2300.00"),
                                                                     Decimal("78.3"))


def test_dso_today_reads_open_balances(rep):
    today = timezone.localdate()
    account = AccountFactory(owner=rep)
    _invoice(account, "INV-9", today - dt.timedelta(days=10), "600.00", "450.00", InvoiceStatus.PARTIALLY_PAID)
    _invoice(account, "INV-8", today - dt.timedelta(days=200), "100.00", "100.00")
    date_from, date_to = report_range(None, None)
    [row] = bottlenecks(user=rep, date_from=date_from, date_to=date_to)["dso"]
    assert (row["receivables"], row["credit_sales"], row["days"]) == (Decimal("550.00"), Decimal("600.00"), 91)
    assert row["dso"] == Decimal("83.4")  # 550 / 600 × 91 = 83.42


def test_report_range_defaults_and_errors():
    assert report_range(None, "2026-03-31") == (dt.date(2025, 12, 31), dt.date(2026, 3, 31))
    with pytest.raises(ValidationFailed) as bad:
        report_range("2026-13-01", None)
    assert bad.value.errors[0].field == "date_from"
    with pytest.raises(ValidationFailed) as reversed_range:
        report_range("2026-03-01", "2026-02-01")
    assert reversed_range.value.errors[0].field == "date_to"


def test_api_bottlenecks(api_for, rep, history, receivables):
    response = api_for(rep).get("/api/v1/reports/bottlenecks", {"date_from": "2026-01-01", "date_to": "2026-03-31"})
    assert response.status_code == 200, response.content
    body = response.json()
    prospecting = next(s for s in body["stages"] if s["name"] == "Prospecting")
    assert prospecting["left"]["median_days"] == "5.0" and prospecting["left"]["p90_days"] == "8.8"
    assert body["approval"]["count"] == 2 and body["dso"][0]["dso"] == "72.0"
    # the stuck list is as of now (not NOW): both deals are still past their norm
    assert {s["name"] for s in body["stuck"]} >= {"Stalled proposal"}


@pytest.mark.parametrize("params,field", [({"date_from": "yesterday"}, "date_from"),
                                          ({"date_to": "2026-02-30"}, "date_to"),
                                          ({"date_from": "2026-03-01", "date_to": "2026-01-01"}, "date_to"),
                                          ({"stuck_limit": "-1"}, "stuck_limit")])
def test_api_bad_params_are_named(api_for, rep, params, field):
    response = api_for(rep).get("/api/v1/reports/bottlenecks", params)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_api_needs_a_login():
    assert Client().get("/api/v1/reports/bottlenecks").status_code == 401


def test_page_renders_and_downloads(rep, history, receivables, django_assert_max_num_queries):
    client = client_for(rep)
    with django_assert_max_num_queries(25):  # PostgreSQL adds savepoints, SET LOCAL work_mem
        response = client.get("/reports/bottlenecks/", {"date_from": "2026-01-01", "date_to": "2026-03-31"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Time in stage" in html and "<svg" in html and "Stalled proposal" in html and "72.0" in html
    bad = client.get("/reports/bottlenecks/", {"date_from": "nonsense"})
    assert bad.status_code == 400 and "date_from" in bad.content.decode()
    # CSV of the stage table: header + one row per stage
    export = client.get("/reports/bottlenecks/export/stages/",
                        {"date_from": "2026-01-01", "date_to": "2026-03-31", "format": "csv"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    prospecting = next(r for r in rows if r[0] == "Prospecting")
    assert prospecting[1:5] == ["4", "5.0", "7.0", "8.8"]
    dso = client.get("/reports/bottlenecks/export/dso/",
                     {"date_from": "2026-01-01", "date_to": "2026-03-31", "format": "xlsx"})
    assert dso.status_code == 200 and dso["Content-Type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(dso.streaming_content))).active
    assert [c.value for c in sheet[2]] == ["USD", 1200, 1500, 90, 72]
    assert client.get("/reports/bottlenecks/export/nothing/").status_code == 404


def test_finance_page_shows_dso_only(finance, history, receivables):
    html = client_for(finance).get("/reports/bottlenecks/", {"date_from": "2026-01-01",
                                                              "date_to": "2026-03-31"}).content.decode()
    assert "78.3" in html and "Stalled proposal" not in html
    assert Client().get("/reports/bottlenecks/").status_code == 302  # to the login page


def _stage_settings_report(rep):
    OpportunityFactory(owner=rep, name="Old prospect", stage_entered_at=NOW - dt.timedelta(days=20))
    OpportunityFactory(owner=rep, name="New prospect", stage_entered_at=NOW - dt.timedelta(days=5))
    return bottlenecks(user=rep, date_from=FROM, date_to=TO, now=NOW)


def test_every_stage_with_expected_days_needs_no_history(rep):
    # the default stages all expect a number of days (Prospecting 14)
    report = _stage_settings_report(rep)
    prospecting = _stage(report, "Prospecting")
    assert (prospecting["norm_days"], prospecting["norm_source"], prospecting["stuck"]) == (Decimal(14), "setting", 1)
    assert [(r["name"], r["days_in_stage"]) for r in report["stuck"]] == [("Old prospect", 20)]
    assert report["stuck_count"] == 1 and prospecting["open"]["median_days"] == Decimal("12.5")


@pytest.mark.django_db(transaction=True)
def test_side_by_side_queries_give_the_same_report(rep):
    """Outside a transaction PostgreSQL runs the parts on their own connections (SQLite: one after another)."""
    report = _stage_settings_report(rep)
    assert [(r["name"], r["days_in_stage"]) for r in report["stuck"]] == [("Old prospect", 20)]
    assert _stage(report, "Prospecting")["open"]["p90_days"] == Decimal("18.5")
