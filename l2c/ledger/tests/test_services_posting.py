"""Posting, reversal, periods and rates: every rule of the ledger's services."""
import datetime as dt

import pytest

from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.ledger import selectors, services
from l2c.ledger.models import JournalEntry, JournalLine, LedgerAccount, Period
from l2c.ledger.services import Line

from .factories import DAY, D, customer, invoice_entry


def fields_of(exc) -> dict:
    return {e.field: e.code for e in exc.value.errors}


def nothing_written():
    return JournalEntry.objects.count() == 0 and JournalLine.objects.count() == 0


# --- seeded data ------------------------------------------------------------------------------------

def test_chart_of_accounts_is_seeded_with_the_codes_others_post_to(db):
    codes = dict(LedgerAccount.objects.values_list("code", "type"))
    assert codes == {
        "1000": "asset", "1100": "asset", "1150": "asset", "2100": "liability", "2200": "liability",
        "2300": "liability", "3000": "equity", "4000": "revenue", "6100": "expense", "7100": "revenue",
        "7200": "expense",
    }
    assert list(LedgerAccount.objects.filter(is_control=True).values_list("code", flat=True)) == ["1100"]
    assert LedgerAccount.objects.get(code="2100").normal_balance == "credit"
    from l2c.ledger.models import Journal

    assert sorted(Journal.objects.values_list("code", flat=True)) == ["CASH", "GENERAL", "REVENUE", "SALES"]


# --- posting ----------------------------------------------------------------------------------------

def test_a_balanced_entry_is_posted_numbered_and_audited(finance):
    # given
    cust = customer()
    # when
    entry = invoice_entry(finance, cust)
    # then
    assert entry.number == "JE-SALES-2026-000001"
    lines = list(entry.lines.order_by("line_no"))
    assert [(line.account.code, line.debit, line.credit) for line in lines] == [
        ("1100", D("113.00"), D("0")), ("2100", D("0"), D("100.00")), ("2200", D("0"), D("13.00"))]
    assert all(line.currency == "CNY" and line.rate == 1 for line in lines)
    assert lines[0].customer == cust and lines[0].amount == D("113.00")
    event = AuditEvent.objects.get(object_type="ledger.journalentry", object_id=str(entry.pk))
    assert event.action == "create" and event.actor_id == finance.pk
    assert event.changes["posted_lines"][1][0]["account"] == "1100"
    assert event.changes["number"] == [None, "JE-SALES-2026-000001"]
    # numbers are gapless per journal and year
    assert invoice_entry(finance, cust).number == "JE-SALES-2026-000002"
    assert invoice_entry(finance, cust, date=dt.date(2027, 1, 2)).number == "JE-SALES-2027-000001"


def test_unbalanced_entry_is_refused_and_nothing_written(finance):
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="x",
                            lines=[Line("1000", debit=D("10.00")), Line("4000", credit=D("9.99"))])
    assert fields_of(exc) == {"lines": "unbalanced"}
    assert "differ by 0.01" in exc.value.message
    assert nothing_written()


@pytest.mark.parametrize("lines, field, code", [
    ([Line("1000", debit=D("-5")), Line("4000", credit=D("-5"))], "lines.0.debit", "negative"),
    ([Line("1000", debit=D("5"), credit=D("5")), Line("4000", credit=D("0"))], "lines.0.credit", "both_sides"),
    ([Line("1000"), Line("4000", credit=D("5"))], "lines.0.debit", "no_amount"),
    ([Line("9999", debit=D("5")), Line("4000", credit=D("5"))], "lines.0.account", "not_found"),
    ([Line("1000", debit=D("5.001")), Line("4000", credit=D("5.001"))], "lines.0.debit", "too_precise"),
    ([Line("1000", debit=5.0), Line("4000", credit=D("5"))], "lines.0.debit", "invalid"),
    ([Line("1100", debit=D("5")), Line("4000", credit=D("5"))], "lines.0.customer", "customer_required"),
    ([Line("1000", debit=D("5"), currency="XYZ"), Line("4000", credit=D("5"))], "lines.0.currency",
     "invalid_currency"),
    ([Line("1000", debit=D("5"), rate=D("2")), Line("4000", credit=D("5"))], "lines.0.rate", "invalid"),
])
def test_bad_lines_are_refused_naming_the_line_and_field(finance, lines, field, code):
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="bad", lines=lines)
    assert fields_of(exc).get(field) == code, exc.value.errors
    assert nothing_written()


