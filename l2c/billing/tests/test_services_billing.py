"""Billing services: exact postings (DESIGN.md "Ledger postings"), statuses, and every refusal changing nothing."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.billing import services
from l2c.billing.models import CreditNote, Invoice, InvoiceStatus, Payment, PaymentAllocation, WriteOff
from l2c.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.ledger.models import JournalEntry

from .factories import account_balance, assert_books_balance, entry_lines, make_contract, set_rate

D = Decimal
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def contract(db, rep):
    # 10 × 90.00 at 20 % and 1 × 250.00 at 20 %: net 1150.00, tax 230.00, gross 1380.00 (USD = company currency)
    return make_contract(owner=rep, start=DAY)


def posted(actor, contract, **kwargs):
    invoice = services.invoice_create_from_contract(actor=actor, contract=contract, issue_date=DAY, **kwargs)
    return services.invoice_post(actor=actor, invoice=invoice)


def codes(errors):
    return {(e.field, e.code) for e in errors}


def ar_matches_open_invoices():
    """The AR subledger (1100 lines per customer) equals the open invoices' balances; customer credits (2300)
    equal the payments' unapplied amounts."""
    for invoice in Invoice.objects.all():
        assert invoice.ar_open_base >= 0
    customers = set(Invoice.objects.values_list("account_id", flat=True))
    from l2c.customers.models import Account

    for customer in Account.objects.filter(pk__in=customers):
        open_base = sum((i.ar_open_base for i in Invoice.objects.filter(account=customer)), D(0))
        assert account_balance("1100", customer=customer) == open_base
        unapplied = sum((p.unapplied_base for p in Payment.objects.filter(account=customer)), D(0))
        assert account_balance("2300", customer=customer) == -unapplied


# --- invoices ----------------------------------------------------------------------------------------

def test_invoice_from_contract_takes_every_uninvoiced_line(finance, contract):
    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    assert invoice.status == InvoiceStatus.DRAFT and invoice.number is None
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (D("1150"), D("230"), D("1380"))
    assert invoice.due_date == DAY + dt.timedelta(days=30)
    assert invoice.lines.count() == 2
    assert services.uninvoiced_lines(contract) == []
    with pytest.raises(ValidationFailed) as exc:
        services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    assert codes(exc.value.errors) == {("lines", "nothing_to_invoice")}


def test_partial_quantities_add_up_to_the_contract_line(finance, db, rep):
    contract = make_contract(owner=rep, lines=(("3", "33.33", "20"),), start=DAY)
    line = contract.lines.get()
    first = services.invoice_create_from_contract(actor=finance, contract=contract, lines=[(line, "1")], issue_date=DAY)
    second = services.invoice_create_from_contract(actor=finance, contract=contract, lines={line.pk: "2"},
                                                   issue_date=DAY)
    assert first.net_total + second.net_total == line.net_amount
    assert first.tax_total + second.tax_total == line.tax_amount
    with pytest.raises(ValidationFailed) as exc:
        services.invoice_create_from_contract(actor=finance, contract=contract, lines=[(line, "1")], issue_date=DAY)
    assert ("lines", "nothing_to_invoice") not in codes(exc.value.errors)
    assert ("lines.0.quantity", "exceeds_uninvoiced") in codes(exc.value.errors)


@pytest.mark.parametrize("terms,days", [("net_15", 15), ("net_45", 45), ("net_60", 60), ("net_90", 90),
                                        ("due_on_receipt", 0), ("upfront_50", 0), ("upfront_100", 0)])
def test_due_date_follows_payment_terms(finance, rep, terms, days):
    contract = make_contract(owner=rep, payment_terms=terms, start=DAY)
    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    assert invoice.due_date == DAY + dt.timedelta(days=days)


def test_invoice_post_numbers_and_books_ar_deferred_revenue_and_tax(finance, contract):
    invoice = posted(finance, contract)
    assert invoice.number == "INV-2026-000001" and invoice.status == InvoiceStatus.POSTED
    assert entry_lines(invoice.journal_entry) == [
        ("1100", D("1380.00"), D("0")), ("2100", D("0"), D("900.00")), ("2100", D("0"), D("250.00")),
        ("2200", D("0"), D("230.00"))]
    assert invoice.journal_entry.source_label == invoice.number
    assert invoice.ar_open_base == D("1380.00") and invoice.balance == D("1380")
    assert AuditEvent.objects.filter(object_type="billing.invoice", object_id=str(invoice.pk),
                                     action="transition").exists()
    second = posted(finance, make_contract(owner=None, start=DAY))
    assert second.number == "INV-2026-000002"
    assert_books_balance()


