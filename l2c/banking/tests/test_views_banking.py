"""Banking pages: list, review (match, ignore, restore), import with the CSV mapping step, permissions."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from l2c.banking import services
from l2c.banking.models import BankStatement, LineStatus
from l2c.billing.models import InvoiceStatus

from .conftest import post_invoice

CSV = b"Date;Amount;Currency;Name;Text\n12.03.2026;1.500,00;USD;Somebody;thanks\n12.03.2026;-4,00;USD;Bank;fee\n"


@pytest.fixture
def finance_client(client, finance):
    client.force_login(finance)
    return client


def test_import_camt_through_the_page(finance_client, two_invoices, camt_sample):
    response = finance_client.post("/banking/import/", {"file": SimpleUploadedFile("s.xml", camt_sample)})
    statement = BankStatement.objects.get()
    assert response.status_code == 302 and response.url == f"/banking/statements/{statement.pk}/"
    page = finance_client.get(response.url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "INV-2026-000001" in text and "Jane Q. Public" in text and "Match to invoice" in text
    listing = finance_client.get("/banking/statements/")
    assert listing.status_code == 200 and "Operating account" in listing.content.decode()


def test_import_csv_with_mapping_step(finance_client, finance, rep, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    invoice = post_invoice(finance, name="Northwind", owner=rep)
    step1 = finance_client.post("/banking/import/", {"file": SimpleUploadedFile("k.csv", CSV)})
    assert step1.status_code == 200
    text = step1.content.decode()
    assert "Map the columns" in text and 'value="Date" selected' in text
    token = step1.context["token"]
    # a wrong mapping shows the error and keeps the file
    bad = finance_client.post("/banking/import/", {"token": token, "date": "Date"})
    assert bad.status_code == 422 and "mapping.amount" in bad.content.decode()
    assert BankStatement.objects.count() == 0
    done = finance_client.post("/banking/import/", {"token": token, "date": "Date", "amount": "Amount",
                                                    "currency": "Currency", "counterparty": "Name",
                                                    "reference": "Text"})
    statement = BankStatement.objects.get()
    assert done.status_code == 302 and statement.lines.count() == 2
    assert not list((tmp_path / "banking" / "pending").iterdir())  # the pending upload is gone
    # review: match the 1500 line to the invoice by number, ignore the fee
    line, fee = statement.lines.order_by("position")
    finance_client.post(f"/banking/statements/{statement.pk}/lines/{line.pk}/match/",
                        {"invoice": invoice.number.lower(), "amount": ""})
    line.refresh_from_db()
    invoice.refresh_from_db()
    assert line.status == LineStatus.MATCHED and invoice.status == InvoiceStatus.PAID
    finance_client.post(f"/banking/statements/{statement.pk}/lines/{fee.pk}/ignore/", {"note": "fee"})
    fee.refresh_from_db()
    assert fee.status == LineStatus.IGNORED
    page = finance_client.get(f"/banking/statements/{statement.pk}/").content.decode()
    assert "kept as customer credit" in page and "Back to review" in page
    finance_client.post(f"/banking/statements/{statement.pk}/lines/{fee.pk}/restore/")
    fee.refresh_from_db()
    assert fee.status == LineStatus.UNMATCHED


def test_bad_upload_shows_the_error(finance_client):
    response = finance_client.post("/banking/import/", {"file": SimpleUploadedFile("x.xml", b"<a><b></a>")})
    assert response.status_code == 422 and "not well-formed XML" in response.content.decode()
    assert BankStatement.objects.count() == 0


def test_forged_or_foreign_token_is_refused(finance_client, client, admin_user):
    from django.core import signing

    token = signing.dumps({"path": "banking/pending/nope.bin", "file_name": "x.csv", "user": admin_user.pk},
                          salt="l2c.banking.import")
    response = finance_client.post("/banking/import/", {"token": token, "date": "Date"})
    assert response.status_code == 422 and "expired" in response.content.decode()
    assert finance_client.post("/banking/import/", {"token": "forged"}).status_code == 422


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_sales_roles_get_403(client, request, finance, role):
    statement = services.statement_import(actor=finance, file_name="k.csv", data=CSV, mapping={
        "date": "Date", "amount": "Amount", "currency": "Currency"})
    line = statement.lines.first()
    client.force_login(request.getfixturevalue(role))
    for url in ("/banking/statements/", f"/banking/statements/{statement.pk}/", "/banking/import/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/banking/statements/{statement.pk}/lines/{line.pk}/ignore/").status_code == 403
    line.refresh_from_db()
    assert line.status == LineStatus.UNMATCHED


def test_list_page_query_count(finance_client, finance, django_assert_max_num_queries):
    for n in range(5):
        services.statement_import(actor=finance, file_name=f"k{n}.csv", data=CSV + f"\n13.03.2026;{n + 1},00;USD;X;Y\n"
                                  .encode(), mapping={"date": "Date", "amount": "Amount", "currency": "Currency"})
    with django_assert_max_num_queries(12):
        assert finance_client.get("/banking/statements/").status_code == 200


def test_missing_statement_is_404(finance_client):
    assert finance_client.get("/banking/statements/999/").status_code == 404