def test_one_line_is_not_an_entry(finance):
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="", lines=[Line("1000", debit=D(1))])
    assert fields_of(exc) == {"lines": "too_few_lines"}
    assert nothing_written()


def test_inactive_account_and_unknown_journal_are_refused(finance):
    services.account_update(actor=finance, account=LedgerAccount.objects.get(code="4000"), is_active=False)
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="",
                            lines=[Line("1000", debit=D(1)), Line("4000", credit=D(1))])
    assert fields_of(exc) == {"lines.1.account": "inactive"}
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="NOPE", memo="",
                            lines=[Line("1000", debit=D(1)), Line("3000", credit=D(1))])
    assert fields_of(exc) == {"journal": "not_found"}
    assert nothing_written()


def test_manual_entries_are_for_finance_and_admin(rep, manager, admin_user):
    lines = [Line("1000", debit=D(1)), Line("3000", credit=D(1))]
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            services.post_entry(actor=user, date=DAY, journal="GENERAL", memo="", lines=lines)
    assert nothing_written()
    assert services.post_entry(actor=admin_user, date=DAY, journal="GENERAL", memo="", lines=lines).pk


# --- foreign currencies -----------------------------------------------------------------------------

def test_rate_lookup_takes_the_latest_rate_on_or_before_the_date(finance):
    services.rate_set(actor=finance, currency="USD", date="2026-03-01", rate="7.1000")
    services.rate_set(actor=finance, currency="USD", date="2026-03-10", rate="7.2000")
    services.rate_set(actor=finance, currency="USD", date="2026-03-20", rate="7.3000")
    assert services.rate_for("USD", dt.date(2026, 3, 15)) == D("7.2")
    assert services.rate_for("USD", dt.date(2026, 3, 10)) == D("7.2")
    assert services.rate_for("USD", dt.date(2026, 3, 9)) == D("7.1")
    assert services.rate_for("CNY", dt.date(1999, 1, 1)) == 1
    with pytest.raises(ValidationFailed) as exc:
        services.rate_for("USD", dt.date(2026, 2, 28))
    assert "USD" in exc.value.message and "2026-02-28" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        services.rate_for("EUR", dt.date(2026, 3, 15))
    assert "EUR" in exc.value.message


def test_setting_a_rate_again_replaces_it_and_bad_rates_are_refused(finance):
    services.rate_set(actor=finance, currency="usd", date="2026-03-01", rate="7.1")
    services.rate_set(actor=finance, currency="USD", date="2026-03-01", rate="7.15")
    assert services.rate_for("USD", DAY) == D("7.15")
    for currency, date, rate, field in [("US", "2026-03-01", "1", "currency"), ("CNY", "2026-03-01", "1", "currency"),
                                        ("USD", "2026-02-30", "1", "date"), ("USD", "2026-03-01", "0", "rate"),
                                        ("USD", "2026-03-01", "abc", "rate"), ("USD", "2026-03-01", "-1", "rate")]:
        with pytest.raises(ValidationFailed) as exc:
            services.rate_set(actor=finance, currency=currency, date=date, rate=rate)
        assert field in fields_of(exc)


def test_rates_import_is_all_or_nothing_with_row_errors(finance):
    with pytest.raises(ValidationFailed) as exc:
        services.rates_import(actor=finance, text="currency,date,rate\nUSD,2026-03-01,7.1\nEUR,2026-13-01,7.9\n")
    assert fields_of(exc) == {"row 3: date": "invalid"}
    from l2c.ledger.models import ExchangeRate

    assert ExchangeRate.objects.count() == 0
    assert services.rates_import(actor=finance, text="\ufeffDate,Currency,Rate\n2026-03-01,USD,7.1\n2026-03-01,EUR,7.9\n") == 2
    assert services.rate_for("EUR", DAY) == D("7.9")
    with pytest.raises(ValidationFailed) as exc:
        services.rates_import(actor=finance, text="currency,rate\nUSD,1\n")
    assert fields_of(exc) == {"file": "missing_columns"}


