"""Account and contact exports (CSV / Excel) in the UI and the API: the list's rows, for the list's people."""
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from l2c.core.models import AuditEvent
from l2c.core.tests.export_helpers import read_csv, read_xlsx

from .factories import AccountFactory, ContactFactory


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


@pytest.fixture
def accounts(rep, rep2, manager, outsider):
    return {
        "rep": AccountFactory(owner=rep, name="阿里巴巴集团", country="CN", size="5000+"),
        "rep_us": AccountFactory(owner=rep, name="Acme Corp", country="US", city="Boston"),
        "rep2": AccountFactory(owner=rep2, name="Bravo GmbH", country="DE"),
        "manager": AccountFactory(owner=manager, name="Charlie Ltd"),
        "outsider": AccountFactory(owner=outsider, name="Delta Inc"),
    }


def ids(rows) -> set[int]:
    return {int(row["ID"]) for row in rows}


def test_rep_exports_only_their_own_accounts(rep, accounts, as_user, api_for):
    expected = {accounts["rep"].pk, accounts["rep_us"].pk}
    assert ids(read_csv(as_user(rep).get("/accounts/export/"))) == expected
    assert ids(read_csv(api_for(rep).get("/api/v1/accounts/export"))) == expected


def test_manager_exports_the_teams_accounts(manager, accounts, as_user):
    rows = read_csv(as_user(manager).get("/accounts/export/"))
    assert ids(rows) == {accounts[k].pk for k in ("rep", "rep_us", "rep2", "manager")}


def test_finance_exports_every_account_and_contact(finance, accounts, as_user, api_for):
    contact = ContactFactory(account=accounts["outsider"], owner=accounts["outsider"].owner)
    assert ids(read_csv(as_user(finance).get("/accounts/export/"))) == {a.pk for a in accounts.values()}
    assert ids(read_xlsx_rows(api_for(finance).get("/api/v1/accounts/export", {"format": "xlsx"}))) == \
        {a.pk for a in accounts.values()}
    assert ids(read_csv(as_user(finance).get("/contacts/export/"))) == {contact.pk}
    assert ids(read_csv(api_for(finance).get("/api/v1/contacts/export"))) == {contact.pk}


def read_xlsx_rows(response) -> list[dict]:
    return [{k: c.value for k, c in row.items()} for row in read_xlsx(response)]


def test_account_filters_search_and_values(rep, accounts, as_user):
    client = as_user(rep)
    assert ids(read_csv(client.get("/accounts/export/", {"country": "us"}))) == {accounts["rep_us"].pk}
    assert ids(read_csv(client.get("/accounts/export/", {"q": "阿里巴巴"}))) == {accounts["rep"].pk}
    ContactFactory.create_batch(2, account=accounts["rep"], owner=rep)
    rows = read_csv(client.get("/accounts/export/", {"ordering": "-name"}))
    assert [r["Name"] for r in rows] == ["阿里巴巴集团", "Acme Corp"]
    assert rows[0]["Size"] == "5,000+"  # the choice label
    assert rows[0]["Contacts"] == "2" and rows[1]["Contacts"] == "0"
    assert rows[0]["Owner"] == str(rep)


def test_xlsx_account_export_round_trips_chinese(rep, accounts, as_user):
    rows = read_xlsx_rows(as_user(rep).get("/accounts/export/", {"format": "xlsx", "ordering": "name"}))
    assert [r["Name"] for r in rows] == ["Acme Corp", "阿里巴巴集团"]


def test_contact_export_is_the_contact_list(rep, rep2, accounts, as_user, api_for):
    mine = ContactFactory(account=accounts["rep"], owner=rep, first_name="娜", last_name="李", email="li@example.cn",
                          phone="=1+2")
    other = ContactFactory(account=accounts["rep_us"], owner=rep, first_name="Ann", last_name="Lee")
    ContactFactory(account=accounts["rep2"], owner=rep2)
    client = as_user(rep)
    rows = read_csv(client.get("/contacts/export/"))
    assert ids(rows) == {mine.pk, other.pk}
    row = next(r for r in rows if int(r["ID"]) == mine.pk)
    assert (row["Full name"], row["Account"], row["Phone"]) == ("李娜", "阿里巴巴集团", "'=1+2")
    assert ids(read_csv(client.get("/contacts/export/", {"account": accounts["rep_us"].pk}))) == {other.pk}
    assert ids(read_csv(api_for(rep).get("/api/v1/contacts/export", {"q": "李"}))) == {mine.pk}
    [cell_row] = read_xlsx(api_for(rep).get("/api/v1/contacts/export", {"format": "xlsx", "q": "李"}))
    assert cell_row["Phone"].data_type == "s" and cell_row["Phone"].value == "=1+2"


def test_export_is_audited(rep, accounts, as_user, api_for):
    read_csv(as_user(rep).get("/accounts/export/", {"country": "US"}))
    read_csv(api_for(rep).get("/api/v1/contacts/export", {"q": "x"}))
    account_event = AuditEvent.objects.get(object_type="customers.account", object_id="export")
    assert account_event.actor_id == rep.pk
    assert account_event.changes == {"format": "csv", "rows": 1, "filters": {"country": "US", "ordering": "name"}}
    contact_event = AuditEvent.objects.get(object_type="customers.contact", object_id="export")
    assert contact_event.actor_id == rep.pk and contact_event.changes["rows"] == 0
    assert contact_event.changes["filters"] == {"q": "x"}


def test_anonymous_bad_format_and_bad_filters(client, rep, accounts, as_user, api_for):
    for path in ("/accounts/export/", "/contacts/export/"):
        response = client.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"]
        assert as_user(rep).get(path, {"format": "docx"}).status_code == 400
    for path in ("/api/v1/accounts/export", "/api/v1/contacts/export"):
        assert client.get(path).status_code == 401
        response = api_for(rep).get(path, {"format": "docx"})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "format"
        response = api_for(rep).get(path, {"ordering": "password"})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "ordering"
    response = as_user(rep).get("/accounts/export/", {"country": "USA"})
    assert response.status_code == 400 and "<strong>country</strong>" in response.content.decode()
    assert not AuditEvent.objects.filter(object_id="export").exists()


def test_list_pages_offer_the_export_menu(rep, accounts, as_user):
    client = as_user(rep)
    html = client.get("/accounts/", {"country": "US"}).content.decode()
    assert 'href="/accounts/export/?country=US&amp;format=xlsx"' in html
    html = client.get("/contacts/", {"q": "Lee"}).content.decode()
    assert 'href="/contacts/export/?q=Lee&amp;format=csv"' in html


def test_export_queries_do_not_grow_with_rows(rep, as_user):
    client = as_user(rep)

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            read_csv(client.get(path))
            read_xlsx(client.get(path, {"format": "xlsx"}))
        return len(ctx.captured_queries)

    ContactFactory.create_batch(2, owner=rep)
    count("/accounts/export/")
    few = (count("/accounts/export/"), count("/contacts/export/"))
    ContactFactory.create_batch(30, owner=rep)
    assert (count("/accounts/export/"), count("/contacts/export/")) == few