def test_foreign_currency_invoice_converts_at_the_issue_date_rate_and_balances(finance, rep):
    # three lines of 0.50 EUR at 1.01: each converts to 0.505 → 0.51 (1.53 in all), the gross 1.50 to 1.52;
    # the rounding difference (−0.01) goes to the largest line, so the entry balances
    set_rate("EUR", DAY, "1.0100")
    contract = make_contract(owner=rep, currency="EUR", start=DAY,
                             lines=(("1", "0.50", "0"), ("1", "0.50", "0"), ("1", "0.50", "0")))
    invoice = posted(finance, contract)
    assert invoice.rate == D("1.01") and invoice.ar_base == D("1.52")
    assert entry_lines(invoice.journal_entry) == [
        ("1100", D("1.52"), D("0")), ("2100", D("0"), D("0.50")), ("2100", D("0"), D("0.51")),
        ("2100", D("0"), D("0.51"))]
    lines = invoice.journal_entry.lines.all()
    assert {line.currency for line in lines} == {"EUR"}
    assert [line.amount for line in lines] == [D("1.50"), D("0.50"), D("0.50"), D("0.50")]
    assert_books_balance()


def test_posting_twice_is_refused(finance, contract):
    invoice = posted(finance, contract)
    with pytest.raises(InvalidTransition):
        services.invoice_post(actor=finance, invoice=invoice)
    assert JournalEntry.objects.count() == 1


def test_posting_into_a_locked_period_is_refused_and_keeps_the_draft(finance, contract):
    from l2c.ledger import services as ledger

    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    ledger.period_lock(actor=finance, year=2026, month=3)
    with pytest.raises(ValidationFailed) as exc:
        services.invoice_post(actor=finance, invoice=invoice)
    assert ("date", "period_locked") in codes(exc.value.errors)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT and invoice.number is None
    assert JournalEntry.objects.count() == 0
    from l2c.core.models import NumberSequence

    assert not NumberSequence.objects.filter(series="INV", last_value__gt=0).exists()  # the number was given back


def test_missing_exchange_rate_is_refused(finance, rep):
    contract = make_contract(owner=rep, currency="GBP", start=DAY)
    invoice = services.invoice_create_from_contract(actor=finance, contract=contract, issue_date=DAY)
    with pytest.raises(ValidationFailed) as exc:
        services.invoice_post(actor=finance, invoice=invoice)
    assert ("rate", "rate_missing") in codes(exc.value.errors)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


@pytest.mark.parametrize("role_fixture", ["rep", "manager"])
def test_sales_roles_may_not_bill(request, role_fixture, contract, finance):
    user = request.getfixturevalue(role_fixture)
    with pytest.raises(PermissionDenied):
        services.invoice_create_from_contract(actor=user, contract=contract, issue_date=DAY)
    invoice = posted(finance, contract)
    with pytest.raises(PermissionDenied):
        services.payment_record(actor=user, account=invoice.account, date=DAY, method="card", currency="USD",
                                amount=D("10"), allocations=[(invoice, D("10"))])
    with pytest.raises(PermissionDenied):
        services.write_off(actor=user, invoice=invoice, amount=D("1"), reason="x")
    assert Payment.objects.count() == 0 and WriteOff.objects.count() == 0


def test_admin_may_bill(admin_user, contract):
    assert posted(admin_user, contract).status == InvoiceStatus.POSTED


# --- payments ------------------------------------------------------------------------------------------

def test_partial_payment_books_bank_against_ar(finance, contract):
    invoice = posted(finance, contract)
    payment = services.payment_record(actor=finance, account=invoice.account, date=DAY, method="bank_transfer",
                                      currency="USD", amount=D("500.00"), reference="ref 1",
                                      allocations=[(invoice, D("500.00"))])
    assert payment.number == "PAY-2026-000001" and payment.unapplied_amount == 0
    assert entry_lines(payment.journal_entry) == [("1000", D("500.00"), D("0")), ("1100", D("0"), D("500.00"))]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    assert (invoice.amount_paid, invoice.balance) == (D("500"), D("880"))
    ar_matches_open_invoices()


