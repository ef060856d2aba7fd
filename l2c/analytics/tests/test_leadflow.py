"""The per-lead flow summary (analytics.LeadFlow) stays equal to tracing every lead again: after changes made
through the services, in bulk, by merges, reversals and rollbacks; and the funnel, cycle time and attribution
read from it give what the live trace gives, for every role."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from l2c.analytics import attribution as attribution_report
from l2c.analytics import cycle_time as cycle_report
from l2c.analytics import funnel as report
from l2c.analytics import leadflow
from l2c.analytics.models import LeadFlow, LeadFlowDirty
from l2c.billing.reversals import payment_reverse
from l2c.leads import services as lead_services
from l2c.leads.dedupe.services import lead_merge, merge_undo
from l2c.leads.models import Campaign, Lead
from l2c.pipeline.models import Opportunity
from l2c.pipeline.services.opportunities import opportunity_update

from .funnel_history import invoice, lead_on, open_opportunity, paid_lead, pay, touch, won_contract

D = Decimal
JAN = dt.date(2026, 1, 10)
RANGE = {"date_from": "2026-01-01", "date_to": "2026-03-31"}


def stored() -> dict:
    """{lead id: row} of the stored flow rows (without the computation time)."""
    return {row[0]: row[1:-1] for row in LeadFlow.objects.order_by("pk").values_list(*leadflow.COLUMNS)}


def fresh() -> dict:
    """The same rows computed now from the records."""
    return {row[0]: row[1:-1] for row in leadflow.summary_rows(Lead.objects.all())}


def assert_current():
    leadflow.ensure_current()
    assert LeadFlowDirty.objects.count() == 0
    assert stored() == fresh()


@pytest.fixture
def campaign(admin_user):
    return Campaign.objects.create(name="Spring webinar", start_date=JAN, cost=D("500.00"), currency="USD",
                                   owner=admin_user)


def test_new_leads_are_summarised_without_a_mark(rep):
    lead = lead_on(JAN, owner=rep, source="web_form")
    assert not LeadFlowDirty.objects.exists()  # creating a lead marks nothing: catch_up finds it
    assert leadflow.ensure_current() == 1
    row = LeadFlow.objects.get(lead=lead)
    assert (row.step, row.uniform, row.owner_id, row.source, row.qualified) == (0, True, rep.pk, "web_form", False)
    assert leadflow.ensure_current() == 0


def test_each_change_through_the_services_marks_its_lead(rep, rep2, manager, finance, campaign):
    lead = lead_on(JAN, owner=rep, source="referral")
    leadflow.ensure_current()
    # status through the service
    lead_services.lead_change_status(lead=lead, status="qualified", actor=rep)
    assert LeadFlowDirty.objects.filter(lead_id=lead.pk).exists()
    assert_current()
    assert LeadFlow.objects.get(lead=lead).qualified
    # a touch with a campaign (attribution), an opportunity, a contract, an invoice, a payment
    touch(lead, JAN, campaign)
    contract = won_contract(lead, start=JAN, quote_sent=True)
    leadflow.mark_leads([lead.pk])  # won_contract links and wins with queryset updates (a test shortcut)
    inv = invoice(finance, contract, JAN)
    assert_current()
    row = LeadFlow.objects.get(lead=lead)
    assert (row.step, row.first_campaign_id, row.last_campaign_id, row.invoiced, row.cash) == (
        report.STEPS.index("invoiced"), campaign.pk, campaign.pk, D("1380.00"), D("0.00"))
    payment = pay(finance, inv, dt.date(2026, 2, 1))
    assert_current()
    row = LeadFlow.objects.get(lead=lead)
    assert (row.step, row.first_cash_on, row.cash) == (report.STEPS.index("paid"), dt.date(2026, 2, 1), D("1380.00"))
    # the payment reversed: no cash, no longer paid
    payment_reverse(actor=finance, payment=payment, reason="Bounced", date=dt.date(2026, 2, 3))
    assert_current()
    row = LeadFlow.objects.get(lead=lead)
    assert (row.step, row.first_cash_on, row.cash) == (report.STEPS.index("invoiced"), None, D("0.00"))
    # the opportunity handed to another rep: the chain is no longer the lead owner's alone
    opportunity_update(opportunity=Opportunity.objects.get(lead=lead), actor=manager, owner=rep2)
    assert_current()
    assert LeadFlow.objects.get(lead=lead).uniform is False


def test_bulk_reassignment_and_merges_are_announced(rep, rep2, manager):
    a = lead_on(JAN, owner=rep, source="web_form", email="same@example.com")
    b = lead_on(JAN, owner=rep, source="event", email="same@example.com")
    open_opportunity(b)
    leadflow.ensure_current()
    lead_services.leads_assign(leads=[a, b], owner=rep2, actor=manager)  # one queryset update
    assert_current()
    assert set(LeadFlow.objects.values_list("owner_id", flat=True)) == {rep2.pk}
    assert LeadFlow.objects.get(lead=b).uniform is False  # b's opportunity still belongs to rep
    merge = lead_merge(survivor=a, others=[b], actor=manager)  # b's opportunity moves to a
    assert_current()
    assert list(LeadFlow.objects.values_list("lead_id", "step")) == [(a.pk, report.STEPS.index("opportunity"))]
    merge_undo(merge=merge, actor=manager)
    assert_current()
    assert LeadFlow.objects.count() == 2


def test_a_rolled_back_change_leaves_no_mark(rep):
    lead = lead_on(JAN, owner=rep)
    leadflow.ensure_current()
    with pytest.raises(RuntimeError), transaction.atomic():
        lead_services.lead_change_status(lead=lead, status="qualified", actor=rep)
        raise RuntimeError("the user's transaction fails")
    assert not LeadFlowDirty.objects.exists()
    assert_current()


def test_rebuild_repairs_changes_made_behind_the_applications_back(rep, finance):
    lead = paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 1), owner=rep)
    leadflow.ensure_current()
    LeadFlow.objects.filter(lead=lead).update(step=0, cash=0, first_cash_on=None)  # e.g. a restore, raw SQL
    assert stored() != fresh()
    assert leadflow.rebuild_all() == 1
    assert stored() == fresh()


@pytest.fixture
def mixed_history(rep, rep2, manager, outsider, finance, campaign):
    """Chains that cross owners: a rep's lead whose opportunity belongs to another rep of the team, one whose
    invoice's account belongs to another team, an unassigned lead with an opportunity, and plain ones."""
    plain = paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 5), owner=rep, source="web_form")
    touch(plain, JAN, campaign)
    crossed = lead_on(JAN, owner=rep, source="referral")
    contract = won_contract(crossed, start=JAN, quote_sent=True)
    Opportunity.objects.filter(pk=contract.opportunity_id).update(owner=rep2)
    pay(finance, invoice(finance, contract, JAN), dt.date(2026, 3, 1))
    foreign_account = paid_lead(finance, created=JAN, paid_on=dt.date(2026, 2, 20), owner=rep, source="event")
    opportunity = Opportunity.objects.get(lead=foreign_account)
    type(opportunity.account).objects.filter(pk=opportunity.account_id).update(owner=outsider)
    unassigned = lead_on(JAN, owner=None, source="web_form")
    Opportunity.objects.create(name="Unassigned lead's deal", account=opportunity.account, lead=unassigned,
                               owner=rep2, stage=opportunity.stage, amount=D("900.00"), currency="USD")
    lead_on(JAN, owner=rep2, source="web_form", status="qualified")
    lead_on(JAN, owner=outsider, source="event")
    touch(crossed, dt.date(2026, 1, 20), campaign)
    leadflow.rebuild_all()


