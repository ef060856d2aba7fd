"""Lead exports (CSV / Excel) in the UI and the API: the same rows as the list, for the same people."""
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from l2c.core.models import AuditEvent
from l2c.core.tests.export_helpers import read_csv, read_xlsx
from l2c.leads.choices import LeadSource, LeadStatus

from .factories import CampaignFactory, LeadFactory


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


@pytest.fixture
def leads(rep, rep2, manager, outsider):
    return {
        "rep": LeadFactory(owner=rep, last_name="Alpha", company="Rep Co"),
        "rep_working": LeadFactory(owner=rep, last_name="Bravo", company="Rep Two Co", status=LeadStatus.WORKING),
        "rep2": LeadFactory(owner=rep2, last_name="Charlie"),
        "manager": LeadFactory(owner=manager, last_name="Delta"),
        "unassigned": LeadFactory(owner=None, last_name="Echo"),
        "outsider": LeadFactory(owner=outsider, last_name="Foxtrot"),
    }


def ids(rows) -> set[int]:
    return {int(row["ID"]) for row in rows}


def test_rep_exports_only_their_own_leads(rep, leads, as_user):
    response = as_user(rep).get("/leads/export/", {"format": "csv"})
    assert response.status_code == 200
    assert ids(read_csv(response)) == {leads["rep"].pk, leads["rep_working"].pk}


def test_manager_exports_the_team_and_the_unassigned_queue(manager, leads, as_user):
    rows = read_csv(as_user(manager).get("/leads/export/"))
    assert ids(rows) == {leads[k].pk for k in ("rep", "rep_working", "rep2", "manager", "unassigned")}


def test_finance_cannot_export_leads(finance, leads, as_user, api_for):
    assert as_user(finance).get("/leads/export/").status_code == 403
    response = api_for(finance).get("/api/v1/leads/export")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_export_applies_the_lists_search_filters_and_ordering(rep, leads, as_user):
    client = as_user(rep)
    assert ids(read_csv(client.get("/leads/export/", {"status": "working"}))) == {leads["rep_working"].pk}
    assert ids(read_csv(client.get("/leads/export/", {"q": "Alpha"}))) == {leads["rep"].pk}
    rows = read_csv(client.get("/leads/export/", {"ordering": "-last_name"}))
    assert [r["Last name"] for r in rows] == ["Bravo", "Alpha"]
    rows = read_csv(client.get("/leads/export/", {"ordering": "last_name", "page": "2"}))  # every page, not one
    assert [r["Last name"] for r in rows] == ["Alpha", "Bravo"]


def test_values_are_labels_names_and_iso_dates(rep, as_user):
    campaign = CampaignFactory(name="春季展会")
    lead = LeadFactory(owner=rep, first_name="娜", last_name="李", company="上海科技有限公司", campaign=campaign,
                       source=LeadSource.EVENT, status=LeadStatus.WORKING)
    [row] = read_csv(as_user(rep).get("/leads/export/"))
    assert row["Full name"] == "李娜"
    assert row["Company"] == "上海科技有限公司"
    assert row["Campaign"] == "春季展会"
    assert row["Source"] == "Event"  # the label, not the stored "event"
    assert row["Status"] == "Working"
    assert row["Owner"] == str(rep)
    assert row["Created"] == timezone.localtime(lead.created_at).replace(microsecond=0).isoformat()


def test_status_labels_follow_the_users_language(rep, as_user):
    LeadFactory(owner=rep, status=LeadStatus.NEW)
    client = as_user(rep)
    client.cookies["django_language"] = "zh-hans"
    [row] = read_csv(client.get("/leads/export/"))
    assert row["状态"] == "新建"


