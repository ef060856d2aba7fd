"""The demo's signed deals start as leads from demo campaigns, converted through the lead conversion service, so
the funnel, cycle-time and attribution reports trace leads all the way to invoices and cash right after
`l2c demo`.

transaction=True: the contract's order, billing schedule and revenue record are domain-event subscribers that
run after each commit, so the order-to-cash part of `l2c demo` only runs outside a transaction."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from l2c.contracts.tests.factories import _signing_var_dir, signing_var  # noqa: F401
from l2c.demo.order_to_cash import month_start, timeline

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_admin():
    from l2c.identity.models import User

    call_command("demo", "--leads", "40", "--seed", "1", stdout=StringIO())
    return User.objects.get(username="admin")


def _cash_by_campaign(report: dict) -> dict[str, Decimal]:
    return {row["campaign"]: row["cash"] for row in report["rows"]}


def test_the_demo_deals_trace_from_a_campaign_lead_to_cash(demo_admin):
    from l2c.analytics import attribution, cycle_time, funnel
    from l2c.billing.models import Invoice
    from l2c.contracts.models import Contract
    from l2c.leads.models import Lead

    today = timezone.localdate()
    params = funnel.parse_params({"date_from": (today - dt.timedelta(days=730)).isoformat(),
                                  "date_to": today.isoformat()})

    # each contract's opportunity came from converting a lead that came in weeks before, through campaigns
    contracts = {c.account.name: c for c in Contract.objects.select_related("opportunity__lead__campaign")}
    assert len(contracts) == 3
    for contract in contracts.values():
        lead = contract.opportunity.lead
        assert lead.status == "converted" and lead.converted_opportunity_id == contract.opportunity_id
        assert lead.converted_account_id == contract.account_id
        assert lead.created_at < lead.converted_at < contract.opportunity.stage_history.get(
            stage__name="Negotiation").entered_at
        assert lead.touches.exclude(campaign=None).exists()
    leads = {name: c.opportunity.lead for name, c in contracts.items()}
    assert leads["Northwind Traders Ltd"].campaign.name == "Google Ads — CRM search"
    assert [t.campaign.name for t in leads["Northwind Traders Ltd"].touches.order_by("occurred_at")] == [
        "Google Ads — CRM search", "LinkedIn Sponsored Content"]
    assert leads["上海云帆科技有限公司"].campaign.name == "百度搜索推广"
    assert leads["Contoso Retail Ltd"].campaign.name == "Partner Referral Programme"
    assert Lead.objects.count() == 43  # the 40 generated and the three deals' leads

    # the funnel: the three deals' leads reach invoiced; Northwind's and Contoso's first invoices are paid in full
    steps = {s["step"]: s["count"] for s in funnel.funnel(user=demo_admin, params=params)["total"]}
    assert steps["invoiced"] == 3
    assert steps["paid"] == 2
    assert steps["won"] >= steps["invoiced"]

    # cycle time: all three received cash; Northwind's lead came in 35 + 21 days before its contract started
    # and paid 26 days after, 云帆's 50 + 21 days before and paid part on the 12th day two months later
    when = timeline(today)
    services_lead = month_start(today, 3) - dt.timedelta(days=50 + 21)
    goods_lead = month_start(today, 2) - dt.timedelta(days=28 + 21)
    stats = cycle_time.cycle_time(user=demo_admin, params=params)["total"]
    assert stats["count"] == 3
    assert stats["min"] == 82
    assert stats["max"] == (when.services_paid - services_lead).days
    assert stats["median"] == (when.statement_booked - goods_lead).days
    assert 30 <= stats["min"] and stats["max"] <= 120

    # attribution: cash goes to the campaign of the first touch, or of the last touch before the conversion
    paid_in_full = {name: Invoice.objects.filter(contract=c, status="paid").get().ar_base
                    for name, c in contracts.items() if name != "上海云帆科技有限公司"}
    first = _cash_by_campaign(attribution.attribution(user=demo_admin, params=params, model="first"))
    assert first["Google Ads — CRM search"] == paid_in_full["Northwind Traders Ltd"] > 0
    assert first["Partner Referral Programme"] == paid_in_full["Contoso Retail Ltd"] > 0
    assert first["百度搜索推广"] > 0
    assert first["LinkedIn Sponsored Content"] == 0 and first["微信公众号推广"] == 0
    last = _cash_by_campaign(attribution.attribution(user=demo_admin, params=params, model="last"))
    assert last["LinkedIn Sponsored Content"] == paid_in_full["Northwind Traders Ltd"]
    assert last["微信公众号推广"] == first["百度搜索推广"]
    assert last["Google Ads — CRM search"] == 0 and last["百度搜索推广"] == 0


@pytest.mark.django_db(transaction=False)
def test_on_any_day_each_lead_comes_in_while_its_campaigns_run_and_before_its_deal():
    from l2c.demo.generator import _campaign_specs
    from l2c.demo.order_to_cash import _deals, _lead_dates

    day = dt.date(2027, 1, 1)
    while day <= dt.date(2028, 12, 31):  # two years, one of them a leap year
        windows = {name: (day + dt.timedelta(days=start), day + dt.timedelta(days=end))
                   for name, _kind, start, end, *_rest in _campaign_specs(day)}
        for deal in _deals(day):
            when = _lead_dates(deal, day)
            touched = [timezone.localdate(at) for at in when["touches"]]
            assert when["created"] == when["touches"][0]
            assert touched == sorted(touched)
            assert when["touches"][-1] < when["converted"] < when["quoted"]
            assert timezone.localdate(when["quoted"]) < month_start(day, deal.months_ago) <= day
            for (_kind, name), on in zip(deal.origin.touches, touched, strict=True):
                assert windows[name][0] <= on <= windows[name][1], (day, deal.key, name)
        day += dt.timedelta(days=1)
