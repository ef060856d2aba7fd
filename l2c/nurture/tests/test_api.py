"""Nurture API: templates and suppressions, per role, with 422s naming the field."""
from __future__ import annotations

import pytest

from l2c.nurture.models import EmailTemplate, Suppression

pytestmark = pytest.mark.django_db

BODY = {"name": "Welcome", "description": "First touch", "versions": [
    {"language": "en", "subject": "Hi {{ lead.first_name }}", "html": "<p>Hi {{ lead.first_name|default:\"there\" }}</p>"},
    {"language": "zh-hans", "subject": "您好", "html": "<p>您好 {{ lead.first_name }}</p>"}]}


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def test_manager_creates_lists_reads_patches_and_deletes(api_for, manager):
    api = api_for(manager)
    response = api.post("/api/v1/email-templates", BODY)
    assert response.status_code == 201, response.content
    data = response.json()
    assert [v["language"] for v in data["versions"]] == ["en", "zh-hans"]
    listed = api.get("/api/v1/email-templates", {"limit": 10}).json()
    assert listed["count"] == 1 and listed["items"][0]["name"] == "Welcome"
    response = api.patch(f"/api/v1/email-templates/{data['id']}",
                         {"is_active": False, "versions": [{"language": "zh-hans", "subject": "", "html": ""}]})
    assert response.status_code == 200
    assert response.json()["is_active"] is False and [v["language"] for v in response.json()["versions"]] == ["en"]
    assert api.delete(f"/api/v1/email-templates/{data['id']}").status_code == 204
    assert not EmailTemplate.objects.exists()


def test_rep_reads_and_previews_but_cannot_write(api_for, manager, rep, make_lead):
    template_id = api_for(manager).post("/api/v1/email-templates", BODY).json()["id"]
    api = api_for(rep)
    assert api.get(f"/api/v1/email-templates/{template_id}").status_code == 200
    assert api.post("/api/v1/email-templates", {**BODY, "name": "Mine"}).status_code == 403
    assert api.patch(f"/api/v1/email-templates/{template_id}", {"name": "x"}).status_code == 403
    assert api.delete(f"/api/v1/email-templates/{template_id}").status_code == 403
    lead = make_lead(first_name="<b>Ann</b>")
    response = api.post(f"/api/v1/email-templates/{template_id}/preview", {"language": "en", "lead_id": lead.pk})
    assert response.status_code == 200
    assert response.json() == {"language": "en", "subject": "Hi <b>Ann</b>", "html": "<p>Hi &lt;b&gt;Ann&lt;/b&gt;</p>",
                               "text": "Hi <b>Ann</b>"}
    sample = api.post(f"/api/v1/email-templates/{template_id}/preview", {"language": "zh-hans"}).json()
    assert sample["subject"] == "您好" and sample["html"] == "<p>您好 娜</p>"


def test_preview_of_a_lead_the_user_may_not_see_is_404(api_for, manager, rep, outsider, make_lead):
    template_id = api_for(manager).post("/api/v1/email-templates", BODY).json()["id"]
    lead = make_lead(owner=rep)
    response = api_for(outsider).post(f"/api/v1/email-templates/{template_id}/preview", {"lead_id": lead.pk})
    assert response.status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"versions": [{"language": "en", "subject": "x", "html": "{{ lead.secret }}"}]}, "versions[0].html"),
    ({"versions": [{"language": "fr", "subject": "x", "html": "x"}, {"language": "en", "subject": "x", "html": "x"}]},
     "versions[0].language"),
    ({"versions": [{"language": "en", "subject": "", "html": "x"}]}, "versions[0].subject"),
    ({"versions": [{"language": "en", "subject": "x", "html": "{% load static %}"}]}, "versions[0].html"),
    ({"name": ""}, "name"),
])
def test_bad_template_input_is_422_naming_the_field(api_for, manager, change, field):
    response = api_for(manager).post("/api/v1/email-templates", {**BODY, **change})
    assert response.status_code == 422 and field in _fields(response)
    assert not EmailTemplate.objects.exists()


def test_preview_with_a_bad_language_is_422(api_for, manager):
    api = api_for(manager)
    template_id = api.post("/api/v1/email-templates", BODY).json()["id"]
    response = api.post(f"/api/v1/email-templates/{template_id}/preview", {"language": "de"})
    assert response.status_code == 422 and _fields(response) == {"language"}


def test_suppressions_api(api_for, manager, admin_user, rep):
    api = api_for(manager)
    response = api.post("/api/v1/suppressions", {"email": " Ann@Example.com ", "reason": "complained"})
    assert response.status_code == 201 and response.json()["email"] == "ann@example.com"
    again = api.post("/api/v1/suppressions", {"email": "ann@example.com"})
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    bad = api.post("/api/v1/suppressions", {"email": "nope"})
    assert bad.status_code == 422 and _fields(bad) == {"email"}
    listed = api_for(rep).get("/api/v1/suppressions").json()
    assert listed["count"] == 1
    assert api_for(rep).post("/api/v1/suppressions", {"email": "b@example.com"}).status_code == 403
    pk = response.json()["id"]
    assert api.delete(f"/api/v1/suppressions/{pk}").status_code == 403
    assert api_for(admin_user).delete(f"/api/v1/suppressions/{pk}").status_code == 204
    assert not Suppression.objects.exists()


def test_anonymous_is_401(client):
    assert client.get("/api/v1/email-templates").status_code == 401
    assert client.get("/api/v1/suppressions").status_code == 401
