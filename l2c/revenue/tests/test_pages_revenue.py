"""Revenue pages: 403 for sales roles, render for finance/admin with charts and numbers, exports with the
report's rows, the close and reopen forms.

Until the lead includes `l2c.revenue.urls` in the project's URLs, these tests add it (see `urlpatterns`)."""
import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import NoReverseMatch, include, path, reverse

from l2c.revenue.models import PeriodClose

from .test_reports import closed_bundle  # noqa: F401 - a fixture
from .test_worked_examples import the_bundle


def _urlpatterns():
    from l2c import urls as project_urls

    try:
        reverse("revenue:overview")
        return list(project_urls.urlpatterns)
    except NoReverseMatch:
        return [path("", include("l2c.revenue.urls")), *project_urls.urlpatterns]


urlpatterns = _urlpatterns()
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
RANGE = "from=2026-01-01&to=2026-03-31"
PAGES = ["/revenue/", f"/revenue/?{RANGE}", "/revenue/mrr/", f"/revenue/mrr/?{RANGE}", "/revenue/close/", "/revenue/close/export/?format=csv",
         *(f"/revenue/export/{report}/?{RANGE}&format=csv"
           for report in ("revenue", "billed-collected", "deferred", "future", "rpo", "mrr", "mrr-customers"))]


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("path", PAGES)
def test_sales_roles_get_403(rep, manager, path):
    for user in (rep, manager):
        assert login(user).get(path).status_code == 403, (user, path)


def test_sales_roles_get_403_on_a_contract_and_the_close_form(rep, manager):
    contract = the_bundle()
    for user in (rep, manager):
        client = login(user)
        assert client.get(f"/revenue/contracts/{contract.pk}/").status_code == 403
        assert client.post("/revenue/close/", {"action": "close", "period": "2026-01"}).status_code == 403
    assert not PeriodClose.objects.exists()


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/revenue/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_finance_and_admin_see_every_page(finance, admin_user, path):
    for user in (finance, admin_user):
        response = login(user).get(path)
        assert response.status_code == 200, (path, response.content[:500])


def test_overview_shows_charts_and_numbers(finance, closed_bundle, django_assert_max_num_queries):  # noqa: F811
    client = login(finance)
    with django_assert_max_num_queries(40):
        response = client.get(f"/revenue/?{RANGE}&by=product")
    page = response.content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="revenue-chart" role="img"') == 2
    assert "<title" in page and "Revenue recognised per month" in page
    for number in ("8135.92", "1757.33", "14000.00", "10000.00", "5864.08", "4106.75", "1609.20"):
        assert number in page, number
    assert closed_bundle.number in page and f"/revenue/contracts/{closed_bundle.pk}/" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing remote
    assert "format=xlsx" in page


def test_bad_range_is_400_with_the_reason(finance):
    response = login(finance).get("/revenue/?from=2026-03-01&to=2026-01-01")
    assert response.status_code == 400
    assert "before its start" in response.content.decode()
    export = login(finance).get("/revenue/export/revenue/?from=nonsense&format=csv")
    assert export.status_code == 400


