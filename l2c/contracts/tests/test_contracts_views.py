"""Contract pages: list, detail with the signature's verification (a tampered PDF is detected), actions."""
import pytest
from django.utils import timezone

from l2c.contracts.models import ContractStatus, Signature

from .factories import _signing_var_dir, make_sent_quote, sign, signing_var  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(rep):
    quote, link, _token = make_sent_quote(owner=rep, contract_start=timezone.localdate(), term=12)
    return sign(link, quote)


def test_list_shows_only_visible_contracts(client, rep, outsider, contract, django_assert_max_num_queries):
    client.force_login(rep)
    with django_assert_max_num_queries(12):
        page = client.get("/contracts/")
    assert page.status_code == 200 and contract.number in page.content.decode()
    assert "1,380.00 USD" in page.content.decode()
    client.force_login(outsider)
    assert contract.number not in client.get("/contracts/").content.decode()


def test_detail_shows_lines_signature_and_a_valid_verdict(client, rep, contract):
    client.force_login(rep)
    page = client.get(f"/contracts/{contract.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Signature valid" in text and "Jane Buyer" in text and contract.signature.signed_pdf_sha256 in text
    assert "Widget" in text and "Extended warranty" not in text  # the optional line is not in the contract
    assert "Terminate the contract" not in text  # a rep may not terminate
    assert "Start renewal" in text


def test_a_tampered_signed_pdf_is_detected_on_the_contract_page(client, manager, contract):
    # given: someone changed one byte of the quote's pages inside the stored signed document
    data = bytearray(contract.signature.signed_pdf)
    data[len(data) // 4] ^= 0x01
    Signature.objects.filter(pk=contract.signature_id).update(signed_pdf=bytes(data))
    # when
    client.force_login(manager)
    text = client.get(f"/contracts/{contract.pk}/").content.decode()
    # then
    assert "Signature NOT valid" in text and "Signature valid</strong>" not in text
    assert "No signature recorded in L2C matches this file." in text


def test_other_reps_get_404_and_finance_sees(client, outsider, rep2, finance, contract):
    for user in (outsider, rep2):
        client.force_login(user)
        assert client.get(f"/contracts/{contract.pk}/").status_code == 404
        assert client.get(f"/contracts/{contract.pk}/signed-pdf/").status_code == 404
        assert client.post(f"/contracts/{contract.pk}/terminate/", {"date": "2027-01-01", "reason": "x"}).status_code == 404
    client.force_login(finance)
    page = client.get(f"/contracts/{contract.pk}/")
    assert page.status_code == 200 and "Terminate the contract" in page.content.decode()
    pdf = client.get(f"/contracts/{contract.pk}/signed-pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content == bytes(contract.signature.signed_pdf)


def test_terminate_from_the_page(client, rep, manager, contract):
    path = f"/contracts/{contract.pk}/terminate/"
    client.force_login(rep)
    assert client.post(path, {"date": str(contract.start_date), "reason": "x"}).status_code == 403
    client.force_login(manager)
    bad = client.post(path, {"date": str(contract.start_date), "reason": ""})
    assert bad.status_code == 422
    outside = client.post(path, {"date": "1999-01-01", "reason": "Breach"})
    assert outside.status_code == 422 and "within the contract" in outside.content.decode()
    done = client.post(path, {"date": str(contract.start_date), "reason": "Breach"})
    assert done.status_code == 302
    contract.refresh_from_db()
    assert contract.status == ContractStatus.TERMINATED


def test_renew_from_the_page_and_the_opportunity_link(client, rep, contract):
    client.force_login(rep)
    response = client.post(f"/contracts/{contract.pk}/renew/")
    contract.refresh_from_db()
    assert response.status_code == 302 and contract.renewal_opportunity_id is not None
    assert response["Location"] == f"/opportunities/{contract.renewal_opportunity_id}/"
    link = client.get(f"/opportunities/{contract.opportunity_id}/contract/")
    assert link.status_code == 302 and link["Location"] == f"/contracts/{contract.pk}/"
    assert client.get(f"/opportunities/{contract.renewal_opportunity_id}/contract/").status_code == 404


def test_anonymous_is_sent_to_login(client, contract):
    response = client.get(f"/contracts/{contract.pk}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
