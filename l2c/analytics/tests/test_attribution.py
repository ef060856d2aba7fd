"""Campaign attribution: first- and last-touch credit, sums equal to the totals, ROI, currency, visibility."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.analytics import attribution as report
from l2c.analytics.funnel import parse_params
from l2c.billing.models import PaymentAllocation
from l2c.billing.tests.factories import set_rate
from l2c.leads.models import Lead
from l2c.leads.tests.factories import CampaignFactory

from .funnel_history import at, invoice, lead_on, open_opportunity, paid_lead, pay, touch, won_contract

D = Decimal
JAN = dt.date(2026, 1, 10)
RANGE = {"date_from": "2026-01-01", "date_to": "2026-03-31"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(rep, rep2, finance):
    """Campaign A (cost 1000) and B (cost 500).
    la: A's lead, paid 1380. lb: B's lead whose first campaign touch was A and last touch before conversion B
    (a later A touch after conversion does not count), paid 500 of 1380. lc: no campaign, paid 1380.
    ld: B's lead with an open 10,000 opportunity. A lead of rep2 (A, paid 1380) only some users see."""
    a = CampaignFactory(name="A", cost=D("1000.00"))
    b = CampaignFactory(name="B", cost=D("500.00"))
    la = paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 1), owner=rep, campaign=a)
    lb = lead_on(JAN, owner=rep, campaign=b)
    touch(lb, dt.date(2026, 1, 5), campaign=None, kind="manual")
    touch(lb, dt.date(2026, 1, 6), campaign=a)
    touch(lb, dt.date(2026, 1, 20), campaign=b)
    touch(lb, dt.date(2026, 2, 1), campaign=a, kind="email_click")
    Lead.objects.filter(pk=lb.pk).update(status="converted", converted_at=at(dt.date(2026, 1, 25)))
    pay(finance, invoice(finance, won_contract(lb, start=JAN), JAN), dt.date(2026, 2, 10), D("500"))
    lc = paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 1), owner=rep)
    ld = lead_on(JAN, owner=rep, campaign=b)
    open_opportunity(ld)
    paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 1), owner=rep2, campaign=a)
    return {"a": a, "b": b, "la": la, "lb": lb, "lc": lc, "ld": ld}


def by_name(result):
    return {r["campaign"]: r for r in result["rows"]}


def test_first_touch(history, rep):
    result = report.attribution(user=rep, params=parse_params(RANGE), model="first")
    rows = by_name(result)
    a, b = rows["A"], rows["B"]
    assert (a["leads"], a["pipeline"], a["won"], a["invoiced"], a["cash"]) == (2, 0, D("20000.00"), D("2760.00"),
                                                                             D("1880.00"))
    assert (a["cost"], a["roi"]) == (D("1000.00"), D("88.0"))
    assert (b["leads"], b["pipeline"], b["won"], b["invoiced"], b["cash"]) == (1, D("10000.00"), 0, 0, 0)
    assert (b["cost"], b["roi"]) == (D("500.00"), D("-100.0"))
    none = result["no_campaign"]
    assert (none["leads"], none["cash"], none["invoiced"]) == (1, D("1380.00"), D("1380.00"))
    assert result["currency"] == "USD" and result["missing_rates"] == []


def test_last_touch(history, rep):
    rows = by_name(report.attribution(user=rep, params=parse_params(RANGE), model="last"))
    a, b = rows["A"], rows["B"]
    assert (a["leads"], a["won"], a["cash"], a["roi"]) == (1, D("10000.00"), D("1380.00"), D("38.0"))
    assert (b["leads"], b["pipeline"], b["won"], b["cash"], b["roi"]) == (2, D("10000.00"), D("10000.00"),
                                                                         D("500.00"), D("0.0"))