def test_exports_hold_the_report_rows(finance, closed_bundle):  # noqa: F811
    client = login(finance)
    rows = read_csv(client.get(f"/revenue/export/revenue/?{RANGE}&format=csv"))
    assert rows == [["Month", "Key", "Product or customer", "Revenue"], ["2026-01", "", "", "8135.92"],
                    ["2026-02", "", "", "1757.33"], ["2026-03", "", "", "0.00"]]
    rows = read_csv(client.get(f"/revenue/export/deferred/?{RANGE}&format=csv"))
    assert rows[1:] == [["2026-01", "0.00", "14000.00", "8135.92", "0.00", "5864.08"],
                        ["2026-02", "5864.08", "0.00", "1757.33", "0.00", "4106.75"],
                        ["2026-03", "4106.75", "0.00", "0.00", "0.00", "4106.75"]]
    rows = read_csv(client.get(f"/revenue/export/billed-collected/?{RANGE}&format=csv"))
    assert rows[1] == ["2026-01", "8135.92", "14000.00", "0.00"] and rows[2] == ["2026-02", "1757.33", "0.00",
                                                                                 "10000.00"]
    rows = read_csv(client.get(f"/revenue/export/rpo/?{RANGE}&format=csv"))
    assert rows[1] == [closed_bundle.number, closed_bundle.account.name, "USD", "4106.75", "4106.75", "0.00",
                       "4106.75"]
    rows = read_csv(client.get(f"/revenue/export/future/?{RANGE}&format=csv"))
    assert len(rows) == 1 + 12 + 1 and rows[-1] == ["Later", "0.00"] and rows[1] == ["2026-03", "2577.80"]
    response = client.get(f"/revenue/export/mrr/?{RANGE}&format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [c.value for c in next(sheet.iter_rows())][:3] == ["Month", "Opening MRR", "New"]
    assert sheet.max_row == 1 + 3
    assert client.get(f"/revenue/export/nothing/?{RANGE}").status_code == 404
    assert client.get(f"/revenue/export/revenue/?{RANGE}&format=pdf").status_code == 400


def test_contract_page_links_postings_to_the_ledger_and_the_quote(finance, closed_bundle):  # noqa: F811
    from l2c.revenue.models import RevenuePosting

    client = login(finance)
    response = client.get(f"/revenue/contracts/{closed_bundle.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    for posting in RevenuePosting.objects.select_related("journal_entry"):
        assert f'href="/ledger/entries/{posting.journal_entry_id}/"' in page
        assert posting.journal_entry.number in page
    assert f'href="/quotes/{closed_bundle.quote_id}/"' in page
    for number in ("8045.98", "1931.03", "4022.99", "238.07", "89.94", "74.06"):
        assert number in page, number
    assert client.get("/revenue/contracts/999999/").status_code == 404
    rows = read_csv(client.get(f"/revenue/contracts/{closed_bundle.pk}/export/?table=allocation&format=csv"))
    assert [row[6:8] for row in rows[1:]] == [["8045.98", "8045.98"], ["1931.03", "238.07"], ["4022.99", "1609.20"]]
    rows = read_csv(client.get(f"/revenue/contracts/{closed_bundle.pk}/export/?table=schedule&format=csv"))
    assert len(rows) == 1 + 1 + 13 + 1
    rows = read_csv(client.get(f"/revenue/contracts/{closed_bundle.pk}/export/?table=postings&format=csv"))
    assert [row[0] for row in rows[1:]] == ["2026-01", "2026-02"]


def test_close_form_closes_and_says_so(finance):
    from l2c.revenue import services

    services.register_contract(the_bundle())
    client = login(finance)
    page = client.get("/revenue/close/").content.decode()
    assert "Close month" in page and "Reopen" not in page.split("<h2>Closed months")[0].split("Close a month")[1]
    response = client.post("/revenue/close/", {"action": "close", "period": "2026-01"}, follow=True)
    assert "2026-01 closed: 89.94 of revenue recognised on 1 contracts" in response.content.decode()
    assert PeriodClose.objects.get().period == dt.date(2026, 1, 1)
    again = client.post("/revenue/close/", {"action": "close", "period": "2026-01"}, follow=True)
    assert "2026-01 was already closed" in again.content.decode()
    bad = client.post("/revenue/close/", {"action": "close", "period": "2026-13"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode()
    earlier = client.post("/revenue/close/", {"action": "close", "period": "2025-12"})
    assert earlier.status_code == 400 and "months close in order" in earlier.content.decode()
    # finance cannot reopen
    assert client.post("/revenue/close/", {"action": "reopen", "period": "2026-01", "reason": "x"}).status_code == 403
    rows = read_csv(client.get("/revenue/close/export/?format=csv"))
    assert rows[1][:2] == ["2026-01", "Closed"] and rows[1][6] == "89.94"


def test_admin_reopens_with_a_reason(admin_user, finance):
    from l2c.revenue import close, services

    services.register_contract(the_bundle())
    close.close_period(actor=finance, period="2026-01")
    client = login(admin_user)
    assert "Reopen a month" in client.get("/revenue/close/").content.decode()
    missing = client.post("/revenue/close/", {"action": "reopen", "period": "2026-01", "reason": ""})
    assert missing.status_code == 400 and PeriodClose.objects.get().status == PeriodClose.Status.CLOSED
    response = client.post("/revenue/close/", {"action": "reopen", "period": "2026-01", "reason": "late invoice"},
                           follow=True)
    assert "2026-01 reopened" in response.content.decode()
    assert PeriodClose.objects.get().status == PeriodClose.Status.REOPENED


def test_finance_changes_a_contract_on_its_revenue_page(client, finance, rep):
    from l2c.revenue import services
    from l2c.revenue.tests.test_worked_examples import the_bundle

    contract = the_bundle()
    rc = services.register_contract(contract)
    client.force_login(finance)
    url = f"/revenue/contracts/{contract.pk}/"
    page = client.get(url)
    assert page.status_code == 200 and "Change the contract" in page.content.decode()
    bad = client.post(url, {"effective_date": "2026-07-15", "reason": "Upsell", "price_change": "abc"})
    assert bad.status_code == 400 and "is not a decimal amount" in bad.content.decode()
    closed_month = client.post(url, {"effective_date": "2020-01-01", "reason": "Upsell", "price_change": "10"})
    assert closed_month.status_code == 400 and "before the contract starts" in closed_month.content.decode()
    assert rc.versions.count() == 1
    done = client.post(url, {"effective_date": "2026-07-15", "reason": "Second year", "price_change": "2000.00",
                             "new_end_date": "2028-01-14"})
    assert done.status_code == 302 and rc.versions.count() == 2
    rc.refresh_from_db()
    assert rc.transaction_price == 16000
    client.force_login(rep)
    assert client.post(url, {"effective_date": "2026-07-15", "reason": "x", "price_change": "1"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_overview_outside_a_transaction_gathers_the_same_numbers(finance, admin_user):
    """Outside a transaction (a real request) PostgreSQL draws the reports side by side on their own
    connections; the page must show the same numbers as drawn one after another."""
    from django.db import connections

    from l2c.revenue.tests.test_reports import make_closed_bundle

    contract = make_closed_bundle(finance, admin_user)
    page = login(finance).get(f"/revenue/?{RANGE}&by=product").content.decode()
    for number in ("8135.92", "1757.33", "14000.00", "10000.00", "5864.08", "4106.75", "1609.20"):
        assert number in page, number
    assert contract.number in page
    assert len(connections.all(initialized_only=True)) <= 1  # the helper threads closed theirs


def test_the_overview_takes_whole_months_in_its_address(finance, closed_bundle):  # noqa: F811
    page = login(finance).get("/revenue/?from=2026-01&to=2026-02")
    assert page.status_code == 200
    text = page.content.decode()
    assert "8135.92" in text and "1757.33" in text
    assert login(finance).get("/revenue/?from=2026-13").status_code == 400


def test_mrr_page_shows_the_chart_the_months_and_the_movements(finance):
    from l2c.customers.tests.factories import AccountFactory
    from l2c.revenue.tests.test_reports import MAR, subscription

    subscription(AccountFactory(name="Lumen 光"), MAR, dt.date(2027, 2, 28), "1200.00")  # 100.00 a month
    client = login(finance)
    page = client.get("/revenue/mrr/?from=2026-02&to=2026-04").content.decode()
    assert page.count('class="revenue-chart" role="img"') == 1 and "Monthly recurring revenue" in page
    assert "1200.00" in page  # ARR of March and April
    assert "Lumen 光" in page and "New" in page
    assert "/revenue/export/mrr-customers/?from=2026-02-01&amp;to=2026-04-30&amp;format=csv" in page
    overview = client.get("/revenue/?from=2026-02&to=2026-04").content.decode()
    assert '/revenue/mrr/?from=2026-02-01&amp;to=2026-04-30' in overview  # the overview links to it
    bad = client.get("/revenue/mrr/?from=2026-04&to=2026-02")
    assert bad.status_code == 400 and "before its start" in bad.content.decode()
