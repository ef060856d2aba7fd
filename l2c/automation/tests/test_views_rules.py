"""Rule pages: managers list, create (rows of conditions and actions), edit and delete rules and see runs; a
rep gets the 403 page; every user sees and reads only their own notifications."""
from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from l2c.automation import rule_services
from l2c.automation.models import AutomationRule, Notification

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _post_data(**head):
    data = {"name": "Welcome call", "record_type": "lead", "trigger": "created", "is_active": "on",
            "trigger_event": "", "trigger_fields": "", "date_field": "", "offset_days": "", "description": "",
            "conditions-TOTAL_FORMS": "2", "conditions-INITIAL_FORMS": "0",
            "conditions-0-field": "source", "conditions-0-operator": "in", "conditions-0-value": "manual, api",
            "conditions-1-field": "", "conditions-1-operator": "", "conditions-1-value": "",
            "actions-TOTAL_FORMS": "2", "actions-INITIAL_FORMS": "0",
            "actions-0-type": "create_task", "actions-0-params": json.dumps({"subject": "Call", "due_in_days": 1}),
            "actions-1-type": "", "actions-1-params": ""}
    data.update(head)
    return data


def test_manager_creates_edits_and_deletes_a_rule_through_the_pages(manager):
    client = _client(manager)
    assert client.get("/automation/rules/new/").status_code == 200
    response = client.post("/automation/rules/new/", _post_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AutomationRule.objects.get()
    assert rule.conditions == [{"field": "source", "operator": "in", "value": ["manual", "api"]}]
    assert rule.actions == [{"type": "create_task", "params": {"subject": "Call", "due_in_days": 1}}]
    page = client.get(f"/automation/rules/{rule.pk}/")
    assert page.status_code == 200 and b"Welcome call" in page.content
    edit = client.get(f"/automation/rules/{rule.pk}/edit/")
    assert edit.status_code == 200 and b"manual, api" in edit.content
    response = client.post(f"/automation/rules/{rule.pk}/edit/", _post_data(name="Renamed", **{
        "conditions-INITIAL_FORMS": "0"}))
    assert response.status_code == 302, response.content.decode()
    assert AutomationRule.objects.get().name == "Renamed"
    assert client.get("/automation/rules/").status_code == 200
    assert client.get("/automation/runs/").status_code == 200
    assert client.post(f"/automation/rules/{rule.pk}/delete/").status_code == 302
    assert not AutomationRule.objects.exists()


def test_a_bad_rule_shows_the_error_and_saves_nothing(manager):
    response = _client(manager).post("/automation/rules/new/", _post_data(**{"conditions-0-field": "colour"}))
    assert response.status_code == 200
    assert "conditions[0].field" in response.content.decode()
    response = _client(manager).post("/automation/rules/new/", _post_data(**{"actions-0-params": "{not json"}))
    assert response.status_code == 200 and "not valid JSON" in response.content.decode()
    assert not AutomationRule.objects.exists()


def test_a_rep_cannot_edit_automation_rules_in_the_ui(rep, manager):
    rule = rule_services.rule_create(actor=manager, name="R", record_type="lead", trigger="created",
                                     actions=[{"type": "notify_user", "params": {"text": "New"}}])
    client = _client(rep)
    for url in ("/automation/rules/", "/automation/rules/new/", f"/automation/rules/{rule.pk}/",
                f"/automation/rules/{rule.pk}/edit/", "/automation/runs/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/automation/rules/new/", _post_data()).status_code == 403
    assert client.post(f"/automation/rules/{rule.pk}/edit/", _post_data(name="Mine")).status_code == 403
    assert client.post(f"/automation/rules/{rule.pk}/delete/").status_code == 403
    assert AutomationRule.objects.get().name == "R"
    assert Client().get("/automation/rules/").status_code == 302  # anonymous: to the login page


def test_notifications_page_lists_and_marks_read_the_users_own(rep, rep2, manager):
    note = rule_services.notification_create(actor=manager, recipient=rep, text="Lead X is qualified",
                                             link="/leads/1/")
    rule_services.notification_create(actor=manager, recipient=rep2, text="Someone else's")
    client = _client(rep)
    page = client.get("/notifications/").content.decode()
    assert "Lead X is qualified" in page and "Someone else" not in page
    assert client.get("/notifications/count/").content == b'<span class="badge">1</span>'
    assert _client(rep2).post(f"/notifications/{note.pk}/read/").status_code == 404
    response = client.post(f"/notifications/{note.pk}/read/", {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/leads/1/"
    assert Notification.objects.get(pk=note.pk).read_at is not None
    assert client.get("/notifications/count/").content == b"<span></span>"
    assert _client(rep2).post("/notifications/read-all/").status_code == 302
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_add_buttons_give_one_more_empty_row_and_keep_what_was_typed(client, manager):
    client.force_login(manager)
    url = reverse("automation:rule-create")
    page = client.get(url).content.decode()
    conditions = int(re.search(r'name="conditions-TOTAL_FORMS" value="(\d+)"', page).group(1))
    data = {"name": "Typed so far", "record_type": "lead", "trigger": "created", "is_active": "on",
            "conditions-TOTAL_FORMS": str(conditions), "conditions-INITIAL_FORMS": "0",
            "actions-TOTAL_FORMS": "2", "actions-INITIAL_FORMS": "0", "add_condition": "1"}

    response = client.post(url, data)

    body = response.content.decode()
    assert response.status_code == 200 and "Typed so far" in body
    assert f'name="conditions-TOTAL_FORMS" value="{conditions + 1}"' in body
    assert not AutomationRule.objects.exists()
