"""Lead and campaign pages: lists (bounded queries, search, filters, sort, pages), detail with status
buttons and history, forms with field errors, and visibility."""
import pytest
from django.test import Client

from l2c.core.models import AuditEvent
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Campaign, Lead

from .factories import CampaignFactory, LeadFactory


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/leads/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_lead_list_queries_are_bounded(rep, as_user, django_assert_max_num_queries):
    campaign = CampaignFactory()
    LeadFactory.create_batch(30, owner=rep, campaign=campaign)
    client = as_user(rep)
    with django_assert_max_num_queries(12):
        response = client.get("/leads/")
    assert response.status_code == 200
    assert response.content.decode().count('class="badge badge-new"') == 25  # one page of L2C_PAGE_SIZE
    with django_assert_max_num_queries(12):
        response = client.get("/leads/", {"page": 2, "q": "Quinn", "status": "new", "ordering": "-last_name"})
    assert response.status_code == 200
    assert response.context["page_obj"].number == 2


def test_lead_list_search_filter_sort_and_links_keep_filters(rep, rep2, as_user):
    LeadFactory(owner=rep, last_name="Alvarez", company="Acme", status="working")
    LeadFactory(owner=rep, last_name="Brown", company="Zeta", status="working")
    LeadFactory(owner=rep, last_name="Chen", company="Acme", status="qualified")
    hidden = LeadFactory(owner=rep2, last_name="Hidden", company="Acme")
    client = as_user(rep)

    page = client.get("/leads/", {"q": "acme", "status": "working", "ordering": "last_name"}).content.decode()
    assert "Alvarez" in page and "Brown" not in page and "Chen" not in page
    assert hidden.last_name not in page
    # the sort header toggles and keeps the search and filter
    assert "?q=acme&amp;status=working&amp;ordering=-last_name" in page

    page = client.get("/leads/", {"ordering": "-last_name"}).content.decode()
    assert page.index("Chen") < page.index("Brown") < page.index("Alvarez")


def test_lead_list_pagination_links_keep_filters(rep, as_user):
    LeadFactory.create_batch(27, owner=rep, status="nurturing")
    page = as_user(rep).get("/leads/", {"status": "nurturing"}).content.decode()
    assert "?status=nurturing&amp;page=2" in page


