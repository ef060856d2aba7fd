"""Sending an invoice over a real local SMTP server: PDF attached, portal link, timeline, audit; refusals."""
import datetime as dt
import re

import pytest
from django.test import Client

from l2c.billing import services as billing
from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.pipeline.models import Activity
from l2c.receivables import services
from l2c.receivables.models import CustomerPortalLink, InvoiceCollection
from l2c.receivables.services import EmailFailed, invoice_send

from .support import customer, pdf_text, posted_invoice

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 5)
LINK_RE = re.compile(r"https://l2c\.example/portal/c/([A-Za-z0-9_-]{43})/")


@pytest.fixture
def invoice(finance, rep):
    return posted_invoice(finance, account=customer(rep, name="北京客户有限公司"), issue_date=DAY)


def test_send_delivers_pdf_and_portal_link_and_records_it(smtp, finance, invoice):
    # when
    link = invoice_send(actor=finance, invoice=invoice, to="ap@customer.example", cc=["boss@customer.example"],
                        message="Thanks for your order.")
    # then: one message with the PDF and a working link to this customer's portal
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "ap@customer.example" and message["Cc"] == "boss@customer.example"
    assert invoice.number in message["Subject"]
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{invoice.number}.pdf"]
    pdf = attachments[0].get_content()
    assert invoice.number in pdf_text(pdf) and "北京客户有限公司" in pdf_text(pdf)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Thanks for your order." in body
    token = LINK_RE.search(body).group(1)
    assert token == link.token
    assert services.portal_link_for_token(token).account == invoice.account
    assert not CustomerPortalLink.objects.filter(token_hash=token).exists()  # only the hash is kept
    # the timeline and the audit trail
    activity = Activity.objects.get(account=invoice.account)
    assert activity.kind == "email" and invoice.number in activity.subject and activity.done_at is not None
    assert AuditEvent.objects.filter(object_type="billing.invoice", object_id=str(invoice.pk),
                                     actor=finance).exists()
    assert InvoiceCollection.objects.get(invoice=invoice).sent_to == "ap@customer.example"


def test_refused_by_server_changes_nothing(dead_smtp, finance, invoice):
    with pytest.raises(EmailFailed):
        invoice_send(actor=finance, invoice=invoice, to="ap@customer.example")
    assert not Activity.objects.exists() and not CustomerPortalLink.objects.exists()
    assert not InvoiceCollection.objects.exists()


def test_bad_input_is_refused_naming_the_field(smtp, finance, invoice):
    with pytest.raises(ValidationFailed) as exc:
        invoice_send(actor=finance, invoice=invoice, to="not-an-address", cc=["x@"], message="x" * 5001)
    assert {e.field for e in exc.value.errors} == {"to", "cc", "message"}
    with pytest.raises(ValidationFailed) as exc:
        invoice_send(actor=finance, invoice=invoice, to="")
    assert exc.value.errors[0].field == "to" and exc.value.errors[0].code == "required"
    assert smtp.messages == [] and not Activity.objects.exists()


def test_only_posted_invoices_are_sent(smtp, finance, rep):
    from l2c.billing.tests.factories import make_contract

    draft = billing.invoice_create_from_contract(actor=finance, contract=make_contract(owner=rep, start=DAY),
                                                 issue_date=DAY)
    with pytest.raises(InvalidTransition):
        invoice_send(actor=finance, invoice=draft, to="ap@customer.example")
    assert smtp.messages == []


def test_reps_may_not_send(smtp, rep, invoice, outsider):
    with pytest.raises(PermissionDenied):
        invoice_send(actor=rep, invoice=invoice, to="ap@customer.example")
    with pytest.raises(PermissionDenied):
        invoice_send(actor=outsider, invoice=invoice, to="ap@customer.example")
    with pytest.raises(NotFound):
        invoice_send(actor=_finance_like_admin(), invoice=999999, to="ap@customer.example")
    assert smtp.messages == []


def _finance_like_admin():
    from l2c.identity.models import User

    return User.objects.create_user(username="boss", password="x", role="admin")


def test_api_send(smtp, api_for, finance, rep, invoice):
    response = api_for(rep).post(f"/api/v1/invoices/{invoice.pk}/send", {"to": "ap@customer.example"})
    assert response.status_code == 403
    response = api_for(finance).post(f"/api/v1/invoices/{invoice.pk}/send", {"to": "bad"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "to"
    response = api_for(finance).post(f"/api/v1/invoices/{invoice.pk}/send",
                                     {"to": "ap@customer.example", "message": "Hello"})
    assert response.status_code == 200, response.content
    assert LINK_RE.match(response.json()["portal_url"])
    assert len(smtp.messages) == 1


def test_send_page(smtp, finance, rep, invoice):
    client = Client()
    client.force_login(rep)
    assert client.get(f"/invoices/{invoice.pk}/send/").status_code == 403
    client.force_login(finance)
    page = client.get(f"/invoices/{invoice.pk}/send/")
    assert page.status_code == 200 and b"ap@customer.example" in page.content  # the contact's address
    response = client.post(f"/invoices/{invoice.pk}/send/", {"to": "ap@customer.example", "cc": "", "message": ""})
    assert response.status_code == 302 and len(smtp.messages) == 1
