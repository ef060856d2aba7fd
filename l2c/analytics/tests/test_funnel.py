"""Funnel: exact counts and conversion rates on a small history, by dimension, visibility, bad params, API,
page and exports."""
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from l2c.analytics import funnel as report
from l2c.leads import services as lead_services
from l2c.leads.models import Lead

from .funnel_history import at, invoice, lead_on, open_opportunity, pay, won_contract

D = Decimal
JAN = dt.date(2026, 1, 10)
RANGE = {"date_from": "2026-01-01", "date_to": "2026-03-31"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def counts(steps):
    return [s["count"] for s in steps]


@pytest.fixture
def history(rep, outsider, finance):
    """Six leads of `rep` created in January, each further down the funnel than the one before; one lead of
    another team's rep; one lead of `rep` created before the range."""
    new = lead_on(JAN, owner=rep, source="web_form")
    went_back = lead_on(JAN, owner=rep, source="web_form")
    lead_services.lead_change_status(lead=went_back, status="qualified", actor=rep)
    lead_services.lead_change_status(lead=went_back, status="working", actor=rep)  # qualified once: counts
    qualified = lead_on(JAN, owner=rep, source="web_form", status="qualified")
    converted = lead_on(JAN, owner=rep, source="referral", country="DE")
    Lead.objects.filter(pk=converted.pk).update(status="converted", converted_at=at(JAN))
    open_opportunity(converted)
    invoiced = lead_on(JAN, owner=rep, source="referral", country="DE")
    invoice(finance, won_contract(invoiced, start=JAN, quote_sent=True), JAN)
    paid = lead_on(JAN, owner=rep, source="referral", country="DE")
    # won without a quote sent through L2C: still counts as "quote sent" (a step counts later steps too)
    pay(finance, invoice(finance, won_contract(paid, start=JAN), JAN), dt.date(2026, 2, 1))
    lead_on(JAN, owner=outsider, source="event", status="qualified")
    lead_on(dt.date(2025, 12, 31), owner=rep, source="web_form")
    return {"new": new, "went_back": went_back, "qualified": qualified, "converted": converted}


def test_funnel_counts_and_rates(history, admin_user, rep):
    # when the rep asks for the funnel of Q1
    result = report.funnel(user=rep, params=report.parse_params(RANGE))
    steps = result["total"]
    # then each step counts the leads that reached it or a later one
    assert [s["step"] for s in steps] == list(report.STEPS)
    assert counts(steps) == [6, 5, 3, 2, 2, 2, 1]
    assert [s["from_previous"] for s in steps] == [None, D("83.3"), D("60.0"), D("66.7"), D("100.0"),
                                                    D("100.0"), D("50.0")]
    assert [s["from_top"] for s in steps] == [D("100.0"), D("83.3"), D("50.0"), D("33.3"), D("33.3"),
                                               D("33.3"), D("16.7")]
    # the admin also sees the other team's qualified lead
    assert counts(report.funnel(user=admin_user, params=report.parse_params(RANGE))["total"]) == [7, 6, 3, 2, 2, 2, 1]


def test_funnel_by_dimension_and_filters(history, rep):
    by_source = report.funnel(user=rep, params=report.parse_params({**RANGE, "by": "source"}))
    rows = {r["key"]: counts(r["steps"]) for r in by_source["rows"]}
    assert rows == {"web_form": [3, 2, 0, 0, 0, 0, 0], "referral": [3, 3, 3, 2, 2, 2, 1]}
    assert {r["label"] for r in by_source["rows"]} == {"Web form", "Referral"}
    by_country = report.funnel(user=rep, params=report.parse_params({**RANGE, "by": "country"}))
    assert {r["key"]: r["steps"][0]["count"] for r in by_country["rows"]} == {"US": 3, "DE": 3}
    by_owner = report.funnel(user=rep, params=report.parse_params({**RANGE, "by": "owner"}))
    assert [(r["key"], r["steps"][0]["count"]) for r in by_owner["rows"]] == [(rep.pk, 6)]
    by_team = report.funnel(user=rep, params=report.parse_params({**RANGE, "by": "team"}))
    assert [(r["label"], r["steps"][0]["count"]) for r in by_team["rows"]] == [("East", 6)]
    # a filter narrows the cohort
    de = report.funnel(user=rep, params=report.parse_params({**RANGE, "country": "de"}))
    assert counts(de["total"]) == [3, 3, 3, 2, 2, 2, 1]
    web = report.funnel(user=rep, params=report.parse_params({**RANGE, "source": "web_form", "owner": str(rep.pk)}))
    assert counts(web["total"]) == [3, 2, 0, 0, 0, 0, 0]


def test_funnel_respects_visibility(history, manager, rep2, outsider):
    assert counts(report.funnel(user=manager, params=report.parse_params(RANGE))["total"]) == [6, 5, 3, 2, 2, 2, 1]
    assert counts(report.funnel(user=rep2, params=report.parse_params(RANGE))["total"]) == [0] * 7
    assert counts(report.funnel(user=outsider, params=report.parse_params(RANGE))["total"]) == [1, 1, 0, 0, 0, 0, 0]


def test_later_steps_count_only_records_the_user_may_see(history, rep, rep2):
    # given the converted lead's opportunity handed to a colleague
    from l2c.pipeline.models import Opportunity

    Opportunity.objects.filter(lead=history["converted"]).update(owner=rep2)
    # then the rep still sees the lead (and that it qualified) but not the opportunity
    assert counts(report.funnel(user=rep, params=report.parse_params(RANGE))["total"]) == [6, 5, 2, 2, 2, 2, 1]


def test_default_range_is_the_last_90_days():
    params = report.parse_params({}, today=dt.date(2026, 5, 1))
    assert (params.date_from, params.date_to) == (dt.date(2026, 1, 31), dt.date(2026, 5, 1))


@pytest.mark.parametrize("query,field", [
    ({"date_from": "2026-13-01"}, "date_from"), ({"date_to": "yesterday"}, "date_to"),
    ({"date_from": "2026-03-01", "date_to": "2026-02-01"}, "date_from"), ({"by": "colour"}, "by"),
    ({"campaign": "abc"}, "campaign"), ({"owner": "-1"}, "owner"), ({"country": "Germany"}, "country"),
    ({"source": "pigeon"}, "source"), ({"team": "x"}, "team"),
])
def test_bad_params_are_422_naming_the_param(api_for, rep, query, field):
    response = api_for(rep).get("/api/v1/reports/funnel", query)
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_api_funnel(history, api_for, rep, finance):
    response = api_for(rep).get("/api/v1/reports/funnel", {**RANGE, "by": "source"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["date_from"] == "2026-01-01" and body["by"] == "source"
    assert [s["count"] for s in body["total"]] == [6, 5, 3, 2, 2, 2, 1]
    assert body["total"][1]["from_previous"] == "83.3"
    assert {r["key"]: r["steps"][0]["count"] for r in body["rows"]} == {"web_form": 3, "referral": 3}
    # finance sees no leads: the report is not theirs
    assert api_for(finance).get("/api/v1/reports/funnel", RANGE).status_code == 403


def test_api_needs_authentication(db):
    assert Client().get("/api/v1/reports/funnel").status_code == 401


def test_funnel_page_and_exports(history, rep, finance):
    client = client_for(rep)
    response = client.get("/reports/funnel/", {**RANGE, "by": "source"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "Quote sent" in html and "66.7" in html and "Referral" in html
    assert "<th>Source</th>" in html
    csv = b"".join(client.get("/reports/funnel/export/", {**RANGE, "format": "csv"}).streaming_content) \
        .decode("utf-8-sig").splitlines()
    assert csv[0] == "Segment,Step,Leads,% of previous step,% of leads"
    assert csv[1:] == ["All leads,Leads,6,,100.0", "All leads,Qualified,5,83.3,83.3",
                       "All leads,Opportunity,3,60.0,50.0", "All leads,Quote sent,2,66.7,33.3",
                       "All leads,Won,2,100.0,33.3", "All leads,Invoiced,2,100.0,33.3", "All leads,Paid,1,50.0,16.7"]
    xlsx = client.get("/reports/funnel/export/", {**RANGE, "format": "xlsx", "by": "country"})
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Segment", "Step", "Leads", "% of previous step", "% of leads")
    assert len(rows) == 1 + 2 * 7 and {r[0] for r in rows[1:]} == {"US", "DE"}
    # bad params: the page shows the error; the export refuses with 400
    page = client.get("/reports/funnel/", {"date_from": "nope"})
    assert page.status_code == 200 and "date_from" in page.content.decode()
    assert client.get("/reports/funnel/export/", {"date_from": "nope", "format": "csv"}).status_code == 400
    # finance may not open it; anonymous is sent to log in
    assert client_for(finance).get("/reports/funnel/").status_code == 403
    assert Client().get("/reports/funnel/").status_code == 302


def test_reports_index_and_nav(rep, finance, outsider):
    html = client_for(rep).get("/reports/").content.decode()
    assert 'href="/reports/funnel/"' in html and 'href="/reports/attribution/"' in html
    assert 'href="/reports/cycle-time/"' in html
    assert 'href="/reports/" aria-current="page">Reports</a>' in html  # the main nav marks the section
    assert 'href="/reports/bottlenecks/"' in html and 'href="/reports/forecast/"' in html
    assert 'href="/reports/performance/"' in html
    finance_html = client_for(finance).get("/reports/").content.decode()
    assert 'href="/reports/funnel/"' not in finance_html and 'href="/reports/ar-aging/"' in finance_html


def test_lead_created_at_bounds_use_the_local_day(rep, settings):
    # a lead created at 23:30 local time on the last day counts; one a minute past midnight does not
    lead_on(dt.date(2026, 3, 31), owner=rep)
    late = lead_on(dt.date(2026, 3, 31), owner=rep)
    Lead.objects.filter(pk=late.pk).update(created_at=at(dt.date(2026, 4, 1), 0) + dt.timedelta(minutes=1))
    assert report.funnel(user=rep, params=report.parse_params(RANGE))["total"][0]["count"] == 1
    assert timezone.is_aware(at(dt.date(2026, 3, 31)))


def test_reports_run_a_fixed_number_of_queries(history, admin_user, django_assert_max_num_queries):
    # grouped aggregates in the database: the query count does not grow with the number of leads
    from l2c.analytics import attribution, cycle_time
    from l2c.analytics.leadflow import ensure_current

    ensure_current()
    with django_assert_max_num_queries(3):  # the flow summary is current: nothing stale, no new lead
        ensure_current()
    params = report.parse_params({**RANGE, "by": "campaign"})
    with django_assert_max_num_queries(3 + 3):
        report.funnel(user=admin_user, params=params)
    with django_assert_max_num_queries(3 + 3):
        cycle_time.cycle_time(user=admin_user, params=params)
    with django_assert_max_num_queries(3 + 12):
        attribution.attribution(user=admin_user, params=report.parse_params(RANGE))