@pytest.mark.parametrize("who", ["admin_user", "manager", "rep", "rep2", "outsider"])
def test_reports_from_the_summary_equal_the_live_trace(mixed_history, who, request):
    user = request.getfixturevalue(who)
    params = report.parse_params({**RANGE, "by": "source"})
    # the funnel as traced live, lead by lead, through what the user may see
    live = report.lead_cohort(user=user, params=params).annotate(reached=report.reached_step(user))
    expected = report._counts(live, None)[0]
    assert {s["step"]: s["count"] for s in report.funnel(user=user, params=params)["total"]} == expected
    expected_by_source = {r["source"]: r for r in report._counts(live, "source")}
    for row in report.funnel(user=user, params=params)["rows"]:
        assert {s["step"]: s["count"] for s in row["steps"]} == {
            k: v for k, v in expected_by_source[row["key"]].items() if k != "source"}
    # cycle time: the first cash traced live through the invoices the user may see
    live_days = sorted(
        (lead.first_cash - timezone.localtime(lead.created_at).date()).days
        for lead in report.lead_cohort(user=user, params=params).annotate(
            first_cash=cycle_report.first_cash_date(user)) if lead.first_cash)
    total = cycle_report.cycle_time(user=user, params=params)["total"]
    assert total["count"] == len(live_days)
    assert (total["min"], total["max"]) == ((live_days[0], live_days[-1]) if live_days else (None, None))


