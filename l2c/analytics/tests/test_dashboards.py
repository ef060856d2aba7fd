"""Home dashboards per role: exact figures on small data for a rep, a manager, finance and an admin, each counting
only what the user may see; the page and the API showing the same numbers; a few queries per section."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from l2c.analytics import dashboards, forecast
from l2c.billing import services as billing
from l2c.billing.reversals import payment_reverse
from l2c.billing.tests.factories import make_contract
from l2c.identity.models import Quota
from l2c.leads.choices import LeadStatus
from l2c.leads.tests.factories import LeadFactory
from l2c.pipeline import services as pipeline
from l2c.pipeline.tests.factories import ActivityFactory, OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = dt.date(2026, 3, 15)  # the finance figures' day


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def _win(opportunity, actor):
    pipeline.opportunity_move(opportunity=opportunity, stage=stage_named("Closed Won"), actor=actor)


def _lose(opportunity, actor):
    pipeline.opportunity_move(opportunity=opportunity, stage=stage_named("Closed Lost"), actor=actor,
                              fields={"lost_reason": "price"})


# --- sales --------------------------------------------------------------------------------------------------

@pytest.fixture
def sales_data(rep, rep2, outsider):
    """rep: two open deals (1,000 at 10 %, 500 at 75 %), one won (300) and one lost this quarter, a quota of
    1,200 for the quarter, an overdue task and a future one, and leads of every kind; rep2 and outsider: bigger
    numbers that a rep must never count."""
    now = timezone.now()
    account = OpportunityFactory(owner=rep, name="Open small", amount=D("1000.00")).account
    OpportunityFactory(owner=rep, name="Open big", amount=D("500.00"), stage=stage_named("Negotiation"))
    _win(OpportunityFactory(owner=rep, amount=D("300.00")), rep)
    _lose(OpportunityFactory(owner=rep, amount=D("40.00")), rep)
    OpportunityFactory(owner=rep2, amount=D("99999.00"))
    _win(OpportunityFactory(owner=rep2, amount=D("7777.00")), rep2)
    OpportunityFactory(owner=outsider, amount=D("55555.00"))
    start, end = dashboards.quarter_of(timezone.localdate())
    Quota.objects.create(user=rep, period_start=start, period_end=end, amount=D("1200.00"), currency="USD")
    Quota.objects.create(user=rep2, period_start=start, period_end=end, amount=D("9000.00"), currency="USD")
    ActivityFactory(owner=rep, account=account, subject="Overdue call", due_at=now - dt.timedelta(days=1))
    ActivityFactory(owner=rep, account=account, subject="Next week", due_at=now + dt.timedelta(days=7))
    ActivityFactory(owner=rep2, subject="Colleague's call", due_at=now - dt.timedelta(days=1))
    hot = LeadFactory(owner=rep, first_name="Hana", last_name="Hot", score=90, status=LeadStatus.WORKING)
    LeadFactory(owner=rep, first_name="Wes", last_name="Warm", score=70)
    LeadFactory(owner=rep, first_name="Cy", last_name="Converted", score=99, status=LeadStatus.CONVERTED)
    LeadFactory(owner=rep, first_name="Di", last_name="Disqualified", score=98, status=LeadStatus.DISQUALIFIED)
    LeadFactory(owner=rep, first_name="Mo", last_name="Merged", score=97, merged_into=hot)
    LeadFactory(owner=rep, first_name="Una", last_name="Unscored", score=None)
    LeadFactory(owner=rep2, first_name="Rita", last_name="Colleague", score=96)
    LeadFactory(owner=None, first_name="Nora", last_name="Nobody", score=95)
    LeadFactory(owner=outsider, first_name="Otto", last_name="Outside", score=94)
    return {"hot": hot}


def test_rep_dashboard_counts_only_the_reps_own_records(rep, sales_data):
    board = dashboards.dashboard(user=rep)
    assert board["sections"] == ["sales"] and board["team"] is None and board["finance"] is None
    sales = board["sales"]
    assert sales["scope"] == "mine"
    assert [t["subject"] for t in sales["tasks"]["items"]] == ["Overdue call"]
    assert sales["tasks"]["overdue_count"] == 1 and sales["tasks"]["more"] is False
    assert sales["tasks"]["items"][0]["target"]["kind"] == "account"
    summary = sales["pipeline"]
    assert (summary["open_count"], summary["open_totals"], summary["weighted_totals"]) == (
        2, {"USD": D("1500.00")}, {"USD": D("475.00")})  # 1000 × 10 % + 500 × 75 %
    assert (summary["won_count"], summary["won_totals"]) == (1, {"USD": D("300.00")})
    stages = {row["name"]: (row["count"], row["totals"]) for row in summary["stages"]}
    assert stages["Prospecting"] == (1, {"USD": D("1000.00")}) and stages["Negotiation"] == (1, {"USD": D("500.00")})
    assert [(lead["name"], lead["score"], lead["grade"]) for lead in sales["hot_leads"]] == [
        ("Hana Hot", 90, "A"), ("Wes Warm", 70, "B")]
    assert sales["hot_leads"][0]["url"] == f"/leads/{sales_data['hot'].pk}/"
    quarter = sales["quarter"]
    assert (quarter["won"], quarter["lost"], quarter["win_rate_percent"]) == (1, 1, D("50.0"))
    assert quarter["money"] == [{"currency": "USD", "won_amount": D("300.00"), "won_count": 1,
                                 "quota": D("1200.00"), "attainment_percent": D("25.0")}]


def test_rep_page_shows_the_sections_of_a_rep_only(rep, sales_data):
    html = client_for(rep).get("/").content.decode()
    assert "My pipeline" in html and "1,500.00 USD" in html and "475.00 USD" in html
    assert "My hot leads" in html and f'href="/leads/{sales_data["hot"].pk}/"' in html and "Hana Hot" in html
    assert "Rita Colleague" not in html and "Nora Nobody" not in html and "Cy Converted" not in html
    assert "My numbers this quarter" in html and "1,200.00 USD" in html and "25.0 %" in html
    assert "99,999.00" not in html and "7,777.00" not in html
    assert "Team forecast" not in html and "Stuck deals" not in html
    assert "Open receivables" not in html and "Deferred revenue" not in html


def test_a_rep_without_data_sees_empty_sections(rep):
    sales = dashboards.sales_section(user=rep)
    assert sales["tasks"]["items"] == [] and sales["hot_leads"] == [] and sales["pipeline"]["open_count"] == 0
    assert sales["quarter"]["money"] == [] and sales["quarter"]["win_rate_percent"] is None
    html = client_for(rep).get("/").content.decode()
    assert "No scored open leads." in html and "Nothing won and no quota this quarter yet." in html


# --- manager ------------------------------------------------------------------------------------------------

@pytest.fixture
def team_data(rep, rep2, outsider, manager):
    """This month: rep commits 1,000 (40 %), rep2 commits 3,000 (50 %); next month rep2 has 2,000 best case
    (20 %). The manager overrides rep's commit to 1,500. Three deals are stuck past the stages' default norms
    (Prospecting 14 days, Proposal and Negotiation 21); the outsider's deals are not the team's."""
    now = timezone.now()
    this_month = timezone.localdate().replace(day=1)
    next_month = forecast.add_months(this_month, 1)
    OpportunityFactory(owner=rep, amount=D("1000.00"), probability=40, forecast_category="commit",
                       expected_close_date=this_month)
    OpportunityFactory(owner=rep2, amount=D("3000.00"), probability=50, forecast_category="commit",
                       expected_close_date=this_month)
    OpportunityFactory(owner=rep2, amount=D("2000.00"), probability=20, forecast_category="best_case",
                       expected_close_date=next_month)
    OpportunityFactory(owner=outsider, amount=D("50000.00"), probability=90, forecast_category="commit",
                       expected_close_date=this_month)
    forecast.override_create(actor=manager, owner=rep.pk, month=this_month, category="commit", amount="1500.00",
                             note="signs early")
    # days over the norm: 36 − 14 = 22, 40 − 21 = 19 (the longest in its stage, not the most over), 30 − 21 = 9
    OpportunityFactory(owner=rep, name="Long prospect", amount=D("10.00"), stage_entered_at=now - dt.timedelta(days=36))
    OpportunityFactory(owner=rep2, name="Old proposal", amount=D("20.00"), stage=stage_named("Proposal"),
                       stage_entered_at=now - dt.timedelta(days=40))
    OpportunityFactory(owner=rep, name="Slow negotiation", amount=D("30.00"), stage=stage_named("Negotiation"),
                       stage_entered_at=now - dt.timedelta(days=30))
    OpportunityFactory(owner=rep, name="Fresh prospect", amount=D("40.00"), stage_entered_at=now - dt.timedelta(days=3))
    OpportunityFactory(owner=outsider, name="Outside ancient", amount=D("50.00"),
                       stage_entered_at=now - dt.timedelta(days=300))
    return {"now": now, "this_month": this_month, "next_month": next_month}


def test_manager_dashboard_team_forecast_and_stuck_deals(manager, rep, team_data):
    board = dashboards.dashboard(user=manager, now=team_data["now"])
    assert board["sections"] == ["sales", "team"] and board["finance"] is None
    assert board["sales"]["scope"] == "team"
    # the team's open pipeline: 1,000 + 3,000 + 2,000 + 10 + 20 + 30 + 40, never the outsider's
    assert board["sales"]["pipeline"]["open_count"] == 7
    assert board["sales"]["pipeline"]["open_totals"] == {"USD": D("6100.00")}
    this, following = board["team"]["forecast"]["months"]
    assert (this["month"], this["commit"], this["commit_computed"], this["best_case"], this["weighted"],
            this["commit_forecast"], this["overridden"]) == (
        team_data["this_month"], D("4500.00"), D("4000.00"), D("0.00"), D("1900.00"), D("4500.00"), True)
    assert (following["month"], following["best_case"], following["commit"], following["weighted"],
            following["best_case_forecast"], following["overridden"]) == (
        team_data["next_month"], D("2000.00"), D("0.00"), D("400.00"), D("2000.00"), False)
    assert board["team"]["forecast"]["overrides"] == [{
        "month": team_data["this_month"], "category": "commit", "category_label": "Commit", "owner": "Rep", "team": "",
        "computed": D("1000.00"), "override": D("1500.00"), "note": "signs early"}]
    stuck = board["team"]["stuck"]
    assert stuck["count"] == 3
    assert [(d["name"], d["stage"], d["days_in_stage"], d["days_over"]) for d in stuck["deals"]] == [
        ("Long prospect", "Prospecting", 36, D("22.0")), ("Old proposal", "Proposal", 40, D("19.0")),
        ("Slow negotiation", "Negotiation", 30, D("9.0"))]
    assert stuck["deals"][0]["url"] == f"/opportunities/{stuck['deals'][0]['id']}/"


def test_a_rep_sees_no_team_section_and_the_stuck_list_is_capped(rep, team_data):
    assert dashboards.section_names(rep) == ["sales"]
    # the rep's own stuck deals only (the function is the same for every role)
    mine = dashboards.stuck_deals(user=rep, now=team_data["now"], today=timezone.localdate(), limit=1)
    assert mine["count"] == 2 and [d["name"] for d in mine["deals"]] == ["Long prospect"]


def test_a_stage_without_expected_days_takes_the_p75_of_recent_stays_as_its_norm(rep):
    from l2c.analytics.tests.test_bottlenecks import _closed_with_prospecting_stay

    prospecting = stage_named("Prospecting")
    prospecting.expected_days = None
    prospecting.save()
    now = timezone.now()
    # stays that ended in the last 90 days: 2, 4, 6, 10 days → p75 = 7.0 days (the bottleneck report's norm)
    for days in (2, 4, 6, 10):
        _closed_with_prospecting_stay(rep, now - dt.timedelta(days=30), days)
    OpportunityFactory(owner=rep, name="Nine days", stage_entered_at=now - dt.timedelta(days=9))
    OpportunityFactory(owner=rep, name="Five days", stage_entered_at=now - dt.timedelta(days=5))
    stuck = dashboards.stuck_deals(user=rep, now=now, today=timezone.localdate(now))
    assert stuck["count"] == 1
    assert [(d["name"], d["norm_days"], d["days_over"]) for d in stuck["deals"]] == [("Nine days", D("7.0"), D("2.0"))]


def test_manager_page_shows_forecast_and_stuck_deals(manager, team_data):
    html = client_for(manager).get("/").content.decode()
    assert "Team pipeline" in html and "Team forecast" in html and "Stuck deals" in html
    assert "4,500.00 USD" in html and "computed 4,000.00 USD" in html and "signs early" in html
    assert "Long prospect" in html and "Outside ancient" not in html and "50,000.00" not in html
    assert 'href="/reports/forecast/"' in html and "Open receivables" not in html


# --- finance ------------------------------------------------------------------------------------------------

def _post(finance, contract, issue_date):
    return billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=issue_date))


@pytest.fixture
def finance_data(finance, rep, outsider):
    """On 15 Mar 2026: invoice A (issued 20 Jan, due 19 Feb, 1,380) paid 380 on 10 Feb; invoice B (issued 1 Mar,
    1,380) paid 200 on 10 Mar, and 50 more on 12 Mar that was reversed; invoice C issued after the day (20 Mar).
    Net 1,150 of each invoice goes to deferred revenue when it is posted."""
    a = _post(finance, make_contract(owner=rep, start=dt.date(2026, 1, 20)), dt.date(2026, 1, 20))
    b = _post(finance, make_contract(owner=outsider, start=dt.date(2026, 3, 1)), dt.date(2026, 3, 1))
    _post(finance, make_contract(owner=rep, start=dt.date(2026, 3, 20)), dt.date(2026, 3, 20))
    billing.payment_record(actor=finance, account=a.account, date=dt.date(2026, 2, 10), method="card", currency="USD",
                           amount=D("380"), allocations=[(a, D("380"))])
    billing.payment_record(actor=finance, account=b.account, date=dt.date(2026, 3, 10), method="card", currency="USD",
                           amount=D("200"), allocations=[(b, D("200"))])
    bounced = billing.payment_record(actor=finance, account=b.account, date=dt.date(2026, 3, 12), method="card",
                                     currency="USD", amount=D("50"), allocations=[(b, D("50"))])
    payment_reverse(actor=finance, payment=bounced, reason="bounced", date=dt.date(2026, 3, 13))


def test_finance_dashboard_receivables_cash_and_deferred_revenue(finance, finance_data):
    board = dashboards.dashboard(user=finance, today=TODAY)
    assert board["sections"] == ["finance"] and board["sales"] is None and board["team"] is None
    ar = board["finance"]["receivables"]
    assert ar["currencies"] == [{
        "currency": "USD", "total": D("2180.00"), "overdue": D("1000.00"), "customers": 2,
        "buckets": {"current": D("1180.00"), "days_1_30": D("1000.00"), "days_31_60": D("0.00"),
                    "days_61_90": D("0.00"), "over_90": D("0.00")}}]
    cash = board["finance"]["cash"]
    assert (cash["this_month"], cash["this_month_count"], cash["last_month"], cash["last_30_days"]) == (
        D("200.00"), 1, D("380.00"), D("200.00"))
    assert cash["since"] == dt.date(2026, 2, 14) and cash["currency"] == "USD"
    deferred = board["finance"]["deferred_revenue"]
    assert (deferred["balance"], deferred["as_of"]) == (D("2300.00"), TODAY)
    # the day after C was posted, its net is deferred too
    assert dashboards.deferred_revenue(user=finance, today=dt.date(2026, 3, 20))["balance"] == D("3450.00")


def test_finance_page_has_no_sales_sections(finance, finance_data):
    html = client_for(finance).get("/").content.decode()
    assert "Open receivables" in html and "Cash received this month" in html and "Deferred revenue" in html
    assert 'href="/reports/ar-aging/"' in html and 'href="/payments/"' in html and 'href="/revenue/"' in html
    assert "My pipeline" not in html and "My tasks" not in html and "hot leads" not in html
    assert "Team forecast" not in html and "Stuck deals" not in html


def test_admin_sees_every_section(admin_user, finance, finance_data, team_data):
    board = dashboards.dashboard(user=admin_user, today=TODAY, now=team_data["now"])
    assert board["sections"] == ["sales", "team", "finance"]
    assert board["finance"] == dashboards.finance_section(user=finance, today=TODAY)
    # everyone's deals: the outsider's ancient one is stuck too
    assert board["team"]["stuck"]["count"] == 4 and board["team"]["stuck"]["deals"][0]["name"] == "Outside ancient"
    html = client_for(admin_user).get("/").content.decode()
    assert "Team pipeline" in html and "Team forecast" in html and "Open receivables" in html


# --- API ----------------------------------------------------------------------------------------------------

def test_api_returns_the_same_numbers(api_for, rep, manager, finance, sales_data, team_data, finance_data):
    body = api_for(rep).get("/api/v1/reports/dashboard").json()
    assert body["sections"] == ["sales"] and body["team"] is None and body["finance"] is None
    direct = dashboards.sales_section(user=rep)
    assert body["sales"]["pipeline"]["open_totals"] == {"USD": str(direct["pipeline"]["open_totals"]["USD"])}
    assert [lead["name"] for lead in body["sales"]["hot_leads"]] == ["Hana Hot", "Wes Warm"]
    assert body["sales"]["quarter"]["money"] == [{"currency": "USD", "won_amount": "300.00", "won_count": 1,
                                                  "quota": "1200.00", "attainment_percent": "25.0"}]
    team = api_for(manager).get("/api/v1/reports/dashboard").json()
    assert team["sections"] == ["sales", "team"]
    assert team["team"]["forecast"]["months"][0]["commit"] == "4500.00"
    assert [d["name"] for d in team["team"]["stuck"]["deals"]] == ["Long prospect", "Old proposal",
                                                                   "Slow negotiation"]
    books = api_for(finance).get("/api/v1/reports/dashboard").json()
    assert books["sections"] == ["finance"] and books["sales"] is None
    today = dashboards.finance_section(user=finance)  # the API reads as of today: the same figures
    assert books["finance"]["receivables"]["currencies"][0]["total"] == str(today["receivables"]["currencies"][0]
                                                                            ["total"])
    assert books["finance"]["deferred_revenue"]["balance"] == str(today["deferred_revenue"]["balance"]) == "3450.00"


def test_anonymous_gets_401_and_the_login_page(client):
    assert client.get("/api/v1/reports/dashboard").status_code == 401
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- cost ---------------------------------------------------------------------------------------------------

def test_each_section_takes_a_few_queries(rep, manager, admin_user, finance, sales_data, team_data, finance_data,
                                          django_assert_num_queries):
    # tasks 1, pipeline summary 5, hot leads 1, my quarter 2: whatever the number of rows
    with django_assert_num_queries(9):
        dashboards.sales_section(user=rep)
    with django_assert_num_queries(9):
        dashboards.sales_section(user=manager)
    # forecast 7 (company currency, open and won groups, overrides 2, owners, teams), stuck 4 (stages, count,
    # top ids, their rows); the dashboard leaves out the forecast's contracted revenue, for an admin too
    with django_assert_num_queries(11):
        dashboards.team_section(user=manager)
    with django_assert_num_queries(11):
        dashboards.team_section(user=admin_user)
    # company currency 1, AR totals 6 (what changed since the day: 4; the book grouped in the database: totals and
    # customers), cash 1, deferred revenue 3
    with django_assert_num_queries(11):
        dashboards.finance_section(user=finance, today=TODAY)
