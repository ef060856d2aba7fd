"""The Kanban board in a real browser (Debian's chromium via Playwright): drag a card, see the stage
requirement error on the card, fill the missing fields in the inline form and retry."""
import os
import shutil
from decimal import Decimal

import pytest

from l2c.pipeline.models import Opportunity

from .factories import OpportunityFactory

CHROMIUM = os.environ.get("L2C_CHROMIUM", "/usr/bin/chromium")
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, monkeypatch):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install -y chromium")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(base_url=live_server.url, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        browser.close()


def _login(page, username, password):
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit].btn-primary")
    page.wait_for_url("**/")


def test_drag_a_card_fill_the_missing_fields_and_retry(page, rep, stages):
    opp = OpportunityFactory(owner=rep, name="Drag me", amount=None)
    _login(page, "rep", "pw-rep")
    page.goto("/pipeline/")
    card = page.locator(f"#opp-{opp.pk}")
    proposal = page.locator(f'.cards[data-stage="{stages["Proposal"].pk}"]')
    # when the card is dropped on Proposal, which needs amount and close date
    card.drag_to(proposal)
    # then it is back in Prospecting with the error and the inline form
    error = page.locator(f"#opp-{opp.pk} .card-error")
    error.wait_for()
    assert "Proposal" in error.inner_text()
    assert page.locator(f'.cards[data-stage="{stages["Prospecting"].pk}"] #opp-{opp.pk}').count() == 1
    # when the missing fields are filled in on the card
    page.fill(f"#mf-{opp.pk}-amount", "2500")
    page.fill(f"#mf-{opp.pk}-expected_close_date", "2030-04-30")
    page.click(f"#opp-{opp.pk} .move-fields button[type=submit]")
    # then the card lands in Proposal and the column heads are updated
    page.locator(f'.cards[data-stage="{stages["Proposal"].pk}"] #opp-{opp.pk}').wait_for()
    head = page.locator(f'#col-head-{stages["Proposal"].pk}')
    assert "1" in head.locator(".badge").inner_text() and "2,500.00 USD" in head.inner_text()
    opp.refresh_from_db()
    assert opp.stage == stages["Proposal"] and opp.amount == Decimal("2500")
    # and a plain drag to Negotiation (no requirements) moves it straight away
    page.locator(f"#opp-{opp.pk}").drag_to(page.locator(f'.cards[data-stage="{stages["Negotiation"].pk}"]'))
    page.locator(f'.cards[data-stage="{stages["Negotiation"].pk}"] #opp-{opp.pk}:not(.is-moving)').wait_for()
    page.wait_for_function(f"document.querySelector('#col-head-{stages['Negotiation'].pk} .badge').textContent.trim() === '1'")
    assert Opportunity.objects.get(pk=opp.pk).stage == stages["Negotiation"]
