"""The revenue API: reports, the contract detail and month closes for finance/admin; 403 for sales roles, 401
anonymous, 422 naming the field for bad dates and months.

Until the lead mounts `l2c.revenue.api.router` on the project API, these tests serve it from a test API with
the project's error handlers at the same /api/v1/ paths (see `urlpatterns` below)."""
import datetime as dt

import pytest
from django.urls import include, path

from l2c.revenue.models import PeriodClose, RevenuePosting

from .factories import D
from .test_reports import closed_bundle  # noqa: F401 - a fixture
from .test_worked_examples import the_bundle


def _urlpatterns():
    from l2c import api as project
    from l2c import urls as project_urls
    from l2c.revenue.api import router

    test_api = project.L2CNinjaAPI(title="revenue (test)", version="test", urls_namespace="revenue_test_api",
                                   auth=[project.BearerToken(), project.SessionAuth()], parser=project.JsonObjectParser())
    test_api._exception_handlers.update(project.api._exception_handlers)
    test_api.add_decorator(project.refuse_unstorable_text, mode="operation")
    test_api.add_decorator(project.empty_body_is_empty_object, mode="view")
    test_api.add_router("/", router)
    return [path("api/v1/", test_api.urls), path("", include("l2c.revenue.urls")), *project_urls.urlpatterns]


urlpatterns = _urlpatterns()
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
BASE = "/api/v1"
READS = ["/reports/revenue", "/reports/revenue-billed-collected", "/reports/deferred-revenue",
         "/reports/remaining-obligations", "/reports/mrr", "/revenue/periods"]


@pytest.mark.parametrize("path", READS)
def test_sales_roles_get_403_and_anonymous_401(api_for, rep, manager, client, path):
    for user in (rep, manager):
        response = api_for(user).get(BASE + path)
        assert response.status_code == 403, (user, path, response.content)
    assert client.get(BASE + path).status_code == 401


def test_sales_roles_cannot_see_a_contract_or_close(api_for, rep, manager, admin_user):
    contract = the_bundle()
    for user in (rep, manager):
        client = api_for(user)
        assert client.get(f"{BASE}/revenue/contracts/{contract.pk}").status_code == 403
        assert client.post(f"{BASE}/revenue/periods/2026-01/close", {}).status_code == 403
        assert client.post(f"{BASE}/revenue/periods/2026-01/reopen", {"reason": "x"}).status_code == 403
    assert not PeriodClose.objects.exists()


@pytest.mark.parametrize("path", READS)
def test_finance_and_admin_read_every_report(api_for, finance, admin_user, path):
    for user in (finance, admin_user):
        response = api_for(user).get(BASE + path)
        assert response.status_code == 200, (path, response.content)


def test_revenue_report_numbers_as_strings(api_for, finance, closed_bundle):  # noqa: F811
    client = api_for(finance)
    body = client.get(BASE + "/reports/revenue", {"from": "2026-01-01", "to": "2026-03-31"}).json()
    assert [(r["month"], r["amount"]) for r in body["rows"]] == [
        ("2026-01-01", "8135.92"), ("2026-02-01", "1757.33"), ("2026-03-01", "0.00")]
    assert body["total"] == "9893.25" and body["currency"] == "USD"
    months = client.get(BASE + "/reports/revenue", {"from": "2026-01", "to": "2026-03"}).json()  # whole months
    assert (months["date_from"], months["date_to"], months["total"]) == ("2026-01-01", "2026-03-31", "9893.25")
    by_customer = client.get(BASE + "/reports/revenue", {"from": "2026-01-01", "to": "2026-02-28", "by": "customer"})
    assert [r["label"] for r in by_customer.json()["rows"]] == [closed_bundle.account.name] * 2
    rbc = client.get(BASE + "/reports/revenue-billed-collected", {"from": "2026-01-01", "to": "2026-02-28"}).json()
    assert [(r["recognised"], r["billed"], r["collected"]) for r in rbc["rows"]] == [
        ("8135.92", "14000.00", "0.00"), ("1757.33", "0.00", "10000.00")]
    deferred = client.get(BASE + "/reports/deferred-revenue", {"from": "2026-01-01", "to": "2026-02-28"}).json()
    assert [r["closing"] for r in deferred["rows"]] == ["5864.08", "4106.75"]
    assert deferred["future"]["total"] == "4106.75" and deferred["future"]["start"] == "2026-03-01"
    rpo = client.get(BASE + "/reports/remaining-obligations", {"as_of": "2026-02-28"}).json()
    assert (rpo["total"], rpo["within_12_months"], rpo["later"], rpo["contracts_count"]) == (
        "4106.75", "4106.75", "0.00", 1)
    assert rpo["contracts"][0]["contract"] == closed_bundle.number
    customers_only = client.get(BASE + "/reports/remaining-obligations", {"as_of": "2026-02-28", "contracts": "false"})
    assert customers_only.json()["contracts"] == [] and customers_only.json()["customers"] == rpo["customers"]
    mrr = client.get(BASE + "/reports/mrr", {"from": "2026-01-01", "to": "2026-02-28"}).json()
    assert [r["closing"] for r in mrr["months"]] == ["0.00", "0.00"]  # support is a one-time service, not MRR
    assert (mrr["movements_count"], mrr["movements"]) == (0, [])
    assert client.get(BASE + "/reports/mrr", {"limit": 0}).status_code == 422


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"from": "2026-13"}, "from"), ({"from": "2026-03-01", "to": "2026-01-01"}, "to"),
    ({"by": "region"}, "by")])
