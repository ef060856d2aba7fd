import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from l2c.leads.choices import LeadStatus
from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory

from .factories import AccountFactory, ActivityFactory, ContactFactory, LeadFactory, OpportunityFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/opportunities/", "/pipeline/", "/activities/", "/settings/stages/",
                                  "/opportunities/new/"])
def test_anonymous_goes_to_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_pages_render_for_a_rep(rep, stages):
    opp = OpportunityFactory(owner=rep, name="Rocket deal")
    ActivityFactory(owner=rep, opportunity=opp, subject="Prepare demo")
    client = client_for(rep)
    for path in ("/opportunities/", "/pipeline/", "/activities/", "/opportunities/new/", f"/opportunities/{opp.pk}/",
                 f"/opportunities/{opp.pk}/edit/", f"/activities/panel/?opportunity={opp.pk}",
                 f"/opportunities/panel/?account={opp.account_id}", "/"):
        response = client.get(path)
        assert response.status_code == 200, path
    detail = client.get(f"/opportunities/{opp.pk}/").content.decode()
    assert "Rocket deal" in detail and "stage-bar" in detail and "Prospecting" in detail
    assert "Prepare demo" in client.get(f"/activities/panel/?opportunity={opp.pk}").content.decode()


def test_someone_elses_records_are_404_in_the_ui(rep, outsider, finance, stages):
    opp = OpportunityFactory(owner=outsider)
    activity = ActivityFactory(owner=outsider, opportunity=opp)
    lead = LeadFactory(owner=outsider, status=LeadStatus.QUALIFIED)
    client = client_for(rep)
    for path in (f"/opportunities/{opp.pk}/", f"/opportunities/{opp.pk}/edit/", f"/activities/{activity.pk}/edit/",
                 f"/activities/panel/?opportunity={opp.pk}", f"/opportunities/panel/?account={opp.account_id}",
                 f"/leads/{lead.pk}/convert/"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/opportunities/{opp.pk}/move/", {"stage": stages["Negotiation"].pk}).status_code == 404
    assert client.post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Negotiation"].pk},
                       **HTMX).status_code == 404
    assert client.post(f"/activities/{activity.pk}/complete/").status_code == 404
    assert client.get("/settings/stages/").status_code == 404
    assert client_for(finance).get("/pipeline/").status_code == 404
    assert Opportunity.objects.get(pk=opp.pk).stage == stages["Prospecting"]
    assert Activity.objects.get(pk=activity.pk).done_at is None


def test_list_search_filter_sort_and_bad_ordering(rep, stages):
    OpportunityFactory(owner=rep, name="Alpha", amount=Decimal("5"))
    OpportunityFactory(owner=rep, name="Beta", amount=Decimal("50"))
    client = client_for(rep)
    page = client.get("/opportunities/", {"ordering": "-amount"}).content.decode()
    assert page.index("Beta") < page.index("Alpha")
    page = client.get("/opportunities/", {"q": "alp"}).content.decode()
    assert "Alpha" in page and "Beta" not in page
    bad = client.get("/opportunities/", {"ordering": "secret"})
    assert bad.status_code == 200 and "Cannot sort by" in bad.content.decode()


def test_board_renders_columns_with_bounded_queries(rep, stages, django_assert_max_num_queries):
    for i in range(30):
        OpportunityFactory(owner=rep, amount=Decimal(1000 + i), currency="USD" if i % 2 else "EUR")
    client = client_for(rep)
    client.get("/pipeline/")  # warm the session/user caches
    with django_assert_max_num_queries(14):
        response = client.get("/pipeline/")
    html = response.content.decode()
    assert response.status_code == 200
    for stage in Stage.objects.filter(is_active=True):
        assert f'data-stage="{stage.pk}"' in html
    assert html.count('class="opp-card') == 30
    assert "15,225.00 USD" in html and "15,210.00 EUR" in html  # odd i: USD, even i: EUR


