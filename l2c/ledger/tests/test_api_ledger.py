"""The ledger API: every route for finance/admin, 403 for sales roles, bad input, idempotency."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.ledger.models import ExchangeRate, JournalEntry, LedgerAccount, Period

from .factories import customer, invoice_entry, payment_entry

BASE = "/api/v1/ledger"


def manual(lines=None, **extra):
    return {"date": "2026-03-15", "journal": "GENERAL", "memo": "Opening cash", "lines": lines or [
        {"account": "1000", "debit": "500.00"}, {"account": "3000", "credit": "500.00"}], **extra}


@pytest.mark.parametrize("path", [
    "/accounts", "/accounts/1", "/journal-entries", "/journal-entries/1", "/periods", "/exchange-rates",
    "/reports/trial-balance", "/reports/general-ledger?account=1000", "/reports/ar-subledger"])
def test_sales_roles_get_403_on_every_read(api_for, rep, manager, path):
    for user in (rep, manager):
        response = api_for(user).get(BASE + path)
        assert response.status_code == 403, (user, path, response.content)


def test_sales_roles_get_403_on_every_write(api_for, rep, finance):
    entry = invoice_entry(finance, customer())
    client = api_for(rep)
    for path, body in [("/accounts", {"code": "9", "name": "x", "type": "asset"}), ("/journal-entries", manual()),
                       (f"/journal-entries/{entry.pk}/reverse", {}), ("/periods/2026-03/lock", {}),
                       ("/exchange-rates", {"currency": "USD", "date": "2026-03-01", "rate": "7"})]:
        assert client.post(BASE + path, body).status_code == 403, path
    assert client.patch(f"{BASE}/accounts/1", {"name": "x"}).status_code == 403
    assert JournalEntry.objects.count() == 1 and not Period.objects.filter(is_locked=True).exists()


def test_anonymous_gets_401(client, db):
    assert client.get(BASE + "/accounts").status_code == 401


def test_accounts_list_create_patch(api_for, finance):
    client = api_for(finance)
    response = client.get(BASE + "/accounts", {"limit": 50})
    assert response.status_code == 200
    assert [a["code"] for a in response.json()["items"]][:3] == ["1000", "1100", "1150"]
    response = client.post(BASE + "/accounts", {"code": "4100", "name": "Training revenue", "type": "revenue"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["normal_balance"] == "credit" and created["is_active"] is True
    response = client.patch(f"{BASE}/accounts/{created['id']}", {"name": "Training", "is_active": False})
    assert response.status_code == 200 and response.json()["name"] == "Training"
    assert not LedgerAccount.objects.get(code="4100").is_active
    response = client.post(BASE + "/accounts", {"code": "4100", "name": "x", "type": "revenue"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "code"
    response = client.post(BASE + "/accounts", {"code": "4200", "name": "x", "type": "nonsense"})
    assert response.status_code == 422
    assert client.patch(f"{BASE}/accounts/999999", {"name": "x"}).status_code == 404


def test_post_a_manual_entry_and_read_it(api_for, finance):
    client = api_for(finance)
    response = client.post(BASE + "/journal-entries", manual())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == "JE-GENERAL-2026-000001" and body["journal"] == "GENERAL"
    assert [(line["account"], line["debit"], line["credit"]) for line in body["lines"]] == [
        ("1000", "500.00", "0.00"), ("3000", "0.00", "500.00")]
    assert body["total"] == "500.00" and body["reversed_by"] is None
    assert client.get(f"{BASE}/journal-entries/{body['id']}").json()["number"] == body["number"]
    assert client.get(f"{BASE}/journal-entries/999999").status_code == 404


def test_bad_entries_get_422_naming_the_line(api_for, finance):
    client = api_for(finance)
    cases = [
        (manual([{"account": "1000", "debit": "500"}, {"account": "3000", "credit": "400"}]), "lines"),
        (manual([{"account": "1000", "debit": "-5"}, {"account": "3000", "credit": "-5"}]), "lines.0.debit"),
        (manual([{"account": "1000", "debit": "5", "credit": "5"}, {"account": "3000", "credit": "5"}]),
         "lines.0.credit"),
        (manual([{"account": "1100", "debit": "5"}, {"account": "3000", "credit": "5"}]), "lines.0.customer"),
        (manual([{"account": "1000", "debit": "5"}]), "lines"),
        (manual(journal="NOPE"), "journal"),
        (manual(extra_field=1), "extra_field"),
    ]
    for body, field in cases:
        response = client.post(BASE + "/journal-entries", body)
        assert response.status_code == 422, (body, response.content)
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    assert JournalEntry.objects.count() == 0


def test_posting_into_a_locked_period_via_api(api_for, finance):
    client = api_for(finance)
    assert client.post(BASE + "/periods/2026-03/lock").status_code == 200
    response = client.post(BASE + "/journal-entries", manual())
    assert response.status_code == 422
    assert "2026-03 is locked" in response.json()["detail"]
    assert JournalEntry.objects.count() == 0


def test_idempotency_key_replays_the_first_entry(api_for, finance):
    client = api_for(finance)
    first = client.post(BASE + "/journal-entries", manual(), headers={"Idempotency-Key": "je-1"})
    again = client.post(BASE + "/journal-entries", manual(), headers={"Idempotency-Key": "je-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert JournalEntry.objects.count() == 1


def test_reverse_via_api_and_second_reversal_conflicts(api_for, finance):
    client = api_for(finance)
    entry = invoice_entry(finance, customer())
    response = client.post(f"{BASE}/journal-entries/{entry.pk}/reverse", {"memo": "Wrong customer"})
    assert response.status_code == 201, response.content
    reversal = response.json()
    assert reversal["reversal_of"] == {"id": entry.pk, "number": entry.number}
    original = client.get(f"{BASE}/journal-entries/{entry.pk}").json()
    assert original["reversed_by"] == {"id": reversal["id"], "number": reversal["number"]}
    again = client.post(f"{BASE}/journal-entries/{entry.pk}/reverse", {})
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    assert client.post(f"{BASE}/journal-entries/999999/reverse", {}).status_code == 404


def test_entry_list_filters(api_for, finance):
    cust, other = customer("A"), customer("B")
    invoice = invoice_entry(finance, cust, source_id=7)
    payment_entry(finance, other, date=dt.date(2026, 4, 2))
    client = api_for(finance)

    def numbers(**params):
        response = client.get(BASE + "/journal-entries", params)
        assert response.status_code == 200, response.content
        return [e["number"] for e in response.json()["items"]]

    assert numbers() == ["JE-CASH-2026-000001", invoice.number]
    assert numbers(journal="sales") == [invoice.number]
    assert numbers(account="2200") == [invoice.number]
    assert numbers(source_type="billing.invoice", source_id=7) == [invoice.number]
    assert numbers(date="2026-04-02") == ["JE-CASH-2026-000001"]
    assert numbers(date_from="2026-04-01") == ["JE-CASH-2026-000001"]
    assert numbers(customer=cust.pk) == [invoice.number]
    assert client.get(BASE + "/journal-entries", {"date": "2026-02-30"}).status_code == 422


def test_periods_lock_unlock(api_for, finance, admin_user):
    client = api_for(finance)
    response = client.post(BASE + "/periods/2026-03/lock")
    assert response.status_code == 200 and response.json()["is_locked"] is True
    assert response.json()["locked_by"]["username"] == "finance"
    assert client.post(BASE + "/periods/2026-03/lock").status_code == 409
    assert client.post(BASE + "/periods/2026-03/unlock").status_code == 403
    for bad in ("2026-13", "26-03", "march"):
        assert client.post(f"{BASE}/periods/{bad}/lock").status_code == 422
    listed = {p["period"]: p for p in client.get(BASE + "/periods").json()}
    assert listed["2026-03"]["is_locked"] is True
    response = api_for(admin_user).post(BASE + "/periods/2026-03/unlock")
    assert response.status_code == 200 and response.json()["is_locked"] is False


def test_exchange_rates(api_for, finance):
    client = api_for(finance)
    response = client.post(BASE + "/exchange-rates", {"currency": "USD", "date": "2026-03-01", "rate": "7.1234"})
    assert response.status_code == 201 and Decimal(response.json()["rate"]) == Decimal("7.1234")
    assert client.post(BASE + "/exchange-rates", {"currency": "USD", "date": "2026-03-01", "rate": "0"}).status_code == 422
    assert client.post(BASE + "/exchange-rates", {"currency": "CNY", "date": "2026-03-01", "rate": "1"}).status_code == 422
    response = client.get(BASE + "/exchange-rates", {"currency": "usd"})
    assert [r["date"] for r in response.json()["items"]] == ["2026-03-01"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("rates.csv", b"currency,date,rate\nEUR,2026-03-01,7.9\n", content_type="text/csv")
    response = client.client.post(BASE + "/exchange-rates/import", {"file": upload},
                                  HTTP_AUTHORIZATION=f"Bearer {client.token}")
    assert response.status_code == 201 and response.json() == {"imported": 1}
    assert ExchangeRate.objects.get(currency="EUR").rate == Decimal("7.9")


def test_reports(api_for, finance):
    cust = customer("Acme")
    invoice_entry(finance, cust)
    payment_entry(finance, cust, amount="50.00", date=dt.date(2026, 3, 20))
    client = api_for(finance)
    tb = client.get(BASE + "/reports/trial-balance", {"as_of": "2026-03-31"}).json()
    assert {r["account"]: r["balance"] for r in tb["rows"]} == {
        "1000": "50.00", "1100": "63.00", "2100": "-100.00", "2200": "-13.00"}
    assert tb["debit"] == tb["credit"] == "163.00" and tb["balance"] == "0.00" and tb["currency"] == "CNY"
    # the short path of the issue answers the same
    assert client.get("/api/v1/reports/trial-balance", {"as_of": "2026-03-31"}).json() == tb
    gl = client.get(BASE + "/reports/general-ledger", {"account": "1100", "from": "2026-03-16", "to": "2026-03-31"})
    assert gl.status_code == 200, gl.content
    gl = gl.json()
    assert gl["opening"] == "113.00" and gl["closing"] == "63.00"
    assert [(r["credit"], r["balance"]) for r in gl["rows"]] == [("50.00", "63.00")]
    assert client.get(BASE + "/reports/general-ledger", {"account": "nope"}).status_code == 422
    assert client.get(BASE + "/reports/general-ledger").status_code == 422
    ar = client.get(BASE + "/reports/ar-subledger", {"as_of": "2026-03-31"}).json()
    assert ar["rows"] == [{"customer": {"id": cust.pk, "name": "Acme"}, "debit": "113.00", "credit": "50.00",
                           "balance": "63.00"}]
    assert ar["total"] == ar["control"] == "63.00" and ar["matches"] is True
    early = client.get(BASE + "/reports/ar-subledger", {"as_of": "2026-03-01"}).json()
    assert early["rows"] == [] and early["control"] == "0.00"
