"""Billing pages: finance home, invoices with their actions, payments with allocation rows, AR aging; roles."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.billing import services
from l2c.billing.models import CreditNote, Invoice, InvoiceStatus, Payment

from .factories import make_contract

D = Decimal
DAY = dt.date(2026, 3, 10)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def contract(db, rep):
    return make_contract(owner=rep, start=DAY)


def test_finance_home_lists_what_to_act_on_and_creates_a_draft(finance, contract, django_assert_max_num_queries):
    client = client_for(finance)
    with django_assert_max_num_queries(20):
        response = client.get("/billing/")
    assert response.status_code == 200
    assert contract.number in response.content.decode()
    response = client.post(f"/billing/contracts/{contract.pk}/invoice/")
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/invoices/{invoice.pk}/"
    assert invoice.status == InvoiceStatus.DRAFT


def test_invoice_page_posts_credits_and_writes_off(finance, contract):
    client = client_for(finance)
    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Post invoice" in page
    assert client.post(f"/invoices/{invoice.pk}/post/").status_code == 302
    invoice.refresh_from_db()
    assert invoice.number == "INV-2026-000001"
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert invoice.journal_entry.number in page
    response = client.post(f"/invoices/{invoice.pk}/credit/", {"amount": "5000", "reason": "x", "post": "on"})
    assert response.status_code == 422 and "balance" in response.content.decode()
    assert client.post(f"/invoices/{invoice.pk}/credit/", {"amount": "100", "reason": "goodwill",
                                                           "post": "on"}).status_code == 302
    assert CreditNote.objects.get().number == "CN-2026-000001"
    assert client.post(f"/invoices/{invoice.pk}/write-off/", {"amount": "1280", "reason": "gone"}).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.WRITTEN_OFF


def test_record_payment_with_allocation_rows(finance, contract):
    client = client_for(finance)
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    data = {"account": contract.account_id, "date": "2026-03-12", "method": "bank_transfer", "currency": "USD",
            "amount": "1500", "reference": "wire", "alloc-0-invoice": invoice.number, "alloc-0-amount": "1380"}
    bad = client.post("/payments/", {**data, "alloc-0-amount": "1400"})
    assert bad.status_code == 422 and Payment.objects.count() == 0
    bad = client.post("/payments/", {**data, "alloc-0-invoice": "INV-9999"})
    assert bad.status_code == 422 and "INV-9999" in bad.content.decode()
    assert client.post("/payments/", data).status_code == 302
    payment = Payment.objects.get()
    assert payment.unapplied_amount == D("120")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert payment.number in client.get("/payments/").content.decode()


def test_ar_aging_page(finance, contract):
    services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    client = client_for(finance)
    page = client.get("/reports/ar-aging/", {"as_of": "2026-05-20"}).content.decode()
    assert contract.account.name in page and "1,380.00" in page
    assert client.get("/reports/ar-aging/", {"as_of": "bad"}).status_code == 200


def test_roles(rep, outsider, finance, contract):
    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    rep_client = client_for(rep)
    assert rep_client.get("/billing/").status_code == 403
    assert rep_client.get(f"/invoices/{invoice.pk}/").status_code == 200  # their customer's invoice, read-only
    assert "Post invoice" not in rep_client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert rep_client.post(f"/invoices/{invoice.pk}/post/").status_code == 403
    assert rep_client.post("/payments/", {"amount": "1"}).status_code == 403
    assert client_for(outsider).get(f"/invoices/{invoice.pk}/").status_code == 404
    assert Client().get("/invoices/").status_code == 302  # to the login page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT
