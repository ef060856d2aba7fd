"""Sales performance per rep and team: win rate, average deal, sales cycle and quota attainment on a small
generated history, as each role may see it; the API, the page and its download."""
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client

from l2c.analytics.performance import sales_performance
from l2c.identity.models import Quota
from l2c.pipeline.models import Opportunity
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db

FROM, TO = dt.date(2026, 1, 1), dt.date(2026, 3, 31)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def deal(owner, *, won: bool, created: dt.date, closed: dt.date, amount: str = "1000.00", currency: str = "USD"):
    stage = stage_named("Closed Won" if won else "Closed Lost")
    opportunity = OpportunityFactory(owner=owner, stage=stage, amount=Decimal(amount), currency=currency,
                                     stage_entered_at=at(closed), closed_at=at(closed))
    Opportunity.objects.filter(pk=opportunity.pk).update(created_at=at(created))  # created_at is auto_now_add
    return opportunity


@pytest.fixture
def history(rep, rep2, outsider, team, other_team, admin_user):
    # rep: won 1000 USD in 10 days, 3000 USD in 20 days, 500 EUR in 6 days; lost one; a win before the range
    deal(rep, won=True, created=dt.date(2026, 1, 1), closed=dt.date(2026, 1, 11), amount="1000.00")
    deal(rep, won=True, created=dt.date(2026, 1, 5), closed=dt.date(2026, 1, 25), amount="3000.00")
    deal(rep, won=True, created=dt.date(2026, 2, 1), closed=dt.date(2026, 2, 7), amount="500.00", currency="EUR")
    deal(rep, won=False, created=dt.date(2026, 1, 1), closed=dt.date(2026, 3, 1))
    deal(rep, won=True, created=dt.date(2025, 11, 1), closed=dt.date(2025, 12, 20), amount="9999.00")
    # rep2: won 2000 USD in 30 days, lost one
    deal(rep2, won=True, created=dt.date(2026, 3, 1), closed=dt.date(2026, 3, 31), amount="2000.00")
    deal(rep2, won=False, created=dt.date(2026, 1, 1), closed=dt.date(2026, 1, 15))
    # the other team's rep: won 700 USD in 4 days
    deal(outsider, won=True, created=dt.date(2026, 2, 1), closed=dt.date(2026, 2, 5), amount="700.00")
    # an open deal counts nowhere
    OpportunityFactory(owner=rep, amount=Decimal("123456.00"))
    # quotas: rep the quarter; rep2 half a year (90 of 181 days in the range); the other team its own
    Quota.objects.create(user=rep, period_start=FROM, period_end=TO, amount=Decimal("8000.00"), currency="USD")
    Quota.objects.create(user=rep2, period_start=FROM, period_end=dt.date(2026, 6, 30), amount=Decimal("18100.00"),
                         currency="USD")
    Quota.objects.create(team=other_team, period_start=FROM, period_end=TO, amount=Decimal("1400.00"),
                         currency="USD")
    Quota.objects.create(user=rep, period_start=dt.date(2026, 4, 1), period_end=dt.date(2026, 6, 30),
                         amount=Decimal("99999.00"), currency="USD")  # the next quarter: not in the range


def _money(row, currency):
    return next(m for m in row["money"] if m["currency"] == currency)


def test_rep_sees_only_their_own_row(rep, history):
    report = sales_performance(user=rep, date_from=FROM, date_to=TO)
    assert report["teams"] == []
    [row] = report["reps"]
    assert (row["name"], row["closed"], row["won"], row["lost"]) == ("Rep", 4, 3, 1)
    assert row["win_rate_percent"] == Decimal("75.0")
    assert row["cycle_median_days"] == Decimal("10.0")  # 6, 10, 20
    assert _money(row, "USD") == {"currency": "USD", "won_amount": Decimal("4000.00"), "won_count": 2,
                                  "average_deal": Decimal("2000.00"), "quota": Decimal("8000.00"),
                                  "attainment_percent": Decimal("50.0")}
    assert _money(row, "EUR") == {"currency": "EUR", "won_amount": Decimal("500.00"), "won_count": 1,
                                  "average_deal": Decimal("500.00"), "quota": None, "attainment_percent": None}


