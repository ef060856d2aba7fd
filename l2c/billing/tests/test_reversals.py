"""Payment reversal: exact balances afterwards (invoice, AR control = subledger, trial balance zero, realised FX),
the refusals (twice, locked period, credit applied since, void/written-off invoice, no reason, sales roles) and
the API route and page (mounted here through a test URLconf until the lead wires them)."""
import datetime as dt
from decimal import Decimal

import pytest
from django.urls import include, path

from l2c.billing import reversals, services
from l2c.billing.models import Invoice, InvoiceStatus, Payment
from l2c.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.ledger import selectors as ledger_selectors
from l2c.ledger import services as ledger
from l2c.ledger.models import JournalEntry

from .factories import account_balance, assert_books_balance, entry_lines, make_contract, set_rate

D = Decimal
DAY = dt.date(2026, 3, 10)
LATER = dt.date(2026, 4, 2)


def _test_urlpatterns():
    from l2c import urls as project_urls
    from l2c.api import L2CNinjaAPI
    from l2c.api import api as main_api
    from l2c.billing import urls as billing_urls
    from l2c.billing import views_reversals
    from l2c.billing.api_reversals import router

    test_api = L2CNinjaAPI(title="reversal test", version="reversal-test", urls_namespace="api_reversal_test",
                           auth=main_api.auth, parser=main_api.parser)
    test_api._exception_handlers = dict(main_api._exception_handlers)
    test_api.add_router("/", router)
    others = [p for p in project_urls.urlpatterns if getattr(p, "namespace", None) != "billing"]
    return [path("api/v1/", test_api.urls),
            path("", include(([*billing_urls.urlpatterns, *views_reversals.urlpatterns], "billing"))), *others]


urlpatterns = _test_urlpatterns()


@pytest.fixture
def contract(db, rep):
    # 10 × 90.00 at 20 % and 1 × 250.00 at 20 %: gross 1380.00 USD (the company currency)
    return make_contract(owner=rep, start=DAY)


def posted(actor, contract):
    invoice = services.invoice_create_from_contract(actor=actor, contract=contract, issue_date=DAY)
    return services.invoice_post(actor=actor, invoice=invoice)


def pay(actor, invoice, amount, *, allocate=None, date=DAY, currency="USD"):
    allocate = amount if allocate is None else allocate
    return services.payment_record(actor=actor, account=invoice.account, date=date, method="bank_transfer",
                                   currency=currency, amount=D(amount),
                                   allocations=[(invoice, D(allocate))] if D(allocate) else [])


def codes(errors):
    return {(e.field, e.code) for e in errors}


def books_sound(as_of=LATER):
    """Every entry balances, the trial balance is zero, AR control = AR subledger = the invoices' open AR, and
    customer credits (2300) = the payments' unapplied amounts."""
    assert_books_balance()
    assert ledger_selectors.trial_balance(as_of).balance == 0
    report = ledger_selectors.ar_subledger(as_of)
    assert report.matches
    assert report.control == sum((i.ar_open_base for i in Invoice.objects.all()), D(0))
    for invoice in Invoice.objects.all():
        assert account_balance("1100", customer=invoice.account) == sum(
            (i.ar_open_base for i in Invoice.objects.filter(account=invoice.account)), D(0))
    assert account_balance("2300") == -sum((p.unapplied_base for p in Payment.objects.all()), D(0))


# --- balances after a reversal -------------------------------------------------------------------------

def test_reversing_a_full_payment_reopens_the_invoice_and_mirrors_the_entry(finance, contract):
    # given a paid invoice
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "1380.00")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    # when the payment is reversed
    payment = reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    # then the invoice is open for its whole amount again
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED
    assert (invoice.amount_paid, invoice.balance, invoice.ar_open_base) == (D("0"), D("1380"), D("1380"))
    # the ledger has the mirror entry, dated the reversal date, linked both ways
    reversal = payment.reversal_entry
    assert reversal.reversal_of_id == payment.journal_entry_id and reversal.date == LATER
    assert payment.journal_entry.reversed_by.pk == reversal.pk
    assert entry_lines(reversal) == [("1000", D("0"), D("1380.00")), ("1100", D("1380.00"), D("0"))]
    assert account_balance("1000") == 0 and account_balance("1100", customer=invoice.account) == D("1380.00")
    # the payment is marked reversed
    assert payment.is_reversed and payment.reversal_date == LATER and payment.reversal_reason == "bounced"
    assert payment.reversed_by == finance and payment.unapplied_amount == 0
    assert AuditEvent.objects.filter(object_type="billing.payment", object_id=str(payment.pk),
                                     action=AuditEvent.Action.TRANSITION).exists()
    books_sound()


