"""The whole flow in a real browser, as a new rep would do it: log in, create a lead through the form,
find it in the list, work and qualify it, convert it, and move the opportunity on the Kanban board.

Debian's chromium driven by Playwright for Python (fixtures `page`, `login`, `shot` in the root
conftest.py). `L2C_E2E_SHOTS=/tmp/e2e-shots pytest -m e2e` keeps screenshots of the key steps."""
import datetime as dt
import gettext
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from l2c.core.audit import history_for
from l2c.leads.choices import LeadSource, LeadStatus
from l2c.leads.models import Lead
from l2c.leads.tests.factories import CampaignFactory, LeadFactory
from l2c.pipeline.models import Opportunity, StageHistory
from l2c.pipeline.services import ensure_default_stages

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for_board(page) -> None:
    """The board's columns take drops once SortableJS (a deferred script) has bound them; a drag before
    that would only select text."""
    page.wait_for_function("() => window.Sortable && window.htmx && [...document.querySelectorAll('#board .cards')]"
                           ".every((list) => Sortable.get(list))")


@pytest.fixture
def stages(db):
    # Transactional tests flush the rows the data migration seeded: put the default stages back.
    return {stage.name: stage for stage in ensure_default_stages()}


def test_a_rep_takes_a_lead_from_the_form_to_the_board(page, login, shot, rep, rep2, stages):
    campaign = CampaignFactory(name="Shanghai Expo 2030", type="event")
    LeadFactory(owner=rep, first_name="Other", last_name="Person", company="Unrelated Ltd")
    LeadFactory(owner=rep2, first_name="Hidden", last_name="Colleague", company="Ming Robotics Two")

    # log in: home page with the sidebar
    login("rep")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Rep")
    shot("home")

    # create a lead through the form
    page.get_by_role("link", name="Leads", exact=True).click()
    page.get_by_role("link", name="New lead").click()
    expect(page).to_have_url(re.compile(r"/leads/new/$"))
    page.fill("#id_first_name", "Mei")
    page.fill("#id_last_name", "Lin")
    page.fill("#id_title", "Head of Operations")
    page.fill("#id_email", "mei.lin@ming-robotics.example")
    page.fill("#id_company", "Ming Robotics")
    page.fill("#id_country", "CN")
    page.select_option("#id_source", LeadSource.EVENT)
    page.select_option("#id_campaign", label=campaign.name)
    page.fill("#id_utm_source", "expo")
    shot("lead-form")
    page.get_by_role("button", name="Create lead").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mei Lin")
    expect(page.locator(".flash-success")).to_contain_text("Mei Lin")
    lead = Lead.objects.get(email="mei.lin@ming-robotics.example")
    assert (lead.owner, lead.status, lead.source, lead.campaign, lead.utm_source) == (
        rep, LeadStatus.NEW, LeadSource.EVENT, campaign, "expo")
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))

    # the list shows it; the search narrows the list down to it (and never shows a colleague's lead)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    page.wait_for_load_state()  # HTMX (deferred) drives the search box
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Mei Lin")).to_be_visible()
    expect(results).to_contain_text("Other Person")
    expect(results).not_to_contain_text("Hidden Colleague")
    page.get_by_role("searchbox", name="Search").fill("ming")
    expect(page).to_have_url(re.compile(r"[?&]q=ming"))  # the HTMX search pushes its URL
    expect(results).not_to_contain_text("Other Person")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results.get_by_role("link", name="Mei Lin")).to_be_visible()
    shot("lead-search")

    # open it and work it: new → working → qualified with the status buttons
    results.get_by_role("link", name="Mei Lin").click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/$"))
    head = page.locator(".page-head h1")
    expect(head.locator(".badge")).to_have_text("New")
    page.get_by_role("button", name="Mark Working").click()
    expect(head.locator(".badge")).to_have_text("Working")
    expect(page.locator(".flash-success")).to_contain_text("Working")
    page.get_by_role("button", name="Mark Qualified").click()
    expect(head.locator(".badge")).to_have_text("Qualified")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.QUALIFIED
    history = page.locator(".card.history")
    expect(history.locator(".timeline > li")).to_have_count(3)  # created, → working, → qualified
    expect(history).to_contain_text("Working")
    expect(history).to_contain_text("Qualified")
    shot("lead-qualified")

    # convert: a new account, an opportunity with an amount and a close date
    page.get_by_role("link", name="Convert", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead.pk}/convert/$"))
    expect(page.get_by_role("radio", name="Create a new account")).to_be_checked()
    page.get_by_label("New account name").fill("Ming Robotics Co., Ltd.")
    page.get_by_label("Opportunity name").fill("Ming Robotics — 40 arms")
    page.get_by_label("Amount").fill("48000")
    page.get_by_label("Expected close date").fill("2030-06-30")
    shot("convert")
    page.get_by_role("button", name="Convert", exact=True).click()

    # land on the new opportunity, which keeps the lead's source and campaign
    expect(page.locator(".flash-success")).to_contain_text("Lead converted")
    opp = Opportunity.objects.get(lead=lead)
    expect(page).to_have_url(re.compile(rf"/opportunities/{opp.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ming Robotics — 40 arms")
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text("Prospecting")
    assert (opp.owner, opp.amount, opp.expected_close_date, opp.stage) == (
        rep, Decimal("48000"), dt.date(2030, 6, 30), stages["Prospecting"])
    assert (opp.source, opp.campaign, opp.account.name) == (LeadSource.EVENT, campaign, "Ming Robotics Co., Ltd.")
    expect(page.locator(".card", has_text="Ownership and origin")).to_contain_text(campaign.name)
    expect(page.locator("section.panel")).to_contain_text("Activities")  # the HTMX panel has loaded
    expect(page.locator("section.panel")).not_to_contain_text("Loading activities")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_opportunity_id == opp.pk
    shot("opportunity-new")

    # the Kanban board: drag the card from Prospecting to Proposal (its amount and date are already set)
    page.get_by_role("link", name="Pipeline board").click()
    expect(page).to_have_url(re.compile(r"/pipeline/$"))
    wait_for_board(page)
    card = page.locator(f"#opp-{opp.pk}")
    prospecting = page.locator(f'.cards[data-stage="{stages["Prospecting"].pk}"]')
    proposal = page.locator(f'.cards[data-stage="{stages["Proposal"].pk}"]')
    expect(prospecting.locator(f"#opp-{opp.pk}")).to_contain_text("Ming Robotics — 40 arms")
    expect(page.locator(f'#col-head-{stages["Proposal"].pk} .badge')).to_have_text("0")
    shot("board-before")
    card.drag_to(proposal)
    expect(proposal.locator(f"#opp-{opp.pk}:not(.is-moving)")).to_have_count(1)
    expect(page.locator(f'#col-head-{stages["Proposal"].pk} .badge')).to_have_text("1")
    expect(page.locator(f'#col-head-{stages["Prospecting"].pk} .badge')).to_have_text("0")
    expect(card.locator(".card-error")).to_have_count(0)
    shot("board-after")

    # the database has the move, with the stage history of both stays
    opp.refresh_from_db()
    assert opp.stage == stages["Proposal"] and opp.probability == stages["Proposal"].probability
    stays = list(StageHistory.objects.filter(opportunity=opp).order_by("entered_at", "id"))
    assert [s.stage.name for s in stays] == ["Prospecting", "Proposal"]
    assert stays[0].left_at is not None and stays[1].left_at is None and stays[1].moved_by == rep
    assert [e.action for e in history_for(opp)][-1] == "create" and "transition" in [e.action for e in history_for(opp)]

    # the opportunity page shows it too: badge, stage history with both stages, history card with the events
    card.get_by_role("link", name="Ming Robotics — 40 arms").click()
    expect(page).to_have_url(re.compile(rf"/opportunities/{opp.pk}/$"))
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text("Proposal")
    stage_rows = page.locator(".card", has=page.get_by_role("heading", name="Stage history")).locator("tbody tr")
    expect(stage_rows).to_have_count(2)
    expect(stage_rows.filter(has_text="Prospecting")).to_have_count(1)
    expect(stage_rows.filter(has_text="Proposal")).to_contain_text("Rep")
    opp_history = page.locator(".card.history")
    expect(opp_history.locator(".timeline > li")).to_have_count(len(history_for(opp)))
    expect(opp_history.locator(".timeline > li").first).to_contain_text("Proposal")  # newest first: the move
    expect(opp_history.locator(".timeline > li").last).to_contain_text("Ming Robotics — 40 arms")  # the create
    shot("opportunity-moved")

    # and the lead page now says converted, linking to the opportunity
    page.locator(".card", has_text="Ownership and origin").get_by_role("link", name="Mei Lin").click()
    expect(page.locator(".page-head h1 .badge")).to_have_text("Converted")
    expect(page.get_by_role("link", name="Opportunity", exact=True)).to_have_attribute(
        "href", f"/opportunities/{opp.pk}/")
    expect(page.locator(".card.history")).to_contain_text("Converted")


def test_wrong_password_then_log_in_and_out(page, login, shot, rep):
    page.goto("/leads/")  # anonymous: sent to the log-in page
    expect(page).to_have_url(re.compile(r"/login/\?next=/leads/"))
    page.fill("#id_username", "rep")
    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("password")
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.locator("#id_username")).to_have_value("rep")
    shot("wrong-password")

    page.fill("#id_password", "pw-rep")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))  # back where the rep wanted to go
    expect(page.get_by_role("heading", name="Leads", level=1)).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto("/leads/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/leads/"))


def _zh_catalog() -> gettext.NullTranslations | None:
    mo = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
    if not mo.exists():
        return None
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)


def test_switching_the_language_to_simplified_chinese(page, login, shot, rep):
    login("rep")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch = page.locator('.sidebar select[name="language"]')  # its label is translated too
    expect(switch).to_have_value("en")
    switch.select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(switch).to_have_value("zh-hans")
    catalog = _zh_catalog()
    if catalog is not None:
        # the strings this page shows come from the compiled catalogue, where it has them
        for english in ("Log out", "Leads", "Pipeline board"):
            translated = catalog.gettext(english)
            if translated != english:
                expect(page.locator(".sidebar")).to_contain_text(translated)
    shot("zh-hans")
    page.goto("/leads/")  # the choice sticks while navigating
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    switch.select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