def test_bad_dates_are_422_naming_the_field(api_for, finance, params, field):
    response = api_for(finance).get(BASE + "/reports/revenue", params)
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_bad_as_of_is_422(api_for, finance):
    response = api_for(finance).get(BASE + "/reports/remaining-obligations", {"as_of": "2026-02-30"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "as_of"


def test_contract_detail(api_for, finance, closed_bundle):  # noqa: F811
    response = api_for(finance).get(f"{BASE}/revenue/contracts/{closed_bundle.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["contract"] == closed_bundle.number and body["quote_id"] == closed_bundle.quote_id
    assert [(a["method"], a["allocated"], a["recognised"]) for a in body["allocation"]] == [
        ("point_in_time", "8045.98", "8045.98"), ("ratable", "1931.03", "238.07"), ("milestone", "4022.99", "1609.20")]
    assert all(a["quote_lines"][0]["quote_id"] == closed_bundle.quote_id for a in body["allocation"])
    entries = set(RevenuePosting.objects.values_list("journal_entry_id", flat=True))
    assert {p["journal_entry_id"] for p in body["postings"]} == entries
    assert len(body["versions"]) == 1 and len(body["versions"][0]["lines"]) == 1 + 13 + 1
    assert api_for(finance).get(f"{BASE}/revenue/contracts/999999").status_code == 404


def test_close_then_again_then_reopen(api_for, finance, admin_user):
    from l2c.revenue import services

    services.register_contract(the_bundle())
    client = api_for(finance)
    response = client.post(f"{BASE}/revenue/periods/2026-01/close", {})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["period"], body["already_closed"], body["contracts"], body["revenue"]) == ("2026-01", False, 1, "89.94")
    again = client.post(f"{BASE}/revenue/periods/2026-01/close")
    assert again.status_code == 200 and again.json()["already_closed"] is True
    periods = client.get(BASE + "/revenue/periods").json()
    assert [(p["period"], p["status"], p["revenue"]) for p in periods] == [("2026-01", "closed", "89.94")]
    # finance may not reopen; admin must give a reason
    assert client.post(f"{BASE}/revenue/periods/2026-01/reopen", {"reason": "late invoice"}).status_code == 403
    admin = api_for(admin_user)
    missing = admin.post(f"{BASE}/revenue/periods/2026-01/reopen", {"reason": "  "})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
    reopened = admin.post(f"{BASE}/revenue/periods/2026-01/reopen", {"reason": "late invoice"})
    assert reopened.status_code == 200, reopened.content
    assert (reopened.json()["status"], reopened.json()["reopen_reason"]) == ("reopened", "late invoice")
    assert PeriodClose.objects.get().status == PeriodClose.Status.REOPENED
    assert admin.post(f"{BASE}/revenue/periods/2026-01/reopen", {"reason": "again"}).status_code == 409


@pytest.mark.parametrize("period", ["2026-13", "26-01", "january", "2026-1-1"])
def test_bad_period_is_422(api_for, finance, period):
    response = api_for(finance).post(f"{BASE}/revenue/periods/{period}/close", {})
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == "period"
    assert not PeriodClose.objects.exists()


def test_unknown_body_fields_are_refused(api_for, finance):
    response = api_for(finance).post(f"{BASE}/revenue/periods/2026-01/close", {"force": True})
    assert response.status_code == 422
    assert not PeriodClose.objects.exists()


def test_closing_before_the_last_closed_month_is_a_conflict(api_for, finance):
    client = api_for(finance)
    assert client.post(f"{BASE}/revenue/periods/2026-02/close").status_code == 201
    response = client.post(f"{BASE}/revenue/periods/2026-01/close")
    assert response.status_code == 409 and "2026-02" in response.json()["detail"]
    assert dt.date(2026, 2, 1) == PeriodClose.objects.get().period
    assert D(0) == PeriodClose.objects.get().revenue_base


def test_modify_and_group_through_the_api(api_for, finance, rep):
    from l2c.revenue import services

    contract = the_bundle()
    rc = services.register_contract(contract)
    license_, support, implementation = rc.obligations.order_by("position")
    client = api_for(finance)
    response = client.post(BASE + f"/revenue/contracts/{contract.pk}/group",
                           {"obligation_ids": [license_.pk, implementation.pk], "method": "milestone"})
    assert response.status_code == 201, response.content
    assert len(response.json()["allocation"]) == 2
    response = client.post(BASE + f"/revenue/contracts/{contract.pk}/modify", {
        "effective_date": "2026-07-15", "reason": "Second year of support", "price_change": "2000.00",
        "new_end_date": "2028-01-14"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert max(v["number"] for v in body["versions"]) == 3
    rc.refresh_from_db()
    assert rc.transaction_price == D("16000.00")
    bad = client.post(BASE + f"/revenue/contracts/{contract.pk}/modify",
                      {"effective_date": "2026-07-15", "reason": "", "price_change": "abc"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"reason", "price_change"}
    assert api_for(rep).post(BASE + f"/revenue/contracts/{contract.pk}/modify", {
        "effective_date": "2026-07-15", "reason": "x", "price_change": "1"}).status_code == 403


def test_mrr_lists_the_first_movements_and_counts_them_all(api_for, finance):
    from l2c.customers.tests.factories import AccountFactory

    from .test_reports import MAR, subscription

    for name in ("A", "B", "C"):
        subscription(AccountFactory(name=name), MAR, dt.date(2027, 2, 28), "1200.00")
    body = api_for(finance).get(BASE + "/reports/mrr", {"from": "2026-03", "to": "2026-03", "limit": 2}).json()
    assert body["months"][0]["new"] == "300.00" and body["movements_count"] == 3
    assert [m["customer"] for m in body["movements"]] == ["A", "B"]