def test_xlsx_round_trips_chinese_and_neutralises_formulas(rep, as_user):
    LeadFactory(owner=rep, first_name="娜", last_name="李", company='=HYPERLINK("http://evil.example","点我")',
                phone="+86 138 0013 8000")
    response = as_user(rep).get("/leads/export/", {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == \
        f'attachment; filename="leads-{timezone.localdate().isoformat()}.xlsx"'
    [row] = read_xlsx(response)
    assert row["Full name"].value == "李娜"
    assert row["Company"].data_type == "s"  # text, never run as a formula
    assert row["Company"].value == '=HYPERLINK("http://evil.example","点我")'
    assert row["Phone"].value == "+86 138 0013 8000" and row["Phone"].data_type == "s"


def test_csv_neutralises_formulas(rep, as_user):
    LeadFactory(owner=rep, company="=cmd|' /C calc'!A0", phone="+86 138 0013 8000", last_name="@SUM(1)")
    [row] = read_csv(as_user(rep).get("/leads/export/"))
    assert row["Company"] == "'=cmd|' /C calc'!A0"
    assert row["Phone"] == "'+86 138 0013 8000"
    assert row["Last name"] == "'@SUM(1)"


def test_export_is_audited_with_rows_and_filters(rep, leads, as_user):
    read_csv(as_user(rep).get("/leads/export/", {"status": "working", "q": "Bravo", "format": "csv"}))
    event = AuditEvent.objects.get(object_type="leads.lead", object_id="export")
    assert event.action == AuditEvent.Action.ACCESS and event.actor_id == rep.pk
    assert event.changes == {"format": "csv", "rows": 1,
                             "filters": {"q": "Bravo", "status": "working", "ordering": "-created_at"}}


def test_anonymous_is_sent_to_login_and_the_api_answers_401(client, db, api_for):
    response = client.get("/leads/export/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.get("/api/v1/leads/export")
    assert response.status_code == 401
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_bad_format_or_filter_is_a_clear_400_in_the_ui(rep, leads, as_user):
    client = as_user(rep)
    response = client.get("/leads/export/", {"format": "pdf"})
    assert response.status_code == 400
    assert "Unknown export format" in response.content.decode() and "csv or xlsx" in response.content.decode()
    response = client.get("/leads/export/", {"status": "bogus", "q": "x"})
    assert response.status_code == 400
    assert 'href="/leads/?status=bogus&amp;q=x"' in response.content.decode()  # back to the list to fix it
    assert "<strong>status</strong>: Select a valid choice." in response.content.decode()
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_list_page_offers_the_export_of_its_current_filters(rep, leads, as_user):
    client = as_user(rep)
    html = client.get("/leads/", {"status": "working", "q": "Bravo", "page": "1"}).content.decode()
    assert 'href="/leads/export/?status=working&amp;q=Bravo&amp;format=csv"' in html
    assert 'href="/leads/export/?status=working&amp;q=Bravo&amp;format=xlsx"' in html
    # An HTMX refresh of the results also refreshes the menu (out of band), so it follows the filters.
    partial = client.get("/leads/", {"q": "Alpha"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results").content.decode()
    assert 'hx-swap-oob="true"' in partial and 'href="/leads/export/?q=Alpha&amp;format=csv"' in partial


def test_export_queries_do_not_grow_with_rows(rep, as_user):
    campaign = CampaignFactory()
    client = as_user(rep)

    def count(fmt: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/leads/export/", {"format": fmt})
            rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
        assert len(rows) == n
        return len(ctx.captured_queries)

    n = 3
    LeadFactory.create_batch(n, owner=rep, campaign=campaign)
    count("csv")  # the first export creates the audit chain head
    few = {"csv": count("csv"), "xlsx": count("xlsx")}
    LeadFactory.create_batch(40, owner=rep, campaign=campaign)
    n = 43
    assert {"csv": count("csv"), "xlsx": count("xlsx")} == few


# --- API --------------------------------------------------------------------------------------------

def test_api_export_uses_the_list_selector(rep, manager, leads, api_for):
    response = api_for(rep).get("/api/v1/leads/export", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert ids(read_csv(response)) == {leads["rep"].pk, leads["rep_working"].pk}
    response = api_for(manager).get("/api/v1/leads/export", {"format": "xlsx", "status": "new", "ordering": "last_name"})
    assert response.status_code == 200
    rows = read_xlsx(response)
    assert [r["Last name"].value for r in rows] == ["Alpha", "Charlie", "Delta", "Echo"]


def test_api_export_refuses_a_bad_format_or_filter_with_422(rep, leads, api_for):
    response = api_for(rep).get("/api/v1/leads/export", {"format": "pdf"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["format"]
    response = api_for(rep).get("/api/v1/leads/export", {"status": "bogus"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "status"
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_api_export_is_in_the_openapi_schema(rep, api_for):
    schema = api_for(rep).get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/leads/export"]["get"]
    assert {"format", "q", "status", "ordering"} <= {p["name"] for p in operation["parameters"]}
    assert "text/csv; charset=utf-8" in operation["responses"]["200"]["content"]
