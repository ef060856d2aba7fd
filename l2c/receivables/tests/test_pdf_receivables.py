"""Invoice PDF (shipped template, an admin's template), the page and API routes, visibility."""
import datetime as dt

import pytest
from django.test import Client

from l2c.quoting.models import DocumentTemplate
from l2c.receivables.pdf import invoice_context, render_invoice_pdf

from .support import customer, pdf_text, posted_invoice

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 5)


@pytest.fixture
def invoice(finance, rep):
    account = customer(rep, name="上海示例科技有限公司")
    return posted_invoice(finance, account=account, issue_date=DAY,
                          lines=(("2", "100.00", "10"), ("1", "50.00", "20")))


def test_pdf_has_number_chinese_customer_taxes_and_balance(invoice):
    # given 2 × 100 at 10 % and 1 × 50 at 20 %: net 250, tax 20 + 10, gross 280
    text = pdf_text(render_invoice_pdf(invoice))
    assert invoice.number in text
    assert "上海示例科技有限公司" in text
    assert "280.00" in text and "250.00" in text
    assert "Tax 10% on 200.00" in text and "Tax 20% on 50.00" in text
    assert "Balance due" in text and DAY.replace(month=2, day=4).isoformat() in text


def test_context_taxes_group_per_rate_and_hold_plain_values(invoice):
    context = invoice_context(invoice)
    assert [(t["rate"], t["net"], t["tax"]) for t in context["totals"]["taxes"]] == [
        (10, 200, 20), (20, 50, 10)]
    assert context["invoice"]["payment_terms"] == "Net 30"
    assert all(not hasattr(v, "_meta") for v in context["invoice"].values())


def test_an_active_admin_template_is_used(invoice, admin_user):
    DocumentTemplate.objects.create(kind="invoice", name="Mine", html="<p>CUSTOM {{ invoice.number }} "
                                    "{{ totals.balance|money:invoice.currency }}</p>", css="", active=True,
                                    edited_by=admin_user)
    text = pdf_text(render_invoice_pdf(invoice))
    assert f"CUSTOM {invoice.number} 280.00" in text


def test_a_quote_template_is_not_used_for_invoices(invoice):
    DocumentTemplate.objects.create(kind="quote", name="Q", html="<p>QUOTE TEMPLATE</p>", active=True)
    assert "QUOTE TEMPLATE" not in pdf_text(render_invoice_pdf(invoice))


def test_page_route_serves_the_pdf_to_who_may_see_it(invoice, rep, finance, outsider):
    for user in (rep, finance):
        client = Client()
        client.force_login(user)
        response = client.get(f"/invoices/{invoice.pk}/pdf")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert invoice.number in pdf_text(response.content)
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/invoices/{invoice.pk}/pdf").status_code == 404
    assert Client().get(f"/invoices/{invoice.pk}/pdf").status_code == 302  # to the login page


def test_api_route_serves_the_pdf(invoice, api_for, rep, outsider):
    response = api_for(rep).get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert api_for(outsider).get(f"/api/v1/invoices/{invoice.pk}/pdf").status_code == 404
    assert api_for(rep).get("/api/v1/invoices/999999/pdf").status_code == 404
