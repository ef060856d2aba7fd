"""Pipeline pages at scale: the opportunity list, the board and an opportunity's page answer with a
number of SQL queries that does not grow with the number of records, and cap what they show."""
import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from l2c.pipeline import selectors
from l2c.pipeline.models import StageHistory

from .factories import ActivityFactory, OpportunityFactory


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def _deals(n, stages, owner, currency="USD"):
    """n deals spread over the open stages and one recently won, with accounts, contacts and owners."""
    open_stages = [s for s in stages.values() if not s.is_closed]
    won = stages["Closed Won"]
    deals = []
    for i in range(n):
        if i % 5 == 4:
            deals.append(OpportunityFactory(owner=owner, stage=won, closed_at=timezone.now() - dt.timedelta(days=1),
                                            currency=currency))
        else:
            deals.append(OpportunityFactory(owner=owner, stage=open_stages[i % len(open_stages)], currency=currency))
    return deals


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
@pytest.mark.parametrize("url", ["/opportunities/", "/opportunities/?status=open&ordering=-amount", "/pipeline/"])
def test_list_and_board_query_count_does_not_grow(client, settings, request, stages, rep, who, url):
    # given: page size 50; 5 deals, then 50
    settings.L2C_PAGE_SIZE = 50
    client.force_login(request.getfixturevalue(who))
    _deals(5, stages, rep)
    with_5, html_5 = _queries(client, url)
    _deals(45, stages, rep, currency="EUR")
    # when
    with_50, html_50 = _queries(client, url)
    # then: ten times the cards or rows on the page, the same number of queries
    shown_5 = len(re.findall(r'href="/opportunities/\d+/"', html_5))
    shown_50 = len(re.findall(r'href="/opportunities/\d+/"', html_50))
    assert shown_5 >= 4 and shown_50 >= 40
    assert with_5 == with_50


def test_board_caps_cards_and_counts_and_sums_in_sql(client, stages, rep, admin_user, monkeypatch):
    # given: 7 open deals in Prospecting, a deal closed long ago (not on the board)
    monkeypatch.setattr(selectors, "BOARD_CARDS_PER_COLUMN", 3)
    prospecting = stages["Prospecting"]
    for i in range(7):
        OpportunityFactory(owner=rep, stage=prospecting, amount=Decimal(1000 + i))
    OpportunityFactory(owner=rep, stage=stages["Closed Won"], closed_at=timezone.now() - dt.timedelta(days=400))
    # when
    columns = {c.stage.name: c for c in selectors.board(user=admin_user)}
    # then: three cards, the biggest first; count and sum over all seven
    column = columns["Prospecting"]
    assert [c.amount for c in column.cards] == [Decimal(1006), Decimal(1005), Decimal(1004)]
    assert column.count == 7 and column.more == 4
    assert column.totals == [("USD", Decimal(7021))]
    assert columns["Closed Won"].count == 0
    client.force_login(admin_user)
    assert "+ 4 more" in client.get("/pipeline/").content.decode()


@pytest.mark.parametrize("who", ["rep", "admin_user"])
def test_opportunity_page_query_count_does_not_grow_with_activities_and_history(client, request, stages, rep, who):
    # given: a deal with 5 activities and 5 stays, then one with 60 of each
    client.force_login(request.getfixturevalue(who))

    def busy_deal(n):
        deal = OpportunityFactory(owner=rep)
        start = timezone.now() - dt.timedelta(days=n + 1)
        for i in range(n):
            ActivityFactory(opportunity=deal, owner=rep, done_at=timezone.now() if i % 2 else None)
            StageHistory.objects.create(opportunity=deal, stage=stages["Qualification"],
                                        entered_at=start + dt.timedelta(days=i), probability=20)
        return deal

    small, big = busy_deal(5), busy_deal(60)
    # when
    page_small, html_small = _queries(client, f"/opportunities/{small.pk}/")
    page_big, html_big = _queries(client, f"/opportunities/{big.pk}/")
    panel_small, panel_html_small = _queries(client, f"/activities/panel/?opportunity={small.pk}")
    panel_big, panel_html_big = _queries(client, f"/activities/panel/?opportunity={big.pk}")
    # then: the same queries; the big deal shows the latest 50 stays and a bounded list of activities
    assert page_small == page_big and panel_small == panel_big
    assert "Show the whole history" not in html_small and "Show the whole history" in html_big
    assert html_big.count('<td class="num">') == 50
    assert "Show all activities" not in panel_html_small and "Show all activities" in panel_html_big
    shown = len(re.findall(r'<li class="activity[ "]', panel_html_big))
    assert shown == 2 * min(30, selectors.ACTIVITIES_SHOWN)  # 30 open and 30 done, at most ACTIVITIES_SHOWN each
    # the whole history on request
    full = client.get(f"/opportunities/{big.pk}/?history=all").content.decode()
    assert full.count('<td class="num">') == 61


def test_activities_for_orders_open_first_then_latest_done(stages, rep):
    deal = OpportunityFactory(owner=rep)
    now = timezone.now()
    later = ActivityFactory(opportunity=deal, owner=rep, due_at=now + dt.timedelta(days=2))
    sooner = ActivityFactory(opportunity=deal, owner=rep, due_at=now + dt.timedelta(days=1))
    old_done = ActivityFactory(opportunity=deal, owner=rep, done_at=now - dt.timedelta(days=3))
    new_done = ActivityFactory(opportunity=deal, owner=rep, done_at=now - dt.timedelta(days=1))
    everything = selectors.activities_for(user=rep, target="opportunity", pk=deal.pk)
    assert list(everything) == [sooner, later, new_done, old_done] and not everything.more
    limited = selectors.activities_for(user=rep, target="opportunity", pk=deal.pk, limit=1)
    assert list(limited) == [sooner, new_done] and limited.more
