"""A quote in a real browser (Debian's chromium via Playwright): a rep builds a quote from the opportunity
page, adds two lines (the totals update without a page load), submits it; a manager approves it in the
inbox; the rep sees it approved and ready to send.

The browser fixtures (`browser`, `page`, `login`) live in the root conftest.py."""
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from l2c.pipeline.tests.factories import AccountFactory, ContactFactory, OpportunityFactory
from l2c.quoting.models import ApprovalRule, Quote, QuoteStatus, TaxRate

from .factories import PriceBookEntryFactory, PriceBookFactory, ProductFactory, TaxRateFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deal(rep, manager):
    ApprovalRule.objects.all().delete()
    ApprovalRule.objects.create(name="Over 15", measure="overall", threshold_percent=Decimal("15"),
                                approver_roles=["manager", "admin"], level=1)
    TaxRate.objects.filter(country="CN").delete()
    TaxRateFactory(country="CN", tax_category="standard", rate=Decimal("13"))
    TaxRateFactory(country="CN", tax_category="services", rate=Decimal("6"))
    book = PriceBookFactory(currency="CNY", name="China list")
    goods = ProductFactory(sku="BOX-1", name="Server box", tax_category="standard")
    service = ProductFactory(sku="SVC-1", name="Installation", kind="service", tax_category="services")
    PriceBookEntryFactory(price_book=book, product=goods, list_price=Decimal("100.00"))
    PriceBookEntryFactory(price_book=book, product=service, list_price=Decimal("50.00"))
    account = AccountFactory(owner=rep, country="CN", name="Shanghai Widgets")
    contact = ContactFactory(owner=rep, account=account)
    opportunity = OpportunityFactory(owner=rep, account=account, contact=contact, currency="CNY", name="Widgets deal")
    return {"opportunity": opportunity, "goods": goods, "service": service}


