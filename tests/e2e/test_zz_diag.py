import pytest
from playwright.sync_api import expect
from l2c.pipeline.services import ensure_default_stages
from l2c.pipeline.tests.factories import OpportunityFactory
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

@pytest.mark.parametrize("wait", [False, True])
def test_diag(page, login, rep, wait):
    st = {s.name: s for s in ensure_default_stages()}
    opp = OpportunityFactory(owner=rep, name="Ming Robotics — 40 arms", account__name="Ming Robotics Co., Ltd.", amount=48000)
    login("rep")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 20})
    fails = 0
    for i in range(6):
        page.goto("/")
        page.get_by_role("link", name="Pipeline board").first.click()
        if wait:
            page.wait_for_load_state()
        target_name = "Negotiation" if i % 2 == 0 else "Prospecting"
        card = page.locator(f"#opp-{opp.pk}")
        target = page.locator(f'.cards[data-stage="{st[target_name].pk}"]')
        expect(card).to_be_visible()
        card.drag_to(target)
        try:
            expect(target.locator(f"#opp-{opp.pk}:not(.is-moving)")).to_have_count(1, timeout=3000)
            expect(page.locator(f'#col-head-{st[target_name].pk} .badge')).to_have_text("1", timeout=3000)
        except AssertionError:
            fails += 1
            opp.refresh_from_db()
            from l2c.pipeline.services import opportunity_move
            if opp.stage != st[target_name]:
                opportunity_move(opportunity=opp, stage=st[target_name], actor=rep)
    print("WAIT", wait, "fails", fails)
