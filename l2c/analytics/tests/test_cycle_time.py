"""L2C cycle time: days from lead created to first cash, exact median/p75/p90 and histogram, by segment."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.analytics import cycle_time as report
from l2c.analytics.funnel import parse_params
from l2c.billing import reversals
from l2c.leads.tests.factories import CampaignFactory

from .funnel_history import GROSS, invoice, lead_on, paid_lead, pay, won_contract

D = Decimal
JAN = dt.date(2026, 1, 1)
RANGE = {"date_from": "2026-01-01", "date_to": "2026-01-31"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(rep, rep2, finance):
    """Cash after 10, 20, 40 and 100 days; a lead still waiting; one whose only payment was reversed; one paid
    in two parts (the first counts)."""
    spring = CampaignFactory(name="Spring")
    paid_lead(finance, created=JAN, paid_on=JAN + dt.timedelta(days=10), owner=rep, source="web_form",
              campaign=spring, country="US")
    paid_lead(finance, created=JAN, paid_on=JAN + dt.timedelta(days=20), owner=rep, source="web_form",
              campaign=spring, country="US")
    paid_lead(finance, created=dt.date(2026, 1, 5), paid_on=dt.date(2026, 2, 14), owner=rep, source="referral",
              country="DE")  # 40 days
    # 100 days, paid in two parts: first on day 100, the rest on day 130
    lead = lead_on(dt.date(2026, 1, 20), owner=rep, source="referral", country="DE")
    inv = invoice(finance, won_contract(lead, start=dt.date(2026, 1, 20)), dt.date(2026, 1, 20))
    pay(finance, inv, dt.date(2026, 4, 30), D("380"))
    pay(finance, inv, dt.date(2026, 5, 30), GROSS - D("380"))
    lead_on(dt.date(2026, 1, 7), owner=rep, source="web_form", country="US")  # no cash yet
    bounced = lead_on(dt.date(2026, 1, 8), owner=rep, source="event", country="US")
    payment = pay(finance, invoice(finance, won_contract(bounced, start=dt.date(2026, 1, 8)), dt.date(2026, 1, 8)),
                  dt.date(2026, 1, 15))
    reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=dt.date(2026, 1, 16))
    # another rep's lead, paid after 1 day: only those who may see it count it
    paid_lead(finance, created=JAN, paid_on=JAN + dt.timedelta(days=1), owner=rep2, source="web_form")
    return spring


def test_cycle_time_statistics(history, rep):
    result = report.cycle_time(user=rep, params=parse_params(RANGE))
    total = result["total"]
    # days 10, 20, 40, 100: median between 20 and 40; p75 at rank 2.25, p90 at rank 2.7
    assert (total["leads"], total["count"]) == (6, 4)
    assert (total["median"], total["p75"], total["p90"]) == (D("30.0"), D("55.0"), D("82.0"))
    assert (total["mean"], total["min"], total["max"]) == (D("42.5"), 10, 100)
    assert [(b["label"], b["count"]) for b in total["histogram"]] == [
        ("0–30", 2), ("31–60", 1), ("61–90", 0), ("91–180", 1), ("181–365", 0), ("> 365", 0)]


def test_cycle_time_by_segment(history, rep):
    by_source = report.cycle_time(user=rep, params=parse_params({**RANGE, "by": "source"}))
    rows = {r["key"]: (r["leads"], r["count"], r["median"]) for r in by_source["rows"]}
    assert rows == {"web_form": (3, 2, D("15.0")), "referral": (2, 2, D("70.0")), "event": (1, 0, None)}
    by_campaign = report.cycle_time(user=rep, params=parse_params({**RANGE, "by": "campaign"}))
    rows = {r["label"]: (r["count"], r["p90"]) for r in by_campaign["rows"]}
    assert rows == {"Spring": (2, D("19.0")), "No campaign": (2, D("94.0"))}
    de = report.cycle_time(user=rep, params=parse_params({**RANGE, "country": "DE"}))
    assert (de["total"]["count"], de["total"]["median"]) == (2, D("70.0"))


def test_cycle_time_visibility(history, admin_user, rep2, manager):
    assert report.cycle_time(user=admin_user, params=parse_params(RANGE))["total"]["count"] == 5
    assert report.cycle_time(user=manager, params=parse_params(RANGE))["total"]["count"] == 5
    mine = report.cycle_time(user=rep2, params=parse_params(RANGE))["total"]
    assert (mine["leads"], mine["count"], mine["median"]) == (1, 1, D("1.0"))


def test_percentile_interpolates_between_ranks():
    assert report.percentile([(5, 1)], D("0.9")) == D("5.0")
    assert report.percentile([], D("0.5")) is None
    assert report.percentile([(1, 1), (2, 1), (3, 1), (4, 1)], D("0.5")) == D("2.5")
    assert report.percentile([(0, 9), (100, 1)], D("0.9")) == D("10.0")


def test_api_and_page(history, api_for, rep, finance):
    response = api_for(rep).get("/api/v1/reports/cycle-time", {**RANGE, "by": "country"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"]["median"] == "30.0" and body["total"]["count"] == 4
    assert {r["key"]: r["count"] for r in body["rows"]} == {"US": 2, "DE": 2}
    assert api_for(rep).get("/api/v1/reports/cycle-time", {"by": "stage"}).json()["errors"][0]["field"] == "by"
    assert api_for(finance).get("/api/v1/reports/cycle-time").status_code == 403
    client = client_for(rep)
    page = client.get("/reports/cycle-time/", RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "30.0" in html and "55.0" in html
    csv = b"".join(client.get("/reports/cycle-time/export/", {**RANGE, "format": "csv"}).streaming_content) \
        .decode("utf-8-sig").splitlines()
    assert csv == ["Segment,Leads,Reached cash,Median days,p75 days,p90 days,Mean days,Fewest days,Most days",
                   "All leads,6,4,30.0,55.0,82.0,42.5,10,100"]
    assert client.get("/reports/cycle-time/export/", {**RANGE, "format": "xlsx"}).status_code == 200