def test_manager_sees_team_reps_and_the_team(manager, history):
    report = sales_performance(user=manager, date_from=FROM, date_to=TO)
    assert [row["name"] for row in report["reps"]] == ["Rep", "Rep2"]
    rep2 = report["reps"][1]
    assert (rep2["closed"], rep2["won"], rep2["win_rate_percent"], rep2["cycle_median_days"]) == (
        2, 1, Decimal("50.0"), Decimal("30.0"))
    # a half-year quota of 18,100 counts 90/181 in the quarter: 9,000
    assert _money(rep2, "USD")["quota"] == Decimal("9000.00")
    assert _money(rep2, "USD")["attainment_percent"] == Decimal("22.2")
    [team] = report["teams"]
    assert (team["name"], team["closed"], team["won"], team["lost"]) == ("East", 6, 4, 2)
    assert team["win_rate_percent"] == Decimal("66.7")
    assert team["cycle_median_days"] == Decimal("15.0")  # 6, 10, 20, 30
    usd = _money(team, "USD")
    # no team quota: the members' 8,000 + 9,000
    assert (usd["won_amount"], usd["won_count"], usd["average_deal"], usd["quota"], usd["attainment_percent"]) == (
        Decimal("6000.00"), 3, Decimal("2000.00"), Decimal("17000.00"), Decimal("35.3"))


def test_admin_sees_every_team_with_its_own_quota(admin_user, history):
    report = sales_performance(user=admin_user, date_from=FROM, date_to=TO)
    assert [row["name"] for row in report["reps"]] == ["Rep", "Rep2", "Outsider"]
    west = next(row for row in report["teams"] if row["name"] == "West")
    assert _money(west, "USD")["quota"] == Decimal("1400.00")
    assert _money(west, "USD")["attainment_percent"] == Decimal("50.0")
    assert west["cycle_median_days"] == Decimal("4.0")


def test_finance_and_an_outsider_see_nothing_of_the_team(finance, outsider, history):
    assert sales_performance(user=finance, date_from=FROM, date_to=TO) == {
        "date_from": FROM, "date_to": TO, "reps": [], "teams": []}
    report = sales_performance(user=outsider, date_from=FROM, date_to=TO)
    assert [row["name"] for row in report["reps"]] == ["Outsider"] and report["teams"] == []


def test_a_range_without_deals_or_quotas_is_empty(rep, history):
    report = sales_performance(user=rep, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 3, 31))
    assert report["reps"] == []


def test_api_performance(api_for, manager, history):
    response = api_for(manager).get("/api/v1/reports/performance", {"date_from": "2026-01-01",
                                                                   "date_to": "2026-03-31"})
    assert response.status_code == 200, response.content
    body = response.json()
    team = body["teams"][0]
    assert team["win_rate_percent"] == "66.7" and [m["currency"] for m in team["money"]] == ["EUR", "USD"]
    assert team["money"][1]["attainment_percent"] == "35.3" and team["money"][1]["quota"] == "17000.00"
    bad = api_for(manager).get("/api/v1/reports/performance", {"date_to": "31/03/2026"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "date_to"


def test_page_renders_and_downloads(manager, history, django_assert_max_num_queries):
    client = client_for(manager)
    with django_assert_max_num_queries(15):
        response = client.get("/reports/performance/", {"date_from": "2026-01-01", "date_to": "2026-03-31"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sales performance" in html and "<svg" in html and "66.7" in html and "17000.00 USD" in html
    export = client.get("/reports/performance/export/",
                        {"date_from": "2026-01-01", "date_to": "2026-03-31", "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Rep or team", "Name", "Team"]
    assert ["Team", "East", "East", "6", "4", "2", "66.7", "15.0", "USD", "6000.00", "2000.00", "17000.00",
            "35.3"] in rows
    assert ["Rep", "Rep", "East", "4", "3", "1", "75.0", "10.0", "EUR", "500.00", "500.00", "", ""] in rows
    assert not any("Outsider" in r for r in rows)
    bad = client.get("/reports/performance/export/", {"date_from": "x", "format": "csv"})
    assert bad.status_code == 400
