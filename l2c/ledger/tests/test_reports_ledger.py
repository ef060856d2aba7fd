"""Trial balance, general ledger and AR subledger: exact numbers, and the subledger equals the control account."""
import datetime as dt

import pytest

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.ledger import selectors, services
from l2c.ledger.services import Line

from .factories import DAY, D, customer, invoice_entry, payment_entry


@pytest.fixture
def books(finance):
    """Two customers invoiced, one partly paid, one overpaid into customer credits, a write-off and a reversal."""
    acme, beta = customer("Acme"), customer("Beta")
    invoice_entry(finance, acme, gross="113.00", net="100.00", tax="13.00", date=dt.date(2026, 3, 1))
    invoice_entry(finance, beta, gross="226.00", net="200.00", tax="26.00", date=dt.date(2026, 3, 2))
    payment_entry(finance, acme, amount="50.00", date=dt.date(2026, 3, 10))
    services.post_entry(actor=finance, date=dt.date(2026, 3, 12), journal="CASH", memo="Overpayment",
                        lines=[Line("1000", debit=D("250.00")), Line("1100", credit=D("226.00"), customer=beta),
                               Line("2300", credit=D("24.00"))])
    services.post_entry(actor=finance, date=dt.date(2026, 3, 20), journal="REVENUE", memo="Recognised",
                        lines=[Line("2100", debit=D("150.00")), Line("4000", credit=D("150.00"))])
    wrong = services.post_entry(actor=finance, date=dt.date(2026, 3, 25), journal="GENERAL", memo="Write-off",
                                lines=[Line("6100", debit=D("63.00")), Line("1100", credit=D("63.00"), customer=acme)])
    services.reverse_entry(actor=finance, entry=wrong, date=dt.date(2026, 4, 2))
    return acme, beta


def test_trial_balance_exact_numbers(books):
    report = selectors.trial_balance(dt.date(2026, 3, 31))
    assert [(r.account.code, r.debit, r.credit, r.balance) for r in report.rows] == [
        ("1000", D("300.00"), D("0.00"), D("300.00")),
        ("1100", D("339.00"), D("339.00"), D("0.00")),
        ("2100", D("150.00"), D("300.00"), D("-150.00")),
        ("2200", D("0.00"), D("39.00"), D("-39.00")),
        ("2300", D("0.00"), D("24.00"), D("-24.00")),
        ("4000", D("0.00"), D("150.00"), D("-150.00")),
        ("6100", D("63.00"), D("0.00"), D("63.00")),
    ]
    assert report.debit == report.credit == D("852.00") and report.balance == 0 and report.is_balanced
    assert report.rows[-1].debit_balance == D("63.00") and report.rows[2].credit_balance == D("150.00")
    # after the reversal in April the write-off is gone
    april = {r.account.code: r.balance for r in selectors.trial_balance(dt.date(2026, 4, 30)).rows}
    assert april["6100"] == 0 and april["1100"] == D("63.00") and sum(april.values()) == 0
    # before anything was posted: empty; with include_zero every account shows
    assert selectors.trial_balance(dt.date(2026, 2, 28)).rows == []
    assert len(selectors.trial_balance(dt.date(2026, 2, 28), include_zero=True).rows) == 11


def test_general_ledger_running_balance(books):
    report = selectors.general_ledger("1100", dt.date(2026, 3, 2), dt.date(2026, 3, 31))
    assert report.opening == D("113.00")
    assert [(r.line.debit, r.line.credit, r.balance) for r in report.rows] == [
        (D("226.00"), D("0.00"), D("339.00")), (D("0.00"), D("50.00"), D("289.00")),
        (D("0.00"), D("226.00"), D("63.00")), (D("0.00"), D("63.00"), D("0.00"))]
    assert report.closing == 0 and report.debit == D("226.00") and report.credit == D("339.00")
    revenue = selectors.general_ledger("2100")  # credit-normal: balances shown as positive credits
    assert [r.balance for r in revenue.rows] == [D("100.00"), D("300.00"), D("150.00")]
    with pytest.raises(ValidationFailed):
        selectors.general_ledger("0000")
    with pytest.raises(ValidationFailed):
        selectors.general_ledger("1100", dt.date(2026, 4, 1), dt.date(2026, 3, 1))


def test_ar_subledger_equals_the_control_account(books):
    acme, beta = books
    for day in (dt.date(2026, 3, 1), dt.date(2026, 3, 11), dt.date(2026, 3, 31), dt.date(2026, 4, 30)):
        assert selectors.ar_subledger_matches_control(day)
    report = selectors.ar_subledger(dt.date(2026, 3, 11))
    assert [(r.customer_name, r.balance) for r in report.rows] == [("Acme", D("63.00")), ("Beta", D("226.00"))]
    assert report.total == report.control == D("289.00")
    april = selectors.ar_subledger(dt.date(2026, 4, 30))
    assert [(r.customer_name, r.balance) for r in april.rows] == [("Acme", D("63.00"))]
    assert selectors.customer_balance(acme.pk, dt.date(2026, 4, 30)) == D("63.00")
    assert selectors.customer_balance(beta.pk, dt.date(2026, 4, 30)) == 0


def test_subledger_check_catches_an_ar_line_without_customer(finance):
    # given a control flag switched off before any posting (allowed while 1100 has no lines)
    services.account_update(actor=finance, account=selectors.account_get(user=finance, code="1100"), is_control=False)
    invoice_entry(finance, customer())
    services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="", lines=[
        Line("1100", debit=D("5.00")), Line("4000", credit=D("5.00"))])
    # then the subledger no longer explains the control account, and the check says so
    assert not selectors.ar_subledger_matches_control(DAY)


def test_reports_refuse_sales_roles(rep, manager):
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            selectors.trial_balance(DAY, user=user)
        with pytest.raises(PermissionDenied):
            selectors.ar_subledger(DAY, user=user)
        with pytest.raises(PermissionDenied):
            selectors.entry_list(user=user)