def test_foreign_lines_are_converted_and_must_balance_in_their_currency(finance):
    services.rate_set(actor=finance, currency="USD", date="2026-03-01", rate="7.1234")
    cust = customer()
    # given debit/credit in USD without `amount`: the ledger converts; 3 × 33.33 rounding is absorbed
    entry = services.post_entry(actor=finance, date=DAY, journal="SALES", memo="USD invoice", lines=[
        Line("1100", debit=D("99.99"), currency="USD", customer=cust),
        Line("2100", credit=D("33.33"), currency="USD"), Line("2100", credit=D("33.33"), currency="USD"),
        Line("2100", credit=D("33.33"), currency="USD"),
    ])
    lines = list(entry.lines.order_by("line_no"))
    assert lines[0].amount == D("99.99") and lines[0].rate == D("7.1234") and lines[0].currency == "USD"
    # 99.99 × 7.1234 = 712.27 but 3 × (33.33 × 7.1234) = 3 × 237.42 = 712.26: the largest line takes the cent
    assert [line.credit for line in lines[1:]] == [D("237.42")] * 3
    assert lines[0].debit == D("712.26")
    # unbalanced in USD is refused even when the CNY amounts given by hand balance
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="SALES", memo="", lines=[
            Line("1000", debit=D("71.00"), currency="USD", amount=D("10.00")),
            Line("4000", credit=D("71.00"), currency="USD", amount=D("9.00"))])
    assert fields_of(exc) == {"lines": "unbalanced_currency"}
    # a missing rate names the currency and date beside the line
    with pytest.raises(ValidationFailed) as exc:
        services.post_entry(actor=finance, date=DAY, journal="SALES", memo="", lines=[
            Line("1000", debit=D("10"), currency="EUR"), Line("4000", credit=D("10"), currency="EUR")])
    assert fields_of(exc) == {"lines.0.rate": "rate_missing", "lines.1.rate": "rate_missing"}
    assert "EUR" in exc.value.message and "2026-03-15" in exc.value.message
    assert JournalEntry.objects.count() == 1


def test_mixed_currencies_balance_in_the_company_currency(finance):
    cust = customer()
    # a USD receipt settling a USD receivable booked at another rate: the difference is an FX gain
    entry = services.post_entry(actor=finance, date=DAY, journal="CASH", memo="", lines=[
        Line("1000", debit=D("730.00"), currency="USD", amount=D("100.00"), rate=D("7.3")),
        Line("1100", credit=D("710.00"), currency="USD", amount=D("100.00"), rate=D("7.1"), customer=cust),
        Line("7100", credit=D("20.00")),
    ])
    assert entry.lines.count() == 3


# --- periods ----------------------------------------------------------------------------------------

def test_posting_into_a_locked_period_is_refused_naming_the_period(finance, admin_user):
    services.period_lock(actor=finance, year=2026, month=3)
    with pytest.raises(ValidationFailed) as exc:
        invoice_entry(finance, customer())
    assert fields_of(exc) == {"date": "period_locked"}
    assert "2026-03" in exc.value.message and "locked by Finance" in exc.value.message
    assert nothing_written()
    # April is open; after an admin unlocks March it is open again
    invoice_entry(finance, customer("B"), date=dt.date(2026, 4, 1))
    with pytest.raises(PermissionDenied):
        services.period_unlock(actor=finance, year=2026, month=3)
    services.period_unlock(actor=admin_user, year=2026, month=3)
    assert invoice_entry(finance, customer("C")).date == DAY
    events = AuditEvent.objects.filter(object_type="ledger.period").order_by("id")
    assert [(e.actor_id, e.changes) for e in events] == [
        (finance.pk, {"is_locked": [False, True]}), (admin_user.pk, {"is_locked": [True, False]})]


def test_lock_rules(finance, rep, admin_user):
    with pytest.raises(PermissionDenied):
        services.period_lock(actor=rep, year=2026, month=3)
    services.period_lock(actor=admin_user, year=2026, month=3)
    with pytest.raises(Conflict):
        services.period_lock(actor=finance, year=2026, month=3)
    with pytest.raises(Conflict):
        services.period_unlock(actor=admin_user, year=2026, month=4)
    with pytest.raises(ValidationFailed) as exc:
        services.period_lock(actor=finance, year=2026, month=13)
    assert fields_of(exc) == {"month": "invalid"}
    assert Period.objects.get(year=2026, month=3).locked_by == admin_user


# --- reversal ---------------------------------------------------------------------------------------

