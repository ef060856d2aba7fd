"""Pages: the unassigned queue, reassigning a lead, and the assignment rules settings."""
import pytest
from django.urls import reverse

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.leads.choices import LeadStatus
from l2c.leads.models import AssignmentRule, Lead
from l2c.leads.tests.factories import CampaignFactory, LeadFactory

QUEUE = "/leads/unassigned/"
RULES = "/settings/assignment/"


def logged_in(client, user):
    client.force_login(user)
    return client


def test_anonymous_goes_to_login(client, db):
    for url in (QUEUE, RULES, RULES + "new/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("who", ["rep", "finance"])
def test_reps_and_finance_cannot_open_assignment_pages(request, client, who, rep2):
    user = request.getfixturevalue(who)
    lead = LeadFactory(owner=rep2)
    rule = AssignmentRule.objects.create(name="x", assign_to=rep2)
    logged_in(client, user)
    for url in (QUEUE, RULES, RULES + "new/", f"{RULES}{rule.pk}/edit/", f"/leads/{lead.pk}/reassign/"):
        assert client.get(url).status_code == 403, url
    assert client.post(QUEUE, {"lead": [lead.pk], "owner": str(user.pk)}).status_code == 403
    assert client.post(f"{RULES}{rule.pk}/delete/").status_code == 403
    assert AssignmentRule.objects.filter(pk=rule.pk).exists()


def test_queue_shows_only_open_unassigned_leads(client, manager, rep, django_assert_max_num_queries):
    # given
    waiting = LeadFactory(last_name="Waiting<script>", country="CN")
    LeadFactory(last_name="Owned", owner=rep)
    LeadFactory(last_name="Lost", status=LeadStatus.DISQUALIFIED)
    LeadFactory(last_name="Merged", merged_into=waiting)
    for _ in range(5):
        LeadFactory(campaign=CampaignFactory())
    logged_in(client, manager)
    # when
    with django_assert_max_num_queries(12):
        response = client.get(QUEUE)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Waiting&lt;script&gt;" in html and "Waiting<script>" not in html
    assert "Owned" not in html and "Lost" not in html and "Merged" not in html
    assert response.context["page_obj"].paginator.count == 6
    filtered = client.get(QUEUE, {"country": "cn"})
    assert [lead.pk for lead in filtered.context["page_obj"]] == [waiting.pk]
    bad = client.get(QUEUE, {"country": "ZZ"})
    assert bad.status_code == 200 and "ISO 3166-1" in bad.content.decode()


def test_queue_assigns_selected_leads_to_a_team_member(client, manager, rep2, outsider):
    leads = [LeadFactory(), LeadFactory(), LeadFactory()]
    logged_in(client, manager)
    response = client.post(QUEUE, {"lead": [leads[0].pk, leads[1].pk], "owner": str(rep2.pk)})
    assert response.status_code == 302
    assert list(Lead.objects.filter(owner=rep2).order_by("pk")) == leads[:2]
    assert Lead.objects.get(pk=leads[2].pk).owner is None
    for lead in leads[:2]:
        event = AuditEvent.objects.filter(object_type="leads.lead", object_id=str(lead.pk)).get()
        assert event.changes == {"owner": [None, rep2.pk]} and event.actor_id == manager.pk
    assert audit.verify_chain()[1] is None
    # another team's rep is not among the choices: refused, nothing changes
    response = client.post(QUEUE, {"lead": [leads[2].pk], "owner": str(outsider.pk)}, follow=True)
    assert Lead.objects.get(pk=leads[2].pk).owner is None
    assert "Select a valid choice" in response.content.decode()


def test_queue_applies_the_rules(client, manager, rep, rep2):
    AssignmentRule.objects.create(name="East", team=rep.team)
    AssignmentRule.objects.create(name="CN", priority=1, countries=["CN"], assign_to=rep2)
    leads = [LeadFactory(country="US"), LeadFactory(country="US"), LeadFactory(country="CN")]
    logged_in(client, manager)
    response = client.post(QUEUE, {"lead": [lead.pk for lead in leads], "owner": "auto"}, follow=True)
    assert [Lead.objects.get(pk=lead.pk).owner for lead in leads] == [rep, rep2, rep2]
    assert "3 leads assigned." in response.content.decode()


def test_queue_without_selection_says_so(client, manager, rep):
    logged_in(client, manager)
    response = client.post(QUEUE, {"owner": str(rep.pk)}, follow=True)
    assert "Select at least one lead." in response.content.decode()


def test_reassign_from_lead_detail(client, manager, rep, rep2):
    lead = LeadFactory(owner=rep)
    logged_in(client, manager)
    detail = client.get(f"/leads/{lead.pk}/").content.decode()
    assert reverse("leads:assignment-reassign", args=[lead.pk]) in detail
    assert client.get(f"/leads/{lead.pk}/reassign/").status_code == 200
    response = client.post(f"/leads/{lead.pk}/reassign/", {"lead": lead.pk, "owner": str(rep2.pk)})
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert Lead.objects.get(pk=lead.pk).owner == rep2
    # back to the queue
    client.post(f"/leads/{lead.pk}/reassign/", {"lead": lead.pk, "owner": "none"})
    assert Lead.objects.get(pk=lead.pk).owner is None
    changes = [e.changes["owner"] for e in AuditEvent.objects.filter(object_type="leads.lead", object_id=str(lead.pk))
               .order_by("id")]
    assert changes == [[rep.pk, rep2.pk], [rep2.pk, None]]


def test_reassign_by_rules_and_no_button_for_reps(client, admin_user, manager, rep, rep2):
    AssignmentRule.objects.create(name="to rep2", assign_to=rep2)
    lead = LeadFactory(owner=rep)
    logged_in(client, rep)
    assert reverse("leads:assignment-reassign", args=[lead.pk]) not in client.get(f"/leads/{lead.pk}/").content.decode()
    logged_in(client, admin_user)
    client.post(f"/leads/{lead.pk}/reassign/", {"lead": lead.pk, "owner": "auto"})
    assert Lead.objects.get(pk=lead.pk).owner == rep2


def test_reassign_another_teams_lead_is_404_for_a_manager(client, manager, outsider):
    lead = LeadFactory(owner=outsider)
    logged_in(client, manager)
    assert client.get(f"/leads/{lead.pk}/reassign/").status_code == 404
    assert client.post(f"/leads/{lead.pk}/reassign/", {"lead": lead.pk, "owner": str(manager.pk)}).status_code == 404
    assert Lead.objects.get(pk=lead.pk).owner == outsider


def test_rules_page_create_edit_move_delete(client, admin_user, rep, rep2):
    logged_in(client, admin_user)
    campaign = CampaignFactory()
    # create with a comma list of countries and source checkboxes
    response = client.post(RULES + "new/", {"name": "Greater China", "is_active": "on", "countries": "cn, hk",
                                            "sources": ["web_form", "event"], "campaign": campaign.pk,
                                            "team": rep.team_id})
    assert response.status_code == 302, response.context["form"].errors
    china = AssignmentRule.objects.get(name="Greater China")
    assert (china.countries, china.sources, china.campaign, china.team) == (["CN", "HK"], ["web_form", "event"],
                                                                           campaign, rep.team)
    client.post(RULES + "new/", {"name": "Rest", "is_active": "on", "assign_to": rep2.pk})
    rest = AssignmentRule.objects.get(name="Rest")
    page = client.get(RULES).content.decode()
    assert page.index("Greater China") < page.index("Rest")
    # move down, edit, delete
    client.post(f"{RULES}{china.pk}/move/", {"direction": "down"})
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["Rest", "Greater China"]
    response = client.post(f"{RULES}{rest.pk}/edit/", {"name": "Rest of world", "priority": "5", "is_active": "on",
                                                        "countries": "", "assign_to": rep2.pk})
    assert response.status_code == 302
    assert AssignmentRule.objects.get(pk=rest.pk).name == "Rest of world"
    client.post(f"{RULES}{rest.pk}/delete/")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["Greater China"]


def test_rule_form_shows_errors_beside_fields(client, admin_user, rep):
    logged_in(client, admin_user)
    response = client.post(RULES + "new/", {"name": "x", "countries": "US, Narnia", "assign_to": rep.pk,
                                            "team": rep.team_id})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "countries" in errors and "assign_to" in errors
    assert not AssignmentRule.objects.exists()


def test_rule_test_box(client, manager, rep):
    AssignmentRule.objects.create(name="Germany", countries=["DE"], team=rep.team)
    logged_in(client, manager)
    html = client.get(RULES, {"test": "1", "country": "de", "source": ""}).content.decode()
    assert "Germany" in html and str(rep) in html and "gives it to" in html
    html = client.get(RULES, {"test": "1", "country": "FR"}).content.decode()
    assert "No rule matches" in html
    html = client.get(RULES, {"test": "1", "country": "QQ"}).content.decode()
    assert "ISO 3166-1" in html
    assert AssignmentRule.objects.get(name="Germany").last_assigned is None


def test_manager_sees_other_teams_rules_without_edit_buttons(client, admin_user, manager, outsider):
    theirs = AssignmentRule.objects.create(name="West coast", assign_to=outsider)
    logged_in(client, manager)
    html = client.get(RULES).content.decode()
    assert "West coast" in html and f"{RULES}{theirs.pk}/edit/" not in html
    assert client.get(f"{RULES}{theirs.pk}/edit/").status_code == 403


def test_nav_links_for_managers_only(client, manager, rep):
    logged_in(client, manager)
    assert QUEUE in client.get("/leads/").content.decode()
    logged_in(client, rep)
    assert QUEUE not in client.get("/leads/").content.decode()
