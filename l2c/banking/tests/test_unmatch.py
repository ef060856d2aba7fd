"""Unmatching a bank line: the payment the match made is reversed, the invoice is open again and the line is
back in review (automatic and manual matches alike); refusals change nothing; the API route and the page action
(mounted here through a test URLconf until the lead wires them)."""
import datetime as dt
from decimal import Decimal

import pytest
from django.urls import include, path

from l2c.banking import services
from l2c.banking.models import BankStatementLine, LineStatus, MatchMethod
from l2c.banking.unmatch import bank_line_unmatch
from l2c.billing.models import InvoiceStatus, Payment
from l2c.billing.tests.factories import account_balance, assert_books_balance, entry_lines
from l2c.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from l2c.ledger import selectors as ledger_selectors
from l2c.ledger import services as ledger

D = Decimal
REVERSAL_DAY = dt.date(2026, 3, 20)


def _test_urlpatterns():
    from l2c import urls as project_urls
    from l2c.api import L2CNinjaAPI
    from l2c.api import api as main_api
    from l2c.banking import urls as banking_urls
    from l2c.banking import views_unmatch
    from l2c.banking.api_unmatch import router

    test_api = L2CNinjaAPI(title="unmatch test", version="unmatch-test", urls_namespace="api_unmatch_test",
                           auth=main_api.auth, parser=main_api.parser)
    test_api._exception_handlers = dict(main_api._exception_handlers)
    test_api.add_router("/", router)
    others = [p for p in project_urls.urlpatterns if getattr(p, "namespace", None) != "banking"]
    return [path("api/v1/", test_api.urls),
            path("", include(([*banking_urls.urlpatterns, *views_unmatch.urlpatterns], "banking"))), *others]


urlpatterns = _test_urlpatterns()


@pytest.fixture
def statement(finance, two_invoices, camt_sample):
    """The sample statement: line 1 matched by invoice number, line 2 by amount and customer, line 4 (99.99
    from a stranger) unmatched."""
    return services.statement_import(actor=finance, file_name="camt.xml", data=camt_sample)


def lines(statement):
    return list(statement.lines.order_by("position"))


def books_sound():
    assert_books_balance()
    assert ledger_selectors.trial_balance(REVERSAL_DAY).balance == 0
    assert ledger_selectors.ar_subledger(REVERSAL_DAY).matches


def test_unmatching_an_automatic_match_reverses_the_payment_and_reopens_the_invoice(finance, two_invoices,
                                                                                     statement):
    first, _second = two_invoices
    one = lines(statement)[0]
    assert (one.status, one.match_method) == (LineStatus.MATCHED, MatchMethod.INVOICE_NUMBER)
    payment = one.payment
    # when
    line = bank_line_unmatch(actor=finance, line=one, reason="paid for another customer", date=REVERSAL_DAY)
    # then the line is back in review
    line.refresh_from_db()
    assert (line.status, line.match_method, line.payment_id) == (LineStatus.UNMATCHED, "", None)
    assert payment.number in line.review_note and "paid for another customer" in line.review_note
    assert line.decided_by == finance
    assert statement.lines.filter(status=LineStatus.UNMATCHED, amount__gt=0).filter(pk=line.pk).exists()
    # the invoice is open again, the payment reversed, the books back where they were before the match
    first.refresh_from_db()
    assert (first.status, first.balance, first.amount_paid) == (InvoiceStatus.POSTED, D("1380"), D("0"))
    payment.refresh_from_db()
    assert payment.is_reversed and payment.reversal_date == REVERSAL_DAY
    assert entry_lines(payment.reversal_entry) == [("1000", D("0"), D("1380")), ("1100", D("1380"), D("0"))]
    assert account_balance("1100", customer=first.account) == D("1380")
    books_sound()


def test_unmatching_a_manual_match(finance, two_invoices, statement):
    first, _second = two_invoices
    one = lines(statement)[0]
    bank_line_unmatch(actor=finance, line=one, reason="wrong invoice", date=REVERSAL_DAY)
    one.refresh_from_db()
    # matched by hand to INV-1 again (part of it), then unmatched again
    services.line_match(actor=finance, line=one, invoice=first, amount="1000.00")
    one.refresh_from_db()
    assert (one.status, one.match_method) == (LineStatus.MATCHED, MatchMethod.MANUAL)
    payment = one.payment
    assert payment.unapplied_amount == D("380")
    bank_line_unmatch(actor=finance, line=one, reason="still wrong", date=REVERSAL_DAY)
    one.refresh_from_db()
    assert one.status == LineStatus.UNMATCHED and one.payment_id is None
    payment.refresh_from_db()
    assert payment.is_reversed and payment.unapplied_amount == 0
    assert entry_lines(payment.reversal_entry) == [
        ("1000", D("0"), D("1380")), ("1100", D("1000"), D("0")), ("2300", D("380"), D("0"))]
    first.refresh_from_db()
    assert first.balance == D("1380") and first.status == InvoiceStatus.POSTED
    assert account_balance("2300") == 0
    books_sound()


