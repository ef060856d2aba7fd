"""Billing API: the flow contract → invoice → post → payment → credit, idempotent payments, permissions, aging."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.billing import services
from l2c.billing.models import Invoice, Payment
from l2c.ledger.models import JournalEntry

from .factories import make_contract

D = Decimal
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def contract(db, rep):
    return make_contract(owner=rep, start=DAY)


def test_invoice_flow_through_the_api(api_for, finance, contract):
    api = api_for(finance)
    # given a draft invoice for 4 of the 10 units of the first line
    first_line = contract.lines.order_by("position").first()
    response = api.post("/api/v1/invoices", {"contract": contract.pk, "issue_date": "2026-03-10",
                                             "lines": [{"contract_line": first_line.pk, "quantity": "4"}]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["number"] is None
    assert D(body["gross_total"]) == D("432") and len(body["lines"]) == 1
    invoice_id = body["id"]
    # when it is posted
    response = api.post(f"/api/v1/invoices/{invoice_id}/post")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["number"] == "INV-2026-000001" and body["status"] == "posted"
    assert body["links"]["journal_entry"] == f"/api/v1/ledger/journal-entries/{body['journal_entry_id']}"
    # posting again is a conflict
    assert api.post(f"/api/v1/invoices/{invoice_id}/post").status_code == 409
    # a partial payment
    response = api.post("/api/v1/payments", {
        "account": contract.account_id, "date": "2026-03-12", "method": "bank_transfer", "currency": "USD",
        "amount": "500.00", "reference": "INV-2026-000001", "allocations": [{"invoice": invoice_id, "amount": "400"}]})
    assert response.status_code == 201, response.content
    payment = response.json()
    assert D(payment["unapplied_amount"]) == D("100") and payment["number"] == "PAY-2026-000001"
    # the credit applied later
    response = api.post(f"/api/v1/payments/{payment['id']}/allocate", {"invoice": invoice_id, "amount": "32"})
    assert response.status_code == 201, response.content
    body = api.get(f"/api/v1/invoices/{invoice_id}").json()
    assert body["status"] == "paid" and D(body["balance"]) == 0 and len(body["allocations"]) == 2
    # listing
    assert api.get("/api/v1/invoices", {"status": "paid"}).json()["count"] == 1
    assert api.get("/api/v1/payments", {"unapplied": "true"}).json()["count"] == 1


def test_credit_and_write_off_through_the_api(api_for, finance, contract):
    api = api_for(finance)
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    line = invoice.lines.order_by("position").first()
    response = api.post(f"/api/v1/invoices/{invoice.pk}/credit",
                        {"reason": "damaged", "lines": [{"invoice_line": line.pk, "quantity": "1"}]})
    assert response.status_code == 201, response.content
    note = response.json()
    assert note["status"] == "draft" and D(note["gross_total"]) == D("108")
    response = api.post(f"/api/v1/credit-notes/{note['id']}/post")
    assert response.status_code == 200 and response.json()["number"] == "CN-2026-000001"
    response = api.post(f"/api/v1/invoices/{invoice.pk}/credit", {"reason": "goodwill", "amount": "12", "post": True})
    assert response.status_code == 201 and response.json()["status"] == "posted"
    response = api.post(f"/api/v1/invoices/{invoice.pk}/write-off", {"amount": "5000", "reason": "gone"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "amount"
    response = api.post(f"/api/v1/invoices/{invoice.pk}/write-off", {"amount": "1260", "reason": "gone"})
    assert response.status_code == 201, response.content
    assert api.get(f"/api/v1/invoices/{invoice.pk}").json()["status"] == "written_off"
    assert api.get("/api/v1/credit-notes", {"invoice": invoice.pk}).json()["count"] == 2


def test_payment_posted_twice_with_one_idempotency_key_creates_one_payment(api_for, finance, contract):
    api = api_for(finance)
    body = {"account": contract.account_id, "date": "2026-03-12", "method": "card", "currency": "USD",
            "amount": "99.00"}
    first = api.post("/api/v1/payments", body, headers={"Idempotency-Key": "pay-1"})
    second = api.post("/api/v1/payments", body, headers={"Idempotency-Key": "pay-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1 and JournalEntry.objects.count() == 1
    other = api.post("/api/v1/payments", {**body, "amount": "98.00"}, headers={"Idempotency-Key": "pay-1"})
    assert other.status_code == 409


def test_payment_bad_input_is_a_422_naming_the_field(api_for, finance, contract):
    api = api_for(finance)
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    base = {"account": contract.account_id, "date": "2026-03-12", "method": "card", "currency": "USD",
            "amount": "10.00"}
    response = api.post("/api/v1/payments", {**base, "allocations": [{"invoice": invoice.pk, "amount": "11"}]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"allocations"}
    response = api.post("/api/v1/payments", {**base, "allocations": [{"invoice": 999999, "amount": "1"}]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "allocations.0.invoice"
    assert api.post("/api/v1/payments", {**base, "method": "cheque"}).status_code == 422
    assert api.post("/api/v1/payments", {**base, "surprise": 1}).status_code == 422
    assert Payment.objects.count() == 0


def test_permissions(api_for, finance, rep, outsider, manager, contract):
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    # a rep reads their own customer's invoice but may not act on it
    rep_api = api_for(rep)
    assert rep_api.get(f"/api/v1/invoices/{invoice.pk}").status_code == 200
    assert rep_api.post(f"/api/v1/invoices/{invoice.pk}/credit", {"reason": "x", "amount": "1"}).status_code == 403
    assert rep_api.post("/api/v1/invoices", {"contract": contract.pk}).status_code == 403
    assert rep_api.post("/api/v1/payments", {"account": contract.account_id, "date": "2026-03-12", "method": "card",
                                             "currency": "USD", "amount": "1"}).status_code == 403
    assert api_for(manager).post(f"/api/v1/invoices/{invoice.pk}/write-off",
                                 {"amount": "1", "reason": "x"}).status_code == 403
    # another team's rep does not see it at all
    outsider_api = api_for(outsider)
    assert outsider_api.get(f"/api/v1/invoices/{invoice.pk}").status_code == 404
    assert outsider_api.get("/api/v1/invoices").json()["count"] == 0
    assert outsider_api.get("/api/v1/reports/ar-aging").json()["currencies"] == []
    # anonymous
    from django.test import Client

    assert Client().get("/api/v1/invoices").status_code == 401
    assert Invoice.objects.get().status == "posted"


def test_ar_aging_endpoint(api_for, finance, contract):
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))  # due 2026-04-09
    response = api_for(finance).get("/api/v1/reports/ar-aging", {"as_of": "2026-05-20"})  # 41 days past due
    assert response.status_code == 200
    (usd,) = response.json()["currencies"]
    assert usd["currency"] == "USD"
    (row,) = usd["customers"]
    assert row["account"]["id"] == invoice.account_id
    assert D(row["days_31_60"]) == D("1380") and D(row["total"]) == D("1380") and D(row["current"]) == 0
    assert api_for(finance).get("/api/v1/reports/ar-aging", {"as_of": "nope"}).status_code == 422
