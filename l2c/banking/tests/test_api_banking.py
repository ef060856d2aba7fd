"""Banking API: upload (camt.053 and CSV with mapping JSON), read, match/ignore/restore, permissions."""
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from l2c.banking.models import BankStatement, LineStatus
from l2c.billing.models import InvoiceStatus, Payment

from .conftest import post_invoice

URL = "/api/v1/bank-statements"


def upload(api, name, data, mapping=None, headers=None):
    body = {"file": SimpleUploadedFile(name, data)}
    if mapping is not None:
        body["mapping"] = json.dumps(mapping)
    extra = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"}
    for key, value in (headers or {}).items():
        extra["HTTP_" + key.upper().replace("-", "_")] = value
    return api.client.post(URL, body, **extra)


def test_upload_camt_and_read_it(api_for, finance, two_invoices, camt_sample):
    api = api_for(finance)
    response = upload(api, "stmt.xml", camt_sample)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_format"] == "camt053" and body["lines_count"] == 4 and body["matched_count"] == 2
    first = body["lines"][0]
    assert first["status"] == "matched" and first["match_method"] == "invoice_number"
    assert [i["number"] for i in first["invoices"]] == ["INV-2026-000001"] and first["payment_number"]
    listing = api.get(URL).json()
    assert listing["count"] == 1 and listing["items"][0]["unmatched_count"] == 2
    assert api.get(URL, {"status": "open"}).json()["count"] == 1
    detail = api.get(f"{URL}/{body['id']}")
    assert detail.status_code == 200 and len(detail.json()["lines"]) == 4
    # the same file again
    again = upload(api, "stmt-copy.xml", camt_sample)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_file"


def test_upload_csv_with_mapping_and_bad_mapping(api_for, finance, two_invoices):
    api = api_for(finance)
    data = b"Date,Amount,Name,Text\n2026-03-12,1380.00,Contoso GmbH,order 4711\n"
    bad = upload(api, "a.csv", data, mapping={"date": "Datum", "amount": "Amount", "default_currency": "USD"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"mapping.date"}
    missing = upload(api, "a.csv", data)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "mapping"
    not_json = api.client.post(URL, {"file": SimpleUploadedFile("a.csv", data), "mapping": "{date"},
                               HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["code"] == "invalid_json"
    assert BankStatement.objects.count() == 0
    good = upload(api, "a.csv", data, mapping={"date": "Date", "amount": "Amount", "counterparty": "Name",
                                               "reference": "Text", "default_currency": "USD"})
    assert good.status_code == 201 and good.json()["lines"][0]["match_method"] == "amount_customer"


def test_bad_file_is_a_clear_422(api_for, finance):
    api = api_for(finance)
    response = upload(api, "x.xml", b"<Document xmlns='urn:foo'/>")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "wrong_namespace" and "camt.053" in body["detail"]
    assert BankStatement.objects.count() == 0


def test_upload_is_idempotent(api_for, finance, camt_sample):
    api = api_for(finance)
    first = upload(api, "stmt.xml", camt_sample, headers={"Idempotency-Key": "k-bank-1"})
    replay = upload(api, "stmt.xml", camt_sample, headers={"Idempotency-Key": "k-bank-1"})
    assert first.status_code == replay.status_code == 201
    assert first.json()["id"] == replay.json()["id"] and BankStatement.objects.count() == 1


def test_match_ignore_restore_lines(api_for, finance, rep):
    invoice = post_invoice(finance, name="Northwind Traders Ltd", owner=rep)
    api = api_for(finance)
    data = b"Date,Amount,Name,Text\n2026-03-12,1500.00,Someone,no ref\n2026-03-12,-4.00,Bank,fee\n"
    body = upload(api, "a.csv", data, mapping={"date": "Date", "amount": "Amount", "counterparty": "Name",
                                               "reference": "Text", "default_currency": "USD"}).json()
    sid, (line, fee) = body["id"], body["lines"]
    too_much = api.post(f"{URL}/{sid}/lines/{line['id']}/match", {"invoice": invoice.pk, "amount": "1600.00"})
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount"
    unknown = api.post(f"{URL}/{sid}/lines/{line['id']}/match", {"invoice": 999999})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "invoice"
    assert Payment.objects.count() == 0
    matched = api.post(f"{URL}/{sid}/lines/{line['id']}/match", {"invoice": invoice.pk})
    assert matched.status_code == 200, matched.content
    assert matched.json()["status"] == "matched" and matched.json()["match_method"] == "manual"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.get().unapplied_amount == Decimal("120")
    twice = api.post(f"{URL}/{sid}/lines/{line['id']}/match", {"invoice": invoice.pk})
    assert twice.status_code == 409
    ignored = api.post(f"{URL}/{sid}/lines/{fee['id']}/ignore", {"note": "fee"})
    assert ignored.status_code == 200 and ignored.json()["status"] == LineStatus.IGNORED
    restored = api.post(f"{URL}/{sid}/lines/{fee['id']}/restore")
    assert restored.status_code == 200 and restored.json()["status"] == LineStatus.UNMATCHED
    assert api.post(f"{URL}/{sid}/match").json() == {"matched": 0, "review": 0}
    # a line of another statement id is a 404
    assert api.post(f"{URL}/{sid + 1}/lines/{fee['id']}/ignore").status_code == 404


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_sales_roles_get_403(api_for, request, finance, camt_sample, role):
    user = request.getfixturevalue(role)
    statement = upload(api_for(finance), "stmt.xml", camt_sample).json()
    api = api_for(user)
    assert upload(api, "other.xml", camt_sample.replace(b"71", b"72")).status_code == 403
    assert api.get(URL).status_code == 403
    assert api.get(f"{URL}/{statement['id']}").status_code == 403
    line = statement["lines"][0]["id"]
    assert api.post(f"{URL}/{statement['id']}/lines/{line}/ignore").status_code == 403
    assert BankStatement.objects.count() == 1


def test_anonymous_gets_401(client):
    assert client.get(URL).status_code == 401
