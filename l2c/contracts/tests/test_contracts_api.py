"""/api/v1/contracts: list, read, signed PDF, terminate, renew — and who may see or do what."""
import datetime as dt

import pytest
from django.utils import timezone

from l2c.contracts.models import ContractStatus

from .factories import _signing_var_dir, make_sent_quote, sign, signing_var  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(rep):
    quote, link, _token = make_sent_quote(owner=rep, contract_start=timezone.localdate(), term=12)
    return sign(link, quote)


def test_list_and_filters(api_for, rep, contract):
    api = api_for(rep)
    body = api.get("/api/v1/contracts").json()
    assert body["count"] == 1 and body["items"][0]["number"] == contract.number
    assert body["items"][0]["gross_total"] == "1380.0000" and body["items"][0]["status"] == "active"
    assert api.get("/api/v1/contracts", {"status": "terminated"}).json()["count"] == 0
    assert api.get("/api/v1/contracts", {"account": contract.account_id}).json()["count"] == 1
    assert api.get("/api/v1/contracts", {"q": "Acme"}).json()["count"] == 1
    assert api.get("/api/v1/contracts", {"q": "nothing-like-this"}).json()["count"] == 0
    bad = api.get("/api/v1/contracts", {"status": "happy"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_detail_has_lines_signature_and_links(api_for, rep, contract):
    body = api_for(rep).get(f"/api/v1/contracts/{contract.pk}").json()
    assert [line["quantity"] for line in body["lines"]] == ["10.0000", "1.0000"]
    assert body["signature"]["signer_name"] == "Jane Buyer"
    assert body["signature"]["signed_pdf_sha256"] == contract.signature.signed_pdf_sha256
    assert body["links"]["signed_pdf"] == f"/api/v1/contracts/{contract.pk}/signed-pdf"


def test_signed_pdf(api_for, rep, contract):
    response = api_for(rep).get(f"/api/v1/contracts/{contract.pk}/signed-pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content == bytes(contract.signature.signed_pdf)


def test_visibility(api_for, contract, outsider, rep2, manager, finance, admin_user):
    for user in (outsider, rep2):
        api = api_for(user)
        assert api.get(f"/api/v1/contracts/{contract.pk}").status_code == 404
        assert api.get(f"/api/v1/contracts/{contract.pk}/signed-pdf").status_code == 404
        assert api.post(f"/api/v1/contracts/{contract.pk}/renew").status_code == 404
        assert api.get("/api/v1/contracts").json()["count"] == 0
    for user in (manager, finance, admin_user):
        assert api_for(user).get(f"/api/v1/contracts/{contract.pk}").status_code == 200


def test_terminate(api_for, rep, finance, contract):
    path = f"/api/v1/contracts/{contract.pk}/terminate"
    assert api_for(rep).post(path, {"date": str(contract.start_date), "reason": "No"}).status_code == 403
    api = api_for(finance)
    bad = api.post(path, {"date": str(contract.end_date + dt.timedelta(days=1)), "reason": "Breach"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "date"
    assert api.post(path, {"date": "2027-02-30", "reason": "Breach"}).status_code == 422
    assert api.post(path, {"date": str(contract.start_date), "reason": "Breach", "extra": 1}).status_code == 422
    done = api.post(path, {"date": str(contract.start_date), "reason": "Breach of payment terms"})
    assert done.status_code == 200 and done.json()["status"] == ContractStatus.TERMINATED
    assert done.json()["termination_reason"] == "Breach of payment terms"
    again = api.post(path, {"date": str(contract.start_date), "reason": "Again"})
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_renew(api_for, rep, finance, contract):
    path = f"/api/v1/contracts/{contract.pk}/renew"
    assert api_for(finance).post(path).status_code == 403
    response = api_for(rep).post(path)
    assert response.status_code == 200 and response.json()["renewal_opportunity_id"] is not None
    assert api_for(rep).post(path).status_code == 409


def test_anonymous_is_401(client, contract):
    assert client.get("/api/v1/contracts").status_code == 401
