"""Customer statements (numbers as of a date, HTML, PDF, API) and the customer portal (/portal/c/<token>/):
only its own account, expiry, revocation, unknown tokens; who may create links."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from l2c.billing import services as billing
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.receivables import selectors, services
from l2c.receivables.models import CustomerPortalLink

from .support import customer, pdf_text, posted_invoice

pytestmark = pytest.mark.django_db
D = Decimal
DAY = dt.date(2026, 1, 5)


@pytest.fixture
def book(finance, rep):
    """inv1 110 due Feb 4, inv2 110 due Feb 14; Feb 10: 130 received, 110 to inv1 (20 unapplied);
    Feb 20: 30 on inv2. Another customer has an invoice too."""
    account = customer(rep, name="深圳客户 Gamma")
    inv1 = posted_invoice(finance, account=account, issue_date=DAY)
    inv2 = posted_invoice(finance, account=account, issue_date=DAY + dt.timedelta(days=10))
    billing.payment_record(actor=finance, account=account, date=dt.date(2026, 2, 10), method="bank_transfer",
                           currency="USD", amount=D("130"), reference="T1", allocations=[(inv1, D("110"))])
    billing.payment_record(actor=finance, account=account, date=dt.date(2026, 2, 20), method="card",
                           currency="USD", amount=D("30"), allocations=[(inv2, D("30"))])
    other = posted_invoice(finance, account=customer(rep, name="Other Co"), issue_date=DAY)
    return {"account": account, "inv1": inv1, "inv2": inv2, "other": other}


def _usd(statement):
    [group] = statement["currencies"]
    assert group["currency"] == "USD"
    return group


def test_statement_numbers_as_of_dates(book):
    account = book["account"]
    early = _usd(selectors.statement(account=account, as_of=dt.date(2026, 2, 5)))
    assert [r["number"] for r in early["invoices"]] == [book["inv1"].number, book["inv2"].number]
    assert (early["open_total"], early["overdue"], early["credit"], early["balance"]) == (D(220), D(110), 0, D(220))
    assert early["payments"] == []
    mid = _usd(selectors.statement(account=account, as_of=dt.date(2026, 2, 15)))
    assert [(r["number"], r["balance"], r["days_overdue"]) for r in mid["invoices"]] == [
        (book["inv2"].number, D(110), 1)]
    assert [(p["amount"], p["unapplied"]) for p in mid["payments"]] == [(D(130), D(20))]
    assert (mid["open_total"], mid["credit"], mid["balance"]) == (D(110), D(20), D(90))
    late = _usd(selectors.statement(account=account, as_of=dt.date(2026, 2, 25)))
    assert [r["balance"] for r in late["invoices"]] == [D(80)]
    assert (late["credit"], late["balance"]) == (D(20), D(60))
    assert len(late["payments"]) == 2
    # payments before `since` are left out of the list but still count in the credit
    narrow = _usd(selectors.statement(account=account, as_of=dt.date(2026, 2, 25), since=dt.date(2026, 2, 15)))
    assert len(narrow["payments"]) == 1 and narrow["credit"] == D(20)


def test_statement_pdf_and_page(book, rep, outsider):
    client = Client()
    client.force_login(rep)
    url = f"/receivables/customers/{book['account'].pk}/statement/"
    page = client.get(url, {"as_of": "2026-02-25"})
    assert page.status_code == 200 and b"60.00" in page.content
    assert b"Customer links" not in page.content  # reps do not make customer links
    response = client.get(f"/receivables/customers/{book['account'].pk}/statement.pdf", {"as_of": "2026-02-25"})
    text = pdf_text(response.content)
    assert response["Content-Type"] == "application/pdf" and "深圳客户 Gamma" in text
    assert book["inv2"].number in text and "60.00" in text and book["inv1"].number not in text
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_statement_api(book, api_for, rep, outsider):
    response = api_for(rep).get(f"/api/v1/accounts/{book['account'].pk}/statement", {"as_of": "2026-02-15"})
    assert response.status_code == 200
    [group] = response.json()["currencies"]
    assert D(group["balance"]) == D(90) and D(group["credit"]) == D(20)
    assert api_for(outsider).get(f"/api/v1/accounts/{book['account'].pk}/statement").status_code == 404
    pdf = api_for(rep).get(f"/api/v1/accounts/{book['account'].pk}/statement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_portal_shows_only_its_account(book, finance):
    link, token = services.portal_link_create(actor=finance, account=book["account"], email="ap@gamma.example")
    client = Client()
    page = client.get(f"/portal/c/{token}/")
    assert page.status_code == 200 and page["Cache-Control"].startswith("no-store")
    content = page.content.decode()
    assert book["inv2"].number in content and book["other"].number not in content
    assert book["inv1"].number not in content.split('id="statement"')[0]  # paid: not among the open invoices
    pdf = client.get(f"/portal/c/{token}/invoices/{book['inv2'].pk}.pdf")
    assert pdf.status_code == 200 and book["inv2"].number in pdf_text(pdf.content)
    assert client.get(f"/portal/c/{token}/invoices/{book['other'].pk}.pdf").status_code == 404
    statement = client.get(f"/portal/c/{token}/statement.pdf")
    assert statement.status_code == 200 and "深圳客户 Gamma" in pdf_text(statement.content)
    link.refresh_from_db()
    assert link.last_used_at is not None


def test_portal_link_expiry_revocation_and_unknown(book, finance):
    link, token = services.portal_link_create(actor=finance, account=book["account"], days=1)
    client = Client()
    assert client.get(f"/portal/c/{token}/").status_code == 200
    CustomerPortalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for path in ("", "statement.pdf", f"invoices/{book['inv2'].pk}.pdf"):
        response = client.get(f"/portal/c/{token}/{path}")
        assert response.status_code == 410 and b"expired" in response.content
    link2, token2 = services.portal_link_create(actor=finance, account=book["account"])
    link2 = services.portal_link_revoke(actor=finance, link=link2)
    assert client.get(f"/portal/c/{token2}/").status_code == 410
    assert client.get("/portal/c/not-a-token/").status_code == 404
    assert services.portal_link_state(link2) == "revoked"


def test_portal_link_rules(book, finance, rep):
    with pytest.raises(PermissionDenied):
        services.portal_link_create(actor=rep, account=book["account"])
    with pytest.raises(ValidationFailed) as exc:
        services.portal_link_create(actor=finance, account=book["account"], email="nope", days=0)
    assert {e.field for e in exc.value.errors} == {"email", "days"}
    assert not CustomerPortalLink.objects.exists()


def test_portal_link_page_and_api(book, finance, rep, api_for):
    client = Client()
    client.force_login(rep)
    url = f"/receivables/customers/{book['account'].pk}/portal-links/"
    assert client.post(url, {"email": ""}).status_code == 403
    client.force_login(finance)
    response = client.post(url, {"email": "ap@gamma.example"}, follow=True)
    assert b"new-portal-url" in response.content and CustomerPortalLink.objects.count() == 1
    assert api_for(rep).post(f"/api/v1/accounts/{book['account'].pk}/portal-links", {}).status_code == 403
    created = api_for(finance).post(f"/api/v1/accounts/{book['account'].pk}/portal-links", {"days": 5})
    assert created.status_code == 201
    token = created.json()["portal_url"].rstrip("/").rsplit("/", 1)[1]
    assert Client().get(f"/portal/c/{token}/").status_code == 200
