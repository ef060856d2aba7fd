"""Web-form set-up: pages per role, the services' validation, the embed snippet, audit."""
import pytest
from django.urls import reverse

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.leads.models import WebForm
from l2c.leads.webforms import services

from .factories import CampaignFactory

FIELDS = [{"name": "last_name", "label": "Your name", "required": True},
          {"name": "email", "label": "Work e-mail", "required": True},
          {"name": "company", "label": "", "required": False}]


def make_form(actor, **kw):
    values = {"name": "Contact us", "fields": FIELDS, **kw}
    return services.webform_create(actor=actor, **values)


def post_data(**overrides):
    data = {"name": "Demo request", "source": "web_form", "is_active": "on", "consent_text": "", "thank_you_text": "",
            "redirect_url": "", "allowed_origins": "", "campaign": "", "owner": "",
            "f_last_name_on": "on", "f_last_name_req": "on", "f_last_name_pos": "2", "f_last_name_label": "Surname",
            "f_email_on": "on", "f_email_req": "on", "f_email_pos": "1", "f_email_label": "",
            "f_company_on": "on", "f_company_pos": "3"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("role, status", [("admin_user", 200), ("manager", 200), ("rep", 403), ("finance", 403)])
def test_form_pages_per_role(role, status, request, client, admin_user):
    user = request.getfixturevalue(role)
    webform = make_form(admin_user)
    client.force_login(user)

    for url in (reverse("leads:webform-list"), reverse("leads:webform-create"),
                reverse("leads:webform-detail", args=[webform.pk])):
        assert client.get(url).status_code == status


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("leads:webform-list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_create_through_the_page_keeps_order_labels_and_required(client, manager):
    client.force_login(manager)

    response = client.post(reverse("leads:webform-create"), post_data())

    webform = WebForm.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("leads:webform-detail", args=[webform.pk])
    assert webform.fields == [{"name": "email", "label": "", "required": True},
                              {"name": "last_name", "label": "Surname", "required": True},
                              {"name": "company", "label": "", "required": False}]
    assert webform.created_by == manager
    event = AuditEvent.objects.get(object_type="leads.webform")
    assert event.action == "create" and event.actor_id == manager.pk


def test_page_shows_field_errors_and_saves_nothing(client, manager):
    client.force_login(manager)

    response = client.post(reverse("leads:webform-create"), post_data(
        f_last_name_on=None, redirect_url="javascript:alert(1)", allowed_origins="ftp://x.example/path"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Every lead needs a last name" in body
    assert "Give a full http:// or https:// address." in body
    assert "is not an origin like" in body
    assert not WebForm.objects.exists()


def test_edit_page_updates_and_audits(client, admin_user):
    webform = make_form(admin_user)
    client.force_login(admin_user)

    response = client.post(reverse("leads:webform-detail", args=[webform.pk]),
                           post_data(name="Renamed", is_active=None, redirect_url="https://example.com/thanks",
                                     allowed_origins="https://WWW.Example.com/\nhttps://shop.example.com:8443"))

    assert response.status_code == 302
    webform.refresh_from_db()
    assert (webform.name, webform.is_active, webform.redirect_url) == ("Renamed", False, "https://example.com/thanks")
    assert webform.allowed_origins == "https://www.example.com\nhttps://shop.example.com:8443"
    update = AuditEvent.objects.filter(object_type="leads.webform", action="update").get()
    assert update.changes["name"] == ["Contact us", "Renamed"]


def test_snippet_has_key_honeypot_consent_and_utm(client, admin_user):
    webform = make_form(admin_user, consent_text="I agree to be contacted about <products>.", consent_required=True)
    client.force_login(admin_user)

    response = client.get(reverse("leads:webform-detail", args=[webform.pk]))

    snippet = response.context["snippet"]
    assert f'action="http://testserver/f/{webform.key}"' in snippet
    assert 'name="l2c_hp"' in snippet and ".l2c-hp{position:absolute" in snippet
    assert 'name="consent"' in snippet and " required>" in snippet
    assert "I agree to be contacted about &lt;products&gt;." in snippet
    for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        assert f'name="{name}"' in snippet
    assert "URLSearchParams(window.location.search)" in snippet
    assert "http" not in snippet.replace(f"http://testserver/f/{webform.key}", "")  # no remote asset
    # shown as text inside the page (escaped once more), not as live HTML
    assert "&lt;form method=&quot;post&quot;" in response.content.decode()


def test_html_in_the_form_name_is_escaped(client, admin_user):
    webform = make_form(admin_user, name="<script>alert(1)</script> Demo")
    client.force_login(admin_user)

    page = client.get(reverse("leads:webform-detail", args=[webform.pk])).content.decode()
    listing = client.get(reverse("leads:webform-list")).content.decode()
    hosted = client.get(f"/f/{webform.key}").content.decode()

    for body in (page, listing, hosted):
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Demo" in body
    assert WebForm.objects.get().name == "<script>alert(1)</script> Demo"


def test_services_refuse_reps_and_bad_config(rep, manager, outsider):
    with pytest.raises(PermissionDenied):
        make_form(rep)
    with pytest.raises(ValidationFailed) as exc:
        services.webform_create(actor=manager, name=" ", fields=[{"name": "password"}, {"name": "email"}],
                                consent_required=True, owner=outsider, source="nonsense")
    fields = {e.field: e.code for e in exc.value.errors}
    assert fields == {"name": "required", "fields": "unknown_field", "owner": "not_allowed",
                      "source": "invalid_choice", "consent_text": "required"}
    with pytest.raises(ValidationFailed) as exc:
        services.webform_create(actor=manager, name="x", fields=[{"name": "last_name", "required": True}])
    assert exc.value.errors[0].code == "contact_required"
    assert not WebForm.objects.exists()


def test_manager_may_target_campaign_and_team_member(manager, rep):
    campaign = CampaignFactory()
    webform = make_form(manager, campaign=campaign, owner=rep, thank_you_text="Thanks!")
    assert (webform.campaign, webform.owner) == (campaign, rep)
