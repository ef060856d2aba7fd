"""Opportunity and activity exports (CSV / Excel) in the UI and the API: the list's rows, for the list's people."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from l2c.core.models import AuditEvent
from l2c.core.tests.export_helpers import read_csv, read_xlsx
from l2c.pipeline.choices import ActivityKind

from .factories import (
    AccountFactory,
    ActivityFactory,
    CampaignFactory,
    ContactFactory,
    LeadFactory,
    OpportunityFactory,
)


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


@pytest.fixture
def deals(stages, rep, rep2, manager, outsider):
    return {
        "rep": OpportunityFactory(owner=rep, name="云平台升级", amount=Decimal("1234567.89"), currency="CNY",
                                  expected_close_date=dt.date(2026, 12, 15)),
        "rep_won": OpportunityFactory(owner=rep, name="Won deal", stage=stages["Closed Won"],
                                      closed_at=timezone.now()),
        "rep2": OpportunityFactory(owner=rep2, name="Rep2 deal"),
        "manager": OpportunityFactory(owner=manager, name="Manager deal"),
        "outsider": OpportunityFactory(owner=outsider, name="Outsider deal"),
    }


def ids(rows) -> set[int]:
    return {int(row["ID"]) for row in rows}


# --- opportunities ----------------------------------------------------------------------------------

def test_rep_exports_only_their_own_opportunities(rep, deals, as_user, api_for):
    expected = {deals["rep"].pk, deals["rep_won"].pk}
    assert ids(read_csv(as_user(rep).get("/opportunities/export/"))) == expected
    assert ids(read_csv(api_for(rep).get("/api/v1/opportunities/export"))) == expected


def test_manager_exports_the_teams_opportunities(manager, deals, as_user, api_for):
    expected = {deals[k].pk for k in ("rep", "rep_won", "rep2", "manager")}
    assert ids(read_csv(as_user(manager).get("/opportunities/export/"))) == expected
    rows = read_xlsx(api_for(manager).get("/api/v1/opportunities/export", {"format": "xlsx"}))
    assert {r["ID"].value for r in rows} == expected


def test_finance_cannot_export_opportunities_or_activities_in_the_ui(finance, deals, as_user, api_for):
    assert as_user(finance).get("/opportunities/export/").status_code == 404
    assert as_user(finance).get("/activities/export/").status_code == 404
    response = api_for(finance).get("/api/v1/opportunities/export")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_opportunity_filters_search_ordering_and_values(rep, deals, as_user):
    client = as_user(rep)
    assert ids(read_csv(client.get("/opportunities/export/", {"status": "won"}))) == {deals["rep_won"].pk}
    assert ids(read_csv(client.get("/opportunities/export/", {"q": "云平台"}))) == {deals["rep"].pk}
    assert ids(read_csv(client.get("/opportunities/export/", {"close_before": "2026-12-31"}))) == {deals["rep"].pk}
    rows = read_csv(client.get("/opportunities/export/", {"ordering": "-amount"}))
    assert [r["Name"] for r in rows] == ["云平台升级", "Won deal"]
    row = rows[0]
    assert (row["Amount"], row["Currency"]) == ("1234567.89", "CNY")  # exact, never a float
    assert row["Stage"] == "Prospecting" and row["Forecast category"] == "Pipeline"
    assert row["Expected close date"] == "2026-12-15"
    assert row["Owner"] == str(rep) and row["Account"] == deals["rep"].account.name


def test_xlsx_amounts_are_numbers_and_chinese_round_trips(rep, deals, as_user):
    rows = read_xlsx(as_user(rep).get("/opportunities/export/", {"format": "xlsx", "ordering": "-amount"}))
    first = rows[0]
    assert first["Name"].value == "云平台升级"
    assert first["Amount"].data_type == "n" and Decimal(str(first["Amount"].value)) == Decimal("1234567.89")
    assert first["Expected close date"].value == dt.datetime(2026, 12, 15)


def test_bad_format_and_filters(rep, deals, as_user, api_for, client):
    response = as_user(rep).get("/opportunities/export/", {"format": "json"})
    assert response.status_code == 400 and "csv or xlsx" in response.content.decode()
    response = as_user(rep).get("/opportunities/export/", {"close_before": "15/12/2026"})
    assert response.status_code == 400 and "<strong>close_before</strong>" in response.content.decode()
    response = api_for(rep).get("/api/v1/opportunities/export", {"format": "json"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "format"
    response = api_for(rep).get("/api/v1/opportunities/export", {"status": "maybe"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "status"
    assert client.get("/opportunities/export/").status_code == 302
    assert client.get("/api/v1/opportunities/export").status_code == 401
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_opportunity_export_is_audited(rep, deals, api_for):
    read_csv(api_for(rep).get("/api/v1/opportunities/export", {"status": "open", "close_before": "2026-12-31"}))
    event = AuditEvent.objects.get(object_type="pipeline.opportunity", object_id="export")
    assert event.actor_id == rep.pk and event.action == AuditEvent.Action.ACCESS
    assert event.changes == {"format": "csv", "rows": 1, "filters": {"status": "open", "close_before": "2026-12-31"}}


def test_opportunity_export_queries_do_not_grow_with_rows(rep, stages, as_user):
    client = as_user(rep)
    campaign = CampaignFactory()

    def make(n):
        for _ in range(n):
            account = AccountFactory(owner=rep)
            OpportunityFactory(owner=rep, account=account, contact=ContactFactory(account=account, owner=rep),
                               campaign=campaign)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            read_csv(client.get("/opportunities/export/"))
            read_xlsx(client.get("/opportunities/export/", {"format": "xlsx"}))
        return len(ctx.captured_queries)

    make(2)
    count()
    few = count()
    make(20)
    assert count() == few


# --- activities -------------------------------------------------------------------------------------

@pytest.fixture
def activities(rep, rep2, outsider, deals):
    lead = LeadFactory(owner=rep, first_name="娜", last_name="李", company="")
    return {
        "mine_open": ActivityFactory(owner=rep, subject="给客户打电话", kind=ActivityKind.CALL, lead=lead),
        "mine_done": ActivityFactory(owner=rep, subject="Sent the quote", opportunity=deals["rep"],
                                     done_at=timezone.now()),
        "on_my_deal": ActivityFactory(owner=rep2, subject="=2+3", opportunity=deals["rep"]),
        "rep2": ActivityFactory(owner=rep2, subject="Rep2 task"),
        "outsider": ActivityFactory(owner=outsider, subject="Outsider task"),
    }


def test_activity_export_follows_the_list_defaults_and_filters(rep, activities, as_user):
    client = as_user(rep)
    # the list shows my open activities unless told otherwise; the export too
    assert ids(read_csv(client.get("/activities/export/"))) == {activities["mine_open"].pk}
    assert ids(read_csv(client.get("/activities/export/", {"status": "done"}))) == {activities["mine_done"].pk}
    everything_i_see = read_csv(client.get("/activities/export/", {"status": "", "owner": ""}))
    assert ids(everything_i_see) == {activities[k].pk for k in ("mine_open", "mine_done", "on_my_deal")}
    row = next(r for r in everything_i_see if int(r["ID"]) == activities["mine_open"].pk)
    assert (row["Type"], row["Subject"], row["Related to"], row["Record"]) == ("Call", "给客户打电话", "Lead", "李娜")
    injected = next(r for r in everything_i_see if int(r["ID"]) == activities["on_my_deal"].pk)
    assert injected["Subject"] == "'=2+3" and injected["Record"] == "云平台升级"


def test_activity_api_export(rep, activities, api_for):
    response = api_for(rep).get("/api/v1/activities/export", {"format": "xlsx", "ordering": "subject"})
    assert response.status_code == 200
    rows = read_xlsx(response)
    assert [r["Subject"].value for r in rows] == ["=2+3", "Sent the quote", "给客户打电话"]
    assert rows[0]["Subject"].data_type == "s"
    response = api_for(rep).get("/api/v1/activities/export", {"kind": "fax"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "kind"


def test_activity_list_page_offers_the_export_menu(rep, activities, as_user):
    html = as_user(rep).get("/activities/", {"status": "done"}).content.decode()
    assert 'href="/activities/export/?status=done&amp;format=csv"' in html
    html = as_user(rep).get("/opportunities/", {"status": "won"}).content.decode()
    assert 'href="/opportunities/export/?status=won&amp;format=xlsx"' in html


def test_activity_export_queries_do_not_grow_with_rows(rep, deals, as_user):
    client = as_user(rep)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            read_csv(client.get("/activities/export/", {"status": ""}))
        return len(ctx.captured_queries)

    def make(n):
        for i in range(n):
            target = [{"lead": LeadFactory(owner=rep)}, {"account": AccountFactory(owner=rep)},
                      {"opportunity": deals["rep"]}, {"contact": ContactFactory(owner=rep)}][i % 4]
            ActivityFactory(owner=rep, **target)

    make(4)
    count()
    few = count()
    make(24)
    assert count() == few
