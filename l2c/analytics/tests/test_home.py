import datetime as dt
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from l2c.pipeline.tests.factories import AccountFactory, ActivityFactory, OpportunityFactory, stage_named


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_home_shows_my_tasks_and_my_pipeline(rep, rep2, django_assert_max_num_queries):
    # given an overdue task, a future task and open deals of mine and a colleague's
    account = AccountFactory(owner=rep)
    ActivityFactory(owner=rep, account=account, subject="Overdue call", due_at=timezone.now() - dt.timedelta(days=1))
    ActivityFactory(owner=rep, account=account, subject="Next week", due_at=timezone.now() + dt.timedelta(days=7))
    OpportunityFactory(owner=rep, amount=Decimal("1000.00"))
    OpportunityFactory(owner=rep, amount=Decimal("500.00"), stage=stage_named("Negotiation"))
    OpportunityFactory(owner=rep2, amount=Decimal("99999.00"))
    client = client_for(rep)
    with django_assert_max_num_queries(15):
        response = client.get("/")
    html = response.content.decode()
    # then my tasks list the overdue one only, and my pipeline counts only my deals
    assert response.status_code == 200
    assert "My tasks: today and overdue" in html and "Overdue call" in html and "Next week" not in html
    assert "My pipeline" in html and "1,500.00 USD" in html and "99,999.00" not in html
    # weighted: 1000 × 10% + 500 × 75%
    assert "475.00 USD" in html


def test_manager_sees_the_team_pipeline(manager, rep, outsider):
    OpportunityFactory(owner=rep, amount=Decimal("1000.00"))
    OpportunityFactory(owner=outsider, amount=Decimal("7777.00"))
    html = client_for(manager).get("/").content.decode()
    assert "Team pipeline" in html and "1,000.00 USD" in html and "7,777.00" not in html


def test_won_this_month(rep):
    from l2c.pipeline import services

    opp = OpportunityFactory(owner=rep, amount=Decimal("321.00"))
    services.opportunity_move(opportunity=opp, stage=stage_named("Closed Won"), actor=rep)
    html = client_for(rep).get("/").content.decode()
    assert "Won this month" in html and "321.00 USD" in html


def test_finance_home_has_no_pipeline(finance):
    response = client_for(finance).get("/")
    assert response.status_code == 200 and "My pipeline" not in response.content.decode()


def test_anonymous_home_redirects_to_login(db):
    response = Client().get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