def test_overpayment_keeps_the_excess_as_customer_credit_applicable_later(finance, contract, rep):
    invoice = posted(finance, contract)
    payment = services.payment_record(actor=finance, account=invoice.account, date=DAY, method="card",
                                      currency="USD", amount=D("2000.00"), allocations=[(invoice, D("1380.00"))])
    assert entry_lines(payment.journal_entry) == [
        ("1000", D("2000.00"), D("0")), ("1100", D("0"), D("1380.00")), ("2300", D("0"), D("620.00"))]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.balance == 0
    assert payment.unapplied_amount == D("620.00")
    ar_matches_open_invoices()
    # a second invoice of the same customer is settled from the credit
    second = posted(finance, make_contract(owner=rep, account=invoice.account, lines=(("1", "500", "0"),), start=DAY))
    allocation = services.payment_allocate(actor=finance, payment=payment, invoice=second, amount=D("500"),
                                           date=DAY)
    assert entry_lines(allocation.journal_entry) == [("2300", D("500.00"), D("0")), ("1100", D("0"), D("500.00"))]
    payment.refresh_from_db()
    second.refresh_from_db()
    assert payment.unapplied_amount == D("120") and second.status == InvoiceStatus.PAID
    ar_matches_open_invoices()
    with pytest.raises(ValidationFailed) as exc:
        services.payment_allocate(actor=finance, payment=payment, invoice=invoice, amount=D("1"), date=DAY)
    assert ("invoice", "invoice_closed") in codes(exc.value.errors)
    assert_books_balance()


def test_unapplied_payment_without_allocations(finance, contract):
    invoice = posted(finance, contract)
    payment = services.payment_record(actor=finance, account=invoice.account, date=DAY, method="cash",
                                      currency="USD", amount=D("100"))
    assert entry_lines(payment.journal_entry) == [("1000", D("100.00"), D("0")), ("2300", D("0"), D("100.00"))]
    ar_matches_open_invoices()


def test_realised_fx_gain_and_loss(finance, rep):
    set_rate("EUR", DAY, "1.1000")
    set_rate("EUR", DAY + dt.timedelta(days=5), "1.2000")
    set_rate("EUR", DAY + dt.timedelta(days=10), "1.0500")
    contract = make_contract(owner=rep, currency="EUR", lines=(("1", "1000.00", "0"),), start=DAY)
    invoice = posted(finance, contract)  # AR 1100.00 USD
    gain = services.payment_record(actor=finance, account=invoice.account, date=DAY + dt.timedelta(days=5),
                                   method="bank_transfer", currency="EUR", amount=D("400"),
                                   allocations=[(invoice, D("400"))])
    # 400 EUR: bank 480.00 at 1.20, AR cleared 440.00 at 1.10 → gain 40.00
    assert entry_lines(gain.journal_entry) == [
        ("1000", D("480.00"), D("0")), ("1100", D("0"), D("440.00")), ("7100", D("0"), D("40.00"))]
    loss = services.payment_record(actor=finance, account=invoice.account, date=DAY + dt.timedelta(days=10),
                                   method="bank_transfer", currency="EUR", amount=D("600"),
                                   allocations=[(invoice, D("600"))])
    # 600 EUR: bank 630.00 at 1.05, AR cleared: the remaining 660.00 → loss 30.00
    assert entry_lines(loss.journal_entry) == [
        ("1000", D("630.00"), D("0")), ("1100", D("0"), D("660.00")), ("7200", D("30.00"), D("0"))]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.ar_open_base == 0
    assert account_balance("1100", customer=invoice.account) == 0
    assert_books_balance()


def test_fx_rounding_never_leaves_a_cent_on_ar(finance, rep):
    set_rate("EUR", DAY, "1.0837")
    set_rate("EUR", DAY + dt.timedelta(days=1), "1.0911")
    contract = make_contract(owner=rep, currency="EUR", lines=(("3", "33.33", "19"),), start=DAY)
    invoice = posted(finance, contract)
    for _ in range(2):
        services.payment_record(actor=finance, account=invoice.account, date=DAY + dt.timedelta(days=1),
                                method="card", currency="EUR", amount=D("33.33"), allocations=[(invoice, D("33.33"))])
    invoice.refresh_from_db()
    services.payment_record(actor=finance, account=invoice.account, date=DAY + dt.timedelta(days=1), method="card",
                            currency="EUR", amount=invoice.balance, allocations=[(invoice, invoice.balance)])
    assert account_balance("1100", customer=invoice.account) == 0
    assert_books_balance()


