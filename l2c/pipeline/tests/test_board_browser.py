"""The Kanban board in a real browser (Debian's chromium via Playwright): drag a card, see the stage
requirement error on the card, fill the missing fields in the inline form and retry.

The browser fixtures (`page`, `login`) live in the root conftest.py."""
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from l2c.pipeline.models import Opportunity

from .factories import OpportunityFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_drag_a_card_fill_the_missing_fields_and_retry(page, login, rep, stages):
    opp = OpportunityFactory(owner=rep, name="Drag me", amount=None)
    login("rep")
    page.goto("/pipeline/")  # waits for the load event: SortableJS has bound the columns
    card = page.locator(f"#opp-{opp.pk}")
    column = {name: page.locator(f'.cards[data-stage="{stages[name].pk}"]')
              for name in ("Prospecting", "Proposal", "Negotiation")}
    # when the card is dropped on Proposal, which needs amount and close date
    card.drag_to(column["Proposal"])
    # then it is back in Prospecting with the error and the inline form
    expect(card.locator(".card-error")).to_contain_text("Proposal")
    expect(column["Prospecting"].locator(f"#opp-{opp.pk}")).to_have_count(1)
    expect(column["Proposal"].locator(f"#opp-{opp.pk}")).to_have_count(0)
    assert Opportunity.objects.get(pk=opp.pk).stage == stages["Prospecting"]
    # when the missing fields are filled in on the card
    page.fill(f"#mf-{opp.pk}-amount", "2500")
    page.fill(f"#mf-{opp.pk}-expected_close_date", "2030-04-30")
    page.click(f"#opp-{opp.pk} .move-fields button[type=submit]")
    # then the card lands in Proposal and the column heads are updated
    expect(column["Proposal"].locator(f"#opp-{opp.pk}")).to_have_count(1)
    head = page.locator(f'#col-head-{stages["Proposal"].pk}')
    expect(head.locator(".badge")).to_have_text("1")
    expect(head).to_contain_text("2,500.00 USD")
    opp.refresh_from_db()
    assert opp.stage == stages["Proposal"] and opp.amount == Decimal("2500")
    # and a plain drag to Negotiation (no requirements) moves it straight away
    card.drag_to(column["Negotiation"])
    expect(column["Negotiation"].locator(f"#opp-{opp.pk}:not(.is-moving)")).to_have_count(1)
    expect(page.locator(f'#col-head-{stages["Negotiation"].pk} .badge')).to_have_text("1")
    expect(page.locator(f'#col-head-{stages["Proposal"].pk} .badge')).to_have_text("0")
    assert Opportunity.objects.get(pk=opp.pk).stage == stages["Negotiation"]
