"""Nurture pages: managers edit, reps read and preview, admins remove suppressions and change settings."""
from __future__ import annotations

import pytest
from django.test import Client

from l2c.nurture import services
from l2c.nurture.models import EmailTemplate, NurtureSettings, Suppression

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _form(**overrides):
    data = {"name": "Welcome", "description": "", "is_active": "on",
            "en-subject": "Hi {{ lead.first_name }}", "en-html": "<p>Hi {{ lead.first_name }}</p>", "en-text": "",
            "zh-subject": "", "zh-html": "", "zh-text": ""}
    return {**data, **overrides}


def test_nav_link_and_list_for_everyone(rep, finance, template):
    for user in (rep, finance):
        response = _client(user).get("/nurture/")
        assert response.status_code == 200 and b"Welcome" in response.content and b'href="/nurture/"' in response.content


def test_manager_creates_a_template_in_two_languages(manager):
    client = _client(manager)
    assert client.get("/nurture/templates/new/").status_code == 200
    response = client.post("/nurture/templates/new/", _form(**{"zh-subject": "您好", "zh-html": "<p>您好</p>"}))
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert sorted(template.versions.values_list("language", flat=True)) == ["en", "zh-hans"]


def test_unknown_field_is_shown_beside_the_html_field(manager):
    response = _client(manager).post("/nurture/templates/new/", _form(**{"en-html": "<p>{{ lead.nope }}</p>"}))
    assert response.status_code == 422
    assert "unknown merge field {{ lead.nope }}" in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_preview_renders_the_unsaved_form_in_a_sandboxed_iframe(manager):
    response = _client(manager).post("/nurture/templates/new/", _form(preview="en"))
    text = response.content.decode()
    assert response.status_code == 200 and not EmailTemplate.objects.exists()
    assert '<iframe sandbox=""' in text and 'srcdoc="&lt;p&gt;Hi Jane&lt;/p&gt;"' in text


def test_rep_sees_read_only_and_may_preview_but_not_save(rep, template):
    client = _client(rep)
    page = client.get(f"/nurture/templates/{template.pk}/").content.decode()
    assert "disabled" in page and "Delete template" not in page
    preview = client.post(f"/nurture/templates/{template.pk}/", {"preview": "zh-hans"})
    assert preview.status_code == 200 and "srcdoc=" in preview.content.decode()
    assert client.post(f"/nurture/templates/{template.pk}/", _form(name="Mine")).status_code == 403
    assert client.get("/nurture/templates/new/").status_code == 403
    assert client.post(f"/nurture/templates/{template.pk}/delete/").status_code == 403
    template.refresh_from_db()
    assert template.name == "Welcome"


def test_suppression_pages(rep, manager, admin_user):
    assert _client(rep).post("/nurture/suppressions/", {"email": "a@example.com", "reason": "manual"}).status_code == 403
    response = _client(manager).post("/nurture/suppressions/", {"email": "A@example.com", "reason": "manual"})
    assert response.status_code == 302
    suppression = Suppression.objects.get(email="a@example.com")
    assert b"a@example.com" in _client(rep).get("/nurture/suppressions/").content
    assert _client(manager).post(f"/nurture/suppressions/{suppression.pk}/remove/").status_code == 403
    assert _client(admin_user).post(f"/nurture/suppressions/{suppression.pk}/remove/").status_code == 302
    assert not Suppression.objects.exists()


def test_settings_page_is_admin_only(manager, admin_user):
    assert _client(manager).get("/nurture/settings/").status_code == 403
    client = _client(admin_user)
    assert client.get("/nurture/settings/").status_code == 200
    assert client.post("/nurture/settings/", {"legitimate_interest_allowed": "on"}).status_code == 302
    settings = NurtureSettings.get()
    assert settings.legitimate_interest_allowed and settings.changed_by == admin_user


def test_pages_in_chinese(rep, template):
    client = _client(rep)
    client.cookies["django_language"] = "zh-hans"
    text = client.get("/nurture/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "邮件模板" in text


def test_anonymous_is_sent_to_login(client):
    response = client.get("/nurture/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_services_preview_uses_sample_lead(template, rep):
    rendered = services.template_preview(template=template, language="en", user=rep)
    assert rendered.subject == "Hi Jane"