def test_payment_refusals_change_nothing(finance, contract, rep):
    invoice = posted(finance, contract)
    other = posted(finance, make_contract(owner=rep, start=DAY))
    set_rate("EUR", DAY, "1.1")
    eur = posted(finance, make_contract(owner=rep, account=invoice.account, currency="EUR", start=DAY))
    draft = services.invoice_create_from_contract(actor=finance, contract=make_contract(owner=rep, start=DAY),
                                                  issue_date=DAY)
    base = dict(actor=finance, account=invoice.account, date=DAY, method="card", currency="USD")
    cases = [
        (dict(amount=D("100"), allocations=[(invoice, D("1380.01"))]), ("allocations.0.amount", "exceeds_balance")),
        (dict(amount=D("100"), allocations=[(invoice, D("100.01"))]), ("allocations", "exceeds_payment")),
        (dict(amount=D("100"), allocations=[(invoice, D("60")), (invoice, D("60"))]),
         ("allocations", "exceeds_payment")),
        (dict(amount=D("100"), allocations=[(eur, D("10"))]), ("allocations.0.invoice", "currency_mismatch")),
        (dict(amount=D("100"), allocations=[(other, D("10"))]), ("allocations.0.invoice", "other_customer")),
        (dict(amount=D("100"), allocations=[(draft, D("10"))]), ("allocations.0.invoice", "invoice_not_posted")),
        (dict(amount=D("0")), ("amount", "not_positive")),
        (dict(amount=D("-5")), ("amount", "not_positive")),
        (dict(amount=D("1.001")), ("amount", "too_many_decimals")),
        (dict(amount=1.5), ("amount", "invalid")),
        (dict(amount=D("10"), method="cheque"), ("method", "invalid_choice")),
        (dict(amount=D("10"), currency="usd"), ("currency", "invalid_currency")),
        (dict(amount=D("10"), allocations=[(invoice, D("0"))]), ("allocations.0.amount", "not_positive")),
    ]
    entries = JournalEntry.objects.count()
    for overrides, expected in cases:
        with pytest.raises(ValidationFailed) as exc:
            services.payment_record(**{**base, **overrides})
        assert expected in codes(exc.value.errors), (overrides, exc.value.errors)
    assert Payment.objects.count() == 0 and PaymentAllocation.objects.count() == 0
    assert JournalEntry.objects.count() == entries
    invoice.refresh_from_db()
    assert invoice.balance == D("1380") and invoice.status == InvoiceStatus.POSTED


def test_paying_a_void_invoice_is_refused(finance, contract):
    invoice = posted(finance, contract)
    note = services.credit_note_create(actor=finance, invoice=invoice, amount=D("1380.00"), reason="wrong prices")
    services.credit_note_post(actor=finance, credit_note=note)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.VOID
    with pytest.raises(ValidationFailed) as exc:
        services.payment_record(actor=finance, account=invoice.account, date=DAY, method="card", currency="USD",
                                amount=D("10"), allocations=[(invoice, D("10"))])
    assert codes(exc.value.errors) == {("allocations.0.invoice", "invoice_void")}
    assert Payment.objects.count() == 0


def test_allocating_more_than_unapplied_is_refused(finance, contract):
    invoice = posted(finance, contract)
    payment = services.payment_record(actor=finance, account=invoice.account, date=DAY, method="card",
                                      currency="USD", amount=D("100"))
    with pytest.raises(ValidationFailed) as exc:
        services.payment_allocate(actor=finance, payment=payment, invoice=invoice, amount=D("100.01"), date=DAY)
    assert codes(exc.value.errors) == {("amount", "exceeds_unapplied")}
    payment.refresh_from_db()
    assert payment.unapplied_amount == D("100") and PaymentAllocation.objects.count() == 0


# --- credit notes and write-offs ----------------------------------------------------------------------------

