"""The lead list at scale: its number of SQL queries does not grow with the rows on the page, and
the capped count ("more than 10,000") stays honest and every page stays reachable."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from l2c.core.paging import CappedPaginator
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Lead

from .factories import CampaignFactory, LeadFactory


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _rows(response) -> int:
    return len(re.findall(r'<td><a href="/leads/\d+/">', response.content.decode()))


def _make_leads(n, **kwargs):
    campaign = CampaignFactory()
    return [LeadFactory(status=LeadStatus.WORKING, campaign=campaign if i % 2 else None, **kwargs) for i in range(n)]


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
@pytest.mark.parametrize("url", [
    "/leads/",
    "/leads/?status=working&ordering=company",
    "/leads/?status=working&ordering=-last_name",
    "/leads/?q=prospect",
])
def test_lead_list_query_count_does_not_grow_with_the_page(client, settings, request, rep, who, url):
    # given: a page size of 50, so 5 and then 50 rows are on the page
    settings.L2C_PAGE_SIZE = 50
    user = request.getfixturevalue(who)
    client.force_login(user)
    _make_leads(5, owner=rep)
    # when
    with_5 = _queries(client, url)
    rows_5 = _rows(client.get(url))
    _make_leads(45, owner=rep)
    with_50 = _queries(client, url)
    rows_50 = _rows(client.get(url))
    # then: ten times the rows, the same number of queries
    assert (rows_5, rows_50) == (5, 50)
    assert with_5 == with_50


def test_capped_count_is_shown_as_more_than_and_next_pages_stay_reachable(client, settings, admin_user, monkeypatch):
    # given: 30 leads, 5 per page, counting capped at 10
    monkeypatch.setattr("l2c.core.paging.COUNT_CAP", 10)
    settings.L2C_PAGE_SIZE = 5
    _make_leads(30)
    client.force_login(admin_user)
    # when / then: page 1 does not claim a total it did not count
    html = client.get("/leads/").content.decode()
    assert "1–5 of more than 10" in html
    assert "Page 1 of" not in html and 'aria-label="Last page"' not in html
    assert 'href="?page=2"' in html
    # a page past the cap: counted as far as it needs, still honest
    html = client.get("/leads/?page=4").content.decode()
    assert "16–20 of more than 20" in html
    # the last page: the count is exact there
    html = client.get("/leads/?page=6").content.decode()
    assert "26–30 of 30" in html and "Page 6 of 6" in html
    # beyond the end: the last page, as with any list
    html = client.get("/leads/?page=99").content.decode()
    assert "26–30 of 30" in html


def test_small_lists_keep_their_exact_count(client, admin_user):
    _make_leads(3)
    client.force_login(admin_user)
    html = client.get("/leads/").content.decode()
    assert "1–3 of 3" in html and "more than" not in html


def test_ids_first_page_keeps_the_ordering_and_visibility(client, settings, rep, rep2):
    # given: leads of two reps with companies out of insertion order
    settings.L2C_PAGE_SIZE = 3
    for name in ("Delta", "alpha", "Charlie", "Bravo", "Echo"):
        LeadFactory(company=name, owner=rep, status=LeadStatus.WORKING)
    LeadFactory(company="Aardvark", owner=rep2, status=LeadStatus.WORKING)
    client.force_login(rep)
    # when
    page1 = client.get("/leads/?ordering=company").content.decode()
    page2 = client.get("/leads/?ordering=company&page=2").content.decode()
    # then: rows in the database's order for the column, page by page, never another rep's lead
    companies = re.findall(r"<td>(\w+) <small>\(US\)</small></td>", page1 + page2)
    expected = list(Lead.objects.filter(owner=rep).order_by("company", "id").values_list("company", flat=True))
    assert companies == expected and "Aardvark" not in companies
    assert "1–3 of 5" in page1 and "4–5 of 5" in page2


def test_search_finds_part_of_a_word_in_any_case(client, admin_user):
    LeadFactory(company="Zhangjiang Robotics", email="li.wei@zj-robotics.cn", first_name="伟", last_name="李")
    LeadFactory(company="Other Corp")
    client.force_login(admin_user)
    html = client.get("/leads/?q=JIANG").content.decode()
    assert "Zhangjiang Robotics" in html and "Other Corp" not in html
    html = client.get("/leads/?q=李").content.decode()
    assert "Zhangjiang Robotics" in html and "Other Corp" not in html


def test_capped_paginator_counts_no_more_than_the_cap(admin_user):
    # given
    _make_leads(12)
    qs = Lead.objects.order_by("id")
    # when
    with CaptureQueriesContext(connection) as ctx:
        page = CappedPaginator(qs, 5, cap=7).get_page(1)
    # then: the count query is limited, so it cannot visit every row
    count_sql = ctx.captured_queries[0]["sql"].upper()
    assert "COUNT" in count_sql and "LIMIT 8" in count_sql
    assert page.paginator.count_capped and page.paginator.count_shown == 7
    assert [lead.pk for lead in page] == list(qs.values_list("pk", flat=True)[:5])
