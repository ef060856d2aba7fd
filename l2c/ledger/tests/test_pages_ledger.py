"""Ledger pages: 403 for sales roles, render for finance/admin, forms post through the services."""
import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from l2c.ledger import services
from l2c.ledger.models import ExchangeRate, JournalEntry, LedgerAccount, Period

from .factories import customer, invoice_entry

PAGES = ["/ledger/", "/ledger/accounts/", "/ledger/entries/", "/ledger/entries/new/", "/ledger/periods/",
         "/ledger/rates/", "/ledger/reports/trial-balance/", "/ledger/reports/general-ledger/?account=1100",
         "/ledger/reports/ar-subledger/", "/ledger/accounts/1/edit/", "/ledger/entries/export/"]


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_sales_roles_get_403(rep, manager, path):
    for user in (rep, manager):
        assert login(user).get(path).status_code == 403, (user, path)


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/ledger/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_finance_and_admin_see_every_page(finance, admin_user, path):
    invoice_entry(finance, customer("Acme"), date=dt.date.today())
    for user in (finance, admin_user):
        response = login(user).get(path)
        assert response.status_code == 200, (path, response.content[:500])


def test_entry_detail_and_reverse_button(finance, django_assert_max_num_queries):
    entry = invoice_entry(finance, customer("Acme"))
    client = login(finance)
    page = client.get(f"/ledger/entries/{entry.pk}/").content.decode()
    assert entry.number in page and "INV-2026-000001" in page and "Acme" in page and "Reverse" in page
    response = client.post(f"/ledger/entries/{entry.pk}/reverse/", {"date": "", "memo": ""})
    reversal = JournalEntry.objects.get(reversal_of=entry)
    assert response.status_code == 302 and response["Location"] == f"/ledger/entries/{reversal.pk}/"
    page = client.get(f"/ledger/entries/{entry.pk}/").content.decode()
    assert reversal.number in page and 'action="/ledger/entries/' not in page
    response = client.post(f"/ledger/entries/{entry.pk}/reverse/", {})
    assert "already reversed" in response.content.decode()
    assert JournalEntry.objects.count() == 2
    with django_assert_max_num_queries(12):
        assert client.get("/ledger/entries/").status_code == 200
    assert client.get("/ledger/entries/999999/").status_code == 404


def _entry_post(lines, **header):
    data = {"date": "2026-03-15", "journal": "GENERAL", "memo": "Manual", "lines-TOTAL_FORMS": "4",
            "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "100", **header}
    for index, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{index}-{key}"] = value
    return data


def test_manual_entry_form_posts_and_shows_errors_beside_lines(finance):
    client = login(finance)
    response = client.post("/ledger/entries/new/", _entry_post([
        {"account": "1000", "debit": "100.00"}, {"account": "3000", "credit": "90.00"}]))
    assert response.status_code == 200 and "differ by 10.00" in response.content.decode()
    response = client.post("/ledger/entries/new/", _entry_post([
        {"account": "1000", "debit": "100.00", "credit": "5"}, {"account": "3000", "credit": "100.00"}]))
    assert 'id="id_lines-0-credit_errors"' in response.content.decode()
    assert JournalEntry.objects.count() == 0
    cust = customer("Acme")
    response = client.post("/ledger/entries/new/", _entry_post([
        {"account": "1100", "debit": "100.00", "customer": str(cust.pk)}, {},
        {"account": "4000", "credit": "100.00", "description": "Consulting"}]))
    entry = JournalEntry.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ledger/entries/{entry.pk}/"
    assert [line.account.code for line in entry.lines.all()] == ["1100", "4000"]


def test_manual_entry_into_locked_period_shows_the_lock(finance):
    services.period_lock(actor=finance, year=2026, month=3)
    response = login(finance).post("/ledger/entries/new/", _entry_post([
        {"account": "1000", "debit": "1"}, {"account": "3000", "credit": "1"}]))
    assert "2026-03 is locked" in response.content.decode()
    assert JournalEntry.objects.count() == 0


def test_periods_page_locks_and_only_admin_unlocks(finance, admin_user):
    client = login(finance)
    client.post("/ledger/periods/", {"period": "2026-03", "action": "lock"})
    assert Period.objects.get(year=2026, month=3).is_locked
    client.post("/ledger/periods/", {"period": "2026-03", "action": "unlock"})
    assert Period.objects.get(year=2026, month=3).is_locked
    login(admin_user).post("/ledger/periods/", {"period": "2026-03", "action": "unlock"})
    assert not Period.objects.get(year=2026, month=3).is_locked


def test_accounts_and_rates_pages_write_through_services(finance):
    client = login(finance)
    response = client.post("/ledger/accounts/", {"code": "4100", "name": "Training", "type": "revenue",
                                                 "is_active": "on"})
    assert response.status_code == 302
    account = LedgerAccount.objects.get(code="4100")
    response = client.post(f"/ledger/accounts/{account.pk}/edit/", {"code": "4100", "name": "Training fees",
                                                                     "type": "revenue"})
    account.refresh_from_db()
    assert account.name == "Training fees" and not account.is_active
    response = client.post("/ledger/accounts/", {"code": "4100", "name": "x", "type": "revenue"})
    assert "Another account has the code 4100" in response.content.decode()
    client.post("/ledger/rates/", {"action": "set", "currency": "USD", "date": "2026-03-01", "rate": "7.12"})
    assert ExchangeRate.objects.get(currency="USD").rate == Decimal("7.12")
    upload = SimpleUploadedFile("r.csv", b"currency,date,rate\nEUR,2026-03-01,7.9\nGBP,bad,1\n")
    response = client.post("/ledger/rates/", {"action": "import", "file": upload})
    assert "row 3: date" in response.content.decode()
    assert not ExchangeRate.objects.filter(currency="EUR").exists()


def test_reports_pages_show_numbers(finance):
    invoice_entry(finance, customer("Acme"))
    client = login(finance)
    page = client.get("/ledger/reports/trial-balance/?as_of=2026-03-31").content.decode()
    assert "113.00" in page and "Balanced" in page
    page = client.get("/ledger/reports/ar-subledger/?as_of=2026-03-31").content.decode()
    assert "Acme" in page and "113.00" in page and "do not add up" not in page
    page = client.get("/ledger/reports/general-ledger/?account=2100&date_from=2026-03-01").content.decode()
    assert "100.00" in page
    response = client.get("/ledger/entries/export/?format=csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "JE-SALES-2026-000001" in body and "1100" in body