def test_board_move_success_answers_the_card_and_column_heads(rep, stages):
    opp = OpportunityFactory(owner=rep)
    response = client_for(rep).post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Negotiation"].pk},
                                    **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-stage="{stages["Negotiation"].pk}"' in html
    assert f'id="col-head-{stages["Prospecting"].pk}" hx-swap-oob="true"' in html
    assert f'id="col-head-{stages["Negotiation"].pk}" hx-swap-oob="true"' in html
    opp.refresh_from_db()
    assert opp.stage == stages["Negotiation"]


def test_board_move_with_missing_fields_answers_the_error_fragment(rep, stages):
    opp = OpportunityFactory(owner=rep, amount=None)
    client = client_for(rep)
    response = client.post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Proposal"].pk}, **HTMX)
    # the card, still in its old stage, with the message and inputs for each missing field
    assert response.status_code == 422
    html = response.content.decode()
    assert f'data-stage="{stages["Prospecting"].pk}"' in html
    assert "card-error" in html and 'name="amount"' in html and 'name="expected_close_date"' in html
    assert "is required to enter the stage Proposal" in html
    opp.refresh_from_db()
    assert opp.stage == stages["Prospecting"] and StageHistory.objects.filter(opportunity=opp).count() == 1
    # filling the inline form retries the move
    retry = client.post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Proposal"].pk,
                                            "amount": "1500", "expected_close_date": "2030-05-01"}, **HTMX)
    assert retry.status_code == 200
    opp.refresh_from_db()
    assert opp.stage == stages["Proposal"] and opp.amount == Decimal("1500")
    # a bad value in the inline form is shown the same way
    bad = client.post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Closed Lost"].pk,
                                          "lost_reason": "x" * 300}, **HTMX)
    assert bad.status_code == 422 and "At most 255 characters" in bad.content.decode()


def test_board_move_without_htmx_redirects_with_a_message(rep, stages):
    opp = OpportunityFactory(owner=rep)
    response = client_for(rep).post("/pipeline/move/", {"opportunity": opp.pk, "stage": stages["Closed Lost"].pk})
    assert response.status_code == 302
    opp.refresh_from_db()
    assert opp.stage == stages["Prospecting"]


def test_detail_page_move_shows_the_missing_fields_form(rep, stages):
    opp = OpportunityFactory(owner=rep)
    client = client_for(rep)
    response = client.post(f"/opportunities/{opp.pk}/move/", {"stage": stages["Qualification"].pk})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="budget"' in html and 'name="need"' in html
    done = client.post(f"/opportunities/{opp.pk}/move/", {"stage": stages["Qualification"].pk, "budget": "Yes",
                                                          "need": "CRM"})
    assert done.status_code == 302
    opp.refresh_from_db()
    assert opp.stage == stages["Qualification"]
    # the page shows the move in the stage history and the audit trail, with stage names
    page = client.get(f"/opportunities/{opp.pk}/").content.decode()
    assert page.count("Qualification") >= 3 and "<del>Prospecting</del>" in page


def test_create_and_edit_through_the_form(rep, stages):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    client = client_for(rep)
    bad = client.post("/opportunities/new/", {"name": "", "account": account.pk, "currency": "USD"})
    assert bad.status_code == 200 and "field-error" in bad.content.decode()
    response = client.post("/opportunities/new/", {
        "name": "Form deal", "account": account.pk, "contact": contact.pk, "owner": rep.pk, "currency": "USD",
        "amount": "100.00"})
    assert response.status_code == 302
    opp = Opportunity.objects.get(name="Form deal")
    assert opp.contact == contact and opp.stage == stages["Prospecting"]
    edit = client.post(f"/opportunities/{opp.pk}/edit/", {
        "name": "Form deal", "account": account.pk, "contact": contact.pk, "owner": rep.pk, "currency": "USD",
        "amount": "250.00", "next_step": "Send quote"})
    assert edit.status_code == 302
    opp.refresh_from_db()
    assert opp.amount == Decimal("250.00") and opp.next_step == "Send quote"