def test_build_submit_approve(page, login, browser, live_server, deal, shot):
    login("rep")
    # the rep starts a quote on the opportunity page
    page.goto(f"/opportunities/{deal['opportunity'].pk}/")
    page.click("#opportunity-quotes >> text=New quote")
    page.click("button[type=submit]:has-text('Create quote')")
    page.wait_for_url("**/quotes/*/")
    quote = Quote.objects.get(opportunity=deal["opportunity"])
    gross = page.locator('#quote-totals [data-total="gross"]')
    expect(gross).to_have_text("0.00 CNY")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # two lines; after each the totals block is swapped in place
    page.select_option("#id_add-product", str(deal["goods"].pk))
    page.fill("#id_add-quantity", "3")
    page.fill("#id_add-discount_percent", "25")
    page.click("#add-line")
    expect(gross).to_have_text("254.25 CNY")  # 3 × 75.00 = 225.00 + 13 % = 29.25
    page.select_option("#id_add-product", str(deal["service"].pk))
    page.fill("#id_add-quantity", "2")
    page.click("#add-line")
    expect(gross).to_have_text("360.25 CNY")  # + 2 × 50.00 = 100.00 + 6 % = 6.00
    expect(page.locator('#quote-totals [data-total="net"]')).to_have_text("325.00 CNY")
    expect(page.locator("#quote-lines .line-row")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True
    shot("lines")

    # submit: 18.75 % overall discount is over 15 %, so it waits for a manager
    page.click("#submit-quote")
    expect(page.locator("#quote-status .quote-status")).to_have_text("Awaiting approval")
    expect(page.locator("#quote-status .blockers")).to_be_visible()
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.PENDING_APPROVAL

    # the manager approves it in the inbox
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    manager_page = context.new_page()
    manager_page.goto("/login/")
    manager_page.fill("#id_username", "manager")
    manager_page.fill("#id_password", "pw-manager")
    manager_page.click("button[type=submit].btn-primary")
    manager_page.wait_for_url(lambda url: "/login/" not in url)
    manager_page.goto("/approvals/")
    row = manager_page.locator(".approval-inbox tbody tr", has_text=quote.number)
    expect(row).to_contain_text("18.75 %")
    row.locator("textarea[name=comment]").fill("Fine for a first order")
    row.locator("button:has-text('Approve')").click()
    expect(manager_page.locator(".approval-inbox")).to_contain_text("Nothing waits for your approval.")
    expect(manager_page.locator(".approval-decided")).to_contain_text("Fine for a first order")
    context.close()

    # the rep sees it approved, with the comment and the Send button
    page.reload()
    expect(page.locator("#quote-status .quote-status")).to_have_text("Approved")
    expect(page.locator("#quote-status")).to_contain_text("Fine for a first order")
    expect(page.locator(f'a[href="/quotes/{quote.pk}/send/"]')).to_be_visible()
    shot("approved")
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.APPROVED


def test_quote_to_signed_contract(page, login, browser, live_server, deal, shot, settings, tmp_path):
    """The whole path of issue 4 in a browser: build a quote, submit it for approval, a manager approves,
    the rep sends it, the customer opens the portal link from the e-mail, agrees, draws and signs, and
    the rep sees the contract with a valid signature."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    from django.core import mail

    from l2c.contracts import signing
    from l2c.contracts.models import Contract
    from l2c.portal.tests.test_portal_e2e import draw

    settings.VAR_DIR = tmp_path  # the company certificate is generated here
    settings.L2C_SIGNING_PKCS12 = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    deal["opportunity"].contact.email = "buyer@widgets.example"
    deal["opportunity"].contact.save()

    login("rep")
    page.goto(f"/opportunities/{deal['opportunity'].pk}/")
    page.click("#opportunity-quotes >> text=New quote")
    page.click("button[type=submit]:has-text('Create quote')")
    page.wait_for_url("**/quotes/*/")
    quote = Quote.objects.get(opportunity=deal["opportunity"])
    page.select_option("#id_add-product", str(deal["goods"].pk))
    page.fill("#id_add-quantity", "4")
    page.fill("#id_add-discount_percent", "20")
    page.click("#add-line")
    expect(page.locator('#quote-totals [data-total="gross"]')).to_have_text("361.60 CNY")  # 4 × 80 + 13 %
    page.click("#submit-quote")
    expect(page.locator("#quote-status .quote-status")).to_have_text("Awaiting approval")

    context = browser.new_context(base_url=live_server.url, locale="en-US")
    manager_page = context.new_page()
    manager_page.goto("/login/")
    manager_page.fill("#id_username", "manager")
    manager_page.fill("#id_password", "pw-manager")
    manager_page.click("button[type=submit].btn-primary")
    manager_page.wait_for_url(lambda url: "/login/" not in url)
    manager_page.goto("/approvals/")
    manager_page.locator(".approval-inbox tbody tr", has_text=quote.number).locator(
        "button:has-text('Approve')").click()
    expect(manager_page.locator(".approval-inbox")).to_contain_text("Nothing waits for your approval.")
    context.close()

    # the rep sends it: the e-mail carries the PDF and the portal link
    page.goto(f"/quotes/{quote.pk}/send/")
    expect(page.locator("#id_to")).to_have_value("buyer@widgets.example")
    page.click("button[type=submit]:has-text('Send')")
    page.wait_for_url(f"**/quotes/{quote.pk}/")
    expect(page.locator("#quote-status .quote-status")).to_have_text("Sent")
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments[0][2] == "application/pdf"
    portal_path = re.search(r"https?://[^/\s]+(/portal/q/[\w-]+/)", mail.outbox[0].body).group(1)

    # the customer, with no account, opens the link, agrees, draws and signs
    customer = browser.new_context(base_url=live_server.url, locale="en-US")
    portal = customer.new_page()
    portal.goto(portal_path)
    expect(portal.locator("h1")).to_contain_text(quote.number)
    portal.click("#accept-sign")
    portal.wait_for_load_state("load")
    draw(portal)
    portal.check("#id_consent")
    portal.fill("#id_signer_name", "Li Na")
    portal.click("#sign-submit")
    expect(portal.locator("h1")).to_contain_text("signed")
    customer.close()

    # the rep finds the contract on the opportunity, signature valid
    contract = Contract.objects.get(quote=quote)
    page.goto(f"/opportunities/{deal['opportunity'].pk}/")
    page.click("a.btn:has-text('Contract')")
    page.wait_for_url(f"**/contracts/{contract.pk}/")
    expect(page.locator("h1")).to_contain_text(contract.number)
    expect(page.locator("body")).to_contain_text("Signature valid")
    expect(page.locator("body")).to_contain_text("Li Na")
    shot("contract")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and contract.gross_total == Decimal("361.60")
    with ThreadPoolExecutor(max_workers=1) as pool:  # pyHanko runs its own event loop
        assert pool.submit(signing.verify_document, bytes(contract.signature.signed_pdf)).result().valid
