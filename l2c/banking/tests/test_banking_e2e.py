"""Browser: finance imports a camt.053 statement whose line names a posted invoice, and sees the invoice paid.

The browser fixtures (`browser`, `page`, `login`) live in the root conftest.py."""
import pytest
from playwright.sync_api import expect

from l2c.banking.models import BankStatement, LineStatus

from .conftest import DATA, post_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_import_statement_marks_invoice_paid(page, login, finance, rep, tmp_path, shot):
    # given: a posted invoice for a signed contract (made with the services)
    invoice = post_invoice(finance, name="Northwind Traders Ltd", owner=rep)
    sample = (DATA / "camt053_sample.xml").read_text().replace("INV-2026-000001", invoice.number)
    statement_file = tmp_path / "statement.xml"
    statement_file.write_text(sample)
    # when: finance uploads it on the import page
    login("finance")
    page.goto("/banking/import/")
    page.set_input_files("#id_file", str(statement_file))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/banking/statements/*/")
    statement = BankStatement.objects.get()
    shot("statement")
    row = page.locator(f"#line-{statement.lines.get(position=1).pk}")
    expect(row).to_contain_text("Matched")
    expect(row).to_contain_text(invoice.number)
    assert statement.lines.get(position=1).status == LineStatus.MATCHED
    # then: the invoice page shows it paid
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.locator("h1")).to_contain_text("Paid")
    shot("invoice")