def test_attribution_from_the_summary_sums_to_cash_for_each_role(mixed_history, admin_user, rep, rep2):
    from l2c.billing.models import Invoice, PaymentAllocation

    params = report.parse_params(RANGE)
    for user in (admin_user, rep, rep2):
        result = attribution_report.attribution(user=user, params=params, model="first")
        visible_opps = Opportunity.objects.restrict(user).filter(lead__in=report.lead_cohort(
            user=user, params=params).values("pk"))
        invoices = Invoice.objects.restrict(user).filter(contract__opportunity__in=visible_opps.values("pk"))
        cash = sum((a.ar_base + a.fx_base for a in PaymentAllocation.objects.filter(
            invoice__in=invoices.values("pk"), payment__reversed_at__isnull=True)), D(0))
        assert result["total"]["cash"] == cash
        assert result["total"]["leads"] == report.lead_cohort(user=user, params=params).count()


def test_an_import_marks_its_block_of_new_leads(tmp_path, admin_user, rep, monkeypatch):
    # an import's COPY sends no signal: its chunk announces the block of ids, marked as one range, so the new
    # leads are summarised even where the id window of catch_up would not reach them (a long import committing
    # after later leads were summarised)
    from l2c.leads.imports.engine import ImportOptions, run_import

    lead_on(JAN, owner=rep)
    leadflow.ensure_current()
    path = tmp_path / "leads.csv"
    path.write_text("Name,Email,Company\nAda Lovelace,ada@example.com,Analytical Engines\n"
                    "Grace Hopper,grace@example.com,US Navy\n", encoding="utf-8")
    run_import(path, ImportOptions(default_region="CN"), actor=admin_user)
    new = list(Lead.objects.filter(email__in=["ada@example.com", "grace@example.com"]).values_list("pk", flat=True))
    marks = list(LeadFlowDirty.objects.values_list("lead_id", "last_lead_id"))
    assert marks == [(min(new), max(new))]
    monkeypatch.setattr(leadflow, "catch_up", lambda: 0)  # only the range mark can bring them in
    leadflow.ensure_current()
    assert set(LeadFlow.objects.filter(lead_id__in=new).values_list("lead_id", flat=True)) == set(new)
    assert stored() == fresh()


def test_a_bulk_api_capture_marks_its_block_of_new_leads(api_for, rep, monkeypatch):
    # POST /api/v1/leads/bulk creates its leads with one bulk insert: one range mark covers them
    lead_on(JAN, owner=rep)
    leadflow.ensure_current()
    response = api_for(rep).post("/api/v1/leads/bulk", {"leads": [
        {"last_name": f"Zhang{n}", "email": f"wei{n}@example.com"} for n in range(3)]})
    assert response.status_code == 201
    new = [r["id"] for r in response.json()["results"]]
    assert list(LeadFlowDirty.objects.values_list("lead_id", "last_lead_id")) == [(min(new), max(new))]
    monkeypatch.setattr(leadflow, "catch_up", lambda: 0)
    leadflow.ensure_current()
    assert set(LeadFlow.objects.filter(lead_id__in=new).values_list("lead_id", flat=True)) == set(new)
