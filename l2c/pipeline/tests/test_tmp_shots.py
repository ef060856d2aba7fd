import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from .factories import AccountFactory, ActivityFactory, OpportunityFactory
from .test_board_browser import _login, page  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_shots(page, rep, stages):  # noqa: F811
    from l2c.pipeline import services
    for i in range(8):
        o = OpportunityFactory(owner=rep, name=f"Deal number {i}", amount=Decimal(1000 * (i + 1)),
                               account=AccountFactory(owner=rep, name=f"Acme {i} GmbH"))
        if i % 3 == 1:
            services.opportunity_move(opportunity=o, stage=stages["Negotiation"], actor=rep)
    ActivityFactory(owner=rep, opportunity=o, subject="Call the CFO", due_at=timezone.now() - dt.timedelta(hours=3))
    ActivityFactory(owner=rep, opportunity=o, subject="Send proposal", due_at=timezone.now() + dt.timedelta(hours=1))
    _login(page, "rep", "pw-rep")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path="/tmp/shot_home.png", full_page=True)
    page.goto("/pipeline/")
    first = page.locator(".opp-card").first
    first.drag_to(page.locator(f'.cards[data-stage="{stages["Closed Lost"].pk}"]'))
    page.wait_for_timeout(1500)
    page.screenshot(path="/tmp/shot_board_dbg.png", full_page=True)
    print("CARDS", page.evaluate("Array.from(document.querySelectorAll('.cards')).map(c => c.dataset.stage + ':' + c.children.length)"))
    page.locator(".card-error").wait_for()
    page.screenshot(path="/tmp/shot_board.png", full_page=True)
    page.goto(f"/opportunities/{o.pk}/")
    page.wait_for_timeout(500)
    page.screenshot(path="/tmp/shot_detail.png", full_page=True)
    page.goto("/opportunities/")
    page.screenshot(path="/tmp/shot_list.png", full_page=True)
