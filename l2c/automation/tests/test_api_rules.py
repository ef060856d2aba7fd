"""The automation-rules API: admins and managers only, a rep cannot edit (nor read) rules, 422 naming the
field, the run log, the record-type catalogue and each user's own notifications."""
from __future__ import annotations

import pytest

from conftest import ApiClient
from l2c.automation.models import AutomationRule, Notification
from l2c.leads import services as lead_services

pytestmark = pytest.mark.django_db

RULE = {"name": "Qualified: tell the owner", "record_type": "lead", "trigger": "status_changed",
        "conditions": [{"field": "status", "operator": "equals", "value": "qualified"}],
        "actions": [{"type": "notify_user", "params": {"text": "{record} is qualified"}}]}


def test_manager_creates_reads_changes_and_deletes_a_rule(manager):
    api = ApiClient(manager)
    response = api.post("/api/v1/automation-rules", RULE)
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["run_as"] == manager.pk and rule["conditions"][0]["value"] == "qualified"
    assert api.get(f"/api/v1/automation-rules/{rule['id']}").json()["name"] == RULE["name"]
    listed = api.get("/api/v1/automation-rules", {"limit": 10, "offset": 0}).json()
    assert [item["id"] for item in listed["items"]] == [rule["id"]]
    response = api.patch(f"/api/v1/automation-rules/{rule['id']}", {"is_active": False, "name": "Renamed"})
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert response.json()["name"] == "Renamed"
    assert api.get(f"/api/v1/automation-rules/{rule['id']}/runs").json()["count"] == 0
    assert api.delete(f"/api/v1/automation-rules/{rule['id']}").status_code == 204
    assert api.get(f"/api/v1/automation-rules/{rule['id']}").status_code == 404


def test_a_rep_cannot_edit_automation_rules(rep, manager, finance):
    rule_id = ApiClient(manager).post("/api/v1/automation-rules", RULE).json()["id"]
    for user in (rep, finance):
        api = ApiClient(user)
        assert api.post("/api/v1/automation-rules", RULE).status_code == 403
        assert api.patch(f"/api/v1/automation-rules/{rule_id}", {"name": "Mine"}).status_code == 403
        assert api.delete(f"/api/v1/automation-rules/{rule_id}").status_code == 403
        # reading is for admins and managers too
        assert api.get("/api/v1/automation-rules").status_code == 403
        assert api.get(f"/api/v1/automation-rules/{rule_id}").status_code == 403
        assert api.get(f"/api/v1/automation-rules/{rule_id}/runs").status_code == 403
        assert api.get("/api/v1/automation-record-types").status_code == 403
    assert AutomationRule.objects.get().name == RULE["name"]


def test_anonymous_gets_401():
    from django.test import Client

    assert Client().get("/api/v1/automation-rules").status_code == 401


@pytest.mark.parametrize(("change", "field"), [
    ({"record_type": "nope"}, "record_type"),
    ({"conditions": [{"field": "colour", "operator": "equals", "value": 1}]}, "conditions[0].field"),
    ({"actions": [{"type": "update_field", "params": {"field": "status", "value": "happy"}}]},
     "actions[0].params.value"),
    ({"trigger": "time", "trigger_config": {"date_field": "created_at", "offset_days": "soon"}},
     "trigger_config.offset_days"),
])
def test_bad_rules_are_a_422_naming_the_field(admin_user, change, field):
    response = ApiClient(admin_user).post("/api/v1/automation-rules", {**RULE, **change})
    assert response.status_code == 422, response.content
    assert field in [error["field"] for error in response.json()["errors"]]


def test_record_types_list_triggers_fields_and_actions(manager):
    catalogue = {rt["name"]: rt for rt in ApiClient(manager).get("/api/v1/automation-record-types").json()}
    assert {"lead", "opportunity", "quote", "contract", "invoice"} <= set(catalogue)
    lead = catalogue["lead"]
    assert {"created", "status_changed", "field_changed", "event", "time"} <= {t["name"] for t in lead["triggers"]}
    assert {"assign_owner", "update_field", "create_task", "post_webhook", "notify_user"} <= {
        a["name"] for a in lead["actions"]}
    status = next(f for f in lead["fields"] if f["name"] == "status")
    assert status["kind"] == "choice" and "qualified" in status["choices"] and status["updatable"]
    # invoices have no updater: no "update a field" for them, and the due date for time rules
    assert "update_field" not in {a["name"] for a in catalogue["invoice"]["actions"]}
    assert "due_date" in catalogue["invoice"]["date_fields"]


def test_runs_are_listed_and_notifications_are_the_users_own(manager, rep, rep2, django_capture_on_commit_callbacks):
    rule_id = ApiClient(manager).post("/api/v1/automation-rules", RULE).json()["id"]
    lead = lead_services.lead_create(actor=rep, last_name="Noether")
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_change_status(lead=lead, status="qualified", actor=rep)
    runs = ApiClient(manager).get(f"/api/v1/automation-rules/{rule_id}/runs").json()
    assert runs["count"] == 1 and runs["items"][0]["status"] == "succeeded"
    assert runs["items"][0]["record_id"] == str(lead.pk)
    mine = ApiClient(rep).get("/api/v1/notifications", {"unread": True}).json()
    assert mine["count"] == 1 and "qualified" in mine["items"][0]["text"]
    note_id = mine["items"][0]["id"]
    # another user can neither see nor read it
    assert ApiClient(rep2).get("/api/v1/notifications").json()["count"] == 0
    assert ApiClient(rep2).post(f"/api/v1/notifications/{note_id}/read").status_code == 404
    assert ApiClient(rep).post(f"/api/v1/notifications/{note_id}/read").json()["read_at"] is not None
    assert Notification.objects.get().read_at is not None
