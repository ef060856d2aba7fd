"""Browser: the whole order-to-cash path on screen. A signed contract becomes an order, the rep ships it, finance
invoices and posts it, imports the bank statement that pays it, and the invoice shows as paid — with the books
balanced and the customer's thread showing every step.

The browser fixtures (`browser`, `page`, `login`, `shot`) live in the root conftest.py."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from l2c.banking.tests.conftest import DATA
from l2c.billing.models import Invoice, InvoiceStatus
from l2c.contracts.tests.factories import _signing_var_dir, make_sent_quote, sign, signing_var  # noqa: F401
from l2c.orders.models import Order, OrderStatus

from .factories import account_balance, assert_books_balance

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("signing_var")
def test_signed_contract_to_paid_invoice_in_the_browser(page, login, rep, finance, tmp_path, shot):
    # given: the customer signed the quote (the portal's own browser test covers the signing screen); the
    # signature's events gave the contract its order and billing schedule
    quote, link, _token = make_sent_quote(owner=rep)
    with ThreadPoolExecutor(max_workers=1) as pool:  # pyHanko runs its own event loop, Playwright holds this one
        contract = pool.submit(sign, link, quote).result()
    order = Order.objects.get(contract=contract)
    lines = list(order.lines.order_by("position"))
    assert [line.quantity for line in lines] == [10, 1] and order.status == OrderStatus.OPEN

    # when: the rep ships both lines, the first in two shipments with tracking numbers
    login("rep")
    page.goto(f"/orders/{order.pk}/")
    first = page.locator(f"form[action='/orders/{order.pk}/lines/{lines[0].pk}/ship/']")
    first.locator("input[name=quantity]").fill("4")
    first.locator("input[name=tracking_number]").fill("1Z999AA10123456784")
    first.get_by_role("button", name="Ship").click()
    expect(page.locator(f"#line-{lines[0].pk}")).to_contain_text("Partially fulfilled")
    first = page.locator(f"form[action='/orders/{order.pk}/lines/{lines[0].pk}/ship/']")
    first.locator("input[name=tracking_number]").fill("1Z999AA10123456785")
    first.get_by_role("button", name="Ship").click()
    second = page.locator(f"form[action='/orders/{order.pk}/lines/{lines[1].pk}/ship/']")
    second.get_by_role("button", name="Ship").click()
    expect(page.locator("h1")).to_contain_text("Fulfilled")
    shot("order-fulfilled")
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED

    # and finance invoices the contract from the finance home and posts the invoice
    page.context.clear_cookies()  # the rep signs out
    login("finance")
    page.goto("/billing/")
    page.locator(f"form[action='/billing/contracts/{contract.pk}/invoice/']").get_by_role(
        "button", name="Create draft invoice").click()
    page.wait_for_url("**/invoices/*/")
    page.get_by_role("button", name="Post invoice").click()
    invoice = Invoice.objects.get(contract=contract)
    expect(page.locator("h1")).to_contain_text(invoice.number)
    expect(page.locator("h1")).to_contain_text("Posted")
    assert invoice.gross_total == contract.gross_total
    shot("invoice-posted")

    # and imports the bank's camt.053 statement, whose line names the invoice
    today = timezone.localdate().isoformat()
    sample = ((DATA / "camt053_sample.xml").read_text().replace("INV-2026-000001", invoice.number)
              .replace("2026-03-12", today).replace("2026-03-13", today)
              .replace(">1380.00<", f">{invoice.gross_total}<"))
    statement_file = tmp_path / "statement.xml"
    statement_file.write_text(sample)
    page.goto("/banking/import/")
    page.set_input_files("#id_file", str(statement_file))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/banking/statements/*/")
    expect(page.locator("table")).to_contain_text(invoice.number)
    shot("statement")

    # then: the invoice shows paid, the books balance, AR is cleared, and the account's thread has every step
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.locator("h1")).to_contain_text("Paid")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.balance == 0
    assert account_balance("1100", customer=contract.account) == 0
    assert_books_balance()
    page.goto(f"/accounts/{contract.account_id}/")
    thread = page.locator("#account-thread")
    for text in (quote.number, contract.number, order.number, invoice.number):
        expect(thread).to_contain_text(text)
    shot("thread")