def test_partial_payments_step_back_from_paid_to_partially_paid(finance, contract):
    invoice = posted(finance, contract)
    first = pay(finance, invoice, "500.00")
    second = pay(finance, invoice, "880.00")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    reversals.payment_reverse(actor=finance, payment=second, reason="recorded twice", date=LATER)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    assert (invoice.amount_paid, invoice.balance, invoice.ar_open_base) == (D("500"), D("880"), D("880"))
    books_sound()
    reversals.payment_reverse(actor=finance, payment=first, reason="bounced", date=LATER)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED and invoice.balance == D("1380")
    books_sound()


def test_overpayment_reverses_the_customer_credit_too(finance, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "2000.00", allocate="1380.00")
    assert account_balance("2300") == D("-620.00")
    payment = reversals.payment_reverse(actor=finance, payment=payment, reason="wrong customer", date=LATER)
    assert entry_lines(payment.reversal_entry) == [
        ("1000", D("0"), D("2000.00")), ("1100", D("1380.00"), D("0")), ("2300", D("620.00"), D("0"))]
    assert account_balance("2300") == 0 and account_balance("1000") == 0
    assert (payment.unapplied_amount, payment.unapplied_base) == (D("0"), D("0"))
    invoice.refresh_from_db()
    assert invoice.balance == D("1380") and invoice.status == InvoiceStatus.POSTED
    # the reversed payment's credit can no longer be applied
    with pytest.raises(ValidationFailed) as exc:
        services.payment_allocate(actor=finance, payment=payment, invoice=invoice, amount=D("1"), date=LATER)
    assert ("amount", "exceeds_unapplied") in codes(exc.value.errors)
    books_sound()


def test_unapplied_payment_without_allocations_is_reversed(finance, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "100.00", allocate="0")
    payment = reversals.payment_reverse(actor=finance, payment=payment, reason="not ours", date=LATER)
    assert entry_lines(payment.reversal_entry) == [("1000", D("0"), D("100.00")), ("2300", D("100.00"), D("0"))]
    books_sound()


def test_realised_fx_is_reversed_with_the_payment(finance, rep):
    set_rate("EUR", DAY, "1.1000")
    set_rate("EUR", DAY + dt.timedelta(days=5), "1.2000")
    invoice = posted(finance, make_contract(owner=rep, currency="EUR", lines=(("1", "1000.00", "0"),), start=DAY))
    # 400 EUR: bank 480.00 at 1.20, AR cleared 440.00 at 1.10 → gain 40.00
    payment = pay(finance, invoice, "400", date=DAY + dt.timedelta(days=5), currency="EUR")
    assert account_balance("7100") == D("-40.00")
    payment = reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    assert entry_lines(payment.reversal_entry) == [
        ("1000", D("0"), D("480.00")), ("1100", D("440.00"), D("0")), ("7100", D("40.00"), D("0"))]
    assert account_balance("7100") == 0 and account_balance("1000") == 0
    invoice.refresh_from_db()
    assert (invoice.balance, invoice.ar_open_base, invoice.status) == (D("1000"), D("1100.00"), InvoiceStatus.POSTED)
    assert account_balance("1100", customer=invoice.account) == D("1100.00")
    # paying the whole balance afterwards clears AR exactly
    pay(finance, invoice, "1000", date=DAY + dt.timedelta(days=5), currency="EUR")
    assert account_balance("1100", customer=invoice.account) == 0
    books_sound()


def test_default_date_is_today_or_the_payment_date(finance, contract):
    invoice = posted(finance, contract)
    future = dt.date.today() + dt.timedelta(days=3)
    payment = pay(finance, invoice, "10.00", date=future)
    payment = reversals.payment_reverse(actor=finance, payment=payment, reason="typo")
    assert payment.reversal_date == future == payment.reversal_entry.date


# --- refusals ------------------------------------------------------------------------------------------

