"""Hypothesis stateful test over the order-to-cash money flow: invoice (by hand or by the billing run), post,
pay part, overpay, apply credit later, credit note, write-off, and reversal of a manual entry. After every
step: every entry balances, the trial balance is zero, the AR subledger equals the control account (and each
customer's AR equals their invoices' open balance, 2300 their unapplied cash), every amount is a Decimal."""
import datetime as dt
from decimal import Decimal as D

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from l2c.billing import schedules, services
from l2c.billing.models import Invoice, InvoiceStatus, Payment
from l2c.core.errors import Conflict
from l2c.core.money import round_money
from l2c.customers.tests.factories import AccountFactory
from l2c.ledger import selectors as ledger_selectors
from l2c.ledger import services as ledger
from l2c.ledger.models import JournalEntry, JournalLine

from .factories import account_balance, make_contract

DAY = dt.date(2026, 3, 10)
prices = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2)
tax_rates = st.sampled_from(["0", "7", "19", "20"])
percent = st.integers(min_value=1, max_value=100)


class MoneyFlow(RuleBasedStateMachine):
    invoices = Bundle("invoices")

    def __init__(self):
        super().__init__()
        from l2c.identity.models import User

        self.actor = User.objects.filter(role="finance").first()
        self.accounts = [AccountFactory(country="GB"), AccountFactory(country="GB")]

    @rule(target=invoices, price=prices, qty=st.integers(1, 5), tax=tax_rates, who=st.integers(0, 1),
          by_run=st.booleans())
    def invoice(self, price, qty, tax, who, by_run):
        contract = make_contract(account=self.accounts[who], payment_terms="upfront_100", start=DAY,
                                 lines=((str(qty), str(price), tax),))
        if by_run:
            schedules.schedule_for_contract(contract)
            summary = schedules.billing_run(today=DAY, actor=self.actor)
            assert summary.errors == []
            return Invoice.objects.get(contract=contract)
        draft = services.invoice_create_from_contract(actor=self.actor, contract=contract, issue_date=DAY)
        return services.invoice_post(actor=self.actor, invoice=draft)

    def _open(self, invoice):
        invoice.refresh_from_db()
        return invoice if invoice.status in (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID) else None

    def _part(self, invoice, pct):
        return round_money(invoice.balance * pct / 100, invoice.currency)

    @rule(invoice=invoices, pct=percent)
    def pay(self, invoice, pct):
        if (invoice := self._open(invoice)) is None or not (amount := self._part(invoice, pct)):
            return
        services.payment_record(actor=self.actor, account=invoice.account, date=DAY, method="bank_transfer",
                                currency=invoice.currency, amount=amount, allocations=[(invoice, amount)])

    @rule(invoice=invoices, extra=prices)
    def overpay(self, invoice, extra):
        if (invoice := self._open(invoice)) is None:
            return
        services.payment_record(actor=self.actor, account=invoice.account, date=DAY, method="card",
                                currency=invoice.currency, amount=invoice.balance + extra,
                                allocations=[(invoice, invoice.balance)])

    @rule(invoice=invoices, pct=percent)
    def apply_credit(self, invoice, pct):
        if (invoice := self._open(invoice)) is None:
            return
        payment = Payment.objects.filter(account=invoice.account, unapplied_amount__gt=0,
                                         currency=invoice.currency).first()
        if payment is None:
            return
        amount = min(payment.unapplied_amount, self._part(invoice, pct))
        if amount:
            services.payment_allocate(actor=self.actor, payment=payment, invoice=invoice, amount=amount, date=DAY)

    @rule(invoice=invoices, pct=percent)
    def credit(self, invoice, pct):
        if (invoice := self._open(invoice)) is None or not (amount := self._part(invoice, pct)):
            return
        note = services.credit_note_create(actor=self.actor, invoice=invoice, reason="goodwill", amount=amount,
                                           issue_date=DAY)
        services.credit_note_post(actor=self.actor, credit_note=note)

    @rule(invoice=invoices, pct=percent)
    def write_off(self, invoice, pct):
        if (invoice := self._open(invoice)) is None or not (amount := self._part(invoice, pct)):
            return
        services.write_off(actor=self.actor, invoice=invoice, amount=amount, reason="insolvent", date=DAY)

    @rule(amount=prices)
    def reverse_manual_entry(self, amount):
        entry = ledger.post_entry(actor=self.actor, date=DAY, journal="general", memo="correction", lines=[
            ledger.Line(account="1000", debit=amount), ledger.Line(account="6100", credit=amount)])
        reversal = ledger.reverse_entry(actor=self.actor, entry=entry)
        assert [(x.debit, x.credit) for x in reversal.lines.order_by("line_no")] == [
            (x.credit, x.debit) for x in entry.lines.order_by("line_no")]
        with pytest.raises(Conflict):
            ledger.reverse_entry(actor=self.actor, entry=entry)

    @invariant()
    def every_entry_balances(self):
        for entry in JournalEntry.objects.annotate(d=Sum("lines__debit"), c=Sum("lines__credit")):
            assert entry.d == entry.c, entry.number

    @invariant()
    def trial_balance_is_zero(self):
        assert ledger_selectors.trial_balance(DAY).balance == 0

    @invariant()
    def ar_subledger_equals_control_and_the_documents(self):
        assert ledger_selectors.ar_subledger(DAY).matches
        for account in self.accounts:
            open_base = Invoice.objects.filter(account=account).exclude(status=InvoiceStatus.DRAFT).aggregate(
                s=Sum("ar_open_base"))["s"] or D(0)
            assert account_balance("1100", customer=account) == open_base
            unapplied = Payment.objects.filter(account=account).aggregate(s=Sum("unapplied_base"))["s"] or D(0)
            assert account_balance("2300", customer=account) == -unapplied

    @invariant()
    def every_amount_is_decimal(self):
        for row in JournalLine.objects.values_list("debit", "credit", "amount", "rate")[:500]:
            assert all(isinstance(value, D) for value in row)
        for row in Invoice.objects.values_list("net_total", "tax_total", "gross_total", "balance", "ar_open_base"):
            assert all(isinstance(value, D) for value in row)
        for invoice in Invoice.objects.exclude(status=InvoiceStatus.DRAFT):
            assert invoice.balance == (invoice.gross_total - invoice.amount_paid - invoice.amount_credited
                                       - invoice.amount_written_off)


@pytest.mark.django_db
def test_money_flow_keeps_the_books_sound(finance):
    run_state_machine_as_test(MoneyFlow, settings=settings(
        max_examples=12, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