def test_reversal_mirrors_the_entry_is_linked_both_ways_and_only_once(finance):
    cust = customer()
    entry = invoice_entry(finance, cust)
    reversal = services.reverse_entry(actor=finance, entry=entry)
    assert reversal.reversal_of == entry
    entry.refresh_from_db()
    assert entry.reversal == reversal
    assert reversal.memo == f"Reversal of {entry.number}" and reversal.source_type == "billing.invoice"
    assert [(line.account.code, line.debit, line.credit, line.customer_id) for line in reversal.lines.all()] == [
        ("1100", D("0"), D("113.00"), cust.pk), ("2100", D("100.00"), D("0"), None),
        ("2200", D("13.00"), D("0"), None)]
    report = selectors.trial_balance(DAY)
    assert [(row.account.code, row.balance) for row in report.rows] == [("1100", 0), ("2100", 0), ("2200", 0)]
    with pytest.raises(Conflict) as exc:
        services.reverse_entry(actor=finance, entry=entry)
    assert exc.value.code == "already_reversed" and reversal.number in exc.value.message
    with pytest.raises(Conflict) as exc:
        services.reverse_entry(actor=finance, entry=reversal)
    assert exc.value.code == "reversal_of_reversal"
    assert JournalEntry.objects.count() == 2
    assert AuditEvent.objects.filter(object_type="ledger.journalentry", object_id=str(entry.pk),
                                     action="transition").get().changes == {"reversal": [None, reversal.number]}


def test_reversal_into_a_locked_period_needs_an_open_date(finance):
    entry = invoice_entry(finance, customer())
    services.period_lock(actor=finance, year=2026, month=3)
    with pytest.raises(ValidationFailed) as exc:
        services.reverse_entry(actor=finance, entry=entry)
    assert fields_of(exc) == {"date": "period_locked"}
    reversal = services.reverse_entry(actor=finance, entry=entry, date=dt.date(2026, 4, 1), memo="Correction")
    assert reversal.date == dt.date(2026, 4, 1) and reversal.memo == "Correction"


def test_reversal_is_refused_to_sales_roles(finance, rep):
    entry = invoice_entry(finance, customer())
    with pytest.raises(PermissionDenied):
        services.reverse_entry(actor=rep, entry=entry)


# --- immutability (Django level) --------------------------------------------------------------------

def test_posted_rows_cannot_be_changed_or_deleted_through_django(finance):
    entry = invoice_entry(finance, customer())
    line = entry.lines.first()
    entry.memo = "changed"
    for action in (entry.save, entry.delete, line.save, line.delete,
                   lambda: JournalEntry.objects.filter(pk=entry.pk).update(memo="x"),
                   lambda: JournalLine.objects.filter(entry=entry).update(debit=D(1)),
                   lambda: JournalLine.objects.all().delete(), lambda: JournalEntry.objects.all().delete()):
        with pytest.raises(Conflict) as exc:
            action()
        assert exc.value.code == "immutable"
    entry.refresh_from_db()
    assert entry.memo == "Invoice" and entry.lines.count() == 3


# --- chart of accounts ------------------------------------------------------------------------------

def test_accounts_can_be_added_renamed_deactivated_but_not_deleted_with_postings(finance):
    account = services.account_create(actor=finance, code="4100", name="Services revenue", type="revenue")
    assert account.normal_balance == "credit"
    with pytest.raises(ValidationFailed) as exc:
        services.account_create(actor=finance, code="4100", name="Dup", type="revenue")
    assert fields_of(exc) == {"code": "duplicate"}
    with pytest.raises(ValidationFailed) as exc:
        services.account_create(actor=finance, code="", name="", type="nonsense")
    assert set(fields_of(exc)) == {"code", "name", "type"}
    services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="",
                        lines=[Line("1000", debit=D(5)), Line("4100", credit=D(5))])
    services.account_update(actor=finance, account=account, name="Service revenue", is_active=False)
    account.refresh_from_db()
    assert account.name == "Service revenue" and not account.is_active
    with pytest.raises(ValidationFailed) as exc:
        services.account_update(actor=finance, account=account, code="4101")
    assert fields_of(exc) == {"code": "has_postings"}
    with pytest.raises(Conflict):
        services.account_delete(actor=finance, account=account)
    unused = services.account_create(actor=finance, code="4200", name="Unused", type="revenue")
    services.account_delete(actor=finance, account=unused)
    assert not LedgerAccount.objects.filter(code="4200").exists()
    assert LedgerAccount.objects.filter(code="4100").exists()