def test_invalid_filter_value_is_shown_not_crashing(rep, as_user):
    LeadFactory(owner=rep)
    response = as_user(rep).get("/leads/", {"status": "won", "ordering": "password"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"status", "ordering"}
    assert len(response.context["page_obj"]) == 1


def test_htmx_search_returns_only_the_table(rep, as_user):
    LeadFactory(owner=rep, last_name="Alvarez")
    response = as_user(rep).get("/leads/", {"q": "alv"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    body = response.content.decode()
    assert "Alvarez" in body and "<html" not in body and 'class="pagination"' in body


def test_finance_has_no_lead_pages(finance, rep, as_user):
    lead = LeadFactory(owner=rep)
    client = as_user(finance)
    assert client.get("/leads/").status_code == 403
    assert client.get(f"/leads/{lead.pk}/").status_code == 404
    assert client.get("/leads/new/").status_code == 403


@pytest.mark.parametrize("role, status", [("rep", 200), ("manager", 200), ("admin_user", 200), ("rep2", 404),
                                          ("outsider", 404)])
def test_lead_detail_visibility(role, status, rep, request, as_user):
    lead = LeadFactory(owner=rep)
    client = as_user(request.getfixturevalue(role))
    assert client.get(f"/leads/{lead.pk}/").status_code == status
    assert client.get(f"/leads/{lead.pk}/edit/").status_code == status
    response = client.post(f"/leads/{lead.pk}/status/", {"status": "working"})
    assert response.status_code == (302 if status == 200 else 404)


def test_lead_detail_shows_allowed_buttons_history_and_panels(rep, as_user):
    client = as_user(rep)
    response = client.post("/leads/new/", {"last_name": "Doe", "first_name": "Jane", "email": "jane@acme.io",
                                           "source": "event", "owner": rep.pk})
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    client.post(f"/leads/{lead.pk}/edit/", {"last_name": "Doe", "first_name": "Janet", "email": "jane@acme.io",
                                            "source": "event", "owner": rep.pk})

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'class="badge badge-new"' in page
    for allowed in ("working", "nurturing", "qualified"):
        assert f'name="status" value="{allowed}"' in page
    assert 'name="status" value="converted"' not in page
    assert 'name="reason"' in page  # the disqualify form asks why
    assert f"/leads/{lead.pk}/convert/" not in page
    assert f'hx-get="/activities/panel/?lead={lead.pk}"' in page
    # history: who, what, before → after
    assert "History" in page and "<del>Jane</del>" in page and "<ins>Janet</ins>" in page
    assert "first name" in page


def test_status_buttons_change_status_and_convert_is_offered_when_qualified(rep, as_user):
    lead = LeadFactory(owner=rep)
    client = as_user(rep)
    client.post(f"/leads/{lead.pk}/status/", {"status": "qualified"})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.QUALIFIED
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f'href="/leads/{lead.pk}/convert/"' in page
    assert 'name="status" value="new"' not in page  # qualified → new is not allowed


def test_disqualify_without_reason_shows_error_and_changes_nothing(rep, as_user):
    lead = LeadFactory(owner=rep)
    client = as_user(rep)
    response = client.post(f"/leads/{lead.pk}/status/", {"status": "disqualified", "reason": ""}, follow=True)
    assert "Say why the lead is disqualified." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"
    client.post(f"/leads/{lead.pk}/status/", {"status": "disqualified", "reason": "Competitor"})
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == ("disqualified", "Competitor")


def test_form_shows_service_errors_beside_fields(rep, as_user):
    client = as_user(rep)
    response = client.post("/leads/new/", {"last_name": "Doe", "country": "ZZ", "email": "a@b.co",
                                           "source": "manual", "owner": rep.pk})
    assert response.status_code == 200
    form = response.context["form"]
    assert "ISO 3166" in form.errors["country"][0]
    assert 'class="field field-error"' in response.content.decode()
    assert Lead.objects.count() == 0


def test_over_long_and_missing_fields_in_form(rep, as_user):
    response = as_user(rep).post("/leads/new/", {"last_name": "x" * 101, "source": "manual", "owner": rep.pk})
    assert "last_name" in response.context["form"].errors
    response = as_user(rep).post("/leads/new/", {"first_name": "A", "source": "manual", "owner": rep.pk})
    assert "last_name" in response.context["form"].errors
    assert Lead.objects.count() == 0


def test_converted_lead_is_read_only(rep, as_user):
    lead = LeadFactory(owner=rep, status=LeadStatus.CONVERTED)
    client = as_user(rep)
    assert client.get(f"/leads/{lead.pk}/edit/").status_code == 302
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'name="status"' not in page


# --- campaigns --------------------------------------------------------------------------------

def test_campaign_pages(manager, rep, as_user, django_assert_max_num_queries):
    CampaignFactory.create_batch(5)
    client = as_user(manager)
    with django_assert_max_num_queries(8):
        assert client.get("/campaigns/").status_code == 200
    response = client.post("/campaigns/new/", {"name": "Expo", "type": "event", "status": "planned",
                                               "currency": "EUR", "budget": "100", "cost": "-1"})
    assert response.status_code == 200 and "cost" in response.context["form"].errors
    response = client.post("/campaigns/new/", {"name": "Expo", "type": "event", "status": "planned",
                                               "currency": "EUR", "budget": "100", "cost": "40",
                                               "start_date": "2025-05-01", "end_date": "2025-04-01"})
    assert "end_date" in response.context["form"].errors
    assert not Campaign.objects.filter(name="Expo").exists()
    response = client.post("/campaigns/new/", {"name": "Expo", "type": "event", "status": "planned",
                                               "currency": "EUR", "budget": "100", "cost": "40"})
    campaign = Campaign.objects.get(name="Expo")
    LeadFactory.create_batch(4, campaign=campaign, owner=rep)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "10.00 EUR" in page  # cost per lead
    assert "History" in page
    assert as_user(rep).get("/campaigns/new/").status_code == 403
    assert AuditEvent.objects.filter(object_type="leads.campaign").count() == 1