def test_second_reversal_is_refused(finance, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    entries = JournalEntry.objects.count()
    with pytest.raises(InvalidTransition) as exc:
        reversals.payment_reverse(actor=finance, payment=payment, reason="again", date=LATER)
    assert exc.value.code == "already_reversed" and payment.number in exc.value.message
    assert JournalEntry.objects.count() == entries
    invoice.refresh_from_db()
    assert invoice.balance == D("1380")


def test_reversal_into_a_locked_period_is_refused_with_the_ledgers_message(finance, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    ledger.period_lock(actor=finance, year=2026, month=4)
    with pytest.raises(ValidationFailed) as exc:
        reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    assert ("date", "period_locked") in codes(exc.value.errors)
    assert "2026-04 is locked" in exc.value.errors[0].message
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert not payment.is_reversed and invoice.balance == D("880") and invoice.status == InvoiceStatus.PARTIALLY_PAID
    assert not JournalEntry.objects.filter(reversal_of__isnull=False).exists()


def test_reason_and_date_are_checked(finance, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    with pytest.raises(ValidationFailed) as exc:
        reversals.payment_reverse(actor=finance, payment=payment, reason="  ", date=DAY - dt.timedelta(days=1))
    assert codes(exc.value.errors) == {("reason", "required"), ("date", "before_payment")}
    payment.refresh_from_db()
    assert not payment.is_reversed


def test_credit_already_applied_to_another_invoice_is_refused_and_named(finance, contract, rep):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "2000.00", allocate="1380.00")
    second = posted(finance, make_contract(owner=rep, account=invoice.account, lines=(("1", "500", "0"),), start=DAY))
    services.payment_allocate(actor=finance, payment=payment, invoice=second, amount=D("500"), date=DAY)
    with pytest.raises(ValidationFailed) as exc:
        reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    assert codes(exc.value.errors) == {("payment", "credit_applied")}
    assert second.number in exc.value.errors[0].message
    payment.refresh_from_db()
    assert not payment.is_reversed and payment.unapplied_amount == D("120")
    books_sound()


@pytest.mark.parametrize("status", [InvoiceStatus.VOID, InvoiceStatus.WRITTEN_OFF])
def test_a_void_or_written_off_invoice_cannot_get_the_payment_back(finance, contract, status):
    # The services never close an invoice with a standing payment (a paid part keeps it "paid"), so the
    # closed status this rule guards against is set directly: e.g. data from an import or a future service.
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    Invoice.objects.filter(pk=invoice.pk).update(status=status)
    with pytest.raises(ValidationFailed) as exc:
        reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    assert codes(exc.value.errors) == {("payment", "invoice_closed")}
    assert invoice.number in exc.value.errors[0].message
    payment.refresh_from_db()
    assert not payment.is_reversed and not JournalEntry.objects.filter(reversal_of__isnull=False).exists()


@pytest.mark.parametrize("role_fixture", ["rep", "manager"])
def test_sales_roles_may_not_reverse(request, role_fixture, finance, contract):
    user = request.getfixturevalue(role_fixture)
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    with pytest.raises(PermissionDenied):
        reversals.payment_reverse(actor=user, payment=payment, reason="x", date=LATER)
    payment.refresh_from_db()
    assert not payment.is_reversed


def test_admin_may_reverse(admin_user, contract):
    invoice = posted(admin_user, contract)
    payment = pay(admin_user, invoice, "500.00")
    assert reversals.payment_reverse(actor=admin_user, payment=payment, reason="x", date=LATER).is_reversed


def test_the_event_is_published_after_commit(finance, contract, django_capture_on_commit_callbacks):
    from l2c.core import events

    seen = []
    events.subscribe("payment.reversed", lambda name, payload: seen.append(payload))
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    with django_capture_on_commit_callbacks(execute=True):
        reversals.payment_reverse(actor=finance, payment=payment, reason="bounced", date=LATER)
    assert seen and seen[-1]["payment_id"] == payment.pk and seen[-1]["invoice_ids"] == [invoice.pk]
    assert seen[-1]["reversal_date"] == LATER.isoformat()


# --- API and page --------------------------------------------------------------------------------------

@pytest.mark.urls(__name__)
def test_api_reverse(api_for, finance, rep, manager, contract):
    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    url = f"/api/v1/payments/{payment.pk}/reverse"
    assert api_for(rep).post(url, {"reason": "x"}).status_code == 403
    assert api_for(manager).post(url, {"reason": "x"}).status_code == 403
    api = api_for(finance)
    response = api.post(url, {})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "reason"
    response = api.post(url, {"reason": "bounced", "date": "2026-04-02"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_reversed"] and body["reversal_date"] == "2026-04-02" and body["reversal_entry_id"]
    assert api.post(url, {"reason": "again"}).status_code == 409
    assert api.post("/api/v1/payments/999999/reverse", {"reason": "x"}).status_code == 404
    invoice.refresh_from_db()
    assert invoice.balance == D("1380")


@pytest.mark.urls(__name__)
def test_page_reverse_form(client, finance, rep, contract):
    from django.urls import reverse

    invoice = posted(finance, contract)
    payment = pay(finance, invoice, "500.00")
    url = reverse("billing:payment-reverse", args=[payment.pk])
    client.force_login(rep)
    page = client.get(url)
    assert page.status_code == 200 and b"Reverse payment" not in page.content.split(b"<h1")[1]
    assert client.post(url, {"reason": "x", "date": "2026-04-02"}).status_code == 403
    client.force_login(finance)
    page = client.get(url)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    response = client.post(url, {"reason": "", "date": "2026-04-02"})
    assert response.status_code == 422
    ledger.period_lock(actor=finance, year=2026, month=4)
    response = client.post(url, {"reason": "bounced", "date": "2026-04-02"})
    assert response.status_code == 422 and "is locked" in response.content.decode()
    response = client.post(url, {"reason": "bounced", "date": "2026-03-20"})
    assert response.status_code == 302
    page = client.get(url)
    assert "Reversed" in page.content.decode() and 'name="reason"' not in page.content.decode()
    payment.refresh_from_db()
    assert payment.is_reversed and payment.reversal_date == dt.date(2026, 3, 20)