@pytest.mark.parametrize("model", report.MODELS)
def test_sums_equal_cash_collected(history, rep, admin_user, model):
    for user in (rep, admin_user):
        result = report.attribution(user=user, params=parse_params(RANGE), model=model)
        # cash collected from the cohort's leads that have a campaign, straight from the allocations
        with_campaign = PaymentAllocation.objects.filter(
            invoice__contract__opportunity__lead__in=Lead.objects.restrict(user).filter(campaign__isnull=False))
        expected = sum((x.ar_base + x.fx_base for x in with_campaign), D(0))
        assert sum((r["cash"] for r in result["rows"]), D(0)) == expected
        everything = sum((x.ar_base + x.fx_base for x in PaymentAllocation.objects.filter(
            invoice__contract__opportunity__lead__in=Lead.objects.restrict(user))), D(0))
        assert result["total"]["cash"] == everything == expected + result["no_campaign"]["cash"]
        for measure in ("leads", "pipeline", "won", "invoiced", "cash"):
            assert result["total"][measure] == sum(r[measure] for r in result["rows"]) + result["no_campaign"][measure]
    admin = report.attribution(user=admin_user, params=parse_params(RANGE), model=model)
    assert admin["total"]["cash"] == D("4640.00") and admin["total"]["revenue"] == 0


def test_visibility_and_revenue_column(history, rep, rep2, admin_user):
    mine = report.attribution(user=rep2, params=parse_params(RANGE))
    assert (by_name(mine)["A"]["leads"], by_name(mine)["A"]["cash"]) == (1, D("1380.00"))
    assert mine["total"]["leads"] == 1
    assert report.attribution(user=rep, params=parse_params(RANGE))["total"]["revenue"] is None  # sales: no revenue
    assert report.attribution(user=admin_user, params=parse_params(RANGE))["revenue_shown"] is True


def test_foreign_currency_cost_is_converted(history, rep):
    CampaignFactory(name="Euro fair", currency="EUR", cost=D("100.00"), start_date=JAN, end_date=JAN)
    CampaignFactory(name="Yen ads", currency="JPY", cost=D("1000"), start_date=JAN, end_date=JAN)
    set_rate("EUR", dt.date(2026, 1, 1), "1.1")
    result = report.attribution(user=rep, params=parse_params(RANGE))
    rows = by_name(result)
    assert rows["Euro fair"]["cost"] == D("110.00") and rows["Euro fair"]["leads"] == 0
    assert result["missing_rates"] == ["JPY"]


def test_bad_model_and_by(api_for, rep):
    response = api_for(rep).get("/api/v1/reports/attribution", {"model": "linear"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "model"
    response = api_for(rep).get("/api/v1/reports/attribution", {"by": "source"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "by"


def test_api_page_and_exports(history, api_for, rep, finance):
    body = api_for(rep).get("/api/v1/reports/attribution", {**RANGE, "model": "last"}).json()
    assert body["model"] == "last" and body["currency"] == "USD"
    assert {r["campaign"]: r["cash"] for r in body["rows"]} == {"A": "1380.00", "B": "500.00"}
    assert body["total"]["cash"] == "3260.00" and body["no_campaign"]["cash"] == "1380.00"
    assert api_for(finance).get("/api/v1/reports/attribution").status_code == 403
    client = client_for(rep)
    page = client.get("/reports/attribution/", RANGE)
    assert page.status_code == 200 and "<svg" in page.content.decode() and "88.0" in page.content.decode()
    csv = b"".join(client.get("/reports/attribution/export/", {**RANGE, "format": "csv"}).streaming_content) \
        .decode("utf-8-sig").splitlines()
    assert csv[0] == "Campaign,Cost,Leads,Pipeline,Won,Invoiced,Cash collected,Revenue recognised,ROI %"
    assert csv[1:] == ["A,1000.00,2,0.00,20000.00,2760.00,1880.00,,88.0",
                       "B,500.00,1,10000.00,0.00,0.00,0.00,,-100.0",
                       "No campaign,,1,0.00,10000.00,1380.00,1380.00,,",
                       "Total,1500.00,4,10000.00,30000.00,4140.00,3260.00,,117.3"]
    assert client.get("/reports/attribution/export/", {**RANGE, "format": "xlsx"}).status_code == 200