def test_partial_credit_note_by_lines_reverses_deferred_revenue_and_tax(finance, contract):
    invoice = posted(finance, contract)
    first_line = invoice.lines.order_by("position").first()  # 10 × 90.00 + 20 %
    note = services.credit_note_create(actor=finance, invoice=invoice, lines=[(first_line, "2")],
                                       reason="two damaged", issue_date=DAY)
    assert (note.net_total, note.tax_total, note.gross_total) == (D("180"), D("36"), D("216"))
    assert note.number is None
    note = services.credit_note_post(actor=finance, credit_note=note)
    assert note.number == "CN-2026-000001"
    assert entry_lines(note.journal_entry) == [
        ("2100", D("180.00"), D("0")), ("2200", D("36.00"), D("0")), ("1100", D("0"), D("216.00"))]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED and invoice.balance == D("1164")
    assert invoice.amount_credited == D("216")
    with pytest.raises(InvalidTransition):
        services.credit_note_post(actor=finance, credit_note=note)
    with pytest.raises(ValidationFailed) as exc:
        services.credit_note_create(actor=finance, invoice=invoice, lines=[(first_line, "9")], reason="x")
    assert ("lines.0.quantity", "exceeds_invoiced") in codes(exc.value.errors)
    ar_matches_open_invoices()


def test_full_credit_note_voids_the_invoice_and_releases_the_contract_lines(finance, contract):
    invoice = posted(finance, contract)
    lines = [(line, line.quantity) for line in invoice.lines.all()]
    note = services.credit_note_create(actor=finance, invoice=invoice, lines=lines, reason="cancelled")
    services.credit_note_post(actor=finance, credit_note=note)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.VOID and invoice.balance == 0
    assert account_balance("1100", customer=invoice.account) == 0
    assert len(services.uninvoiced_lines(contract)) == 2  # may be invoiced again, correctly


def test_credit_by_amount_splits_net_and_tax(finance, contract):
    invoice = posted(finance, contract)
    note = services.credit_note_create(actor=finance, invoice=invoice, amount=D("120.00"), reason="goodwill")
    assert note.gross_total == D("120.00") and note.net_total + note.tax_total == D("120.00")
    assert note.tax_total == D("20.00")  # every line is taxed at 20 %
    with pytest.raises(ValidationFailed) as exc:
        services.credit_note_create(actor=finance, invoice=invoice, amount=D("1380.01"), reason="too much")
    assert codes(exc.value.errors) == {("amount", "exceeds_balance")}
    with pytest.raises(ValidationFailed) as exc:
        services.credit_note_create(actor=finance, invoice=invoice, amount=D("10"), reason="  ")
    assert ("reason", "required") in codes(exc.value.errors)
    assert CreditNote.objects.count() == 1


def test_credit_beyond_a_balance_reduced_by_payment_is_refused_at_posting(finance, contract):
    invoice = posted(finance, contract)
    note = services.credit_note_create(actor=finance, invoice=invoice, amount=D("1000"), reason="discount")
    services.payment_record(actor=finance, account=invoice.account, date=DAY, method="card", currency="USD",
                            amount=D("500"), allocations=[(invoice, D("500"))])
    with pytest.raises(ValidationFailed) as exc:
        services.credit_note_post(actor=finance, credit_note=note)
    assert ("gross_total", "exceeds_balance") in codes(exc.value.errors)
    note.refresh_from_db()
    assert note.status == "draft" and note.number is None


def test_write_off_books_bad_debt(finance, contract):
    invoice = posted(finance, contract)
    services.payment_record(actor=finance, account=invoice.account, date=DAY, method="card", currency="USD",
                            amount=D("1000"), allocations=[(invoice, D("1000"))])
    with pytest.raises(ValidationFailed) as exc:
        services.write_off(actor=finance, invoice=invoice, amount=D("380.01"), reason="insolvent")
    assert codes(exc.value.errors) == {("amount", "exceeds_balance")}
    record = services.write_off(actor=finance, invoice=invoice, amount=D("380"), reason="insolvent", date=DAY)
    assert entry_lines(record.journal_entry) == [("6100", D("380.00"), D("0")), ("1100", D("0"), D("380.00"))]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.balance == 0  # mostly paid, the rest written off
    fully = posted(finance, make_contract(owner=None, account=invoice.account, start=DAY))
    services.write_off(actor=finance, invoice=fully, amount=fully.balance, reason="gone", date=DAY)
    fully.refresh_from_db()
    assert fully.status == InvoiceStatus.WRITTEN_OFF
    ar_matches_open_invoices()
    assert_books_balance()