def test_convert_page_redirects_to_the_new_opportunity(rep, stages):
    existing = AccountFactory(owner=rep, name="Zen Ltd")
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Zen Ltd")
    client = client_for(rep)
    page = client.get(f"/leads/{lead.pk}/convert/").content.decode()
    assert "Zen Ltd" in page and f'value="{existing.pk}"' in page
    response = client.post(f"/leads/{lead.pk}/convert/", {
        "account_choice": str(existing.pk), "create_opportunity": "on", "opportunity_name": "Zen expansion",
        "amount": "800", "currency": "USD"})
    opp = Opportunity.objects.get(name="Zen expansion")
    assert response.status_code == 302 and response["Location"] == f"/opportunities/{opp.pk}/"
    assert opp.account == existing and opp.lead == lead


def test_convert_page_refuses_an_unqualified_lead(rep, stages):
    lead = LeadFactory(owner=rep, status=LeadStatus.NEW)
    response = client_for(rep).post(f"/leads/{lead.pk}/convert/", {"account_choice": "new", "currency": "USD"})
    assert response.status_code == 200 and "only a qualified lead" in response.content.decode().lower()
    assert not Opportunity.objects.exists()


def test_activity_panel_quick_add_and_complete(rep, stages):
    opp = OpportunityFactory(owner=rep)
    client = client_for(rep)
    due = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    added = client.post(f"/activities/panel/?opportunity={opp.pk}", {"kind": "task", "subject": "Book meeting",
                                                                       "due_at": due}, **HTMX)
    assert added.status_code == 200 and "Book meeting" in added.content.decode()
    activity = Activity.objects.get(subject="Book meeting")
    assert activity.opportunity == opp and activity.owner == rep
    missing_due = client.post(f"/activities/panel/?opportunity={opp.pk}", {"kind": "task", "subject": "No date"},
                              **HTMX)
    assert missing_due.status_code == 422 and "A task needs a due date." in missing_due.content.decode()
    done = client.post(f"/activities/{activity.pk}/complete/?opportunity={opp.pk}", **HTMX)
    assert done.status_code == 200 and "activity-panel" in done.content.decode()
    activity.refresh_from_db()
    assert activity.done_at is not None


def test_stage_settings_for_admins(admin_user, stages):
    client = client_for(admin_user)
    assert client.get("/settings/stages/").status_code == 200
    response = client.post("/settings/stages/new/", {"name": "Trial", "probability": "35", "outcome": "open",
                                                     "required_fields": ["contact", "next_step"], "is_active": "on"})
    assert response.status_code == 302
    trial = Stage.objects.get(name="Trial")
    assert trial.required_fields == ["contact", "next_step"]
    both = client.post(f"/settings/stages/{trial.pk}/", {"name": "Trial", "probability": "135", "outcome": "open"})
    assert both.status_code == 200
    assert Stage.objects.get(pk=trial.pk).probability == 35
    client.post("/settings/stages/", {"stage": trial.pk, "direction": "up"})
    names = list(Stage.objects.order_by("order").values_list("name", flat=True))
    assert names.index("Trial") == names.index("Closed Lost") - 1


def test_finance_reads_account_panels_but_cannot_add(finance, rep, stages):
    account = AccountFactory(owner=rep)
    ActivityFactory(owner=rep, account=account, subject="Renewal call")
    OpportunityFactory(owner=rep, account=account, name="Renewal")
    client = client_for(finance)
    panel = client.get(f"/activities/panel/?account={account.pk}")
    assert panel.status_code == 200 and "Renewal call" in panel.content.decode()
    assert "quick-add" not in panel.content.decode()
    opportunities = client.get(f"/opportunities/panel/?account={account.pk}")
    assert opportunities.status_code == 200 and "Renewal" not in opportunities.content.decode()
    refused = client.post(f"/activities/panel/?account={account.pk}", {"kind": "note", "subject": "x"}, **HTMX)
    assert refused.status_code == 404 and Activity.objects.count() == 1
