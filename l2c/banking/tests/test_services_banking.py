"""Banking services: import (camt.053, CSV with a mapping), duplicate refusal, bad files, automatic matching
(invoice number, amount + customer, ambiguity, currency mismatch, overpayment) and the review decisions."""
import datetime as dt
import json
from decimal import Decimal

import pytest

from l2c.banking import services
from l2c.banking.models import BankStatement, BankStatementLine, LineStatus, MatchMethod
from l2c.banking.parsers import StatementFileError
from l2c.billing.models import InvoiceStatus, Payment
from l2c.billing.tests.factories import account_balance, assert_books_balance, entry_lines
from l2c.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed

from .conftest import post_invoice

D = Decimal

CSV_MAPPING = {"date": "Buchungstag", "amount": "Betrag", "currency": "Währung",
               "counterparty": "Name", "reference": "Verwendungszweck"}


def csv_bytes(rows, header="Buchungstag;Betrag;Währung;Name;Verwendungszweck", encoding="utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def import_camt(actor, data, **kwargs):
    return services.statement_import(actor=actor, file_name="camt.xml", data=data, **kwargs)


def nothing_written():
    return BankStatement.objects.count() == 0 and BankStatementLine.objects.count() == 0 and Payment.objects.count() == 0


# --- camt.053 ------------------------------------------------------------------------------------

def test_camt053_sample_is_read_and_matched(finance, two_invoices, camt_sample):
    first, second = two_invoices
    # when
    statement = import_camt(finance, camt_sample)
    # then: header values
    assert statement.file_format == "camt053" and statement.currency == "USD"
    assert statement.iban == "GB33BUKB20201555555555" and statement.account_name == "Operating account"
    assert statement.statement_id == "GB33BUKB20201555555555-2026-03-12"
    assert (statement.period_start, statement.period_end) == (dt.date(2026, 3, 12), dt.date(2026, 3, 12))
    assert (statement.opening_balance, statement.closing_balance) == (D("10000"), D("12834.99"))
    lines = list(statement.lines.order_by("position"))
    assert len(lines) == 4  # the pending entry is not a booked movement
    assert [line.amount for line in lines] == [D("1380"), D("1380"), D("-25"), D("99.99")]
    one, two, fee, gift = lines
    assert one.counterparty_name == "Northwind Traders Ltd" and one.end_to_end_id == "NW-PAY-88121"
    assert one.counterparty_account == "GB94BARC10201530093459" and one.bank_reference == "BUKB-260312-000101"
    assert "INV-2026-000001" in one.reference
    assert two.reference == "PO 4711" and two.end_to_end_id == "" and two.counterparty_name == "CONTOSO GMBH"
    assert fee.reference == "Account maintenance fee March"
    assert gift.value_date == dt.date(2026, 3, 13)
    # matching: by number, by amount + customer, the fee and the stranger stay for review
    assert (one.status, one.match_method) == (LineStatus.MATCHED, MatchMethod.INVOICE_NUMBER)
    assert (two.status, two.match_method) == (LineStatus.MATCHED, MatchMethod.AMOUNT_CUSTOMER)
    assert fee.status == gift.status == LineStatus.UNMATCHED
    assert "Jane Q. Public" in gift.review_note
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == InvoiceStatus.PAID
    assert one.payment.account_id == first.account_id and one.payment.method == "bank_transfer"
    assert one.payment.reference.startswith("Payment of invoice INV-2026-000001")
    assert [a.invoice_id for a in two.payment.allocations.all()] == [second.pk]
    # the ledger: Dr Bank / Cr AR
    assert entry_lines(one.payment.journal_entry) == [("1000", D("1380"), D("0")), ("1100", D("0"), D("1380"))]
    assert_books_balance()


def test_same_file_is_refused_the_second_time(finance, two_invoices, camt_sample):
    import_camt(finance, camt_sample)
    with pytest.raises(Conflict) as exc:
        import_camt(finance, camt_sample)
    assert exc.value.code == "duplicate_file" and "already imported" in exc.value.message
    assert BankStatement.objects.count() == 1 and Payment.objects.count() == 2


@pytest.mark.parametrize(("mutate", "code", "where"), [
    (lambda s: s.replace("camt.053.001.08", "camt.052.001.08"), "wrong_namespace", "camt.053"),
    (lambda s: s.replace('<Amt Ccy="USD">99.99</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>',
                         '<CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>'), "missing_amount", "Ntry[4]"),
    (lambda s: s.replace("<BookgDt><Dt>2026-03-12</Dt></BookgDt>\n        <ValDt><Dt>2026-03-13",
                         "<BookgDt><Dt>2026-02-30</Dt></BookgDt>\n        <ValDt><Dt>2026-03-13"),
     "bad_date", "Ntry[4]/BookgDt"),
    (lambda s: s.replace('<Amt Ccy="USD">25.00</Amt>', '<Amt Ccy="USD">25,00</Amt>'), "bad_amount", "Ntry[3]/Amt"),
    (lambda s: s.replace('<Amt Ccy="USD">25.00</Amt>', '<Amt Ccy="XXZ">25.00</Amt>'), "bad_currency", "Ntry[3]"),
    (lambda s: s.replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>D</CdtDbtInd>"), "bad_indicator",
     "Ntry[3]/CdtDbtInd"),
    (lambda s: s.replace("</Stmt>", "", 1), "bad_xml", "line"),
])
def test_bad_camt_files_name_the_element_and_write_nothing(finance, two_invoices, camt_sample, mutate, code, where):
    data = mutate(camt_sample.decode()).encode()
    with pytest.raises(StatementFileError) as exc:
        import_camt(finance, data)
    assert exc.value.code == code and where in exc.value.message
    assert nothing_written()


def test_dtd_and_entities_are_refused(finance):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol2;</Document>')
    with pytest.raises(StatementFileError) as exc:
        import_camt(finance, bomb)
    assert exc.value.code == "xml_dtd_refused"
    external = (b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd">'
                b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>')
    with pytest.raises(StatementFileError) as exc:
        import_camt(finance, external)
    assert exc.value.code == "xml_dtd_refused"
    assert nothing_written()


def test_not_a_statement_at_all(finance):
    with pytest.raises(StatementFileError) as exc:
        services.statement_import(actor=finance, file_name="x.pdf", data=b"%PDF-1.7 junk", mapping=CSV_MAPPING)
    assert exc.value.code == "not_a_table" and "PDF" in exc.value.message
    with pytest.raises(StatementFileError) as exc:
        services.statement_import(actor=finance, file_name="x.csv", data=b"", mapping=CSV_MAPPING)
    assert exc.value.code == "empty_file"
    assert nothing_written()


# --- CSV with a mapping ----------------------------------------------------------------------------

def test_csv_with_mapping_semicolon_and_decimal_comma(finance, two_invoices):
    first, second = two_invoices
    data = csv_bytes(["12.03.2026;1.380,00;USD;Northwind Traders;Rechnung INV-2026-000001",
                      "13.03.2026;-12,50;USD;Bank;Gebühren",
                      "14.03.2026;1.380,00;USD;Contoso GmbH;Auftrag 4711"])
    statement = services.statement_import(actor=finance, file_name="konto.csv", data=data, mapping=CSV_MAPPING)
    assert statement.file_format == "csv" and statement.currency == "USD"
    assert (statement.period_start, statement.period_end) == (dt.date(2026, 3, 12), dt.date(2026, 3, 14))
    lines = list(statement.lines.order_by("position"))
    assert [(line.booking_date, line.amount) for line in lines] == [
        (dt.date(2026, 3, 12), D("1380")), (dt.date(2026, 3, 13), D("-12.5")), (dt.date(2026, 3, 14), D("1380"))]
    assert [line.status for line in lines] == [LineStatus.MATCHED, LineStatus.UNMATCHED, LineStatus.MATCHED]
    assert lines[2].payment.allocations.get().invoice_id == second.pk


def test_csv_with_credit_and_debit_columns_gbk_encoded(finance, two_invoices):
    mapping = {"date": "日期", "credit": "收入", "debit": "支出", "counterparty": "对方户名", "reference": "摘要",
               "default_currency": "usd"}
    data = csv_bytes(["2026-03-12,1380.00,,Northwind Traders Ltd,INV-2026-000001",
                      "2026-03-12,,30.00,电费,电费"], header="日期,收入,支出,对方户名,摘要", encoding="gbk")
    statement = services.statement_import(actor=finance, file_name="bank.csv", data=data, mapping=mapping)
    amounts = list(statement.lines.order_by("position").values_list("amount", "currency", "counterparty_name"))
    assert amounts == [(D("1380"), "USD", "Northwind Traders Ltd"), (D("-30"), "USD", "电费")]


def test_csv_mapping_errors_name_the_key(finance):
    data = csv_bytes(["2026-03-12;10.00;USD;A;B"])
    with pytest.raises(ValidationFailed) as exc:
        services.statement_import(actor=finance, file_name="a.csv", data=data,
                                  mapping={"date": "Datum", "colour": "x", "currency": "Währung"})
    fields = {(e.field, e.code) for e in exc.value.errors}
    assert fields == {("mapping.date", "unknown_column"), ("mapping.colour", "unknown_key"),
                      ("mapping.amount", "required")}
    with pytest.raises(ValidationFailed) as exc:
        services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=None)
    assert exc.value.errors[0].field == "mapping"
    assert nothing_written()


@pytest.mark.parametrize(("row", "code", "where"), [
    ("2026-13-45;10.00;USD;A;B", "bad_date", "Line 3"),
    (";10.00;USD;A;B", "missing_date", "Line 3"),
    ("2026-03-12;ten;USD;A;B", "bad_amount", "Line 3, 'Betrag'"),
    ("2026-03-12;;USD;A;B", "missing_amount", "Line 3"),
    ("2026-03-12;10.00;DOLLAR;A;B", "bad_currency", "Line 3"),
    ("2026-03-12;10.001;USD;A;B", "bad_amount", "Line 3"),
])
def test_bad_csv_rows_name_the_line_and_write_nothing(finance, row, code, where):
    data = csv_bytes(["2026-03-11;5.00;USD;Good;Row", row])
    with pytest.raises(StatementFileError) as exc:
        services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    assert exc.value.code == code and where in exc.value.message
    assert nothing_written()


# --- matching rules --------------------------------------------------------------------------------

def test_ambiguous_line_is_left_for_review_with_both_candidates(finance, rep):
    first = post_invoice(finance, name="Fabrikam Inc", owner=rep)
    account = first.account
    from l2c.billing import services as billing
    from l2c.billing.tests.factories import make_contract

    contract = make_contract(owner=rep, account=account, start=first.issue_date)
    second = billing.invoice_post(actor=finance, invoice=billing.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=first.issue_date))
    data = csv_bytes(["2026-03-12;1380.00;USD;FABRIKAM, INC.;Thanks"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line = statement.lines.get()
    assert line.status == LineStatus.UNMATCHED and line.payment is None
    assert set(line.candidates.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert "Ambiguous" in line.review_note and first.number in line.review_note and second.number in line.review_note
    assert Payment.objects.count() == 0
    # review: finance picks one
    services.line_match(actor=finance, line=line, invoice=second)
    line.refresh_from_db()
    second.refresh_from_db()
    assert (line.status, line.match_method) == (LineStatus.MATCHED, MatchMethod.MANUAL)
    assert second.status == InvoiceStatus.PAID and line.candidates.count() == 0


def test_overpayment_leaves_customer_credit(finance, rep):
    invoice = post_invoice(finance, name="Tailspin Toys", owner=rep)
    data = csv_bytes(["2026-03-12;1500.00;USD;Tailspin Toys;INV-2026-000001"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line = statement.lines.get()
    invoice.refresh_from_db()
    assert line.status == LineStatus.MATCHED and invoice.status == InvoiceStatus.PAID
    payment = line.payment
    assert (payment.amount, payment.unapplied_amount) == (D("1500"), D("120"))
    assert entry_lines(payment.journal_entry) == [("1000", D("1500"), D("0")), ("1100", D("0"), D("1380")),
                                                  ("2300", D("0"), D("120"))]
    assert account_balance("2300", customer=invoice.account) == D("-120")


def test_underpayment_by_number_pays_part(finance, rep):
    invoice = post_invoice(finance, name="Litware", owner=rep)
    data = csv_bytes(["2026-03-12;1000.00;USD;Someone else;inv 2026 000001"])
    services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID and invoice.balance == D("380")


def test_currency_mismatch_is_not_matched(finance, rep):
    from l2c.billing.tests.factories import set_rate

    set_rate("EUR", dt.date(2026, 1, 1), "1.10")
    invoice = post_invoice(finance, name="Wingtip Toys", owner=rep, currency="EUR")
    data = csv_bytes([f"2026-03-12;1380.00;USD;Wingtip Toys;{invoice.number}"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line = statement.lines.get()
    assert line.status == LineStatus.UNMATCHED and "is in EUR, the line in USD" in line.review_note
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED and Payment.objects.count() == 0
    with pytest.raises(ValidationFailed) as exc:
        services.line_match(actor=finance, line=line, invoice=invoice)
    assert {(e.field, e.code) for e in exc.value.errors} == {("invoice", "currency_mismatch")}
    line.refresh_from_db()
    assert line.status == LineStatus.UNMATCHED and Payment.objects.count() == 0


def test_amount_without_a_matching_customer_is_only_suggested(finance, two_invoices):
    data = csv_bytes(["2026-03-12;1380.00;USD;Somebody Unrelated;no reference"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line = statement.lines.get()
    assert line.status == LineStatus.UNMATCHED and line.candidates.count() == 2
    assert Payment.objects.count() == 0


def test_matching_again_after_the_invoice_is_posted(finance, rep):
    data = csv_bytes(["2026-03-12;1380.00;USD;Adventure Works;INV-2026-000001"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    assert statement.lines.get().status == LineStatus.UNMATCHED
    post_invoice(finance, name="Adventure Works", owner=rep)
    assert services.statement_match(actor=finance, statement=statement) == {"matched": 1, "review": 0}
    assert statement.lines.get().status == LineStatus.MATCHED


# --- review decisions ------------------------------------------------------------------------------

def test_manual_match_checks_and_changes_nothing_on_error(finance, two_invoices):
    first, _second = two_invoices
    data = csv_bytes(["2026-03-12;100.00;USD;Nobody;x", "2026-03-12;-5.00;USD;Bank;fee"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line, fee = statement.lines.order_by("position")
    with pytest.raises(ValidationFailed) as exc:
        services.line_match(actor=finance, line=line, invoice=first, amount="150.00")
    assert exc.value.errors[0].field == "amount" and exc.value.errors[0].code == "exceeds_line"
    with pytest.raises(ValidationFailed) as exc:
        services.line_match(actor=finance, line=fee, invoice=first)
    assert exc.value.errors[0].code == "outgoing"
    assert Payment.objects.count() == 0
    services.line_match(actor=finance, line=line, invoice=first, amount="60.00")
    line.refresh_from_db()
    first.refresh_from_db()
    assert first.balance == D("1320") and line.payment.unapplied_amount == D("40")
    with pytest.raises(InvalidTransition):
        services.line_match(actor=finance, line=line, invoice=first)
    with pytest.raises(InvalidTransition):
        services.line_ignore(actor=finance, line=line)


def test_ignore_and_restore(finance):
    data = csv_bytes(["2026-03-12;-5.00;USD;Bank;fee"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    line = statement.lines.get()
    services.line_ignore(actor=finance, line=line, note="bank fee")
    line.refresh_from_db()
    assert line.status == LineStatus.IGNORED and line.review_note == "bank fee" and line.decided_by == finance
    with pytest.raises(InvalidTransition):
        services.line_ignore(actor=finance, line=line)
    services.line_restore(actor=finance, line=line)
    line.refresh_from_db()
    assert line.status == LineStatus.UNMATCHED


def test_sales_roles_may_not_import_or_decide(rep, manager, finance, camt_sample):
    for user in (rep, manager):
        with pytest.raises(PermissionDenied):
            import_camt(user, camt_sample)
    assert nothing_written()
    data = csv_bytes(["2026-03-12;-5.00;USD;Bank;fee"])
    statement = services.statement_import(actor=finance, file_name="a.csv", data=data, mapping=CSV_MAPPING)
    with pytest.raises(PermissionDenied):
        services.line_ignore(actor=rep, line=statement.lines.get())


def test_invoice_numbers_are_normalised():
    assert services.invoice_numbers("inv-2026-123 and INV 2026 000123, INV-2025-000007") == [
        "INV-2026-000123", "INV-2025-000007"]
    assert services.invoice_numbers(json.dumps({"x": "nothing"})) == []