def test_only_a_matched_line_can_be_unmatched(finance, statement):
    gift = lines(statement)[3]
    assert gift.status == LineStatus.UNMATCHED
    with pytest.raises(InvalidTransition) as exc:
        bank_line_unmatch(actor=finance, line=gift, reason="x")
    assert exc.value.code == "not_matched"


def test_refusals_change_nothing(finance, two_invoices, statement):
    one = lines(statement)[0]
    payments = Payment.objects.filter(reversed_at__isnull=True).count()
    with pytest.raises(ValidationFailed) as exc:
        bank_line_unmatch(actor=finance, line=one, reason="")
    assert {(e.field, e.code) for e in exc.value.errors} == {("reason", "required")}
    ledger.period_lock(actor=finance, year=2026, month=3)
    with pytest.raises(ValidationFailed) as exc:
        bank_line_unmatch(actor=finance, line=one, reason="wrong", date=REVERSAL_DAY)
    assert {(e.field, e.code) for e in exc.value.errors} == {("date", "period_locked")}
    assert "is locked" in exc.value.errors[0].message
    one.refresh_from_db()
    assert one.status == LineStatus.MATCHED and one.payment_id is not None
    assert Payment.objects.filter(reversed_at__isnull=True).count() == payments
    two_invoices[0].refresh_from_db()
    assert two_invoices[0].status == InvoiceStatus.PAID


def test_credit_applied_since_is_refused_on_the_line(finance, two_invoices, statement):
    from l2c.billing import services as billing
    from l2c.billing.tests.factories import make_contract

    one = lines(statement)[0]
    bank_line_unmatch(actor=finance, line=one, reason="wrong", date=REVERSAL_DAY)
    first = two_invoices[0]
    services.line_match(actor=finance, line=one, invoice=first, amount="1000.00")
    one.refresh_from_db()
    extra = billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=make_contract(account=first.account, lines=(("1", "300", "0"),),
                                              start=dt.date(2026, 3, 10)), issue_date=dt.date(2026, 3, 10)))
    billing.payment_allocate(actor=finance, payment=one.payment, invoice=extra, amount=D("300"),
                             date=dt.date(2026, 3, 12))
    with pytest.raises(ValidationFailed) as exc:
        bank_line_unmatch(actor=finance, line=one, reason="wrong again", date=REVERSAL_DAY)
    assert {(e.field, e.code) for e in exc.value.errors} == {("line", "credit_applied")}
    assert extra.number in exc.value.errors[0].message
    one.refresh_from_db()
    assert one.status == LineStatus.MATCHED


@pytest.mark.parametrize("role_fixture", ["rep", "manager"])
def test_sales_roles_may_not_unmatch(request, role_fixture, statement):
    user = request.getfixturevalue(role_fixture)
    one = lines(statement)[0]
    with pytest.raises(PermissionDenied):
        bank_line_unmatch(actor=user, line=one, reason="x")
    one.refresh_from_db()
    assert one.status == LineStatus.MATCHED


@pytest.mark.urls(__name__)
def test_api_unmatch(api_for, finance, rep, manager, statement):
    one = lines(statement)[0]
    url = f"/api/v1/bank-statements/{statement.pk}/lines/{one.pk}/unmatch"
    assert api_for(rep).post(url, {"reason": "x"}).status_code == 403
    assert api_for(manager).post(url, {"reason": "x"}).status_code == 403
    api = api_for(finance)
    response = api.post(url, {"reason": ""})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "reason"
    response = api.post(url, {"reason": "wrong customer", "date": "2026-03-20"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "unmatched" and body["payment_id"] is None and "wrong customer" in body["review_note"]
    assert api.post(url, {"reason": "again"}).status_code == 409
    assert api.post(f"/api/v1/bank-statements/{statement.pk}/lines/999999/unmatch",
                    {"reason": "x"}).status_code == 404


@pytest.mark.urls(__name__)
def test_page_unmatch(client, finance, rep, statement):
    one = lines(statement)[0]
    url = f"/banking/statements/{statement.pk}/lines/{one.pk}/unmatch/"
    client.force_login(rep)
    assert client.post(url, {"reason": "x"}).status_code == 403
    client.force_login(finance)
    response = client.post(url, {"reason": ""}, follow=True)
    assert "Give a reason" in response.content.decode()
    assert BankStatementLine.objects.get(pk=one.pk).status == LineStatus.MATCHED
    response = client.post(url, {"reason": "wrong customer"})
    assert response.status_code == 302 and response.url.endswith(f"#line-{one.pk}")
    one.refresh_from_db()
    assert one.status == LineStatus.UNMATCHED


def test_unmatch_button_include_renders(rf, finance, statement):
    from django.template.loader import render_to_string
    from django.test import override_settings

    one = lines(statement)[0]
    with override_settings(ROOT_URLCONF=__name__):
        html = render_to_string("banking/_line_unmatch.html", {"statement": statement, "line": one})
    assert f"/banking/statements/{statement.pk}/lines/{one.pk}/unmatch/" in html and one.payment.number in html
